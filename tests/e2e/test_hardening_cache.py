# ctest-labels: notsan
# notsan: time budget: single-request cache-poisoning rules (test_cache covers the cache's threads)
"""End-to-end: cache privacy and poisoning. A response with Set-Cookie is not stored (and a stored one never carries a cookie);
a request whose response may be stored forwards to the origin only what is in its cache key or in the behavior's
origin_request (X-Forwarded-Host and friends never reach the origin then, but do on a pass); the origin-request hook sees that
list and what it returns is sent; the order of a repeated query parameter is part of the key.

Every "stored / not stored" is proven by the origin's request count and the proxy's counters, every "reached the origin" by
the origin's own record of the headers it got (/_requests)."""
import http.client
import json
import os
import re
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import SLOW, Edge, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TOKEN = "hardening-cache-admin-token"
TMP = tempfile.mkdtemp(prefix="e2e-hardening-cache-")
origin = Origin()

# an origin-request hook that reports the header names it was shown and adds one no list names
HOOK = os.path.join(TMP, "oreq.lua")
with open(HOOK, "w") as f:
    f.write("""
function handler(event, context)
    local request = event.Records[1].cf.request
    local names = {}
    for name, _ in pairs(request.headers) do names[#names + 1] = name end
    table.sort(names)
    request.headers["x-oreq-saw"] = { { key = "X-Oreq-Saw", value = table.concat(names, ",") } }
    request.headers["x-hook-added"] = { { key = "X-Hook-Added", value = "by-origin-request" } }
    return request
end
""")

edge = Edge("""
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: json}
origins:
  web: {type: http, url: "%(origin)s", read_timeout: 10s}
hooks:
  oreq: {lua: %(hook)s}
behaviors:
  - {path: "/optin/*", origin: web, cache: {ignore_set_cookie: true}}
  - path: "/fwd/*"
    origin: web
    cache: {key: {headers: [x-variant], cookies: [session]}}
    origin_request: {headers: [x-api-version], cookies: [lang]}
  - {path: "/hook/*", origin: web, origin_request: {headers: [x-listed]}, hooks: {origin-request: oreq}}
  - {path: "/off/*", origin: web, cache: off}
  - {path: "*", origin: web}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %(token)s
""" % {"origin": origin.url, "hook": HOOK, "token": TOKEN})

POISON = {"X-Forwarded-Host": "evil.example", "X-Original-URL": "/admin", "X-Rewrite-URL": "/admin",
          "X-HTTP-Method-Override": "DELETE"}


class Resp:
    def __init__(self, r, body):
        self.status = r.status
        self.header_list = [(k.lower(), v) for k, v in r.getheaders()]
        self.body = body

    def h(self, name):
        for k, v in self.header_list:
            if k == name:
                return v
        return None

    def all(self, name):
        return [v for k, v in self.header_list if k == name]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r %r>" % (self.status, self.header_list, self.body[:200])


def req(path, headers=None, method="GET", body=None):
    conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30 * SLOW)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return Resp(r, data)


def grew(m0, name, by):
    """waits until counter `name` is `by` above its value in m0 (counters may be summed from the workers a moment later)"""
    wait_until(lambda: edge.metrics()[name] - m0[name] >= by, what="%s +%d" % (name, by))
    return edge.metrics()[name] - m0[name]


def sent_to_origin(path_prefix):
    """the headers (lowercase name -> list of values) of every request the origin got whose path starts with path_prefix"""
    out = []
    for r in origin.requests():
        if r["path"].startswith(path_prefix):
            h = {}
            for k, v in r["headers"]:
                h.setdefault(k.lower(), []).append(v)
            out.append(h)
    return out


# ---- Set-Cookie ------------------------------------------------------------------------------------------------------------

