"""tests/e2e/lib/origin.py - a scriptable HTTP/1.1 origin for end-to-end tests, on a real socket in its own process.

Run as a program: `python3 origin.py [--tls CERT KEY [--tls-max 1.2]]`; it prints its port on the first line of stdout, then
serves until killed. --tls-max caps the TLS version it speaks (an origin that cannot do TLS 1.3).
Routes (all also answer HEAD):
  /size/N[?chunked=1][&cc=...]  N bytes of a deterministic pattern (body(N)), Content-Length or chunked
  /count/ANY[?cc=..&h=Name:Value..&delay=S&etag=E&fail=N&size=N]
                                 a body that contains the number of requests the origin has seen for this path: a cache hit
                                 is proven when the body does not change while the origin's count (/_stats) does not grow;
                                 etag: answers If-None-Match with 304; fail=N: 503 after N requests; failonly=N: 503 for the Nth request alone;
                                 size: N more bytes
  [/PREFIX]/echo                 JSON of the request: method, path, headers, body length and sha256
  /trunc/N                       chunked response cut after N chunks of 1000 bytes: no last chunk, connection closed
  /trunccl                       Content-Length 1000, 500 bytes sent, connection closed
  /stall                         reads the request, never answers
  /slowbody/N?rate=BYTES_PER_S   N bytes at a fixed rate; gate=NAME&gateat=B: after B bytes, waits for /_release?gate=NAME
  [/PREFIX]/status/CODE          that status with a short body (and the headers given in h=)
  /PREFIX/index.html             a small HTML page naming PREFIX (a single-page app's shell; other unknown paths are 404)
                                 gate=NAME[&gatefrom=N]: from the Nth request on, the answer waits for /_release?gate=NAME
                                 gateeach=NAME: the Nth request for the path waits for /_release?gate=NAME-N (one gate each)
                                 cc2=CC&cc2from=N: from the Nth request on, Cache-Control CC instead of cc= (a refreshed copy
                                 that stays fresh: no race against the origin's one-second Date)
  /_release?gate=NAME            lets the requests held at that gate (and later ones) answer
  /_stats                        JSON {path: count} of requests seen; /_stats?reset=1 clears it
  /_requests                     JSON list of the requests seen (method, path, headers, conn: the connection's number)
"""
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = hashlib.sha256(b"edgehook").digest() * 32768  # 1 MiB of pattern


def body(n, seed=0):
    """the deterministic body of /size/N (what a test compares against)"""
    out = bytearray()
    off = seed % len(BLOCK)
    while len(out) < n:
        take = min(len(BLOCK) - off, n - len(out))
        out += BLOCK[off:off + take]
        off = 0
    return bytes(out)


def body_sha256(n):
    h = hashlib.sha256()
    left = n
    while left > 0:
        take = min(left, len(BLOCK))
        h.update(BLOCK[:take])
        left -= take
    return h.hexdigest()


class State:
    lock = threading.Lock()
    connections = 0  # connections accepted so far: each request records the number of its own
    counts = {}
    requests = []
    gates = {}  # name -> threading.Event: /count/...?gate=NAME answers once /_release?gate=NAME was asked


