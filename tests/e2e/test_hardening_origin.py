# ctest-labels: notsan
# notsan: time budget: origin framing, one request at a time
"""End-to-end: origin response framing (hardening). A raw-socket origin written here sends badly framed responses byte for byte:
each is a 502 (or a cut response when the fault is in the body), never cached (the second request reaches the origin again), and
a stray response after a keep-alive response is never served as the answer to the next request, which goes out on a new
connection. Positive controls prove that the test can see a cached response and a reused connection."""
import fcntl
import gzip
import os
import socket
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, SLOW, curl, curl_status, run, test, wait_until  # noqa: E402

CACHE = b"Cache-Control: max-age=600\r\n"
POISON = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nCache-Control: max-age=600\r\n\r\npoisoned"
NEXT = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nCache-Control: no-store\r\n\r\nnext"


def chunked(data, size=3):
    out = b""
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += b"%x\r\n%s\r\n" % (len(part), part)
    return out + b"0\r\n\r\n"


class RawOrigin:
    """A raw-socket HTTP/1.1 origin: `routes` maps a path to (response bytes, stray bytes sent after it or None); every other
    path gets NEXT. It counts requests per path and remembers which connection each came on and which connections the proxy
    closed. Stray bytes are sent in their own write once the test sets `go[path]` (after the viewer got the response, so the
    proxy has parked the connection), and `stray_acked[path]` is set when the proxy's kernel has acknowledged them (they are in
    its receive queue)."""

    def __init__(self, routes):
        self.routes = routes
        self.lock = threading.Lock()
        self.counts = {}
        self.conn_of = {}
        self.conns = 0
        self.closed = set()
        self.go = {p: threading.Event() for p in routes}
        self.stray_acked = {p: threading.Event() for p in routes}
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            c, _ = self.sock.accept()
            with self.lock:
                cid = self.conns
                self.conns += 1
            threading.Thread(target=self._serve, args=(c, cid), daemon=True).start()

    def _serve(self, c, cid):
        buf = b""
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    method, path = head.split(b"\r\n")[0].decode("latin-1").split(" ")[:2]
                    with self.lock:
                        self.counts[path] = self.counts.get(path, 0) + 1
                        self.conn_of.setdefault(path, []).append(cid)
                    response, stray = self.routes.get(path, (NEXT, None))
                    c.sendall(response)
                    if stray is not None:
                        self.go[path].wait(30)
                        c.sendall(stray)
                        deadline = time.time() + 10
                        while time.time() < deadline and not delivered_or_gone(c):
                            time.sleep(0.001)
                        self.stray_acked[path].set()
        except OSError:
            pass  # the proxy closed a connection it refused
        with self.lock:
            self.closed.add(cid)
        c.close()

    def count(self, path):
        with self.lock:
            return self.counts.get(path, 0)

    def conn(self, path, i=-1):
        with self.lock:
            return self.conn_of[path][i]


def delivered_or_gone(sock):
    """everything sent was acknowledged by the peer (SIOCOUTQ is 0), or the peer closed or reset the connection"""
    if struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0] == 0:
        return True
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def head(status_line, *fields, body=b""):
    return status_line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + CACHE + b"\r\n" + body


GZ = gzip.compress(b"hello, compressed")
MANY = tuple(b"X-F%d: %d" % (i, i) for i in range(520))

