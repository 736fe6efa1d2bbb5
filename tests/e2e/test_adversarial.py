# ctest-labels: notsan
# notsan: time budget; its RSS bounds mean nothing under TSan's shadow memory (the cache and proxy files cover the threads it uses)
"""End-to-end, as an attacker would: raw HTTP/1.1 bytes and raw HTTP/2 frames against a real edgehook and a real origin.

Covers request-target tricks that would walk past a behaviour's auth hook, request smuggling and malformed heads, HPACK
header-list amplification, HTTP/2 :path validation, slow readers, and HTTP/2 rapid reset. Each case asserts the status, that
the connection closed when it must, that the origin never saw what it must not, that the process is alive, and RSS bounds.
"""
import os
import posixpath
import re
import socket
import struct
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import SANITIZE, SLOW, Edge, curl_status, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

import hpack  # noqa: E402  (Debian python3-hpack)

TMP = tempfile.mkdtemp(prefix="e2e-adversarial-")
origin = Origin()

HOOK = os.path.join(TMP, "basic_auth.lua")
with open(HOOK, "w") as f:
    f.write(open(os.path.join(os.environ.get("EDGEHOOK_SRC", "."), "examples", "hooks", "lua", "basic_auth.lua")).read())

REWRITE = os.path.join(TMP, "rewrite.lua")
with open(REWRITE, "w") as f:
    f.write("""-- sets the uri named by the x-new-uri header (a hook that trusts its input too much)
function handler(event, context)
    local request = event.Records[1].cf.request
    local h = request.headers["x-new-uri"]
    if h ~= nil then request.uri = h[1].value end
    return request
end
""")

CONFIG = """
threads: 2
listen:
  - {host: 127.0.0.1, port: 0}
access_log: {path: "-", format: combined}
limits: {client_timeout: 30s, send_timeout: 2s, max_unsent_per_connection: 4MB}
origins:
  web: {type: http, url: "%s", connect_timeout: 2s, first_byte_timeout: 10s, read_timeout: 10s}
cache: {memory: 64MB}
hooks:
  auth: {lua: %s, config: {user: alice, password: s3cret}}
  rewrite: {lua: %s}
behaviors:
  - {path: "/admin/*", origin: web, hooks: {viewer-request: auth}}
  - {path: "/vreq/*", origin: web, hooks: {viewer-request: rewrite}}
  - {path: "/oreq/*", origin: web, origin_request: {headers: [x-new-uri]}, hooks: {origin-request: rewrite}}
  - {path: "*", origin: web}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: adversarial-token
store:
  listen: {host: 127.0.0.1, port: 0}
  root: %s
  credentials: {access_key: ADVERSARIALKEY, secret_key: ADVERSARIALSECRET}
""" % (origin.url, HOOK, REWRITE, os.path.join(TMP, "data"))

edge = Edge(CONFIG)


# ---- helpers --------------------------------------------------------------------------------------------------------------


def raw(data, read_timeout=10, expect_close=False, kind="main"):
    """sends bytes on a fresh connection; returns (the bytes received, closed?): reads until the server closes, or until one
    complete response with a Content-Length is in unless expect_close"""
    s = socket.create_connection(("127.0.0.1", edge.ports[kind]), timeout=read_timeout * SLOW)
    s.sendall(data)
    got = b""
    closed = False
    try:
        while True:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            got += b
            # a complete response that keeps the connection open: stop once the body is in
            m = re.match(rb"HTTP/1\.[01] \d{3}[^\r\n]*\r\n(.*?)\r\n\r\n", got, re.S)
            if m and not expect_close:
                cl = re.search(rb"(?im)^content-length:\s*(\d+)", m.group(1))
                if cl and len(got) >= m.end() + int(cl.group(1)):
                    break
    except socket.timeout:
        pass
    finally:
        s.close()
    return got, closed


def status_of(resp):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", resp)
    return int(m.group(1)) if m else 0


