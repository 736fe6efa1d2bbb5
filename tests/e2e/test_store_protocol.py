# ctest-labels: notsan
# notsan: time budget: S3 protocol rules, one request at a time (test_store_threads covers the store's threads)
"""End-to-end: the embedded S3 store at the wire level - SigV4 (header, presigned, signed chunks), errors, hostile keys, safety.

Requests are signed here with hmac/hashlib (standard library only), so each test controls every byte: a flipped chunk
signature, a skewed clock, a tampered payload. The client compatibility tests are in test_store_clients.py.
"""
import base64
import binascii
import hashlib
import hmac
import http.client
import os
import stat
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, SLOW, curl_status, run, test  # noqa: E402

AK, SK = "TESTSTOREKEY00000001", "teststoresecret0000000000000000000000001"
REGION = "us-east-1"
EMPTY = hashlib.sha256(b"").hexdigest()


def config(root="./data", creds=True, max_put="8MB"):
    return """
threads: 2
listen:
  - {host: 127.0.0.1, port: 0}
origins:
  web: {type: http, url: "http://127.0.0.1:9"}
  media: {type: s3, endpoint: embedded, bucket: proxied, region: us-east-1}
behaviors:
  - {path: "/m/*", origin: media, cache: off}
  - {path: "*", origin: web, cache: off}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: %s
  domain: s3.localhost
  max_put_size: %s
%s
""" % (root, max_put, "  credentials: {access_key: %s, secret_key: %s}" % (AK, SK) if creds else "")


edge = Edge(config())
PORT = edge.ports["store"]
others = []  # every other instance a test starts, killed at the end whatever happens
ROOT = os.path.join(edge.dir, "data")


# ---- a small SigV4 client --------------------------------------------------------------------------------------------------

def q(b, safe="-_.~"):
    return urllib.parse.quote(b, safe=safe)


def canonical_uri(path):
    return "/".join(q(urllib.parse.unquote_to_bytes(seg)) for seg in path.split("/"))


def canonical_query(raw, skip_signature=False):
    pairs = []
    for comp in raw.split("&") if raw else []:
        if not comp:
            continue
        k, _, v = comp.partition("=")
        if skip_signature and k == "X-Amz-Signature":
            continue
        pairs.append((q(urllib.parse.unquote_to_bytes(k)), q(urllib.parse.unquote_to_bytes(v))))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def signing_key(date, secret=None, region=REGION):
    k = hmac.new(("AWS4" + (secret or SK)).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def hmac_hex(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()


def sign_headers(method, target, headers, payload_hash, now=None, secret=None, access_key=None):
    """adds x-amz-date, x-amz-content-sha256 and authorization to headers (a dict, lowercase names); returns the seed signature"""
    t = time.gmtime(now if now is not None else time.time())
    amz = time.strftime("%Y%m%dT%H%M%SZ", t)
    date = amz[:8]
    headers["x-amz-date"] = amz
    headers["x-amz-content-sha256"] = payload_hash
    path, _, query = target.partition("?")
    names = sorted(headers)
    creq = "\n".join([method, canonical_uri(path), canonical_query(query)] +
                     ["%s:%s" % (n, " ".join(str(headers[n]).split())) for n in names] + ["", ";".join(names), payload_hash])
    scope = "%s/%s/s3/aws4_request" % (date, REGION)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(creq.encode()).hexdigest())
    sig = hmac_hex(signing_key(date, secret or SK), sts)
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (access_key or AK, scope,
                                                                                                      ";".join(names), sig)
    return sig, amz, scope


def presign(method, target, expires=60, now=None, host=None):
    t = time.gmtime(now if now is not None else time.time())
    amz = time.strftime("%Y%m%dT%H%M%SZ", t)
    scope = "%s/%s/s3/aws4_request" % (amz[:8], REGION)
    path, _, query = target.partition("?")
    params = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date=%s&X-Amz-Expires=%d&X-Amz-SignedHeaders=host" % (
        q(AK + "/" + scope), amz, expires)
    query = query + "&" + params if query else params
    creq = "\n".join([method, canonical_uri(path), canonical_query(query), "host:" + (host or "127.0.0.1:%d" % PORT), "", "host",
                      "UNSIGNED-PAYLOAD"])
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(creq.encode()).hexdigest())
    return path + "?" + query + "&X-Amz-Signature=" + hmac_hex(signing_key(amz[:8]), sts)


class Resp:
    def __init__(self, r):
        self.status = r.status
        self.headers = {k.lower(): v for k, v in r.getheaders()}
        self.body = r.read()

    def xml(self):
        return ET.fromstring(self.body)

    def code(self):
        return xml_text(self.xml(), "Code")


def xml_text(root, tag):
    for el in root.iter():
        if el.tag.split("}")[-1] == tag:
            return el.text or ""
    return None


def raw(method, target, headers=None, body=b"", host=None):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60 * SLOW)
    h = dict(headers or {})
    h.setdefault("host", host or "127.0.0.1:%d" % PORT)
    c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    for k, v in h.items():
        c.putheader(k, v)
    if body or method in ("PUT", "POST"):
        c.putheader("content-length", str(len(body)))
    c.endheaders(body if body else None)
    r = Resp(c.getresponse())
    c.close()
    return r


def s3(method, target, body=b"", headers=None, payload_hash=None, now=None, host=None, secret=None):
    h = {k.lower(): v for k, v in (headers or {}).items()}
    h["host"] = host or "127.0.0.1:%d" % PORT
    sign_headers(method, target, h, payload_hash or hashlib.sha256(body).hexdigest(), now=now, secret=secret)
    return raw(method, target, h, body, host=h["host"])


