# ctest-labels: notsan
# notsan: time budget: single-request access-log formatting
"""End-to-end: long request lines and headers against the access log (the stack overflow of proxy/accesslog.c), over raw sockets.

`GET /ok/` followed by 8,200 `a`, by 2,100 bytes of 0xff (each escaped to 4 or 6 characters), a 60 KB target, and long
User-Agent / Referer headers, with the combined and the JSON format. Each case asserts that a response status comes back (whatever
it is), that the process is alive and still serves a normal request, and that the request's log line is at most
ACCESSLOG_LINE_MAX (8192) bytes with its newline, ends with the cut marker (` cut=1` / `"cut":true`), is printable ASCII, and, in
JSON, parses with json.loads and keeps a prefix of the target's bytes. Waits are on the log file itself, with a deadline.
"""
import json
import os
import re
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import SLOW, Edge, curl_status, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

LINE_MAX = 8192  # ACCESSLOG_LINE_MAX in proxy/accesslog.h, newline included
TMP = tempfile.mkdtemp(prefix="e2e-hardening-accesslog-")
origin = Origin()


def start(fmt):
    log = os.path.join(TMP, "access-%s.log" % fmt)
    edge = Edge("""
threads: 2
listen:
  - {host: 127.0.0.1, port: 0}
access_log: {path: "%s", format: %s}
origins:
  web: {type: http, url: "%s", connect_timeout: 2s, first_byte_timeout: 10s, read_timeout: 10s}
behaviors:
  - {path: "*", origin: web, cache: off}
""" % (log, fmt, origin.url), name="edge-" + fmt)
    return edge, log


def raw_request(edge, target, headers=()):
    """one HTTP/1.1 request of raw bytes on a fresh connection (Connection: close); returns the response's status"""
    head = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for name, value in headers:
        head += name + b": " + value + b"\r\n"
    s = socket.create_connection(("127.0.0.1", edge.port), timeout=30 * SLOW)
    got = b""
    try:
        s.sendall(head + b"\r\n")
        while not re.match(rb"HTTP/1\.[01] \d{3} ", got):
            b = s.recv(65536)
            if not b:
                break
            got += b
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", got)
    assert m, "no status line came back for a %d-byte target: %r" % (len(target), got[:200])
    return int(m.group(1))


def log_line(edge, path, marker, timeout=10):
    """the access-log line (without its newline) holding `marker`, waiting for it to be written (failing at once if the process
    died: the overflow this guards against killed it before the line was flushed)"""
    found = []

    def look():
        assert edge.proc.poll() is None, "edgehook died (status %s) before logging %s:\n%s" % (
            edge.proc.returncode, marker.decode(), edge.log()[-4000:])
        if not os.path.exists(path):
            return False
        with open(path, "rb") as f:
            for line in f.read().split(b"\n"):
                if marker in line:
                    found.append(line)
                    return True
        return False
    wait_until(look, timeout=timeout, what="the access-log line with " + marker.decode())
    return found[0]


def check_cut_line(fmt, line, target):
    """a line that had to be cut: within the maximum, marked, printable; JSON: one object with a prefix of the target"""
    assert len(line) + 1 <= LINE_MAX, "a log line of %d bytes (maximum %d)" % (len(line) + 1, LINE_MAX)
    assert len(line) + 1 > LINE_MAX - 64, "the cut line is much shorter than the maximum: %d" % (len(line) + 1)
    assert all(0x20 <= c < 0x7f for c in line), "a byte outside printable ASCII in the log line"
    if fmt == "combined":
        assert line.endswith(b" cut=1"), line[-120:]
        m = re.match(rb'\S+ - - \[[^]]+\] "GET (\S+) HTTP/1\.1" (\d{3}) \d+ ', line)
        assert m, line[:200]
        shown = re.sub(rb"\\x([0-9a-f]{2})", lambda h: bytes([int(h.group(1), 16)]), m.group(1))
        assert target.startswith(shown) and len(shown) > 500, "the logged target is not a prefix of the sent one"
    else:
        assert line.endswith(b',"cut":true}'), line[-120:]
        entry = json.loads(line)
        assert entry["cut"] is True and entry["method"] == "GET" and entry["protocol"] == "HTTP/1.1", entry.keys()
        shown = entry["uri"].encode("latin-1")  # the log's strings hold bytes as U+0000..U+00FF
        assert target.startswith(shown) and len(shown) > 500, "the logged target is not a prefix of the sent one"
        assert re.fullmatch(r"[A-Za-z0-9_-]{54}==", entry["request_id"]), entry["request_id"]  # CloudFront's shape
        assert isinstance(entry["status"], int) and entry["status"] >= 100, entry["status"]


def still_serves(edge, log, fmt, tag):
    """alive, answers a normal request, and logs it whole"""
    assert edge.proc.poll() is None, "edgehook died:\n" + edge.log()[-4000:]
    ua = "edgetest-normal-%s-%s" % (fmt, tag)
    st, _, body = curl_status("-A", ua, edge.url("/size/100"))
    assert st == 200 and len(body) == 100, st
    line = log_line(edge, log, ua.encode())
    assert not line.endswith(b" cut=1") and b'"cut"' not in line, line
    if fmt == "json":
        entry = json.loads(line)
        assert entry["uri"] == "/size/100" and entry["status"] == 200 and entry["user_agent"] == ua and "cut" not in entry, entry
    else:
        assert b'"GET /size/100 HTTP/1.1" 200 100 "-" "' + ua.encode() + b'"' in line, line


CASES = [
    # name, target, extra headers
    ("a8200", b"/ok/" + b"a" * 8200, ()),
    ("ff2100", b"/ok/" + b"\xff" * 2100, ()),
    ("t60k", b"/ok/" + b"t" * 60000, ()),
    ("headers", b"/ok/" + b"h" * 3000, ((b"Referer", b"http://r/" + b"\"\\" * 3000 + b"\xff" * 2000),
                                        (b"X-Pad", b"p" * 100))),
]


def exercise(fmt):
    edge, log = start(fmt)
    try:
        for name, target, headers in CASES:
            marker = b"mark-%s-%s" % (fmt.encode(), name.encode())
            # the user agent starts with the marker (a cut keeps a prefix of every field), then makes the line long too
            ua = marker + b" " + (b"Mozilla/5.0 (\"quoted\" \\ " + b"u" * 9000 + b")" if name == "headers" else b"")
            status = raw_request(edge, target, ((b"User-Agent", ua),) + headers)
            assert 100 <= status <= 599, status
            check_cut_line(fmt, log_line(edge, log, marker), target)
            still_serves(edge, log, fmt, name)
        if fmt == "json":
            with open(log, "rb") as f:
                lines = [l for l in f.read().split(b"\n") if l]
            assert len(lines) == 2 * len(CASES), len(lines)
            for line in lines:
                json.loads(line)  # every line of the JSON log is one JSON object
        edge.assert_clean()
        assert edge.stop() == 0, edge.log()[-4000:]
    finally:
        edge.kill()


@test
def long_requests_combined():
    exercise("combined")


@test
def long_requests_json():
    exercise("json")


if __name__ == "__main__":
    try:
        run()
    finally:
        origin.stop()
