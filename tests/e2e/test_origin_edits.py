#!/usr/bin/python3
"""tests/e2e/test_origin_edits.py - origin-request edits behave like an origin configured that way, and the identity hooks see.

Real origins: origin.py (plain HTTP, and HTTPS capped at TLS 1.2) whose recorded requests show the Host, path and signature the
edited origin was sent; the embedded store as an S3 origin on a port of its own with several buckets (it checks every SigV4
signature). The origin-request hook (tests/hooks/e2e/origin_edit.lua) is written the way AWS's examples are: request.origin
edited in place, with the Host header. An origin-response hook (origin_seen.lua) says which origin the request went to; a
viewer-response hook (identity.lua) what config and context a hook sees.
"""
import hashlib
import hmac
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from edgetest import BIN, SRC, Edge, free_port, make_cert, retry_port_taken, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TMP = tempfile.mkdtemp(prefix="edgetest-originedit-")
E2E = os.path.join(SRC, "tests", "hooks", "e2e")
AK, SK = "ORIGINEDITACCESSKEY1", "origin-edit-secret-key-0123456789abcdef"
DIST_ID, DIST_DOMAIN = "E2QWRUHAPOMQZL", "d111111abcdef8.cloudfront.net"

web = Origin()  # the behaviors' custom origin
eu = Origin()  # reached only when a hook picks it
plain = Origin()  # an "S3" origin that records what it is sent (the signature is checked here)
CERT, KEY = make_cert(TMP, "originedit")
tls12 = Origin(tls=(CERT, KEY), tls_max="1.2")  # cannot speak TLS 1.3
STORE_PORT = free_port()

# buckets of the embedded store: the same keys in each, a body that names the bucket
BUCKETS = ["site", "other", "bucket-in-eu-central-1", "bucket-in-ap-northeast-1"]
KEYS = ["inplace/a.txt", "region/a.txt", "bucketpath/a.txt", "country/a.txt", "unsigned/a.txt", "tos3/a.txt"]
for b in BUCKETS:
    for k in KEYS:
        p = os.path.join(TMP, "seed", b, k)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("bucket %s key %s\n" % (b, k))


def object_body(bucket, key):
    return ("bucket %s key %s\n" % (bucket, key)).encode()


def config():
    return """
threads: 1
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: json}
distribution: {id: %(dist_id)s, domain_name: %(dist_domain)s}
origins:
  site: {type: s3, endpoint: embedded, bucket: site, region: eu-west-1}
  web: {type: http, url: "%(web)s"}
  hosted: {type: http, url: "%(web)s", host_header: configured.example}
  tlsweb: {type: http, url: "%(tls)s", ca_file: %(cert)s, sni: originedit}
hooks:
  edit: {lua: %(e2e)s/origin_edit.lua, config: {store_port: %(store_port)d, plain_port: %(plain_port)d, eu_port: %(eu_port)d,
         bucket: site}}
  seen: {lua: %(e2e)s/origin_seen.lua}
  identity: {lua: %(e2e)s/identity.lua}
behaviors:
  - {path: "/inplace/*", origin: site, cache: off, hooks: {origin-request: edit, origin-response: seen}}
  - {path: "/region/*", origin: site, cache: off, hooks: {origin-request: edit, origin-response: seen}}
  - {path: "/bucketpath/*", origin: site, cache: off, hooks: {origin-request: edit, origin-response: seen}}
  - {path: "/country/*", origin: site, cache: {default_ttl: 60s, key: {headers: [x-test-country]}},
     hooks: {origin-request: edit, origin-response: seen}}
  - {path: "/unsigned/*", origin: site, cache: off, hooks: {origin-request: edit, origin-response: seen}}
  - {path: "/sigv4/*", origin: web, cache: off, hooks: {origin-request: edit, origin-response: seen}}
  - {path: "/host/*", origin: web, cache: off, hooks: {origin-request: edit, origin-response: seen}}
  - {path: "/custom/*", origin: web, cache: off, hooks: {origin-request: edit, origin-response: seen}}
  - {path: "/cpath/*", origin: hosted, cache: off, hooks: {origin-request: edit, origin-response: seen}}
  - {path: "/tls/*", origin: tlsweb, cache: off, hooks: {origin-request: edit, origin-response: seen}}
  - {path: "/tos3/*", origin: web, cache: off, hooks: {origin-request: edit, origin-response: seen}}
  - {path: "*", origin: web, cache: off, hooks: {origin-response: seen, viewer-response: identity}}
store:
  listen: {host: 127.0.0.1, port: %(store_port)d}
  root: %(tmp)s/store
  credentials: {access_key: %(ak)s, secret_key: %(sk)s}
  seed: [%(seeds)s]
""" % {"dist_id": DIST_ID, "dist_domain": DIST_DOMAIN, "web": web.url, "tls": tls12.url, "cert": CERT, "e2e": E2E, "store_port": STORE_PORT, "plain_port": plain.port,
       "eu_port": eu.port, "tmp": TMP, "ak": AK, "sk": SK,
       "seeds": ", ".join("{bucket: %s, dir: %s}" % (b, os.path.join(TMP, "seed", b)) for b in BUCKETS)}