def origin_paths():
    """every path the origin received, as a usual URL parser would read it"""
    out = []
    for r in origin.requests():
        p = r["path"]
        u = urllib.parse.urlsplit(p)
        path = urllib.parse.unquote(u.path).replace("\\", "/")
        path = ";".join([path.split(";")[0]]) if ";" in path else path
        path = re.sub(r";[^/]*", "", path)
        out.append(posixpath.normpath("/" + path.lstrip("/")) if path else "/")
    return out


def alive():
    assert edge.proc.poll() is None, "edgehook died:\n" + edge.log()[-4000:]
    st, _, _ = curl_status(edge.url("/size/10"))
    assert st == 200, st


# ---- HTTP/2 frames by hand ------------------------------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def settings(pairs=()):
    return frame(4, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def headers_frames(stream, block, end_stream=True, max_frame=16384):
    """HEADERS (+ CONTINUATION) frames carrying one header block"""
    out = b""
    first = True
    while True:
        part, block = block[:max_frame], block[max_frame:]
        flags = (0x4 if not block else 0) | (0x1 if end_stream and first else 0)
        out += frame(0x1 if first else 0x9, flags, stream, part)
        first = False
        if not block:
            return out


class H2:
    """a raw HTTP/2 client connection (h2c prior knowledge)"""

    def __init__(self, initial_window=65535, timeout=20):
        self.s = socket.create_connection(("127.0.0.1", edge.port), timeout=timeout * SLOW)
        self.s.sendall(PREFACE + settings([(4, initial_window)]))
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def request(self, stream, path, extra=(), end_stream=True):
        hdrs = [(":method", "GET"), (":scheme", "http"), (":authority", "cdn.test"), (":path", path)] + list(extra)
        self.send(headers_frames(stream, self.enc.encode(hdrs), end_stream))

    def read_frame(self):
        while len(self.buf) < 9:
            b = self.s.recv(65536)
            if not b:
                return None
            self.buf += b
        ln = struct.unpack(">I", b"\0" + self.buf[:3])[0]
        while len(self.buf) < 9 + ln:
            b = self.s.recv(65536)
            if not b:
                return None
            self.buf += b
        ftype, flags, stream = self.buf[3], self.buf[4], struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
        payload = self.buf[9:9 + ln]
        self.buf = self.buf[9 + ln:]
        if ftype == 4 and not flags & 1:
            self.send(frame(4, 1, 0, b""))  # SETTINGS ack
        return ftype, flags, stream, payload

    def outcome(self, stream):
        """('status', N) from the response HEADERS, ('reset', code), or ('goaway', code) / ('closed', None)"""
        while True:
            f = self.read_frame()
            if f is None:
                return ("closed", None)
            ftype, flags, sid, payload = f
            if ftype == 7:
                return ("goaway", struct.unpack(">I", payload[4:8])[0])
            if sid != stream:
                continue
            if ftype == 1:
                hdrs = dict(self.dec.decode(payload))
                return ("status", int(hdrs[":status"]))
            if ftype == 3:
                return ("reset", struct.unpack(">I", payload)[0])

    def close(self):
        self.s.close()


# ---- request targets ------------------------------------------------------------------------------------------------------

AUTH = "Authorization: Basic " + __import__("base64").b64encode(b"alice:s3cret").decode()


@test
def path_tricks_never_walk_past_the_auth_hook():
    origin.reset()
    tricks = ["http://cdn/admin/secret", "http://cdn:80/admin/secret?x=1", "/admin\\secret", "//admin/secret",
              "//cdn/admin/secret", "/admin;x/secret", "/x/../admin/secret", "/%2e%2e/admin/secret", "/x/%2e%2E/admin/secret",
              "/admin%2fsecret", "/%61dmin/secret", "/./admin/secret", "/admin/./secret", "/x/..%2fadmin/secret",
              "/admin%5csecret", "/%2fadmin/secret", "/admin/secret#frag", "/admin\tx/secret"]
    for t in tricks:
        resp, _ = raw(("GET %s HTTP/1.1\r\nHost: cdn\r\n\r\n" % t).encode("latin-1"))
        st = status_of(resp)
        # refused, or asked for the password; //cdn/admin/secret is /cdn/admin/secret for everyone (a 404 at the origin)
        assert st in (400, 401) or (t == "//cdn/admin/secret" and st == 404), (t, st, resp[:300])
    # the origin saw nothing under /admin, however it parses URLs
    seen = origin_paths()
    assert not [p for p in seen if p.startswith("/admin")], seen
    # with the password, the normalised path reaches the origin, and only it
    origin.reset()
    resp, _ = raw(("GET /x/../admin/./secret HTTP/1.1\r\nHost: cdn\r\n%s\r\n\r\n" % AUTH).encode())
    assert status_of(resp) in (200, 404), resp[:300]
    assert [r["path"] for r in origin.requests()] == ["/admin/secret"], origin.requests()
    alive()


@test
def absolute_form_becomes_origin_form():
    origin.reset()
    resp, _ = raw(b"GET http://cdn.example/echo?a=1 HTTP/1.1\r\nHost: other\r\n\r\n")
    assert status_of(resp) == 200, (resp[:300], origin.requests())
    paths = [r["path"] for r in origin.requests()]
    assert paths == ["/echo?a=1"], paths
    # dot segments and %-encoded unreserved characters: one normal form for key, hook and origin
    origin.reset()
    resp, _ = raw(b"GET /a/b/../..//%65cho?q=%2f HTTP/1.1\r\nHost: cdn\r\n\r\n")
    assert status_of(resp) == 200, resp[:300]
    assert [r["path"] for r in origin.requests()] == ["/echo?q=%2f"], origin.requests()


@test
def h2_path_is_validated():
    origin.reset()
    before = (edge.metric("edgehook_requests_refused_total", reason="target") or 0.0)
    bad = ["http://evil/admin/secret", "/a b", "/a#b", "", "/caf\u00e9", "*", "/admin\\secret", "/a\tb"]
    for p in bad:
        c = H2()
        hdrs = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"cdn.test"), (b":path", p.encode("utf-8"))]
        c.send(headers_frames(1, c.enc.encode(hdrs)))
        kind, val = c.outcome(1)
        c.close()
        assert (kind == "status" and val == 400) or kind in ("reset", "goaway"), (p, kind, val)
    # what HTTP/2 carries outside a request line must still fit in one: method, names, values
    bad_heads = [[(b":method", b"GET /admin HTTP/1.1\r\nX:")], [(b":method", b"G T")], [(b"x-a", b"b\r\nx-injected: 1")],
                 [(b"x-a", b"b\x00c")], [(b"x a", b"b")], [(b"x-a\r\nx-b", b"c")]]
    for extra in bad_heads:
        c = H2()
        hdrs = dict([(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"cdn.test"), (b":path", b"/count/h2head")])
        hdrs.update(dict(extra))
        c.send(headers_frames(1, c.enc.encode(list(hdrs.items()))))
        kind, val = c.outcome(1)
        c.close()
        assert (kind == "status" and val == 400) or kind in ("reset", "goaway"), (extra, kind, val)
    assert origin.count("/count/h2head") == 0
    assert [r for r in origin.requests() if "admin" in r["path"] or "evil" in r["path"]] == [], origin.requests()
    assert (edge.metric("edgehook_requests_refused_total", reason="target") or 0.0) >= before + 3
    alive()