def ok(r, status=200):
    assert r.status == status, (r.status, r.headers, r.body[:2000])
    return r


def error(r, status, code):
    assert r.status == status, (r.status, r.body[:2000])
    root = r.xml()
    assert xml_text(root, "Code") == code, r.body
    assert xml_text(root, "Message"), "empty Message: %r" % r.body
    assert xml_text(root, "RequestId") == r.headers["x-amz-request-id"], r.body
    return r


ok(s3("PUT", "/proto"))


# ---- tests -------------------------------------------------------------------------------------------------------------------

@test
def anonymous_and_error_format():
    r = error(raw("GET", "/proto/x"), 403, "AccessDenied")
    assert len(r.headers["x-amz-request-id"]) == 16 and r.headers.get("x-amz-id-2")
    assert r.headers["content-type"] == "application/xml"
    r = raw("HEAD", "/proto/x")
    assert r.status == 403 and r.body == b"" and r.headers.get("x-amz-request-id")
    error(s3("GET", "/nobucket/k"), 404, "NoSuchBucket")
    error(s3("GET", "/proto/nokey"), 404, "NoSuchKey")
    r = s3("HEAD", "/proto/nokey")
    assert r.status == 404 and r.body == b""
    error(s3("PATCH", "/proto/k"), 405, "MethodNotAllowed")
    error(s3("PUT", "/Bad_Name"), 400, "InvalidBucketName")
    error(s3("PUT", "/ab"), 400, "InvalidBucketName")
    ok(s3("PUT", "/proto"))  # re-creating your own bucket in us-east-1: 200, as S3 (test_store_api covers other regions)
    # every response carries a request id, success too
    r = ok(s3("GET", "/"))
    assert r.headers.get("x-amz-request-id") and b"<Name>proto</Name>" in r.body
    # SigV2 (tests/e2e/test_store_sigv2.py) without a readable date, and malformed Authorization headers
    error(raw("GET", "/proto", {"authorization": "AWS %s:abc" % AK, "date": "x"}), 403, "AccessDenied")
    error(raw("GET", "/proto", {"authorization": "AWS %s" % AK, "date": "x"}), 400, "InvalidArgument")
    error(raw("GET", "/proto", {"authorization": "AWS4-HMAC-SHA256 Credential=%s/x" % AK, "x-amz-date": "20260101T000000Z"}),
          400, "AuthorizationHeaderMalformed")
    h = {"host": "127.0.0.1:%d" % PORT}
    sign_headers("GET", "/proto", h, EMPTY)
    del h["x-amz-content-sha256"]
    error(raw("GET", "/proto", h), 400, "InvalidRequest")  # S3 requires x-amz-content-sha256


@test
def signature_checks():
    error(s3("GET", "/proto", secret="wrong"), 403, "SignatureDoesNotMatch")
    r = s3("GET", "/proto", secret="wrong")
    assert xml_text(r.xml(), "CanonicalRequest").startswith("GET\n/proto\n")
    # an unknown access key
    h = {"host": "127.0.0.1:%d" % PORT}
    sign_headers("GET", "/proto", h, EMPTY, access_key="NOSUCHKEY")
    error(raw("GET", "/proto", h), 403, "InvalidAccessKeyId")
    # a tampered signature on a PUT: refused, nothing stored
    h = {"host": "127.0.0.1:%d" % PORT}
    body = b"tampered"
    sign_headers("PUT", "/proto/tampered", h, hashlib.sha256(body).hexdigest())
    h["authorization"] = h["authorization"][:-1] + ("0" if h["authorization"][-1] != "0" else "1")
    error(raw("PUT", "/proto/tampered", h, body), 403, "SignatureDoesNotMatch")
    error(s3("GET", "/proto/tampered"), 404, "NoSuchKey")
    # a signed header changed after signing
    h = {"host": "127.0.0.1:%d" % PORT, "x-amz-meta-a": "1"}
    sign_headers("PUT", "/proto/tampered", h, hashlib.sha256(body).hexdigest())
    h["x-amz-meta-a"] = "2"
    error(raw("PUT", "/proto/tampered", h, body), 403, "SignatureDoesNotMatch")
    # the body changed after signing: the payload hash no longer matches
    h = {"host": "127.0.0.1:%d" % PORT}
    sign_headers("PUT", "/proto/tampered", h, hashlib.sha256(body).hexdigest())
    error(raw("PUT", "/proto/tampered", h, b"tamperee"), 400, "XAmzContentSHA256Mismatch")
    error(s3("GET", "/proto/tampered"), 404, "NoSuchKey")
    # the clock: 14 minutes is fine, 16 is not
    ok(s3("GET", "/proto", now=time.time() - 14 * 60))
    error(s3("GET", "/proto", now=time.time() - 16 * 60), 403, "RequestTimeTooSkewed")
    error(s3("GET", "/proto", now=time.time() + 16 * 60), 403, "RequestTimeTooSkewed")
    # UNSIGNED-PAYLOAD is accepted for the body
    ok(s3("PUT", "/proto/unsigned", b"abc", payload_hash="UNSIGNED-PAYLOAD"))
    assert ok(s3("GET", "/proto/unsigned")).body == b"abc"
    error(s3("PUT", "/proto/unsigned", b"abc", payload_hash="NOT-A-HASH"), 400, "InvalidArgument")