def start_edge():
    # the store's port is chosen before edgehook binds it (the hook's config names it): chosen again if it was taken meanwhile
    global STORE_PORT
    try:
        # a hook's S3 origin that is not the store signs with the AWS_* environment
        return Edge(config(), env={"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK})
    except RuntimeError:
        STORE_PORT = free_port()
        raise


edge = retry_port_taken(start_edge)


class Resp:
    def __init__(self, r, body):
        self.status = r.status
        self.headers = {k.lower(): v for k, v in r.getheaders()}
        self.body = body

    def h(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<%d %r %r>" % (self.status, self.headers, self.body[:300])


def req(path, headers=None, e=None):
    c = http.client.HTTPConnection("127.0.0.1", (e or edge).port, timeout=30)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    resp = Resp(r, r.read())
    c.close()
    return resp


def seen_by(origin, path):
    """the requests origin.py recorded for path (with its query), headers as a lowercase dict"""
    out = []
    for r in origin.requests():
        if r["path"] == path:
            out.append({"method": r["method"], "path": r["path"], "headers": {k.lower(): v for k, v in r["headers"]}})
    return out


def verify_sigv4(method, path, headers, secret):
    """checks a header-signed S3 request as S3 would (the canonical request rebuilt from what the origin received); returns the
    credential scope's region"""
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, ?SignedHeaders=([^,]+), ?"
                     r"Signature=([0-9a-f]{64})", headers["authorization"])
    assert m, headers["authorization"]
    ak, date, region, signed, sig = m.groups()
    assert ak == AK, ak
    canon_headers = "".join("%s:%s\n" % (h, headers[h].strip()) for h in signed.split(";"))
    canon = "\n".join([method, path, "", canon_headers, signed, headers["x-amz-content-sha256"]])
    sts = "\n".join(["AWS4-HMAC-SHA256", headers["x-amz-date"], "%s/%s/s3/aws4_request" % (date, region),
                     hashlib.sha256(canon.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    assert hmac.new(k, sts.encode(), hashlib.sha256).hexdigest() == sig, "signature mismatch: %s" % canon
    assert "host" in signed.split(";"), signed
    return region


STORE = "127.0.0.1:%d" % STORE_PORT


# ---- S3 origins ---------------------------------------------------------------------------------------------------------------

@test
def s3_edit_in_place_keeps_port_bucket_and_region():
    # the hook adds a custom header to request.origin.s3 and returns it: the store on its own port (not 443), the bucket and
    # the region survive (before: domainName without its port, a 502)
    r = req("/inplace/a.txt")
    assert r.status == 200 and r.body == object_body("site", "inplace/a.txt"), r
    # the origin-response event shows where the request went: the store by its virtual-hosted name (as CloudFront names
    # buckets), with its port
    assert r.h("x-origin-seen") == "s3|site.s3.localhost:%d||eu-west-1|origin-access-identity" % STORE_PORT, r


@test
def s3_region_edit_is_kept_and_signed():
    r = req("/region/a.txt", {"X-Test-Region": "ap-south-1"})
    assert r.status == 200 and r.body == object_body("site", "region/a.txt"), r
    assert r.h("x-origin-seen") == "s3|site.s3.localhost:%d||ap-south-1|origin-access-identity" % STORE_PORT, r


@test
def s3_bucket_switched_by_path():
    r = req("/bucketpath/a.txt", {"X-Test-Bucket": "other"})
    assert r.status == 200 and r.body == object_body("other", "bucketpath/a.txt"), r
    assert r.h("x-origin-seen") == "s3|127.0.0.1:%d|/other|eu-west-1|origin-access-identity" % STORE_PORT, r


@test
def s3_bucket_switched_by_country_as_in_aws_example():
    # AWS's example: region, domainName (BUCKET.s3.localhost:PORT, the store's virtual-hosted name, reached without DNS) and
    # Host edited in place; the store finds the bucket in the Host and accepts the signature made for that Host
    for country, bucket in (("DE", "bucket-in-eu-central-1"), ("JP", "bucket-in-ap-northeast-1")):
        r = req("/country/a.txt", {"X-Test-Country": country})
        assert r.status == 200 and r.body == object_body(bucket, "country/a.txt"), (country, r)
        region = bucket[len("bucket-in-"):]
        assert r.h("x-origin-seen") == "s3|%s.s3.localhost:%d||%s|origin-access-identity" % (bucket, STORE_PORT, region), r
        # stored under the country's key: the next viewer from there is a hit with the same bucket's object
        r2 = req("/country/a.txt", {"X-Test-Country": country})
        assert r2.status == 200 and r2.body == r.body and r2.h("x-cache") == "Hit from edgehook", r2
    # a country the example does not list: the configured bucket
    r = req("/country/a.txt", {"X-Test-Country": "FR"})
    assert r.status == 200 and r.body == object_body("site", "country/a.txt"), r


@test
def s3_auth_method_none_is_not_signed():
    # the store refuses an anonymous request: the hook's authMethod "none" was honoured
    r = req("/unsigned/a.txt")
    assert r.status == 403 and b"AccessDenied" in r.body, r
    assert r.h("x-origin-seen") == "s3|site.s3.localhost:%d||eu-west-1|none" % STORE_PORT, r


@test
def s3_signature_names_host_path_and_region():
    # an S3 origin on origin.py: what it received is checked as S3 would check it
    plain.reset()
    r = req("/sigv4/count/a")
    assert r.status == 200, r
    got = seen_by(plain, "/sigbucket/sigv4/count/a")
    assert len(got) == 1, plain.requests()
    h = got[0]["headers"]
    assert h["host"] == "127.0.0.1:%d" % plain.port, h
    assert verify_sigv4("GET", "/sigbucket/sigv4/count/a", h, SK) == "eu-west-2"
    assert r.h("x-origin-seen") == "s3|127.0.0.1:%d|/sigbucket|eu-west-2|origin-access-identity" % plain.port, r
    # authMethod none: no signature at all
    r = req("/sigv4/count/b", {"X-Test-Auth": "none"})
    got = seen_by(plain, "/sigbucket/sigv4/count/b")
    assert r.status == 200 and len(got) == 1 and "authorization" not in got[0]["headers"], got


@test
def custom_to_s3_as_in_aws_example():
    r = req("/tos3/a.txt")
    assert r.status == 200 and r.body == object_body("site", "tos3/a.txt"), r
    assert r.h("x-origin-seen") == "s3|127.0.0.1:%d|/site|us-east-1|origin-access-identity" % STORE_PORT, r


# ---- custom origins -----------------------------------------------------------------------------------------------------------

@test
def host_header_set_by_hook_reaches_the_origin():
    web.reset()
    r = req("/host/count/a", {"Host": "viewer.example"})
    assert r.status == 200, r
    got = seen_by(web, "/host/count/a")
    assert len(got) == 1 and got[0]["headers"]["host"] == "set-by-hook.example", got
    # a Host the hook leaves alone: the origin's own, not the viewer's
    r = req("/plain/count/a", {"Host": "viewer.example"})
    got = seen_by(web, "/plain/count/a")
    assert r.status == 200 and got[0]["headers"]["host"] == "127.0.0.1:%d" % web.port, got


@test
def custom_origin_switched_by_header_as_in_aws_example():
    web.reset()
    eu.reset()
    r = req("/custom/count/a", {"X-Test-Country": "DE"})
    assert r.status == 200, r
    got = seen_by(eu, "/custom/count/a")
    assert len(got) == 1 and got[0]["headers"]["host"] == "eu.example.test", got
    assert seen_by(web, "/custom/count/a") == [], web.requests()
    assert r.h("x-origin-seen") == "custom|http|127.0.0.1|%d||TLSv1.2" % eu.port, r
    r = req("/custom/count/b", {"X-Test-Country": "FR"})
    assert r.status == 200 and len(seen_by(web, "/custom/count/b")) == 1 and seen_by(eu, "/custom/count/b") == []


@test
def custom_edit_in_place_keeps_host_header():
    # only the path changes: the configured host_header stays
    web.reset()
    r = req("/cpath/count/a")
    assert r.status == 200, r
    got = seen_by(web, "/count/cpath/count/a")
    assert len(got) == 1 and got[0]["headers"]["host"] == "configured.example", web.requests()
    assert r.h("x-origin-seen") == "custom|http|127.0.0.1|%d|/count|TLSv1.2" % web.port, r


@test
def ssl_protocols_are_kept_and_set_the_oldest_version():
    # the origin speaks TLS 1.2 at most, with a certificate only the configured ca_file trusts for the configured sni (both kept
    # by the in-place edit)
    r = req("/tls/count/a", {"X-Test-Ssl": "TLSv1.2"})
    assert r.status == 200, r
    assert r.h("x-origin-seen") == "custom|https|127.0.0.1|%d||TLSv1.2" % tls12.port, r
    # AWS's example list: TLS 1.2 is still offered (nothing older than what OpenSSL allows is forced)
    r = req("/tls/count/b", {"X-Test-Ssl": "TLSv1,TLSv1.1,TLSv1.2"})
    assert r.status == 200 and r.h("x-origin-seen").endswith("|TLSv1,TLSv1.1,TLSv1.2"), r
    # TLS 1.3 as the oldest: the handshake with a TLS 1.2 origin fails
    r = req("/tls/count/c", {"X-Test-Ssl": "TLSv1.3"})
    assert r.status == 502 and b"TLS handshake" in r.body, r
    # a value Lambda@Edge does not know: invalid hook output
    r = req("/tls/count/d", {"X-Test-Ssl": "TLSv9"})
    assert r.status == 502 and "sslProtocols" in edge.log(), r


# ---- identity -----------------------------------------------------------------------------------------------------------------

RID = re.compile(r"[A-Za-z0-9_-]{54}==")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@test
def distribution_request_id_and_context():
    r = req("/plain/count/id", {"Host": "viewer.example"})
    assert r.status == 200, r
    rid = r.h("x-request-id")
    assert RID.fullmatch(rid), rid
    assert r.h("x-config") == "%s|%s|%s|viewer-response" % (DIST_ID, DIST_DOMAIN, rid), r
    assert r.h("x-ores-config") == "%s|%s|%s|origin-response" % (DIST_ID, DIST_DOMAIN, rid), r
    ctx = r.h("x-context").split("|")
    assert ctx[:4] == ["identity", "1", "64", "arn:aws:lambda:us-east-1:000000000000:function:identity:1"], ctx
    assert UUID.fullmatch(ctx[4]) and ctx[5] == "/aws/lambda/us-east-1.identity", ctx
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[1\][0-9a-f]{32}", ctx[6]) and ctx[7] == "true", ctx
    # the same id in the access log
    def logged():
        return [json.loads(line) for line in edge.out().splitlines() if line.startswith("{") and rid in line]
    wait_until(lambda: logged(), what="the access log line")
    assert logged()[0]["request_id"] == rid
    # another request, another id
    assert req("/plain/count/id2").h("x-request-id") != rid


@test
def identity_defaults_without_distribution():
    e = Edge("""
threads: 1
listen: [{host: 127.0.0.1, port: 0}]
origins: {web: {type: http, url: "%s"}}
hooks: {identity: {lua: %s/identity.lua}}
behaviors: [{path: "*", origin: web, cache: off, hooks: {viewer-response: identity}}]
""" % (web.url, E2E), name="nodist")
    try:
        r = req("/plain/count/nodist", {"Host": "viewer.example"}, e=e)
        assert r.status == 200, r
        assert r.h("x-config") == "edgehook|viewer.example|%s|viewer-response" % r.h("x-request-id"), r
    finally:
        assert e.stop() == 0
        e.assert_clean()


@test
def distribution_config_errors_name_file_and_line():
    bad = [("distribution: {id: \"E2 QW\"}", r":3: distribution\.id: \"E2 QW\" is not an id"),
           ("distribution:\n  domain_nme: d1.cloudfront.net",
            r":4: distribution\.domain_nme: unknown key \(did you mean \"domain_name\"\?\)"),
           ("distribution: {domain_name: \"bad_domain!\"}", r":3: distribution\.domain_name: \"bad_domain!\" is not a domain name"),
           ("distribution: [E2QWRUHAPOMQZL]", r":3: distribution: expected a map, got a list")]
    for text, want in bad:
        path = os.path.join(TMP, "bad.yaml")
        with open(path, "w") as f:
            f.write("listen: {port: 0}\norigins: {web: {type: http, url: \"http://127.0.0.1:1\"}}\n%s\n"
                    "behaviors: [{path: \"*\", origin: web}]\n" % text)
        p = subprocess.run([BIN, "-t", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = p.stderr.decode()
        assert p.returncode == 1 and re.search(re.escape(path) + want, err), (text, err)
    with open(path, "w") as f:
        f.write("listen: {port: 0}\norigins: {web: {type: http, url: \"http://127.0.0.1:1\"}}\n"
                "distribution: {id: E2QWRUHAPOMQZL, domain_name: d111111abcdef8.cloudfront.net}\n"
                "behaviors: [{path: \"*\", origin: web}]\n")
    p = subprocess.run([BIN, "-t", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr


@test
def clean_shutdown():
    try:
        assert edge.stop() == 0, edge.log()[-3000:]
        edge.assert_clean()
    finally:
        for o in (web, eu, plain, tls12):
            o.stop()


if __name__ == "__main__":
    run()
