"""End-to-end: origin internals stay inside (issue 17.6), and CloudFront-style custom error responses (`error_pages`).

One edgehook with its embedded store serves, through S3 origins: the store with its own credentials (`endpoint: embedded`), the
same store with a wrong secret (SignatureDoesNotMatch), the store with `pass_amz_headers: true`, and a fake "S3" endpoint that
is really the scriptable HTTP origin (a 503 with an x-amz-request-id); through HTTP origins: the scriptable origin and one that
is down. Viewers see no S3 error XML, no access key id, no x-amz-* header but x-amz-meta-* (and all with pass_amz_headers), no
internal address in a 502; the error log has the cause. Error pages: a 404 answered with the page and its status, the error
cached for the page's ttl (the origin's request count stays put, then grows once the ttl is over), a page that fails falls back
to the plain error, a page that 404s itself does not loop, and the top level's pages apply to behaviors that name none.
"""
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, curl_status, free_port, retry_port_taken, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TMP = tempfile.mkdtemp(prefix="e2e-origin-internals-")
AK, SK = "AKIAINTERNALSTEST001", "internalsstoresecret0000000000000000001"
BUCKET = "media"
origin = Origin()
DOWN_PORT = free_port()  # nothing listens there


class SlowDown(BaseHTTPRequestHandler):
    """an S3 endpoint that is overloaded: every request gets S3's 503 SlowDown error document"""
    count = 0
    DOC = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.'
           b'</Message><RequestId>FAKE0001</RequestId><HostId>internal-host-id</HostId></Error>')

    def do_GET(self):
        SlowDown.count += 1
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.DOC)))
        self.send_header("x-amz-request-id", "FAKE0001")
        self.send_header("x-amz-id-2", "internal-host-id")
        self.end_headers()
        self.wfile.write(self.DOC)

    def log_message(self, *args):
        pass


slowdown = ThreadingHTTPServer(("127.0.0.1", 0), SlowDown)
threading.Thread(target=slowdown.serve_forever, daemon=True).start()


def config(store_port):
    return """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
store: {listen: {host: 127.0.0.1, port: %(sp)d}, root: ./data, credentials: {access_key: %(ak)s, secret_key: %(sk)s}}
origins:
  good: {type: s3, endpoint: embedded, bucket: %(b)s}
  bad: {type: s3, endpoint: "http://127.0.0.1:%(sp)d", bucket: %(b)s, credentials: {access_key: %(ak)s, secret_key: wrong%(sk)s}}
  passing: {type: s3, endpoint: embedded, bucket: %(b)s, pass_amz_headers: true}
  fake: {type: s3, endpoint: "http://127.0.0.1:%(slow)d", bucket: fakebucket, credentials: {access_key: %(ak)s, secret_key: %(sk)s}}
  web: {type: http, url: "%(web)s"}
  down: {type: http, url: "http://127.0.0.1:%(down)d", connect_timeout: 5s}
error_pages:
  410: {path: /errors/index.html, status: 410}
behaviors:
  - {path: "/good/*", origin: good}
  - {path: "/bad/*", origin: bad}
  - {path: "/pass/*", origin: passing}
  - {path: "/fake/*", origin: fake}
  - {path: "/down/*", origin: down}
  - {path: "/errors/*", origin: web, cache: {default_ttl: 1h}}
  - path: "/ep/*"
    origin: web
    error_pages:
      404: {path: /errors/index.html, ttl: 1h, status: 404}
      403: {path: /errors/index.html, ttl: 2s, status: 200}
      503: {path: /nope/missing.html, ttl: 1h}
  - path: "/loop/*"
    origin: web
    error_pages: {404: {path: /loop/status/404}}
  - {path: "*", origin: web}
""" % {"sp": store_port, "ak": AK, "sk": SK, "b": BUCKET, "web": origin.url, "down": DOWN_PORT,
                                                                        "slow": slowdown.server_address[1]}


def start():
    port = free_port()
    e = Edge(config(port), workdir=tempfile.mkdtemp(dir=TMP))
    e.store_port = port
    return e


edge = retry_port_taken(start)