@test
def presigned_urls():
    ok(s3("PUT", "/proto/pre%20signed.txt", b"presigned body"))
    r = ok(raw("GET", presign("GET", "/proto/pre%20signed.txt")))
    assert r.body == b"presigned body"
    u = presign("GET", "/proto/pre%20signed.txt")
    bad = u[:-1] + ("0" if u[-1] != "0" else "1")
    error(raw("GET", bad), 403, "SignatureDoesNotMatch")
    r = error(raw("GET", presign("GET", "/proto/pre%20signed.txt", expires=60, now=time.time() - 120)), 403, "AccessDenied")
    assert "expired" in xml_text(r.xml(), "Message")
    error(raw("GET", presign("GET", "/proto/pre%20signed.txt", expires=604801)), 400, "AuthorizationQueryParametersError")
    # a presigned PUT stores nothing when the signature is wrong
    u = presign("PUT", "/proto/pre-put")
    error(raw("PUT", u[:-2] + ("00" if u[-2:] != "00" else "11"), body=b"x"), 403, "SignatureDoesNotMatch")  # always a change
    error(s3("GET", "/proto/pre-put"), 404, "NoSuchKey")
    ok(raw("PUT", u, body=b"via presigned put"))
    assert ok(s3("GET", "/proto/pre-put")).body == b"via presigned put"


def chunked_body(data, chunk, seed, amz, scope, key, trailers=None, flip=None):
    """aws-chunked framing with chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]); flip: index of a chunk whose
    signature is corrupted"""
    out, prev, i, n = [], seed, 0, 0
    pieces = [data[o:o + chunk] for o in range(0, len(data), chunk)] + [b""]
    for piece in pieces:
        sts = "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s" % (amz, scope, prev, EMPTY, hashlib.sha256(piece).hexdigest())
        sig = hmac_hex(key, sts)
        prev = sig
        shown = sig if flip != n else sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
        out.append(b"%x;chunk-signature=%s\r\n" % (len(piece), shown.encode()))
        if piece:
            out.append(piece + b"\r\n")
        n += 1
        i += len(piece)
    if trailers is None:
        out.append(b"\r\n")
    else:
        canon = "".join("%s:%s\n" % (k, v) for k, v in trailers)
        sts = "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s" % (amz, scope, prev, hashlib.sha256(canon.encode()).hexdigest())
        for k, v in trailers:
            out.append(("%s:%s\r\n" % (k, v)).encode())
        out.append(("x-amz-trailer-signature:%s\r\n\r\n" % hmac_hex(key, sts)).encode())
    return b"".join(out)