def gate(name):
    with State.lock:
        return State.gates.setdefault(name, threading.Event())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "origin.py"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with State.lock:
            State.connections += 1
            self.conn_number = State.connections

    def _count(self, path):
        with State.lock:
            State.counts[path] = State.counts.get(path, 0) + 1
            State.requests.append({"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()],
                                   "conn": self.conn_number})
            return State.counts[path]

    def _extra_headers(self, q):
        for h in q.get("h", []):
            k, v = h.split(":", 1)
            self.send_header(k, v)
        ccs = q.get("cc", [])
        if "cc2" in q and getattr(self, "request_number", 0) >= int(q.get("cc2from", ["2"])[0]):
            ccs = q["cc2"]
        for cc in ccs:
            self.send_header("Cache-Control", cc)

    def _send_body(self, data, status=200, ctype="application/octet-stream", q=None, chunked=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if q:
            self._extra_headers(q)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for i in range(0, len(data), 65536):
                    part = data[i:i + 65536]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline()
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        path = u.path
        req_body = self._read_body()
        if path == "/_stats":
            if "reset" in q:
                with State.lock:
                    State.counts.clear()
                    State.requests.clear()
            with State.lock:
                data = json.dumps(State.counts).encode()
            return self._send_body(data, ctype="application/json")
        if path == "/_release":
            gate(q["gate"][0]).set()
            return self._send_body(b"released\n", ctype="text/plain")
        if path == "/_requests":
            with State.lock:
                data = json.dumps(State.requests).encode()
            return self._send_body(data, ctype="application/json")
        n = self.request_number = self._count(path)
        if path.startswith("/size/"):
            size = int(path.split("/")[2])
            if self.command == "HEAD":
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self._extra_headers(q)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self._extra_headers(q)
            chunked = "chunked" in q
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(size))
            self.end_headers()
            left = size
            try:
                while left > 0:
                    take = min(left, len(BLOCK))
                    if chunked:
                        self.wfile.write(b"%x\r\n" % take + BLOCK[:take] + b"\r\n")
                    else:
                        self.wfile.write(BLOCK[:take])
                    left -= take
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return
        if "/count/" in path:
            if "gate" in q and n >= int(q.get("gatefrom", ["1"])[0]):
                gate(q["gate"][0]).wait(120)  # a test holds the answer back until it has seen what it waits for
            if "gateeach" in q:
                gate("%s-%d" % (q["gateeach"][0], n)).wait(120)
            if "delay" in q:
                time.sleep(float(q["delay"][0]))
            if "etag" in q:
                # a validator: the version changes when ?etag=... changes, so tests choose whether a 304 is due
                etag = '"%s"' % q["etag"][0]
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self._extra_headers(q)
                    self.end_headers()
                    return
                q.setdefault("h", []).append("ETag:" + etag)
            if "fail" in q and n > int(q["fail"][0]):
                return self._send_body(b"origin failing\n", status=503, ctype="text/plain")
            if "failonly" in q and n == int(q["failonly"][0]):
                return self._send_body(b"origin failing once\n", status=503, ctype="text/plain")
            data = ("path=%s count=%d\n" % (path, n)).encode()
            if "size" in q:
                data = data + body(int(q["size"][0]), n)
            return self._send_body(data, ctype="text/plain", q=q)
        if path == "/echo" or path.endswith("/echo"):
            info = {"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()],
                    "body_len": len(req_body), "body_sha256": hashlib.sha256(req_body).hexdigest()}
            return self._send_body(json.dumps(info).encode(), ctype="application/json", q=q)
        if path.startswith("/trunc/"):
            chunks = int(path.split("/")[2])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(chunks):
                self.wfile.write(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if path == "/trunccl":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"y" * 500)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if path == "/stall":
            time.sleep(float(q.get("s", ["60"])[0]))
            self.close_connection = True
            return
        if path.startswith("/slowbody/"):
            size = int(path.split("/")[2])
            rate = int(q.get("rate", ["100000"])[0])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self._extra_headers(q)
            self.end_headers()
            sent = 0
            t0 = time.time()
            gate_at = int(q["gateat"][0]) if "gateat" in q else -1
            try:
                while sent < size:
                    if sent == gate_at:
                        self.wfile.flush()
                        gate(q["gate"][0]).wait(120)
                        t0 = time.time() - sent / rate
                    take = min(size - sent, max(1, rate // 10))
                    if sent < gate_at < sent + take:
                        take = gate_at - sent
                    self.wfile.write(body(take, sent))
                    sent += take
                    delay = t0 + sent / rate - time.time()
                    if delay > 0:
                        time.sleep(delay)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return
        if "/status/" in path:
            code = int(path.split("/status/")[1].split("/")[0])
            return self._send_body(("status %d count %d\n" % (code, n)).encode(), status=code, ctype="text/plain", q=q)
        if path.endswith("/index.html") and path.count("/") == 2:
            page = "<!doctype html><title>app %s</title><div id=app data-count=%d></div>\n" % (path.split("/")[1], n)
            return self._send_body(page.encode(), ctype="text/html; charset=utf-8", q=q)
        return self._send_body(b"not found\n", status=404, ctype="text/plain")

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    tls = None
    if len(sys.argv) >= 4 and sys.argv[1] == "--tls":
        tls = (sys.argv[2], sys.argv[3])
    srv = Server(("127.0.0.1", 0), Handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        if len(sys.argv) >= 6 and sys.argv[4] == "--tls-max":
            ctx.maximum_version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[sys.argv[5]]
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


class Origin:
    """starts origin.py in a child process (so it never competes with the test for the GIL)"""

    def __init__(self, tls=None, tls_max=None):
        args = ["/usr/bin/python3", os.path.abspath(__file__)]
        if tls:
            args += ["--tls", tls[0], tls[1]]
            if tls_max:
                args += ["--tls-max", tls_max]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.port = int(self.proc.stdout.readline().decode().strip())
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)

    def _get(self, path):
        import urllib.request
        ctx = ssl._create_unverified_context() if self.url.startswith("https") else None
        with urllib.request.urlopen(self.url + path, context=ctx, timeout=10) as r:
            return json.loads(r.read())

    def stats(self):
        return self._get("/_stats")

    def count(self, path):
        return self.stats().get(path, 0)

    def requests(self):
        return self._get("/_requests")

    def reset(self):
        self._get("/_stats?reset=1")

    def release(self, name):
        """lets the requests held at gate NAME (and later ones) answer"""
        import urllib.request
        ctx = ssl._create_unverified_context() if self.url.startswith("https") else None
        with urllib.request.urlopen(self.url + "/_release?gate=" + name, context=ctx, timeout=10) as r:
            r.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    main()