def aws(*args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", "http://127.0.0.1:%d" % edge.store_port] + list(args), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, (args, p.stdout, p.stderr)


OBJ = os.path.join(TMP, "obj.txt")
with open(OBJ, "wb") as f:
    f.write(b"an object in the store\n")
aws("s3api", "create-bucket", "--bucket", BUCKET)
for prefix in ("good", "bad", "pass"):
    aws("s3api", "put-object", "--bucket", BUCKET, "--key", prefix + "/obj.txt", "--body", OBJ, "--metadata", "owner=team-a")


def amz(headers):
    return sorted(k for k in headers if k.startswith("x-amz-"))


def assert_no_internals(body, headers):
    assert b"<" not in body and b"Error" not in body.replace(b"error", b""), body
    for secret in (AK.encode(), b"SignatureDoesNotMatch", b"StringToSign", BUCKET.encode(), b"127.0.0.1"):
        assert secret not in body, (secret, body)
    assert amz(headers) == [], headers


@test
def s3_headers_stripped_but_user_metadata():
    status, h, body = curl_status(edge.url("/good/obj.txt"))
    assert status == 200 and body == b"an object in the store\n", (status, h, body)
    assert h.get("x-amz-meta-owner") == "team-a", h
    assert "x-amz-request-id" not in h and "x-amz-id-2" not in h, h
    assert all(k.startswith("x-amz-meta-") or k == "x-amz-version-id" for k in amz(h)), h
    # the stored head (revalidated: S3 gives no freshness), and the 304's headers merged into it: the same
    status, h, body = curl_status(edge.url("/good/obj.txt"))
    assert status == 200 and h.get("x-cache") in ("Hit from edgehook", "RefreshHit from edgehook"), h
    assert h.get("x-amz-meta-owner") == "team-a" and "x-amz-request-id" not in h and "x-amz-id-2" not in h, h


@test
def pass_amz_headers_keeps_them():
    status, h, body = curl_status(edge.url("/pass/obj.txt"))
    assert status == 200 and body == b"an object in the store\n", (status, h)
    assert h.get("x-amz-meta-owner") == "team-a" and "x-amz-request-id" in h and "x-amz-id-2" in h, h


@test
def s3_bad_signature_reaches_the_log_not_the_viewer():
    status, h, body = curl_status(edge.url("/bad/obj.txt"))
    assert status == 403, (status, h, body)
    assert_no_internals(body, h)
    assert body == b"403 Forbidden\n", body
    assert h.get("content-type", "").startswith("text/plain"), h
    wait_until(lambda: "origin bad (S3) answered 403 SignatureDoesNotMatch" in edge.log(), what="the cause in the error log")
    line = [ln for ln in edge.log().splitlines() if "origin bad (S3) answered 403" in ln][0]
    assert "signature we calculated does not match" in line and "x-amz-request-id " in line, line


@test
def s3_5xx_body_replaced():
    status, h, body = curl_status(edge.url("/fake/busy.txt"))
    assert status == 503 and SlowDown.count == 1, (status, h, body, SlowDown.count)
    assert_no_internals(body, h)
    assert body == b"503 Service Unavailable\n" and b"internal-host-id" not in body, body
    wait_until(lambda: "origin fake (S3) answered 503 SlowDown: Please reduce your request rate. (x-amz-request-id FAKE0001"
               in edge.log(), what="the 503's cause in the error log")


@test
def s3_404_has_no_amz_headers():
    status, h, body = curl_status(edge.url("/good/no-such-key.txt"))
    assert status == 404 and amz(h) == [], (status, h)


@test
def bad_gateway_names_no_address():
    for path in ("/down/a", "/down/b"):
        status, h, body = curl_status(edge.url(path))
        assert status == 502, (status, h, body)
        assert b"127.0.0.1" not in body and str(DOWN_PORT).encode() not in body and b"down" not in body.replace(b"/down", b""), body
    # the log has where it tried
    wait_until(lambda: "origin down (127.0.0.1:%d): connection failed" % DOWN_PORT in edge.log(), what="the address in the log")


@test
def error_page_replaces_404_and_the_error_is_cached_for_its_ttl():
    path = "/ep/status/404"
    status, h, body = curl_status(edge.url(path))
    assert status == 404, (status, h, body)
    assert b"<title>app errors</title>" in body and b"status 404" not in body, body
    assert origin.count(path) == 1, origin.stats()
    page_fetches = origin.count("/errors/index.html")
    for _ in range(3):
        status, h, body = curl_status(edge.url(path))
        assert status == 404 and b"<title>app errors</title>" in body, (status, body)
    # the error itself came from the cache (ttl 1h), and so did the page
    assert origin.count(path) == 1 and origin.count("/errors/index.html") == page_fetches, origin.stats()


@test
def error_page_ttl_ends():
    # 403 -> the page with status 200, the 403 cached for 2 s (a 403 is not cacheable without it). "Still cached" can only be
    # asserted of a second request that began within the ttl: a sample whose two requests took longer (a loaded machine) says
    # nothing and another path is tried; t0 is taken before the first request, so the copy is younger than the elapsed time
    for attempt in range(50):
        path = "/ep/status/403/try%d" % attempt
        t0 = time.monotonic()
        status, h, body = curl_status(edge.url(path))
        assert status == 200 and b"<title>app errors</title>" in body, (status, body)
        assert origin.count(path) == 1, origin.stats()
        if time.monotonic() - t0 > 1.5:
            continue
        status, h, body = curl_status(edge.url(path))
        if time.monotonic() - t0 > 1.5:
            continue
        assert status == 200 and origin.count(path) == 1, (status, origin.stats())
        break
    else:
        raise AssertionError("no two requests within 1.5 s in 50 tries: the machine is too loaded to check a 2 s ttl")

    def fetched_again():
        curl_status(edge.url(path))
        return origin.count(path) == 2
    wait_until(fetched_again, what="the 403 to expire after its 2 s ttl")


@test
def broken_error_page_falls_back_to_the_plain_error():
    status, h, body = curl_status(edge.url("/ep/status/503"))
    assert status == 503, (status, h, body)
    assert b"not found" not in body and b"status 503" not in body and body.startswith(b"503 Service Unavailable"), body
    assert origin.count("/nope/missing.html") == 1, origin.stats()


@test
def error_page_that_404s_does_not_loop():
    status, h, body = curl_status(edge.url("/loop/status/404"), timeout=20)
    assert status == 404 and body.startswith(b"404 Not Found"), (status, body)
    assert origin.count("/loop/status/404") == 1, origin.stats()


@test
def top_level_error_pages_apply_to_every_behavior():
    status, h, body = curl_status(edge.url("/ep/status/410"))
    assert status == 410 and b"<title>app errors</title>" in body, (status, body)
    status, h, body = curl_status(edge.url("/other/status/410"))
    assert status == 410 and b"<title>app errors</title>" in body, (status, body)


@test
def clean():
    edge.assert_clean()
    assert edge.stop() == 0, edge.log()[-3000:]
    origin.stop()
    slowdown.shutdown()


if __name__ == "__main__":
    run()