# the head is refused: 502, nothing stored
REFUSED = {
    # Transfer-Encoding other than exactly chunked (RFC 9112 §6.1)
    "te-gzip-chunked": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: gzip, chunked", body=chunked(GZ)),
    "te-xchunked": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: xchunked", body=chunked(b"hello")),
    "te-gzip": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: gzip", body=GZ),
    "te-identity": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: identity", body=b"hello"),
    "te-twice": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked", body=chunked(b"hello")),
    "te-list-twice": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked, chunked", body=chunked(chunked(b"hello"))),
    "te-empty": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: ", b"Content-Length: 5", body=b"hello"),
    # Transfer-Encoding with Content-Length (§6.3 rule 3), in HTTP/1.0 (§6.1)
    "te-and-cl": head(b"HTTP/1.1 200 OK", b"Content-Length: 5", b"Transfer-Encoding: chunked", body=chunked(b"hello")),
    "te-http10": head(b"HTTP/1.0 200 OK", b"Transfer-Encoding: chunked", body=chunked(b"hello")),
    # Content-Length (§6.3 rule 5)
    "cl-conflict": head(b"HTTP/1.1 200 OK", b"Content-Length: 5", b"Content-Length: 6", body=b"hello!"),
    "cl-list-differs": head(b"HTTP/1.1 200 OK", b"Content-Length: 5, 6", body=b"hello!"),
    "cl-negative": head(b"HTTP/1.1 200 OK", b"Content-Length: -1", body=b"hello"),
    "cl-plus": head(b"HTTP/1.1 200 OK", b"Content-Length: +5", body=b"hello"),
    "cl-hex": head(b"HTTP/1.1 200 OK", b"Content-Length: 0x5", body=b"hello"),
    "cl-huge": head(b"HTTP/1.1 200 OK", b"Content-Length: 99999999999999999999", body=b"hello"),
    "cl-empty": head(b"HTTP/1.1 200 OK", b"Content-Length:", body=b"hello"),
    # status codes (RFC 9110 §15: 100-599)
    "status-999": head(b"HTTP/1.1 999 Weird", b"Content-Length: 5", body=b"hello"),
    "status-600": head(b"HTTP/1.1 600 Weird", b"Content-Length: 5", body=b"hello"),
    "status-099": head(b"HTTP/1.1 099 Weird", b"Content-Length: 5", body=b"hello"),
    "status-2x0": head(b"HTTP/1.1 2x0 OK", b"Content-Length: 5", body=b"hello"),
    "status-4-digits": head(b"HTTP/1.1 2000 OK", b"Content-Length: 5", body=b"hello"),
    "status-101": head(b"HTTP/1.1 101 Switching Protocols", b"Upgrade: h2c", b"Connection: upgrade"),
    "not-http": b"garbage\r\n\r\nhello",
    # field syntax (§5)
    "obs-fold": head(b"HTTP/1.1 200 OK", b"X-A: 1", b" folded", b"Content-Length: 5", body=b"hello"),
    "obs-fold-tab": head(b"HTTP/1.1 200 OK", b"Content-Length: 5", b"X-A: 1", b"\tfolded", body=b"hello"),
    "ws-before-colon": head(b"HTTP/1.1 200 OK", b"Content-Length : 5", body=b"hello"),
    "bad-name": head(b"HTTP/1.1 200 OK", b"X(A): 1", b"Content-Length: 5", body=b"hello"),
    "nul-in-value": head(b"HTTP/1.1 200 OK", b"X-A: a\0b", b"Content-Length: 5", body=b"hello"),
    "ctl-in-value": head(b"HTTP/1.1 200 OK", b"X-A: a\x01b", b"Content-Length: 5", body=b"hello"),
    "bare-lf": b"HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 5\r\n" + CACHE + b"\r\nhello",
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 5\r\n" + CACHE + b"\r\nhello",
    # limits
    "too-many-fields": head(b"HTTP/1.1 200 OK", *MANY, b"Content-Length: 5", body=b"hello"),
    "head-too-large": head(b"HTTP/1.1 200 OK", b"X-Big: " + b"a" * 70000, b"Content-Length: 5", body=b"hello"),
}

# the head is fine, the chunked body is not: the response is cut, nothing stored
CUT = {
    "chunk-size-overflow": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked", body=b"5\r\nhello\r\nffffffffffffffffffff\r\n"),
    "chunk-ext-control": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked",
                              body=b"5\r\nhello\r\n5;a\x01\r\nhello\r\n0\r\n\r\n"),
    "chunk-bare-lf": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked", body=b"5\r\nhello\r\n5\nhello\r\n0\r\n\r\n"),
    "chunk-no-crlf": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked", body=b"5\r\nhello\r\n5\r\nhelloX0\r\n\r\n"),
    "trailer-fold": head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked", body=b"5\r\nhello\r\n0\r\nX: 1\r\n y\r\n\r\n"),
}

