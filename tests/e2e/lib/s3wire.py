"""A small SigV4 client for the embedded store's wire-level tests (standard library only): every byte of the request is the
test's, so cases that no SDK can express (a repeated Complete, a malformed header, an empty continuation token) can be sent.

    c = S3Wire(port, access_key, secret_key)
    r = c.s3("PUT", "/bucket/key", b"body", headers={"x-amz-tagging": "a=b"})
    c.ok(r); c.error(r, 412, "PreconditionFailed"); r.xml(); r.headers["etag"]
"""
import hashlib
import hmac
import http.client
import time
import urllib.parse
import xml.etree.ElementTree as ET

S3NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _q(b, safe="-_.~"):
    return urllib.parse.quote(b, safe=safe)


def canonical_uri(path):
    return "/".join(_q(urllib.parse.unquote_to_bytes(seg)) for seg in path.split("/"))


def canonical_query(raw):
    pairs = []
    for comp in raw.split("&") if raw else []:
        if not comp:
            continue
        k, _, v = comp.partition("=")
        pairs.append((_q(urllib.parse.unquote_to_bytes(k)), _q(urllib.parse.unquote_to_bytes(v))))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def xml_text(root, tag):
    """the text of the first element named tag (any namespace), "" if empty, None if absent"""
    for el in root.iter():
        if el.tag.split("}")[-1] == tag:
            return el.text or ""
    return None


def xml_all(root, tag):
    return [el for el in root.iter() if el.tag.split("}")[-1] == tag]


class Resp:
    def __init__(self, r):
        self.status = r.status
        self.headers = {k.lower(): v for k, v in r.getheaders()}
        self.body = r.read()

    def xml(self):
        return ET.fromstring(self.body)

    def text(self, tag):
        return xml_text(self.xml(), tag)

    def texts(self, tag):
        return [el.text or "" for el in xml_all(self.xml(), tag)]


class S3Wire:
    def __init__(self, port, access_key, secret_key, region="us-east-1", timeout=120):
        self.port, self.ak, self.sk, self.region, self.timeout = port, access_key, secret_key, region, timeout

    def _key(self, date):
        k = hmac.new(("AWS4" + self.sk).encode(), date.encode(), hashlib.sha256).digest()
        for part in (self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        return k

    def sign(self, method, target, headers, payload_hash):
        amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers["x-amz-date"] = amz
        headers["x-amz-content-sha256"] = payload_hash
        path, _, query = target.partition("?")
        names = sorted(headers)
        creq = "\n".join([method, canonical_uri(path), canonical_query(query)] +
                         ["%s:%s" % (n, " ".join(str(headers[n]).split())) for n in names] + ["", ";".join(names), payload_hash])
        scope = "%s/%s/s3/aws4_request" % (amz[:8], self.region)
        sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(creq.encode()).hexdigest())
        sig = hmac.new(self._key(amz[:8]), sts.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
            self.ak, scope, ";".join(names), sig)

    def raw(self, method, target, headers=None, body=b""):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        h = dict(headers or {})
        h.setdefault("host", "127.0.0.1:%d" % self.port)
        c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        if body or method in ("PUT", "POST"):
            c.putheader("content-length", str(len(body)))
        c.endheaders(body if body else None)
        r = Resp(c.getresponse())
        c.close()
        return r

    def s3(self, method, target, body=b"", headers=None):
        h = {k.lower(): v for k, v in (headers or {}).items()}
        h["host"] = "127.0.0.1:%d" % self.port
        self.sign(method, target, h, hashlib.sha256(body).hexdigest())
        return self.raw(method, target, h, body)

    @staticmethod
    def ok(r, status=200):
        assert r.status == status, (r.status, r.headers, r.body[:2000])
        return r

    @staticmethod
    def error(r, status, code):
        assert r.status == status, (status, code, r.status, r.body[:2000])
        assert r.text("Code") == code, r.body
        assert r.text("Message"), "empty Message: %r" % r.body
        return r
