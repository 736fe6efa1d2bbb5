# ctest-labels: notsan
# notsan: time budget: the hooks' results through the proxy (test_hooks covers the hook runtime's threads)
"""End-to-end: Lambda@Edge functions ported line by line, the hooks' standard library through real requests, and the
snippets of docs/porting.md.

- AWS's own examples ("Overriding a response header", "Adding a header based on a query string parameter", "Using a request
  trigger to modify an HTML form"), ported line by line (tests/hooks/e2e/aws_*.lua), through the proxy; the response head is
  read off a raw socket, so the header names are checked as they are on the wire (a copied entry whose key names another
  header is sent under the name it was stored as, as CloudFront does).
- tests/hooks/e2e/stdlib_http.lua: gzip'd JSON bodies, a gzip bomb, garbage, encodeURIComponent through real requests; the
  proxy answers and keeps serving.
- docs/porting.md: every ```lua block whose info string says `runnable TRIGGER` (and whose first line says
  `-- runnable: TRIGGER`, for the reader) is a complete hook; each is run with `edgehook invoke` on the sample event of its
  trigger (examples/hooks/events/) and must exit 0 (its asserts hold).
"""
import base64
import gzip
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.parse
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BIN, SLOW, SRC, Edge, run, test  # noqa: E402
from origin import Origin  # noqa: E402

E2E = os.path.join(SRC, "tests", "hooks", "e2e")
TMP = tempfile.mkdtemp(prefix="e2e-porting-")
origin = Origin()

edge = Edge("""
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
origins:
  web: {type: http, url: "%(origin)s"}
hooks:
  override: {lua: %(e2e)s/aws_override_header.lua}
  query-header: {lua: %(e2e)s/aws_header_from_query.lua}
  form: {lua: %(e2e)s/aws_modify_form.lua, include_body: true}
  std: {lua: %(e2e)s/stdlib_http.lua, include_body: true, memory: 16MB}
behaviors:
  - {path: "/override/*", origin: web, hooks: {origin-response: override}}
  # the header is not in the cache key: a cacheable request forwards it only when origin_request lists it (as CloudFront)
  - {path: "/count/qh*", origin: web, origin_request: {headers: [auth-header]}, hooks: {viewer-request: query-header}}
  - {path: "/echo", origin: web, hooks: {viewer-request: form}}
  - {path: "/std/*", origin: web, hooks: {viewer-request: std}}
  - {path: "*", origin: web}
""" % {"origin": origin.url, "e2e": E2E})


def raw(request, timeout=30):
    """sends request bytes on a new connection; returns (status line, [(name as sent, value)], body)"""
    s = socket.create_connection(("127.0.0.1", edge.port), timeout=timeout * SLOW)
    s.sendall(request)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
            if m and len(rest) >= int(m.group(1)):
                break
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(x.split(": ", 1)) for x in lines[1:]]
    return lines[0], headers, body


def get(path, headers=""):
    return raw(("GET %s HTTP/1.1\r\nHost: example.com\r\n%sConnection: close\r\n\r\n" % (path, headers)).encode())


def post(path, body, ctype="application/octet-stream", headers=""):
    return raw(("POST %s HTTP/1.1\r\nHost: example.com\r\nContent-Type: %s\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n"
                % (path, ctype, len(body), headers)).encode() + body)


def named(headers, name):
    """the (name as sent, value) pairs of a header, case-insensitively"""
    return [(k, v) for k, v in headers if k.lower() == name.lower()]


# ---- AWS's examples, line by line ---------------------------------------------------------------------------------------------

@test
def aws_override_a_response_header():
    # the origin sends X-Amz-Meta-Last-Modified (S3 user metadata); the hook copies its entry to last-modified and reads it
    # back at [0]: Node.js code on an array it built itself. Before: 503 (no [0]) and, once past that, 502 (key mismatch)
    date = "Thu, 01 Jan 2015 00:00:00 GMT"
    status, headers, body = get("/override/count/a?h=" + urllib.parse.quote("X-Amz-Meta-Last-Modified:" + date))
    assert status == "HTTP/1.1 200 OK", (status, headers)
    assert named(headers, "last-modified") == [("Last-Modified", date)], headers
    assert named(headers, "x-amz-meta-last-modified") == [("X-Amz-Meta-Last-Modified", date)], headers
    assert 'Response header "Last-Modified" was set to "%s"' % date in edge.log()
    # without the source header the hook changes nothing
    status, headers, _ = get("/override/count/b")
    assert status == "HTTP/1.1 200 OK" and not named(headers, "x-amz-meta-last-modified"), headers


@test
def aws_add_a_header_based_on_a_query_string_parameter():
    status, headers, body = get("/count/qh1?b=2&auth=s3cr%20t&a=1")
    assert status == "HTTP/1.1 200 OK", (status, body)
    seen = [r for r in origin.requests() if r["path"].startswith("/count/qh1")]
    assert len(seen) == 1, seen
    assert ["auth-header", "s3cr t"] in [[k.lower(), v] for k, v in seen[0]["headers"]], seen[0]["headers"]
    # querystring.stringify keeps the object's order; edge.build_query of a map sorts it (docs/porting.md says so)
    assert seen[0]["path"] == "/count/qh1?a=1&b=2", seen[0]["path"]


