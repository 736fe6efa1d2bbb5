"""End-to-end: stored parts of 206 responses (cache.ranges: forward; cache/partial.c, RFC 9111 §3.3, §3.4).

A Range request that misses goes to the origin with its Range; a storable 206 with a valid Content-Range and a strong ETag is
stored as a part; a later range inside it is a hit; parts with one strong ETag combine into a stored 200; other ETags do not;
a part without a strong ETag is reused but never combined; hostile Content-Range values are passed through and never stored; purges remove parts. The origin is a process of this file
(`--origin`): it answers Range itself, counts the requests per path (/_stats), and its representations are set by the test
(/_set: ETag, content seed, a hostile Content-Range), so a hit is proven by an origin whose count does not grow while its
answer would have changed, plus the proxy's edgehook_cache_partial_* counters."""
import atexit
import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LEN = 1000  # every representation's length


def content(seed):
    out = b""
    i = 0
    while len(out) < LEN:
        out += hashlib.sha256(("%s-%d" % (seed, i)).encode()).hexdigest().encode()
        i += 1
    return out[:LEN]


# ---- the origin (its own process) -------------------------------------------------------------------------------------------

class OriginState:
    lock = threading.Lock()
    counts = {}
    paths = {}  # path -> {"etag": ..., "seed": ..., "cr": hostile Content-Range or None, "cl": body length override, "cc": ...}


class OriginHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, headers, data):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/_stats":
            with OriginState.lock:
                return self._send(200, [], json.dumps(OriginState.counts).encode())
        if u.path == "/_set":
            with OriginState.lock:
                OriginState.paths[q["path"]] = json.loads(q["spec"])
            return self._send(200, [], b"ok")
        with OriginState.lock:
            OriginState.counts[u.path] = OriginState.counts.get(u.path, 0) + 1
            spec = dict(OriginState.paths.get(u.path, {}))
        body = content(spec.get("seed", u.path))
        headers = [("Cache-Control", spec.get("cc", "max-age=600"))]
        if spec.get("etag", '"e1"') is not None:
            headers.append(("ETag", spec.get("etag", '"e1"')))
        if spec.get("tag"):
            headers.append(("Surrogate-Key", spec["tag"]))
        rng = self.headers.get("Range")
        if "cr" in spec:
            # hostile: a 206 with the Content-Range given (a list: several fields), a body of `cl` bytes
            for v in (spec["cr"] if isinstance(spec["cr"], list) else [spec["cr"]]):
                headers.append(("Content-Range", v))
            return self._send(206, headers, body[:spec.get("cl", 100)])
        if rng is None or not rng.startswith("bytes=") or "," in rng:
            return self._send(200, headers, body)
        a, b = rng[6:].split("-")
        if a == "":
            first, last = LEN - int(b), LEN - 1
        else:
            first, last = int(a), min(int(b), LEN - 1) if b else LEN - 1
        headers.append(("Content-Range", "bytes %d-%d/%d" % (first, last, LEN)))
        return self._send(206, headers, body[first:last + 1])


def origin_main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), OriginHandler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__" and sys.argv[1:2] == ["--origin"]:
    origin_main()
    sys.exit(0)

# ---- the test ---------------------------------------------------------------------------------------------------------------

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, run, test, wait_until  # noqa: E402

origin_proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--origin"], stdout=subprocess.PIPE)
atexit.register(origin_proc.kill)
ORIGIN_PORT = int(origin_proc.stdout.readline())

TOKEN = "test-admin-token-partial-4242"
CONFIG = """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
origins:
  web: {type: http, url: "http://127.0.0.1:%d", read_timeout: 10s}
cache: {memory: 8MB, ranges: forward}
behaviors:
  - {path: "*", origin: web}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
""" % (ORIGIN_PORT, TOKEN)

edge = None


def the_edge():
    global edge
    if edge is None:
        edge = Edge(CONFIG)
        atexit.register(edge.kill)
    return edge