@test
def set_cookie_response_is_not_stored_by_default():
    path = "/count/sc-default?cc=public,max-age=600&h=Set-Cookie:sid=viewer1"
    m0 = edge.metrics()
    r1 = req(path)
    r2 = req(path)
    # each viewer got a response of its own from the origin, with the cookie the origin set for it
    assert r1.status == r2.status == 200, (r1, r2)
    assert r1.body.startswith(b"path=/count/sc-default count=1") and r2.body.startswith(b"path=/count/sc-default count=2"), (r1, r2)
    assert origin.count("/count/sc-default") == 2
    assert r1.h("x-cache") == r2.h("x-cache") == "Miss from edgehook", (r1, r2)
    assert r1.all("set-cookie") == r2.all("set-cookie") == ["sid=viewer1"], (r1, r2)
    assert grew(m0, "edgehook_cache_misses_total", 2) == 2
    m1 = edge.metrics()
    assert m1["edgehook_cache_hits_total"] == m0["edgehook_cache_hits_total"], (m0, m1)
    # hit-for-miss: from now on, concurrent requests for the key do not wait for each other
    # (the answers from the second on wait at the origin's gate until all three are there: had the proxy collapsed them,
    # only one would arrive and the wait below would fail)
    slow = "/count/sc-default?cc=public,max-age=600&h=Set-Cookie:sid=viewer1&gate=sc-default&gatefrom=4"
    req(slow)  # the marker of this key (another query: another key)
    m2 = edge.metrics()
    out = []
    threads = [threading.Thread(target=lambda: out.append(req(slow))) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: origin.count("/count/sc-default") == 6, timeout=30, what="three concurrent requests at the origin")
    origin.release("sc-default")
    for t in threads:
        t.join()
    assert [r.status for r in out] == [200, 200, 200] and all(r.h("set-cookie") == "sid=viewer1" for r in out), out
    assert grew(m2, "edgehook_cache_misses_total", 3) == 3
    assert edge.metrics()["edgehook_cache_collapsed_total"] == m2["edgehook_cache_collapsed_total"]
    assert origin.count("/count/sc-default") == 6


@test
def set_cookie_with_ignore_set_cookie_is_stored_without_the_cookie():
    path = "/optin/count/sc-optin?cc=max-age=600&h=Set-Cookie:sid=first&h=X-Kept:yes"
    m0 = edge.metrics()
    r1 = req(path)
    r2 = req(path, {"Cookie": "sid=someone-else"})
    assert r1.status == r2.status == 200 and r1.body == r2.body, (r1, r2)
    assert origin.count("/optin/count/sc-optin") == 1
    assert r1.h("x-cache") == "Miss from edgehook" and r2.h("x-cache") == "Hit from edgehook", (r1, r2)
    # the stored head is every reader's: not even the viewer that caused the fetch gets the cookie
    assert r1.h("set-cookie") is None and r2.h("set-cookie") is None, (r1, r2)
    assert r1.h("x-kept") == r2.h("x-kept") == "yes", (r1, r2)
    assert grew(m0, "edgehook_cache_hits_total", 1) == 1


@test
def field_lists_of_no_cache_and_private_are_honoured():
    # no-cache="Set-Cookie": the origin says the rest is shareable; stored without the cookie, revalidated on every use, and
    # the cookie of the 304 is not stored either
    path = "/count/nc-list?cc=no-cache=%22Set-Cookie,%20X-Secret%22,max-age=600&etag=v1&h=Set-Cookie:sid=1&h=X-Secret:s"
    r1 = req(path)
    r2 = req(path)
    assert r1.status == r2.status == 200 and r1.body == r2.body, (r1, r2)
    assert r2.h("x-cache") == "RefreshHit from edgehook", r2
    for r in (r1, r2):
        assert r.h("set-cookie") is None and r.h("x-secret") is None, r
    assert origin.count("/count/nc-list") == 2  # the fetch, then a conditional request answered 304
    validations = sent_to_origin("/count/nc-list")
    assert validations[-1].get("if-none-match") == ['"v1"'], validations
    # private, qualified or not: never stored by a shared cache
    for cc in ("private,max-age=600", "private=%22X-User%22,max-age=600"):
        p = "/count/priv-%d?cc=%s" % (len(cc), cc)
        req(p)
        r = req(p)
        assert r.body.startswith(b"path=/count/priv-%d count=2" % len(cc)), (cc, r)


# ---- what reaches the origin ---------------------------------------------------------------------------------------------