def signed_chunk_put(target, data, chunk=8192, flip=None, trailer=False):
    h = {"host": "127.0.0.1:%d" % PORT, "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" if trailer else "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    if trailer:
        h["x-amz-trailer"] = "x-amz-checksum-crc32"
    seed, amz, scope = sign_headers("PUT", target, h, mode)
    trailers = None
    if trailer:
        crc = base64.b64encode((binascii.crc32(data) & 0xffffffff).to_bytes(4, "big")).decode()
        trailers = [("x-amz-checksum-crc32", crc)]
    body = chunked_body(data, chunk, seed, amz, scope, signing_key(amz[:8]), trailers, flip)
    return raw("PUT", target, h, body)


@test
def signed_chunks():
    data = os.urandom(100000)
    r = ok(signed_chunk_put("/proto/chunked.bin", data))
    assert r.headers["etag"] == '"%s"' % hashlib.md5(data).hexdigest()
    got = ok(s3("GET", "/proto/chunked.bin"))
    assert got.body == data and got.headers["content-length"] == str(len(data))
    assert "aws-chunked" not in got.headers.get("content-encoding", "")
    # one chunk signature flipped (first, middle, final): 403, and the stored object is unchanged
    for flip in (0, 5, 12):
        error(signed_chunk_put("/proto/chunked.bin", b"X" * 100000, flip=flip), 403, "SignatureDoesNotMatch")
        assert ok(s3("GET", "/proto/chunked.bin")).body == data
        error(signed_chunk_put("/proto/never.bin", data, flip=flip), 403, "SignatureDoesNotMatch")
        error(s3("GET", "/proto/never.bin"), 404, "NoSuchKey")
    # with a signed trailer (x-amz-checksum-crc32)
    ok(signed_chunk_put("/proto/trailer.bin", data, chunk=65536, trailer=True))
    assert ok(s3("GET", "/proto/trailer.bin")).body == data
    error(signed_chunk_put("/proto/trailer2.bin", data, chunk=65536, trailer=True, flip=1), 403, "SignatureDoesNotMatch")
    # the decoded length must match x-amz-decoded-content-length
    h = {"host": "127.0.0.1:%d" % PORT, "content-encoding": "aws-chunked", "x-amz-decoded-content-length": "5"}
    seed, amz, scope = sign_headers("PUT", "/proto/short", h, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    error(raw("PUT", "/proto/short", h, chunked_body(b"abcd", 10, seed, amz, scope, signing_key(amz[:8]))), 400, "IncompleteBody")
    error(s3("GET", "/proto/short"), 404, "NoSuchKey")


@test
def unsigned_trailer_and_checksums():
    data = b"hello world\n"

    def put(target, body, crc_header=None, trailer_crc=None, md5=None):
        h = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
             "x-amz-trailer": "x-amz-checksum-crc32"}
        if md5:
            h["content-md5"] = md5
        framed = b"%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % (len(body), body, trailer_crc.encode())
        return s3("PUT", target, framed, headers=h, payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")

    ok(put("/proto/js.txt", data, trailer_crc="rwg7LQ=="))
    r = ok(s3("GET", "/proto/js.txt"))
    assert r.body == data, r.body  # the framing is never stored
    error(put("/proto/js-bad.txt", data, trailer_crc="AAAAAA=="), 400, "BadDigest")
    error(s3("GET", "/proto/js-bad.txt"), 404, "NoSuchKey")
    # Content-MD5, x-amz-checksum-crc32 and -crc32c headers
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    ok(s3("PUT", "/proto/md5.txt", data, headers={"content-md5": md5}))
    error(s3("PUT", "/proto/md5-bad.txt", data, headers={"content-md5": base64.b64encode(b"0" * 16).decode()}), 400, "BadDigest")
    error(s3("PUT", "/proto/md5-bad.txt", data, headers={"content-md5": "nope"}), 400, "InvalidDigest")
    # 88 base64 characters decode to 66 bytes: they overflowed a 64-byte buffer once (ASan saw it); a digest of the wrong size
    long_b64 = base64.b64encode(b"\x01" * 66).decode()
    for name in ("content-md5", "x-amz-checksum-crc32", "x-amz-checksum-crc32c"):
        r = s3("PUT", "/proto/long-digest.txt", data, headers={name: long_b64})
        assert r.status == 400, (name, r.status, r.body[:200])
    crc = base64.b64encode((binascii.crc32(data) & 0xffffffff).to_bytes(4, "big")).decode()
    ok(s3("PUT", "/proto/crc.txt", data, headers={"x-amz-checksum-crc32": crc, "x-amz-sdk-checksum-algorithm": "CRC32"}))
    error(s3("PUT", "/proto/crc-bad.txt", data, headers={"x-amz-checksum-crc32": "AAAAAA=="}), 400, "BadDigest")
    ok(s3("PUT", "/proto/crc64.txt", data, headers={"x-amz-checksum-crc64nvme": "AAAAAAAAAAA="}))  # accepted, not checked
    for k in ("md5-bad.txt", "crc-bad.txt"):
        error(s3("GET", "/proto/" + k), 404, "NoSuchKey")
    # the JS-SDK observed GET: x-amz-checksum-mode ENABLED gets no checksum header back
    r = ok(s3("GET", "/proto/crc.txt", headers={"x-amz-checksum-mode": "ENABLED"}))
    assert not any(k.startswith("x-amz-checksum") for k in r.headers)


@test
def hostile_keys():
    ok(s3("PUT", "/hostile"))
    stored = {
        "/hostile/..": "..",
        "/hostile/../escape": "../escape",
        "/hostile/%2e%2e/%2e%2e/etc/passwd": "../../etc/passwd",
        "/hostile/a/../../b": "a/../../b",
        "/hostile//double//slash": "/double//slash",
        "/hostile/%2Fabs": "/abs",
        "/hostile/100%25%20real": "100% real",
        "/hostile/%252e%252e": "%2e%2e",
        "/hostile/x" + "y" * 1023: "x" + "y" * 1023,
        "/hostile/.credentials": ".credentials",
        "/hostile/%C3%A9t%C3%A9": "\u00e9t\u00e9",
    }
    for i, (target, key) in enumerate(stored.items()):
        ok(s3("PUT", target, b"value %d" % i))
    for i, (target, key) in enumerate(stored.items()):
        assert ok(s3("GET", target)).body == b"value %d" % i, target
    r = ok(s3("GET", "/hostile?list-type=2&encoding-type=url"))
    keys = sorted(urllib.parse.unquote_plus(k.text) for k in r.xml().iter() if k.tag.endswith("}Key"))
    assert keys == sorted(stored.values()), keys
    refused = {
        "/hostile/a%00b": "InvalidArgument",
        "/hostile/a%01b": "InvalidArgument",
        "/hostile/new%0Aline": "InvalidArgument",
        "/hostile/bad%FFutf8": "InvalidArgument",
        "/hostile/x" + "y" * 1024: "KeyTooLongError",
    }
    for target, code in refused.items():
        error(s3("PUT", target, b"no"), 400, code)
    # nothing was written outside the store root, and inside it only the store's own names and hashed object files
    assert set(os.listdir(edge.dir)) <= {"edge.yaml", "edge.log", "edge.out", "data"}, os.listdir(edge.dir)
    for name in os.listdir(ROOT):
        assert name in (".lock", ".uploads") or os.path.exists(os.path.join(ROOT, name, ".bucket")), name
    bucket_dir = os.path.join(ROOT, "hostile")
    for shard in os.listdir(bucket_dir):
        if shard == ".bucket":
            continue
        assert len(shard) == 2, shard
        for name in os.listdir(os.path.join(bucket_dir, shard)):
            assert len(name.split(".")[0]) == 64, name


@test
def bucket_operations_and_listing():
    ok(s3("PUT", "/listing"))
    ok(s3("HEAD", "/listing"))
    assert s3("HEAD", "/nolisting").status == 404
    r = ok(s3("GET", "/listing?location"))
    assert ET.fromstring(r.body).text in (None, "")
    for k in ("a/1", "a/2", "b/1", "c", "d e+f"):
        ok(s3("PUT", "/listing/" + urllib.parse.quote(k), b"x"))
    # V1 with a delimiter and paging (NextMarker)
    r = ok(s3("GET", "/listing/?delimiter=%2F&max-keys=2"))
    root = r.xml()
    assert xml_text(root, "IsTruncated") == "true"
    assert [e.text for e in root.iter() if e.tag.endswith("}Prefix") and e.text] == ["a/", "b/"]
    r = ok(s3("GET", "/listing/?delimiter=%2F&max-keys=2&marker=" + xml_text(root, "NextMarker").replace("/", "%2F")))
    assert [e.text for e in r.xml().iter() if e.tag.endswith("}Key")] == ["c", "d e+f"]
    # V2: paging by continuation token covers every key once; start-after
    keys, token = [], None
    while True:
        t = "/listing?list-type=2&max-keys=2" + ("&continuation-token=" + urllib.parse.quote(token, safe="") if token else "")
        root = ok(s3("GET", t)).xml()
        keys += [e.text for e in root.iter() if e.tag.endswith("}Key")]
        token = xml_text(root, "NextContinuationToken")
        if xml_text(root, "IsTruncated") != "true":
            break
    assert keys == ["a/1", "a/2", "b/1", "c", "d e+f"], keys
    root = ok(s3("GET", "/listing?list-type=2&start-after=b%2F1")).xml()
    assert [e.text for e in root.iter() if e.tag.endswith("}Key")] == ["c", "d e+f"]
    assert xml_text(root, "KeyCount") == "2"
    # encoding-type=url
    root = ok(s3("GET", "/listing?list-type=2&prefix=d&encoding-type=url")).xml()
    assert xml_text(root, "EncodingType") == "url"
    assert urllib.parse.unquote_plus(xml_text(root, "Key")) == "d e+f"
    # versions: one "null" version per key
    root = ok(s3("GET", "/listing?versions&prefix=a")).xml()
    assert [xml_text(v, "VersionId") for v in root if v.tag.endswith("}Version")] == ["null", "null"]
    error(s3("GET", "/listing?list-type=2&max-keys=x"), 400, "InvalidArgument")
    error(s3("GET", "/listing?list-type=2&continuation-token=%21"), 400, "InvalidArgument")
    # sub-resources clients probe
    assert s3("GET", "/listing?policy").status == 404
    assert ok(s3("GET", "/listing?acl")).body.count(b"FULL_CONTROL") == 1
    assert s3("GET", "/listing?cors").status == 404
    assert ok(s3("GET", "/listing?versioning")).status == 200
    error(s3("GET", "/listing?inventory"), 501, "NotImplemented")
    # JS SDK ?x-id=... is an argument, not a sub-resource
    assert ok(s3("GET", "/listing/c?x-id=GetObject")).body == b"x"
    # DeleteObjects with Content-MD5, Quiet and an error for a bad key
    body = (b'<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>false</Quiet>'
            b"<Object><Key>a/1</Key></Object><Object><Key>nope</Key></Object><Object><Key>bad&#x9;key</Key></Object></Delete>")
    r = ok(s3("POST", "/listing?delete", body, headers={"content-md5": base64.b64encode(hashlib.md5(body).digest()).decode(),
                                                          "content-type": "application/xml"}))
    root = r.xml()
    assert sorted(xml_text(d, "Key") for d in root if d.tag.endswith("}Deleted")) == ["a/1", "nope"]
    assert [xml_text(e, "Code") for e in root if e.tag.endswith("}Error")] == ["InvalidArgument"]
    bad = b"<Delete><Object><Key>a</Key></Delete>"
    # a character XML 1.0 cannot hold (U+0001), even as a reference, makes the document malformed (expat), as in S3
    bad1 = body.replace(b"&#x9;", b"&#x1;")
    error(s3("POST", "/listing?delete", bad1, headers={"content-md5": base64.b64encode(hashlib.md5(bad1).digest()).decode()}),
          400, "MalformedXML")
    error(s3("POST", "/listing?delete", bad, headers={"content-md5": base64.b64encode(hashlib.md5(bad).digest()).decode()}), 400,
          "MalformedXML")
    # as in S3, the body needs an integrity check: Content-MD5 or an x-amz-checksum-* header
    error(s3("POST", "/listing?delete", body), 400, "InvalidRequest")
    error(s3("POST", "/listing?delete", body, headers={"content-md5": base64.b64encode(b"x" * 16).decode()}), 400, "BadDigest")
    error(s3("DELETE", "/listing"), 409, "BucketNotEmpty")
    for k in ("a/2", "b/1", "c", "d%20e%2Bf"):
        ok(s3("DELETE", "/listing/" + k), 204)
    ok(s3("DELETE", "/listing/never-existed"), 204)
    ok(s3("DELETE", "/listing"), 204)
    error(s3("GET", "/listing"), 404, "NoSuchBucket")


@test
def objects_ranges_conditionals_copy():
    ok(s3("PUT", "/objs"))
    data = bytes(range(256)) * 4
    r = ok(s3("PUT", "/objs/o.bin", data, headers={"content-type": "application/x-test", "x-amz-meta-Color": "blue",
                                                     "cache-control": "max-age=60", "content-disposition": "attachment"}))
    etag = r.headers["etag"]
    r = ok(s3("HEAD", "/objs/o.bin"))
    assert r.body == b"" and r.headers["content-length"] == "1024" and r.headers["etag"] == etag
    assert r.headers["content-type"] == "application/x-test" and r.headers["x-amz-meta-color"] == "blue"
    assert r.headers["cache-control"] == "max-age=60" and r.headers["accept-ranges"] == "bytes"
    assert r.headers["last-modified"].endswith(" GMT")
    r = ok(s3("GET", "/objs/o.bin", headers={"range": "bytes=10-19"}), 206)
    assert r.body == data[10:20] and r.headers["content-range"] == "bytes 10-19/1024"
    assert ok(s3("GET", "/objs/o.bin", headers={"range": "bytes=-10"}), 206).body == data[-10:]
    assert ok(s3("GET", "/objs/o.bin", headers={"range": "bytes=1000-5000"}), 206).body == data[1000:]
    assert ok(s3("GET", "/objs/o.bin", headers={"range": "bytes=0-1,5-6"})).body == data  # several ranges: whole object
    r = error(s3("GET", "/objs/o.bin", headers={"range": "bytes=1024-"}), 416, "InvalidRange")
    assert r.headers["content-range"] == "bytes */1024"
    ok(s3("PUT", "/objs/empty", b""))
    error(s3("GET", "/objs/empty", headers={"range": "bytes=0-"}), 416, "InvalidRange")
    assert ok(s3("GET", "/objs/empty")).body == b""
    # conditionals (RFC 7232 order)
    assert s3("GET", "/objs/o.bin", headers={"if-none-match": etag}).status == 304
    error(s3("GET", "/objs/o.bin", headers={"if-match": '"nope"'}), 412, "PreconditionFailed")
    ok(s3("GET", "/objs/o.bin", headers={"if-match": etag}))
    lm = ok(s3("HEAD", "/objs/o.bin")).headers["last-modified"]
    assert s3("GET", "/objs/o.bin", headers={"if-modified-since": lm}).status == 304
    # the obsolete HTTP-date forms too (RFC 9110 §5.6.7), as the cache reads them: RFC 850 and asctime
    t = time.strptime(lm, "%a, %d %b %Y %H:%M:%S GMT")
    for other in (time.strftime("%A, %d-%b-%y %H:%M:%S GMT", t), time.strftime("%a %b ", t) + "%2d" % t.tm_mday +
                  time.strftime(" %H:%M:%S %Y", t)):
        assert s3("GET", "/objs/o.bin", headers={"if-modified-since": other}).status == 304, other
    error(s3("GET", "/objs/o.bin", headers={"if-unmodified-since": "Thursday, 01-Jan-70 00:00:00 GMT"}), 412, "PreconditionFailed")
    error(s3("GET", "/objs/o.bin", headers={"if-unmodified-since": "Thu, 01 Jan 1970 00:00:00 GMT"}), 412, "PreconditionFailed")
    ok(s3("GET", "/objs/o.bin", headers={"if-match": etag, "if-unmodified-since": "Thu, 01 Jan 1970 00:00:00 GMT"}))
    # response-* overrides
    r = ok(s3("GET", "/objs/o.bin?response-content-type=text%2Fplain&response-cache-control=no-cache"))
    assert r.headers["content-type"] == "text/plain" and r.headers["cache-control"] == "no-cache"
    # conditional PUT
    error(s3("PUT", "/objs/o.bin", b"new", headers={"if-none-match": "*"}), 412, "PreconditionFailed")
    ok(s3("PUT", "/objs/fresh", b"new", headers={"if-none-match": "*"}))
    error(s3("PUT", "/objs/o.bin", b"new", headers={"if-match": '"0123"'}), 412, "PreconditionFailed")
    assert ok(s3("GET", "/objs/o.bin")).body == data
    # CopyObject: metadata copied, or replaced; not onto itself unchanged
    r = ok(s3("PUT", "/objs/copy.bin", headers={"x-amz-copy-source": "/objs/o.bin"}))
    assert xml_text(r.xml(), "ETag") == etag
    r = ok(s3("GET", "/objs/copy.bin"))
    assert r.body == data and r.headers["x-amz-meta-color"] == "blue"
    ok(s3("PUT", "/objs/copy2.bin", headers={"x-amz-copy-source": "objs/o.bin", "x-amz-metadata-directive": "REPLACE",
                                             "content-type": "text/x-new"}))
    r = ok(s3("HEAD", "/objs/copy2.bin"))
    assert r.headers["content-type"] == "text/x-new" and "x-amz-meta-color" not in r.headers
    error(s3("PUT", "/objs/o.bin", headers={"x-amz-copy-source": "/objs/o.bin"}), 400, "InvalidRequest")
    error(s3("PUT", "/objs/x", headers={"x-amz-copy-source": "/objs/nope"}), 404, "NoSuchKey")
    error(s3("PUT", "/objs/x", headers={"x-amz-copy-source": "/objs/o.bin", "x-amz-copy-source-if-match": '"0"'}), 412,
          "PreconditionFailed")
    # MissingContentLength: a PUT without Content-Length or Transfer-Encoding
    h = {"host": "127.0.0.1:%d" % PORT}
    sign_headers("PUT", "/objs/nolen", h, EMPTY)
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    c.putrequest("PUT", "/objs/nolen", skip_host=True, skip_accept_encoding=True)
    for k, v in h.items():
        c.putheader(k, v)
    c.endheaders()
    error(Resp(c.getresponse()), 411, "MissingContentLength")
    c.close()


@test
def virtual_hosted_addressing():
    host = "objs.s3.localhost:%d" % PORT
    ok(s3("PUT", "/vh/key.txt", b"virtual", host=host))
    assert ok(s3("GET", "/objs/vh/key.txt")).body == b"virtual"
    r = ok(s3("GET", "/?list-type=2&prefix=vh", host=host))
    assert xml_text(r.xml(), "Key") == "vh/key.txt"
    assert ok(raw("GET", presign("GET", "/vh/key.txt", host=host), host=host)).body == b"virtual"
    # a host under the domain that is no valid bucket name
    assert s3("GET", "/k", host="Not_Valid.s3.localhost:%d" % PORT).status == 404


@test
def multipart_rules():
    ok(s3("PUT", "/mpu"))
    r = ok(s3("POST", "/mpu/big?uploads", headers={"content-type": "video/mp4", "x-amz-meta-k": "v"}))
    uid = xml_text(r.xml(), "UploadId")
    five, five2 = os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024)
    etags = {}
    for n, part in ((1, five), (2, five2), (3, b"tail")):
        r = ok(s3("PUT", "/mpu/big?partNumber=%d&uploadId=%s" % (n, uid), part))
        etags[n] = r.headers["etag"]
        assert etags[n] == '"%s"' % hashlib.md5(part).hexdigest()
    error(s3("PUT", "/mpu/big?partNumber=10001&uploadId=" + uid, b"x"), 400, "InvalidArgument")
    error(s3("PUT", "/mpu/big?partNumber=1&uploadId=0123456789abcdef0123456789abcdef", b"x"), 404, "NoSuchUpload")
    error(s3("PUT", "/mpu/other?partNumber=1&uploadId=" + uid, b"x"), 404, "NoSuchUpload")
    r = ok(s3("GET", "/mpu/big?uploadId=" + uid))
    assert [xml_text(p, "PartNumber") for p in r.xml() if p.tag.endswith("}Part")] == ["1", "2", "3"]
    r = ok(s3("GET", "/mpu?uploads"))
    assert xml_text(r.xml(), "UploadId") == uid

    def complete(parts):
        body = "<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
            "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, e) for n, e in parts)
        return s3("POST", "/mpu/big?uploadId=" + uid, body.encode())

    error(complete([(2, etags[2]), (1, etags[1])]), 400, "InvalidPartOrder")
    error(complete([(1, etags[2]), (2, etags[2])]), 400, "InvalidPart")
    error(complete([(1, etags[1]), (3, etags[3]), (4, etags[3])]), 400, "InvalidPart")
    error(complete([(3, etags[3]), (4, etags[3])]), 400, "InvalidPart")
    error(s3("POST", "/mpu/big?uploadId=" + uid, b"<CompleteMultipartUpload></CompleteMultipartUpload>"), 400, "MalformedXML")
    error(s3("POST", "/mpu/big?uploadId=" + uid, b"<CompleteMultipartUpload><Part>"), 400, "MalformedXML")
    # an object that is not visible until Complete
    error(s3("GET", "/mpu/big"), 404, "NoSuchKey")
    r = ok(complete([(1, etags[1]), (2, etags[2]), (3, etags[3])]))
    md5s = b"".join(hashlib.md5(p).digest() for p in (five, five2, b"tail"))
    assert xml_text(r.xml(), "ETag") == '"%s-3"' % hashlib.md5(md5s).hexdigest()
    r = ok(s3("GET", "/mpu/big"))
    assert r.body == five + five2 + b"tail" and r.headers["content-type"] == "video/mp4" and r.headers["x-amz-meta-k"] == "v"
    r = ok(s3("GET", "/mpu/big", headers={"range": "bytes=%d-%d" % (5 * 1024 * 1024 - 2, 5 * 1024 * 1024 + 1)}), 206)
    assert r.body == five[-2:] + five2[:2]
    r = ok(s3("GET", "/mpu/big?partNumber=3"), 206)
    assert r.body == b"tail" and r.headers["x-amz-mp-parts-count"] == "3"
    # a repeated Complete (a client retrying after a lost answer) gets the same success again, as from S3
    assert xml_text(ok(complete([(1, etags[1])])).xml(), "ETag") == r.headers["etag"]
    # UploadPartCopy (what `aws s3 cp` does for big s3-to-s3 copies), whole and with a range
    uid = xml_text(ok(s3("POST", "/mpu/copied?uploads")).xml(), "UploadId")
    r = ok(s3("PUT", "/mpu/copied?partNumber=1&uploadId=" + uid, headers={"x-amz-copy-source": "/mpu/big",
                                                                          "x-amz-copy-source-range": "bytes=0-5242879"}))
    c1 = xml_text(r.xml(), "ETag")
    assert c1 == '"%s"' % hashlib.md5(five).hexdigest()
    c2 = xml_text(ok(s3("PUT", "/mpu/copied?partNumber=2&uploadId=" + uid, headers={"x-amz-copy-source": "mpu/big"})).xml(), "ETag")
    error(s3("PUT", "/mpu/copied?partNumber=3&uploadId=" + uid, headers={"x-amz-copy-source": "/mpu/big",
                                                                         "x-amz-copy-source-range": "bytes=5-1"}), 400, "InvalidArgument")
    body = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part><Part><PartNumber>2</PartNumber>" \
           "<ETag>%s</ETag></Part></CompleteMultipartUpload>" % (c1, c2)
    ok(s3("POST", "/mpu/copied?uploadId=" + uid, body.encode()))
    assert ok(s3("GET", "/mpu/copied")).body == five + five + five2 + b"tail"
    # EntityTooSmall, and Abort
    uid = xml_text(ok(s3("POST", "/mpu/small?uploads")).xml(), "UploadId")
    e1 = ok(s3("PUT", "/mpu/small?partNumber=1&uploadId=" + uid, b"a")).headers["etag"]
    e2 = ok(s3("PUT", "/mpu/small?partNumber=2&uploadId=" + uid, b"b")).headers["etag"]
    body = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part><Part><PartNumber>2</PartNumber>" \
           "<ETag>%s</ETag></Part></CompleteMultipartUpload>" % (e1, e2)
    error(s3("POST", "/mpu/small?uploadId=" + uid, body.encode()), 400, "EntityTooSmall")
    ok(s3("DELETE", "/mpu/small?uploadId=" + uid), 204)
    error(s3("DELETE", "/mpu/small?uploadId=" + uid), 404, "NoSuchUpload")
    error(s3("GET", "/mpu/small"), 404, "NoSuchKey")
    # nothing left of the uploads but the records of completed ones (a repeated Complete answers from them)
    assert [n for n in os.listdir(os.path.join(ROOT, ".uploads")) if not n.endswith(".done")] == []


@test
def size_limit():
    error(s3("PUT", "/objs/too-big", b"x" * (8 * 1024 * 1024 + 1)), 400, "EntityTooLarge")
    error(s3("GET", "/objs/too-big"), 404, "NoSuchKey")
    ok(s3("PUT", "/objs/just-fits", b"y" * (8 * 1024 * 1024)))


@test
def concurrent_puts_one_key():
    ok(s3("PUT", "/conc"))
    bodies = [bytes([65 + i]) * (300000 + i) for i in range(8)]
    results = []

    def worker(b):
        for _ in range(3):
            results.append(s3("PUT", "/conc/same", b).status)

    threads = [threading.Thread(target=worker, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 24, results
    r = ok(s3("GET", "/conc/same"))
    assert r.body in bodies and r.headers["etag"] == '"%s"' % hashlib.md5(r.body).hexdigest()
    root = ok(s3("GET", "/conc?list-type=2")).xml()
    assert [e.text for e in root.iter() if e.tag.endswith("}Key")] == ["same"]
    shard_files = [f for top, _, fs in os.walk(os.path.join(ROOT, "conc")) for f in fs if f != ".bucket"]
    assert len(shard_files) == 2, shard_files  # one record and one data file


@test
def garbage_never_hurts():
    # odd targets, queries, headers and bodies, signed and unsigned: every one gets an answer and the store keeps serving
    import random
    rnd = random.Random(7)
    alphabet = "ab/%?&=+.~-_ \\\"'<>#;:,*!$()[]{}|^`@\x01\x7f" + "\u00e9"
    targets = ["/", "//", "/%", "/%zz", "/proto/%", "/proto/%2", "/proto?", "/proto?&&&", "/proto?list-type=2&max-keys=-1",
               "/proto?uploads&uploadId=x", "/proto/k?partNumber=0&uploadId=" + "f" * 32, "/proto?delete",
               "/proto/k?uploadId=../../x", "/proto?versions&key-marker=%ff", "/proto?prefix=%00", "/" + "a" * 64,
               "/proto/" + "%41" * 2000, "/proto?" + "x=1&" * 300]
    for _ in range(150):
        targets.append("/" + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40))).replace(" ", "%20").replace("#", "%23"))
    bodies = [b"", b"<", b"<Delete>", b"\x00" * 10, b"5\r\nhello\r\n", b"ffffffffffffffff;chunk-signature=00\r\n"]
    for i, t in enumerate(targets):
        method = ("GET", "PUT", "POST", "DELETE", "HEAD")[i % 5]
        body = bodies[i % len(bodies)] if method in ("PUT", "POST") else b""
        t = "".join(c if 0x20 < ord(c) < 0x7f else urllib.parse.quote(c) for c in t)
        ph = ("UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", None)[i % 4]
        try:
            r = s3(method, t, body, payload_hash=ph, headers={"x-amz-meta-x": "\u00e9".encode().decode("latin-1")})
        except http.client.HTTPException:
            continue
        assert 200 <= r.status < 600 and r.headers.get("x-amz-request-id"), (t, r.status)
        if r.status >= 400 and method != "HEAD" and r.body:
            assert xml_text(r.xml(), "Message"), (t, r.body)
        r = raw(method, t, {"authorization": "AWS4-HMAC-SHA256 " + t[:200], "x-amz-date": "20260101T000000Z"}, body)
        assert r.status in (400, 403, 405), (t, r.status)
    ok(s3("GET", "/proto"))