# well-framed edge cases: served and cached (the controls that show the test sees caching)
GOOD = {
    "cl-list-same": (head(b"HTTP/1.1 200 OK", b"Content-Length: 5, 5", b"Content-Length: 5", body=b"hello"), b"hello"),
    "te-chunked-case": (head(b"HTTP/1.1 200 OK", b"Transfer-Encoding:  Chunked ", body=chunked(b"hello")), b"hello"),
    "chunk-ext-trailer": (head(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked",
                               body=b"5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), b"hello"),
    "no-reason": (b"HTTP/1.1 200\r\nContent-Length: 5\r\n" + CACHE + b"\r\nhello", b"hello"),
}

OK1 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok"
STRAY = {
    # more bytes than the framing says, in the same write as the response
    "/ka/same-cl": (OK1 + POISON, None),
    "/ka/same-chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\n\r\n2\r\nok\r\n0\r\n\r\n" +
                         POISON, None),
    # a separate write once the response is out: the connection is idle in the pool when they arrive
    "/ka/idle-seen": (OK1, POISON),
    "/ka/idle-race": (OK1, POISON),
    # responses that end at their head but carry a body anyway
    "/nocache/head-body": (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(POISON) + POISON, None),
    "/nocache/head-late": (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(POISON), POISON),
    "/nocache/204-body": (b"HTTP/1.1 204 No Content\r\nContent-Length: %d\r\n\r\n" % len(POISON) + POISON, None),
    "/nocache/304-body": (b"HTTP/1.1 304 Not Modified\r\nContent-Length: %d\r\n\r\n" % len(POISON) + POISON, None),
}

routes = {}
routes.update({"/bad/" + k: (v, None) for k, v in REFUSED.items()})
routes.update({"/cut/" + k: (v, None) for k, v in CUT.items()})
routes.update({"/good/" + k: (v[0], None) for k, v in GOOD.items()})
routes.update(STRAY)
origin = RawOrigin(routes)

edge = Edge("""
threads: 1
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: combined}
origins:
  raw: {type: http, url: "http://127.0.0.1:%d", connect_timeout: 2s, first_byte_timeout: 5s, read_timeout: 5s, retries: 0}
behaviors:
  - {path: "/nocache/*", origin: raw, cache: off}
  - {path: "*", origin: raw, cache: {default_ttl: 60s}}
""" % origin.port)


def get(path, *args):
    return curl_status(*args, edge.url(path), timeout=20)


@test
def controls_well_framed_edge_cases_are_served_and_cached():
    for name, (_, want) in GOOD.items():
        path = "/good/" + name
        for _ in range(2):
            status, _, body = get(path)
            assert status == 200 and body == want, (name, status, body)
        assert origin.count(path) == 1, (name, "not cached", origin.count(path))


@test
def badly_framed_heads_are_502_and_never_cached():
    for name in REFUSED:
        path = "/bad/" + name
        for i in range(2):
            status, _, body = get(path)
            assert status == 502, (name, status, body[:200])
            assert body.startswith(b"502 Bad Gateway: invalid response from the origin: "), (name, body[:200])
            assert b"poisoned" not in body and b"hello" not in body, (name, body[:200])
        # the second request reached the origin again: nothing was stored
        assert origin.count(path) == 2, (name, origin.count(path))
    wait_until(lambda: edge.log().count("invalid response:") >= 2 * len(REFUSED), what="one error-log line per refusal")
    log = edge.log()
    for reason in ("a Transfer-Encoding other than chunked", "both Transfer-Encoding and Content-Length",
                   "Transfer-Encoding in an HTTP/1.0 response", "Content-Length values that differ",
                   "a status code outside 100-599",
                   "obsolete line folding", "a control character in a header value", "more than 512 header fields",
                   "a response head larger than 64 KB", "the origin switched protocols"):
        assert reason in log, (reason, log[-3000:])


@test
def badly_framed_chunked_bodies_are_cut_and_never_cached():
    for name in CUT:
        path = "/cut/" + name
        for i in range(2):
            rc, out, err = curl(edge.url(path), timeout=20)
            # cut after the head (the viewer sees an error), or refused before any byte went out (a 502)
            if rc == 0:
                assert out.startswith(b"502 Bad Gateway: invalid chunked encoding from the origin: "), (name, out)
            else:
                assert out.startswith(b"hello") or out == b"", (name, out)
        assert origin.count(path) == 2, (name, origin.count(path))
    wait_until(lambda: "invalid chunked encoding from the origin" in edge.log(), what="the error-log line")


def assert_next_is_clean(after, next_path):
    """next_path is answered by the origin (not by stray bytes) and on another connection than `after`"""
    status, _, body = get(next_path)
    assert status == 200 and body == b"next", (next_path, status, body)
    assert origin.count(next_path) == 1, (next_path, origin.count(next_path))
    assert origin.conn(next_path) != origin.conn(after), (after, next_path, "the connection was reused")


@test
def control_a_clean_keepalive_connection_is_reused():
    status, _, body = get("/nocache/plain-1")
    assert status == 200 and body == b"next"
    status, _, body = get("/nocache/plain-2")
    assert status == 200 and body == b"next"
    assert origin.conn("/nocache/plain-1") == origin.conn("/nocache/plain-2"), "the pool did not reuse a clean connection"


@test
def bytes_after_a_response_close_its_connection():
    for path in ("/ka/same-cl", "/ka/same-chunked"):
        status, _, body = get(path)
        assert status == 200 and body == b"ok", (path, status, body)
        assert_next_is_clean(path, path.replace("/ka/", "/ka/next-"))
    wait_until(lambda: "bytes after the end of a response" in edge.log(), what="the log line (Content-Length)")
    wait_until(lambda: "bytes after the end of a chunked response" in edge.log(), what="the log line (chunked)")


@test
def bytes_on_an_idle_connection_close_it():
    # the poller reports them: the proxy closes the connection before anything else happens
    status, _, body = get("/ka/idle-seen")
    assert status == 200 and body == b"ok"
    origin.go["/ka/idle-seen"].set()
    assert origin.stray_acked["/ka/idle-seen"].wait(10 * SLOW), "the origin could not send its stray bytes"
    cid = origin.conn("/ka/idle-seen")
    wait_until(lambda: cid in origin.closed, what="the proxy to close the idle connection that received bytes")
    wait_until(lambda: "arrived on an idle connection" in edge.log(), what="the log line")
    assert_next_is_clean("/ka/idle-seen", "/ka/next-idle-seen")
    # the next request comes at once: the poller or the check on reuse sees the bytes first, never the request
    status, _, body = get("/ka/idle-race")
    assert status == 200 and body == b"ok"
    origin.go["/ka/idle-race"].set()
    assert origin.stray_acked["/ka/idle-race"].wait(10 * SLOW)
    assert_next_is_clean("/ka/idle-race", "/ka/next-idle-race")


@test
def head_204_304_with_a_body_are_not_followed_by_reuse():
    status, hdrs, body = get("/nocache/head-body", "-I")
    assert status == 200 and hdrs.get("content-length") == str(len(POISON)), (status, hdrs)
    assert_next_is_clean("/nocache/head-body", "/nocache/next-head-body")
    status, hdrs, body = get("/nocache/head-late", "-I")
    assert status == 200, status
    origin.go["/nocache/head-late"].set()
    assert origin.stray_acked["/nocache/head-late"].wait(10 * SLOW)
    assert_next_is_clean("/nocache/head-late", "/nocache/next-head-late")
    for code in (204, 304):
        status, _, body = get("/nocache/%d-body" % code)
        assert status == code and body == b"", (code, status, body)
        assert_next_is_clean("/nocache/%d-body" % code, "/nocache/next-%d" % code)


@test
def the_proxy_is_still_healthy():
    status, _, body = get("/nocache/final")
    assert status == 200 and body == b"next"
    edge.assert_clean()


if __name__ == "__main__":
    try:
        run()
    finally:
        edge.stop()