def origin_get(path):
    c = http.client.HTTPConnection("127.0.0.1", ORIGIN_PORT, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    data = r.read()
    c.close()
    return data


def origin_count(path):
    return json.loads(origin_get("/_stats")).get(path, 0)


def origin_set(path, **spec):
    origin_get("/_set?" + urllib.parse.urlencode({"path": path, "spec": json.dumps(spec)}))


def get(path, rng=None):
    """a request through the proxy on its own connection: (status, headers (lowercase names), body)"""
    c = http.client.HTTPConnection("127.0.0.1", the_edge().port, timeout=30)
    h = {"Host": "partial.test"}
    if rng is not None:
        h["Range"] = rng
    c.request("GET", path, headers=h)
    r = c.getresponse()
    data = r.read()
    headers = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, headers, data


def m(name):
    return the_edge().metric("edgehook_cache_partial_" + name) or 0


def assert_range(path, rng, first, last, seed=None, x_cache=None):
    s, h, b = get(path, rng)
    assert s == 206, (path, rng, s, h)
    assert h["content-range"] == "bytes %d-%d/%d" % (first, last, LEN), h
    assert b == content(seed or path)[first:last + 1], (path, rng, b[:40])
    if x_cache is not None:
        assert h["x-cache"] == x_cache, h
    return h


def part(path, rng, first, last, seed=None, outcome="stored_total"):
    """a range that goes to the origin: its 206 reaches the client, and the proxy counts it stored (or `outcome`) once the
    fill has ended (which may come just after the client has the last byte)"""
    before = m(outcome)
    h = assert_range(path, rng, first, last, seed=seed, x_cache="Miss from edgehook")
    wait_until(lambda: m(outcome) > before, what="%s after %s %s" % (outcome, path, rng))
    return h


@test
def part_stored_then_range_inside_is_hit():
    p = "/a"
    part(p, "bytes=100-299", 100, 299)
    assert origin_count(p) == 1 and m("stored_total") == 1 and m("parts") == 1, (origin_count(p), m("stored_total"))
    # the origin now answers other bytes: what comes back is the stored part's
    origin_set(p, seed="changed", etag='"e2"')
    hits = m("hits_total")
    h = assert_range(p, "bytes=150-199", 150, 199, x_cache="Hit from edgehook")
    assert "age" in h and h.get("etag") == '"e1"', h
    assert_range(p, "bytes=100-299", 100, 299, x_cache="Hit from edgehook")
    assert origin_count(p) == 1, origin_count(p)
    assert m("hits_total") == hits + 2, m("hits_total")


@test
def range_outside_goes_to_origin():
    p = "/b"
    part(p, "bytes=0-99", 0, 99)
    part(p, "bytes=50-149", 50, 149)  # only half of it is stored
    part(p, "bytes=900-", 900, 999)
    assert origin_count(p) == 3, origin_count(p)
    # the first two merged into one part 0-149: a range across their seam is a hit, and so is a suffix range of the third
    assert_range(p, "bytes=90-120", 90, 120, x_cache="Hit from edgehook")
    assert_range(p, "bytes=-50", 950, 999, x_cache="Hit from edgehook")
    assert origin_count(p) == 3, origin_count(p)


@test
def parts_with_one_strong_etag_combine():
    p = "/c"
    combined = m("combined_total")
    part(p, "bytes=0-499", 0, 499)
    s, h, b = get(p)  # not whole yet: a miss (the origin answers 200, which is stored as usual: use another key below)
    assert s == 200 and origin_count(p) == 2
    p = "/c2"
    origin_set(p, tag="grp-c2")
    part(p, "bytes=500-999", 500, 999)
    part(p, "bytes=0-599", 0, 599, outcome="combined_total")  # overlaps the first by 100 bytes, the same bytes
    assert m("combined_total") == combined + 1, m("combined_total")
    origin_set(p, seed="changed", etag='"e9"')  # the next answer would differ
    s, h, b = get(p)
    assert s == 200 and b == content(p) and h["x-cache"] == "Hit from edgehook", (s, h, b[:40])
    assert h.get("etag") == '"e1"' and int(h["content-length"]) == LEN, h
    # the whole stored response answers ranges too (from the whole object now)
    assert_range(p, "bytes=10-19", 10, 19, x_cache="Hit from edgehook")
    assert origin_count(p) == 2, origin_count(p)
    # and a purge by its tag (the parts' Surrogate-Key) removes it
    st, ans = the_edge().admin("POST", "/purge", {"tag": "grp-c2"})
    assert st == 200 and ans["purged"] >= 1, ans
    s, h, b = get(p)
    assert s == 200 and b == content("changed") and origin_count(p) == 3, (origin_count(p), b[:20])


@test
def parts_with_different_etags_are_not_combined():
    p = "/d"
    combined = m("combined_total")
    part(p, "bytes=0-499", 0, 499)
    origin_set(p, seed=p, etag='"other"')  # the same bytes, another validator: §3.4 needs the same strong one
    part(p, "bytes=500-999", 500, 999)
    assert m("combined_total") == combined, m("combined_total")
    # the newest part replaced the older one: a range in the first half goes to the origin, the second half is a hit
    assert_range(p, "bytes=600-699", 600, 699, x_cache="Hit from edgehook")
    part(p, "bytes=0-9", 0, 9)
    s, h, b = get(p)
    assert s == 200 and h["x-cache"] == "Miss from edgehook", h
    assert origin_count(p) == 4, origin_count(p)
    # a weak ETag (or none): the part answers ranges inside it (§3.3) but combines with nothing (§3.4): the next replaces it
    p = "/d2"
    origin_set(p, etag='W/"weak"')
    combined = m("combined_total")
    part(p, "bytes=0-499", 0, 499)
    assert_range(p, "bytes=0-9", 0, 9, x_cache="Hit from edgehook")
    part(p, "bytes=500-999", 500, 999)
    assert_range(p, "bytes=0-9", 0, 9, x_cache="Miss from edgehook")
    assert m("combined_total") == combined and origin_count(p) == 3, (m("combined_total"), origin_count(p))


@test
def same_etag_other_bytes_drops_the_parts():
    p = "/e"
    part(p, "bytes=0-599", 0, 599)
    refused = m("refused_total")
    origin_set(p, seed="liar")  # same ETag "e1", other bytes where the parts overlap
    part(p, "bytes=500-999", 500, 999, seed="liar", outcome="refused_total")  # the client gets what the origin sent
    assert m("refused_total") == refused + 1, m("refused_total")
    part(p, "bytes=0-9", 0, 9, seed="liar")  # the first part was dropped too: a miss, stored anew
    assert origin_count(p) == 3


@test
def hostile_content_ranges_are_not_stored():
    cases = {
        "/h1": dict(cr="bytes 0-99/50"),                    # beyond the complete length
        "/h2": dict(cr="bytes 50-10/1000"),                 # first > last
        "/h3": dict(cr="bytes abc"),                        # malformed
        "/h4": dict(cr="bytes 0-99/1000", cl=50),           # the body is shorter than the range
        "/h5": dict(cr="bytes 0-9/1000", cl=100),           # the body is longer than the range
        "/h6": dict(cr=["bytes 0-99/1000", "bytes 0-99/1000"]),  # two fields
        "/h7": dict(cr="bytes 0-99/*"),                     # unknown length: cannot be combined
        "/h8": dict(cr="bytes 0-99999999999999999999/1000"),  # too many digits
        "/h9": dict(cr="bytes -5-99/1000"),
    }
    stored, refused = m("stored_total"), m("refused_total")
    for p, spec in cases.items():
        origin_set(p, **spec)
        for i in (1, 2):
            before = m("refused_total")
            s, h, b = get(p, "bytes=0-99")
            assert s == 206 and h["x-cache"] == "Miss from edgehook", (p, s, h)  # passed through as the origin sent it
            assert origin_count(p) == i, (p, origin_count(p))
            wait_until(lambda: m("refused_total") > before, what="refused_total after " + p)
    assert m("stored_total") == stored, m("stored_total")
    assert m("refused_total") == refused + 2 * len(cases), (m("refused_total"), refused)
    # a good answer for the same keys is stored afterwards: nothing of the hostile ones is in the way
    origin_set("/h1")
    part("/h1", "bytes=0-99", 0, 99)
    assert_range("/h1", "bytes=0-99", 0, 99, x_cache="Hit from edgehook")
    assert origin_count("/h1") == 3
    assert the_edge().proc.poll() is None


@test
def purge_removes_parts():
    p = "/f"
    part(p, "bytes=0-99", 0, 99)
    assert_range(p, "bytes=0-99", 0, 99, x_cache="Hit from edgehook")
    keys = m("keys")
    st, ans = the_edge().admin("POST", "/purge", {"url": p})
    assert st == 200 and ans["purged"] >= 1, ans
    assert m("keys") == keys - 1, (m("keys"), keys)
    part(p, "bytes=0-99", 0, 99)
    assert origin_count(p) == 2
    # purge all: every key's parts go
    st, ans = the_edge().admin("POST", "/purge", {"all": True})
    assert st == 200, ans
    assert m("keys") == 0 and m("bytes") == 0, (m("keys"), m("bytes"))


@test
def not_forwarded_without_a_single_range():
    # a multi-range, or a conditional range, is answered from a whole fetch (the origin gets no Range)
    p = "/g"
    s, h, b = get(p, "bytes=0-9,20-29")
    assert s == 200 and b == content(p), s  # several ranges: the whole, as CloudFront does
    assert_range(p, "bytes=0-9", 0, 9, x_cache="Hit from edgehook")  # from the whole object stored by the first
    assert origin_count(p) == 1


@test
def stop_clean():
    the_edge().stop()
    the_edge().assert_clean()
    origin_proc.kill()


if __name__ == "__main__":
    run()