@test
def restart_and_generated_credentials():
    # the shared instance: what it acknowledged survives a restart on the same root
    global edge, PORT
    ok(s3("PUT", "/objs/durable", b"acknowledged"))
    assert edge.stop() == 0
    edge.assert_clean()
    others.append(edge)
    edge = Edge(config(), name="edge2", workdir=edge.dir)
    PORT = edge.ports["store"]
    assert ok(s3("GET", "/objs/durable")).body == b"acknowledged"
    assert ok(s3("GET", "/mpu/big")).headers["content-length"] == str(10 * 1024 * 1024 + 4)
    # a second process on the same root is refused
    other = Edge(config(), name="edge3", workdir=edge.dir, expect_fail=True)
    others.append(other)
    assert other.proc.wait(30 * SLOW) != 0
    assert "in use" in other.log(), other.log()
    # without credentials: a key pair is generated, stored with mode 0600, printed once, and reused after a restart
    fresh = Edge(config(root="./gen", creds=False), name="gen1")
    others.append(fresh)
    path = os.path.join(fresh.dir, "gen", ".credentials")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    ak = text.split("access_key = ")[1].split()[0]
    sk = text.split("secret_key = ")[1].split()[0]
    assert ak in fresh.log() and sk in fresh.log()
    global AK, SK
    saved, PORT = (AK, SK, PORT), fresh.ports["store"]
    AK, SK = ak, sk
    try:
        ok(s3("PUT", "/genb"))
        assert fresh.stop() == 0
        again = Edge(config(root="./gen", creds=False), name="gen2", workdir=fresh.dir)
        others.append(again)
        assert sk not in again.log()
        PORT = again.ports["store"]
        ok(s3("HEAD", "/genb"))
        assert again.stop() == 0
        again.assert_clean()
    finally:
        AK, SK, PORT = saved


@test
def embedded_origin_through_the_proxy():
    # the proxy's S3 origin client signs with the store's credentials (proxy/s3origin.c + sigv4/sigv4.c on both ends)
    ok(s3("PUT", "/proxied"))
    ok(s3("PUT", "/proxied/m/hello%20world.txt", b"through the proxy", headers={"content-type": "text/x-proxied"}))
    status, headers, body = curl_status("-s", edge.url("/m/hello%20world.txt"))
    assert status == 200 and body == b"through the proxy" and headers.get("content-type") == "text/x-proxied", (status, headers, body)
    status, headers, body = curl_status("-s", edge.url("/m/missing.txt"))
    assert status == 404, (status, body)


@test
def clean_shutdown():
    assert edge.stop() == 0
    edge.assert_clean()


if __name__ == "__main__":
    try:
        run()
    finally:
        for e in others + [edge]:
            e.kill()