@test
def aws_modify_an_html_form():
    status, headers, body = post("/echo", b"name1=alice&name2=b%26b", "application/x-www-form-urlencoded")
    assert status == "HTTP/1.1 200 OK", (status, body)
    seen = json.loads(body)
    want = b"name1=alice&name2=b%26b&new-param-name=new-param-value"
    assert seen["body_sha256"] == hashlib.sha256(want).hexdigest() and seen["body_len"] == len(want), seen


# ---- the standard library through real requests -------------------------------------------------------------------------------

@test
def stdlib_gzip_json_hmac_uuid_through_http():
    items = [{"n": i, "s": "é%d" % i} for i in range(50)]
    raw_body = gzip.compress(json.dumps({"items": items, "key": "k3y"}).encode())
    status, headers, body = post("/std/json", raw_body)
    assert status == "HTTP/1.1 200 OK", (status, body)
    out = json.loads(body)
    assert out["count"] == 50 and out["first"] == {"n": 0, "s": "é0"}, out
    # the hook's JSON of the items (keys sorted, no spaces) signed with the key: the same HMAC here
    canon = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert out["mac"] == hmac.new(b"k3y", canon, hashlib.sha256).hexdigest(), out
    assert out["sha"] == hashlib.sha256(raw_body).hexdigest(), out
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", out["id"]), out
    # zlib-wrapped works too
    status, _, body = post("/std/json", zlib.compress(json.dumps({"items": [1], "key": "k"}).encode()))
    assert status == "HTTP/1.1 200 OK" and json.loads(body)["count"] == 1, body


@test
def stdlib_hostile_bodies_get_answers_not_crashes():
    # a bomb: 37 KB (under the 40 KB a viewer-request body shows) that would inflate to 38 MB, past the room left under
    # the hook's 16 MB cap: the hook gets nil and the reason, and answers 400 with it; the memory is never taken
    bomb = gzip.compress(b"\0" * (38 << 20), 9)
    assert len(bomb) < 40 * 1024, len(bomb)
    status, _, body = post("/std/gunzip", bomb)
    assert status.startswith("HTTP/1.1 400 ") and b"larger than the limit" in body, (status, body)
    for bad, why in ((b"not gzip", b"incorrect header check"), (gzip.compress(b"x" * 1000)[:-6], b"truncated"),
                     (bytes(range(256)) * 10, b"edge.gunzip:")):
        status, _, body = post("/std/gunzip", bad)
        assert status.startswith("HTTP/1.1 400 ") and why in body, (bad[:20], status, body)
    # bad JSON inside good gzip: line:col
    status, _, body = post("/std/json", gzip.compress(b'{"items": [1,'))
    assert status.startswith("HTTP/1.1 400 ") and b"edge.json_decode: 1:" in body, (status, body)
    # what fits is inflated, and the proxy still serves
    status, _, body = post("/std/gunzip", gzip.compress(b"y" * 100000))
    assert status == "HTTP/1.1 200 OK" and body == b"100000", (status, body)
    edge.assert_clean()


@test
def stdlib_uri_component_through_http():
    status, _, body = get("/std/uri", "X-In: a b&c/%C3%A9!~*'()\r\n")
    assert status == "HTTP/1.1 200 OK", (status, body)
    out = json.loads(body)
    assert out["enc"] == urllib.parse.quote("a b&c/%C3%A9!~*'()", safe="!~*'()"), out
    assert out["dec"] == "a b&c/é!~*'()", out
    status, _, body = get("/std/uri", "X-In: %E0%A4%A\r\n")
    assert status.startswith("HTTP/1.1 400 ") and b"URIError: URI malformed" in body, (status, body)


# ---- docs/porting.md ----------------------------------------------------------------------------------------------------------

def doc_snippets():
    text = open(os.path.join(SRC, "docs", "porting.md"), encoding="utf-8").read()
    return [(m.group(1), m.group(2), text[:m.start()].count("\n") + 1)
            for m in re.finditer(r"^```lua runnable ([a-z-]+)\n(.*?)^```$", text, re.S | re.M)]


@test
def porting_doc_snippets_run():
    snippets = doc_snippets()
    assert len(snippets) >= 10, "docs/porting.md has %d runnable snippets" % len(snippets)
    events = os.path.join(SRC, "examples", "hooks", "events")
    failures = []
    for i, (trigger, code, line) in enumerate(snippets):
        # the fence's info string is not shown on a rendered page: the first line says it to the reader, and must agree
        assert code.startswith("-- runnable: %s\n" % trigger), "docs/porting.md:%d: first line must be -- runnable: %s" % (
            line, trigger)
        path = os.path.join(TMP, "snippet%02d.lua" % i)
        with open(path, "w") as f:
            f.write(code)
        p = subprocess.run([BIN, "invoke", "--hook", path, "--event", os.path.join(events, trigger + ".json"), "--type", trigger,
                            "--include-body"], capture_output=True, text=True, timeout=60 * SLOW)
        if p.returncode != 0:
            failures.append("docs/porting.md:%d (%s): exit %d\n%s\n%s" % (line, trigger, p.returncode, p.stdout[-2000:],
                                                                        p.stderr[-2000:]))
    assert not failures, "\n\n".join(failures)


if __name__ == "__main__":
    try:
        run()
    finally:
        edge.stop()
        origin.stop()
        edge.assert_clean()