@test
def hook_uris_are_normalised_too():
    for prefix in ("/vreq/", "/oreq/"):
        origin.reset()
        st, _, _ = curl_status("-H", "x-new-uri: /x/../echo/./", edge.url(prefix + "a?n=1"))
        assert st in (200, 404), st
        assert [r["path"] for r in origin.requests()] == ["/echo/?n=1"], (prefix, origin.requests())
        origin.reset()
        st, _, _ = curl_status("-H", "x-new-uri: /../../etc/passwd", edge.url(prefix + "b"))
        assert st == 502, (prefix, st)
        assert origin.requests() == [], origin.requests()
    assert "returned a uri that is refused" in edge.log() or "the uri it returned is refused" in edge.log()


# ---- smuggling and malformed heads ----------------------------------------------------------------------------------------

SMUGGLED = b"GET /count/smuggled HTTP/1.1\r\nHost: cdn\r\n\r\n"


@test
def smuggling_and_malformed_heads_are_refused_and_closed():
    origin.reset()
    cases = [
        (b"POST /echo HTTP/1.1\r\nHost: cdn\r\nContent-Length: 5\r\nContent-Length: 44\r\n\r\nhello", 400),
        (b"POST /echo HTTP/1.1\r\nHost: cdn\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
        (b"POST /echo HTTP/1.1\r\nHost: cdn\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: cdn\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400),
        (b"GET /echo HTTP/1.1\nHost: cdn\n\n", 400),
        (b"GET /echo HTTP/1.1\r\nHost: cdn\nX-A: b\r\n\r\n", 400),
        (b"GET /echo HTTP/1.1\r\nHost: cdn\r\nX-A: b\r\n c\r\n\r\n", 400),
        (b"GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
        (b"GET /echo HTTP/1.1\r\nHost: cdn\r\nHost: evil\r\n\r\n", 400),
        (b"GET /echo HTTP/1.1\r\nHost: cdn evil\r\n\r\n", 400),
        (b"G@T /echo HTTP/1.1\r\nHost: cdn\r\n\r\n", 400),
        (b"GET /echo HTTP/1.2\r\nHost: cdn\r\n\r\n", 505),
        (b"GET /echo HTTP/1.1\r\nHost: cdn\r\nX-A : b\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: cdn\r\nContent-Length: +5\r\n\r\nhello", 400),
        (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ]
    for req, want in cases:
        resp, closed = raw(req + SMUGGLED, expect_close=True)
        st = status_of(resp)
        assert st == want, (req, st, resp[:300])
        assert closed, ("connection kept open after a refused head", req)
        assert len(re.findall(rb"HTTP/1\.1 \d{3} ", resp)) == 1, ("a second response came back", req, resp)
    assert origin.count("/count/smuggled") == 0, origin.stats()
    # the store and admin listeners hold HTTP/1 heads to the same rules
    for kind in ("store", "admin"):
        for req, want in cases[:5] + cases[11:12]:
            resp, closed = raw(req + SMUGGLED, expect_close=True, kind=kind)
            assert status_of(resp) == want and closed, (kind, req, resp[:300])
            assert len(re.findall(rb"HTTP/1\.1 \d{3} ", resp)) == 1, (kind, req, resp)
    assert (edge.metric("edgehook_requests_refused_total", reason="head") or 0.0) >= 12
    assert (edge.metric("edgehook_requests_refused_total", reason="version") or 0.0) >= 1
    # a well-formed pipelined pair still works (the check does not break keep-alive)
    resp, _ = raw(b"GET /size/3 HTTP/1.1\r\nHost: cdn\r\n\r\nGET /size/4 HTTP/1.1\r\nHost: cdn\r\nConnection: close\r\n\r\n", expect_close=True)
    assert resp.count(b"HTTP/1.1 200") == 2, resp
    alive()


@test
def a_204_carries_no_content_length_and_keeps_the_connection():
    """RFC 9110 §8.6: a 204 has no Content-Length; the next response on the connection must still be read right"""
    for p in ("/status/204", "/status/204?cc=max-age=60", "/status/204?cc=max-age=60"):
        resp, closed = raw(("GET %s HTTP/1.1\r\nHost: cdn\r\n\r\nGET /size/3 HTTP/1.1\r\nHost: cdn\r\nConnection: close\r\n\r\n"
                            % p).encode(), expect_close=True)
        first, _, rest = resp.partition(b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 204") and b"content-length" not in first.lower(), first
        assert rest.startswith(b"HTTP/1.1 200"), rest[:200]


# ---- header lists ---------------------------------------------------------------------------------------------------------


@test
def hpack_amplification_is_capped():
    before_rss = edge.rss_kb()
    before = (edge.metric("edgehook_requests_refused_total", reason="headers") or 0.0)
    c = H2()
    # one 4,000-byte entry added to the dynamic table, then referenced 60,000 times (index 62 = first dynamic entry)
    big = b"\x40" + bytes([5]) + b"x-big" + b"\x7f" + bytes([4000 - 127 & 0x7F | 0x80, (4000 - 127) >> 7]) + b"v" * 4000
    # pseudo-headers as static references and literals without indexing, so that the dynamic table holds x-big alone
    pseudo = b"\x82\x86" + b"\x01\x08cdn.test" + b"\x04\x0a/count/amp"
    c.send(headers_frames(1, pseudo + big + b"\xbe" * 60000))
    outcomes = [c.outcome(1)]
    for sid in (3, 5, 7):
        c.send(headers_frames(sid, pseudo + b"\xbe" * 60000))
        outcomes.append(c.outcome(sid))
    c.close()
    for kind, val in outcomes:
        assert (kind == "status" and val == 431) or kind in ("reset", "goaway", "closed"), outcomes
    assert outcomes[0] == ("status", 431), outcomes
    grew = edge.rss_kb() - before_rss
    print("hpack: RSS grew by %d kB" % grew)
    assert grew < 96 * 1024, "RSS grew by %d kB" % grew
    assert (edge.metric("edgehook_requests_refused_total", reason="headers") or 0.0) >= before + 1
    assert origin.count("/count/amp") == 0
    # HTTP/1: 90 headers pass (the origin, Python http.server, takes 100), and a 70 KB header list is refused
    resp, _ = raw(b"GET /size/1 HTTP/1.1\r\nHost: cdn\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(90)) + b"\r\n")
    assert status_of(resp) == 200, resp[:200]
    resp, closed = raw(expect_close=True, data=b"GET /size/1 HTTP/1.1\r\nHost: cdn\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 2000) for i in range(36)) + b"\r\n")
    assert status_of(resp) == 431 and closed, resp[:200]
    alive()


# ---- stale-while-revalidate after a failed refresh -------------------------------------------------------------------------


@test
def a_failed_background_refresh_is_tried_again():
    """one failed stale-while-revalidate refresh used to end refreshing for the rest of the window"""
    p = "/count/swrfail?cc=max-age=1,stale-while-revalidate=120,stale-if-error=120&failonly=2"
    st, _, b = curl_status(edge.url(p))
    assert st == 200 and b"count=1" in b, b
    # poll: once the copy is stale, a hit starts a background refresh; the origin fails the first one (its 2nd request)
    wait_until(lambda: curl_status(edge.url(p))[0] == 200 and origin.count("/count/swrfail") >= 2, timeout=20,
               what="the first background refresh")
    # the next stale hits try again (a second later at the earliest) and the fresh copy arrives
    wait_until(lambda: b"count=3" in curl_status(edge.url(p))[2], timeout=20, what="a second refresh after the failed one")
    assert origin.count("/count/swrfail") >= 3


# ---- slow readers ---------------------------------------------------------------------------------------------------------


@test
def http1_reader_that_never_reads_is_cut_off():
    before = (edge.metric("edgehook_send_timeouts_total") or 0.0)
    s = socket.create_connection(("127.0.0.1", edge.port))
    # larger than what the kernel buffers on loopback (a few MB each way), so that the proxy's writes stall
    s.sendall(b"GET /size/40000000 HTTP/1.1\r\nHost: cdn\r\n\r\n")
    # send_timeout is 2 s in this config: the proxy gives up on this client and counts it
    wait_until(lambda: (edge.metric("edgehook_send_timeouts_total") or 0.0) >= before + 1, timeout=30, what="a send timeout")
    got = 0
    s.settimeout(30 * SLOW)
    try:
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got += len(b)
    except ConnectionResetError:
        pass
    s.close()
    assert got < 40000000, got
    alive()


@test
def h2_zero_window_streams_do_not_pin_memory():
    """clients that grant no flow-control window and open many streams of distinct cacheable 2 MB objects"""
    import threading
    conns = []
    base = edge.rss_kb()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], edge.rss_kb())
            time.sleep(0.02)
    sampler = threading.Thread(target=sample)
    sampler.start()
    before = (edge.metric("edgehook_send_timeouts_total") or 0.0)
    for c in range(3):
        h = H2(initial_window=0)
        for i in range(40):
            h.request(1 + 2 * i, "/size/2000000?cc=max-age=600&conn=%d&i=%d" % (c, i))
        conns.append(h)
    # the proxy shuts each of them down: their stalled responses hold more than limits.max_unsent_per_connection
    for h in conns:
        h.s.settimeout(30 * SLOW)
        closed = False
        while True:
            try:
                f = h.read_frame()
            except ConnectionResetError:
                f = None
            except socket.timeout:
                break
            if f is None or f[0] == 7:
                closed = True
                break
        h.close()
        assert closed, "the proxy kept a connection whose streams take nothing"
    done.set()
    sampler.join()
    alive()
    # each shut-down connection is counted (the counter was read before the connections opened: it cannot have been missed)
    assert (edge.metric("edgehook_send_timeouts_total") or 0.0) >= before + 3, (before, (edge.metric("edgehook_send_timeouts_total") or 0.0))
    # 3 x 40 x 2 MB = 240 MB asked for; once the stalled clients are gone, what stays is the cache's (64 MB). The peak depends
    # on how fast the origin fills in the half second before a stall is seen: printed, not asserted (bench/ territory)
    wait_until(lambda: edge.rss_kb() - base < 100 * 1024 or SANITIZE, timeout=20, what="RSS back under cache.memory + 36 MB")
    print("h2 zero window: RSS peak +%d kB, after +%d kB" % (peak[0] - base, edge.rss_kb() - base))


@test
def rapid_reset_does_not_flood_the_access_log():
    lines_before = edge.access_log().count("\n")
    before = (edge.metric("edgehook_requests_unanswered_total") or 0.0)
    h = H2()
    n = 3000
    batch = b""
    for i in range(n):
        sid = 1 + 2 * i
        hdrs = h.enc.encode([(":method", "GET"), (":scheme", "http"), (":authority", "cdn.test"), (":path", "/count/rr%d" % i)])
        batch += headers_frames(sid, hdrs) + frame(3, 0, sid, struct.pack(">I", 8))  # HEADERS, then RST_STREAM(CANCEL)
        if len(batch) > 60000:
            h.send(batch)
            batch = b""
    h.send(batch + frame(6, 0, 0, b"12345678"))  # PING: its ACK says everything before it was read
    h.s.settimeout(30 * SLOW)
    while True:
        f = h.read_frame()
        if f is None or (f[0] == 6 and f[1] & 1) or f[0] == 7:
            break
    h.close()
    wait_until(lambda: (edge.metric("edgehook_requests_unanswered_total") or 0.0) >= before + n // 2, timeout=20, what="unanswered count")
    alive()
    lines = edge.access_log(wait_for="/size/10").count("\n") - lines_before
    assert lines < 1000, "%d access-log lines for %d reset streams" % (lines, n)
    assert sum(origin.count("/count/rr%d" % i) for i in range(0, n, 97)) <= 31  # sampled: most never reached the origin


if __name__ == "__main__":
    try:
        run()
    finally:
        edge.assert_clean()
        edge.stop()
        origin.stop()