@test
def unkeyed_headers_never_reach_the_origin_on_a_cacheable_request():
    headers = dict(POISON, **{"User-Agent": "client/1", "Accept-Language": "fr", "X-Custom": "1",
                              "Cookie": "session=s; tracker=t", "X-Forwarded-For": "10.9.9.9"})
    r = req("/echo?poison=1", headers)
    assert r.status == 200, r
    seen = sent_to_origin("/echo?poison=1")
    assert len(seen) == 1, seen
    h = seen[0]
    for name in ("x-forwarded-host", "x-original-url", "x-rewrite-url", "x-http-method-override", "user-agent", "x-custom",
                 "cookie"):
        assert name not in h, (name, h)
    # the default list and the proxy's own do
    assert h["accept-language"] == ["fr"], h
    assert h["x-forwarded-for"] == ["10.9.9.9, 127.0.0.1"] and len(h["via"]) == 1, h
    assert re.fullmatch(r"1\.1 [\w.:-]+ \(edgehook\)", h["via"][0]), h  # HOST:PORT or HOST-PID without node_name
    assert h["host"] == ["127.0.0.1:%d" % origin.port] and h["x-forwarded-proto"] == ["http"], h
    # the same headers on a pass (an unsafe method, or cache: off) are forwarded as today
    for method, path in (("POST", "/echo?poison=post"), ("GET", "/off/count/poison?off=1")):
        r = req(path, headers, method=method, body=b"x" if method == "POST" else None)
        assert r.status == 200, r
        h = sent_to_origin(path)[-1]
        for name, value in POISON.items():
            assert h[name.lower()] == [value], (method, name, h)
        assert h["user-agent"] == ["client/1"] and h["cookie"] == ["session=s; tracker=t"], h


@test
def origin_request_headers_and_cookies_are_forwarded():
    headers = dict(POISON, **{"X-Api-Version": "2", "X-Variant": "b", "Accept-Language": "fr", "X-Other": "1",
                              "Cookie": "tracker=t; session=s1; lang=fr; theme=dark"})
    r = req("/fwd/count/f1", headers)
    assert r.status == 200, r
    h = sent_to_origin("/fwd/count/f1")[-1]
    assert h["x-api-version"] == ["2"], h  # origin_request.headers
    assert h["x-variant"] == ["b"], h  # the key's header
    assert h["cookie"] == ["session=s1; lang=fr"], h  # the key's cookie and origin_request's, in the client's order
    for name in ("x-forwarded-host", "x-original-url", "x-other", "accept-language"):  # the list replaces the defaults
        assert name not in h, (name, h)
    # HTTP/1 allows one Cookie line per cookie too: one line comes out
    conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
    conn.putrequest("GET", "/fwd/count/f2")
    conn.putheader("Cookie", "lang=de")
    conn.putheader("Cookie", "tracker=x")
    conn.putheader("Cookie", "session=s2")
    conn.endheaders()
    conn.getresponse().read()
    conn.close()
    assert sent_to_origin("/fwd/count/f2")[-1]["cookie"] == ["lang=de; session=s2"]


@test
def origin_request_hook_sees_the_forwarded_list_and_its_result_is_sent():
    r = req("/hook/count/h1", dict(POISON, **{"X-Listed": "1", "X-Unlisted": "1", "Cookie": "a=1"}))
    assert r.status == 200, r
    h = sent_to_origin("/hook/count/h1")[-1]
    saw = h["x-oreq-saw"][0].split(",")
    assert "x-listed" in saw and "host" in saw, saw
    for name in ("x-forwarded-host", "x-original-url", "x-rewrite-url", "x-http-method-override", "x-unlisted", "cookie"):
        assert name not in saw and name not in h, (name, saw, h)
    # what the hook set goes to the origin as it returned it, listed or not
    assert h["x-hook-added"] == ["by-origin-request"] and h["x-listed"] == ["1"], h


# ---- the query in the key --------------------------------------------------------------------------------------------------

@test
def repeated_query_parameters_keep_their_order_in_the_key():
    m0 = edge.metrics()
    r1 = req("/count/qorder?a=1&a=2&cc=max-age=600")
    r2 = req("/count/qorder?a=2&a=1&cc=max-age=600")
    assert r1.h("x-cache") == r2.h("x-cache") == "Miss from edgehook", (r1, r2)
    assert origin.count("/count/qorder") == 2  # two entries
    # each is a hit for its own order, and other names still move freely around them
    r3 = req("/count/qorder?cc=max-age=600&a=1&a=2")
    r4 = req("/count/qorder?a=2&cc=max-age=600&a=1")
    assert r3.h("x-cache") == r4.h("x-cache") == "Hit from edgehook", (r3, r4)
    assert r3.body == r1.body and r4.body == r2.body, (r1, r2, r3, r4)
    assert origin.count("/count/qorder") == 2
    assert grew(m0, "edgehook_cache_hits_total", 2) >= 2


if __name__ == "__main__":
    try:
        run()
    finally:
        rc = edge.stop()
        edge.assert_clean()
        origin.stop()
        if rc != 0:
            sys.exit(1)
