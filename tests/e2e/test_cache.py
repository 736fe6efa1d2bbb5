"""End-to-end: the cache (RFC 9111 rules, collapsing, streaming, memory bound, purge, serve-stale, admin API). Every hit is
proven by an origin whose next answer would differ (its body carries a request count) and by the proxy's own counters."""
import base64
import hashlib
import http.client
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import SANITIZE, Edge, SLOW, curl, curl_status, run, test, wait_until  # noqa: E402
from origin import Origin, body_sha256  # noqa: E402

TOKEN = "test-admin-token-1234"
origin = Origin()


def config(origin_url, memory="256MB", max_object="32MB", extra_behaviors="", threads=2):
    return """
threads: %d
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: json}
origins:
  web: {type: http, url: "%s", read_timeout: 10s}
cache: {memory: %s, max_object_size: %s}
behaviors:
%s  - path: "/keyed/*"
    origin: web
    cache: {key: {query: [a, b], headers: [x-variant], cookies: [session]}}
  - path: "/noquery/*"
    origin: web
    cache: {key: {query: none}}
  - path: "/ttl/*"
    origin: web
    cache: {default_ttl: 60s, min_ttl: 30s, max_ttl: 100s}
  - path: "/nocache/*"
    origin: web
    cache: off
  - path: "/errttl/*"
    origin: web
    cache: {default_ttl: 1h, error_ttl: 4s}
  - path: "/siezero/*"
    origin: web
    cache: {stale_if_error: 0s}
  - {path: "*", origin: web}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
""" % (threads, origin_url, memory, max_object, extra_behaviors, TOKEN)


edge = Edge(config(origin.url))


def get(path, *args):
    return curl_status(*args, edge.url(path))


def count_of(body):
    m = re.search(rb"count=(\d+)", body)
    return int(m.group(1)) if m else None


@test
def hit_is_proven_by_origin_and_counters():
    m0 = edge.metrics()
    s1, h1, b1 = get("/count/hit1?cc=max-age=60")
    s2, h2, b2 = get("/count/hit1?cc=max-age=60")
    assert s1 == s2 == 200
    assert h1["x-cache"] == "Miss from edgehook" and h2["x-cache"] == "Hit from edgehook", (h1, h2)
    assert count_of(b1) == 1 and b2 == b1  # the origin would have said count=2
    assert origin.count("/count/hit1") == 1
    m1 = edge.metrics()
    assert m1["edgehook_cache_hits_total"] - m0["edgehook_cache_hits_total"] >= 1
    assert m1["edgehook_cache_misses_total"] - m0["edgehook_cache_misses_total"] >= 1
    assert "age" in h2 and 0 <= int(h2["age"]) < 60, h2  # a fresh hit is younger than its max-age (a wrong Age is not)


@test
def not_stored_no_store_private_authorization():
    for cc in ("no-store", "private", "max-age=0,no-cache"):
        path = "/count/ns-%s?cc=%s" % (cc.split(",")[0], cc)
        get(path)
        s, h, b = get(path)
        assert count_of(b) == 2, (cc, b)
    # Authorization without public: not stored (RFC 9111 3.5); with public: stored
    get("/count/auth1?cc=max-age=60", "-H", "Authorization: Basic eDp5")
    s, h, b = get("/count/auth1?cc=max-age=60", "-H", "Authorization: Basic eDp5")
    assert count_of(b) == 2
    get("/count/auth2?cc=public,max-age=60", "-H", "Authorization: Basic eDp5")
    s, h, b = get("/count/auth2?cc=public,max-age=60", "-H", "Authorization: Basic eDp5")
    assert count_of(b) == 1


@test
def collapsing_200_concurrent_clients_one_origin_request():
    path = "/count/collapse200?cc=max-age=60&gate=c200"  # the origin answers once every client is waiting
    results = []
    lock = threading.Lock()

    def client():
        c = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=60 * SLOW)
        c.request("GET", path)
        r = c.getresponse()
        data = r.read()
        with lock:
            results.append((r.status, data))
        c.close()
    threads = [threading.Thread(target=client) for _ in range(200)]
    m0 = edge.metrics()
    for t in threads:
        t.start()
    # all 200 are in the proxy: one fetch (held at the origin's gate) and 199 waiting for it
    wait_until(lambda: edge.metrics()["edgehook_cache_collapsed_total"] - m0["edgehook_cache_collapsed_total"] >= 199, timeout=60,
               what="199 collapsed requests")
    assert origin.count("/count/collapse200") == 1
    origin.release("c200")
    for t in threads:
        t.join()
    assert len(results) == 200 and all(s == 200 for s, _ in results), [s for s, _ in results if s != 200][:5]
    assert len(set(b for _, b in results)) == 1, "different bodies"
    assert origin.count("/count/collapse200") == 1, origin.count("/count/collapse200")
    m1 = edge.metrics()
    assert m1["edgehook_cache_collapsed_total"] - m0["edgehook_cache_collapsed_total"] == 199, m1


# reads a download from stdin: prints "started" once the first MiB is in (flushed), then the byte count and the sha256 at the end
HASHER = """
import hashlib, sys
h, n, told = hashlib.sha256(), 0, False
while True:
    b = sys.stdin.buffer.read1(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
    if not told and n >= 1 << 20:
        print("started", flush=True)
        told = True
print(n, h.hexdigest(), flush=True)
"""


@test
def twenty_clients_on_100mb_while_it_fills():
    e = Edge(config(origin.url, memory="512MB", max_object="256MB"), name="big")
    try:
        n = 100 * 1024 * 1024
        # the origin sends 60 MB, then holds the rest until the test releases it: the fill cannot end while the clients are checked
        path = "/slowbody/%d?rate=50000000&cc=max-age=600&gate=fill100&gateat=%d" % (n, 60 * 1024 * 1024)
        origin.reset()
        m0 = e.metrics()

        def client():
            return subprocess.Popen(["sh", "-c", "curl -sS '%s' | /usr/bin/python3 -c '%s'" % (e.url(path), HASHER)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs = [client()]
        wait_until(lambda: origin.count("/slowbody/%d" % n) == 1, timeout=30, what="the fill to start")
        procs += [client() for _ in range(19)]
        # every client has had its first MiB while the origin still holds the end of the object: streamed while filling
        for i, p in enumerate(procs):
            line = p.stdout.readline()
            assert line == b"started\n", (i, line, p.stderr.read() if p.poll() is not None else "")
        assert origin.count("/slowbody/%d" % n) == 1, origin.stats()
        assert all(p.poll() is None for p in procs), "a client ended before the origin sent the end of the object"
        # one fetch; the 19 others joined it as readers of the object being filled (counted as hits)
        m1 = e.metrics()
        grew = {k: m1[k] - m0[k] for k in ("edgehook_cache_misses_total", "edgehook_cache_hits_total")}
        assert grew == {"edgehook_cache_misses_total": 1, "edgehook_cache_hits_total": 19}, grew
        origin.release("fill100")
        from origin import body as pattern_body
        expect = "%d %s" % (n, hashlib.sha256(pattern_body(n)).hexdigest())
        for i, p in enumerate(procs):
            out, err = p.communicate(timeout=120 * SLOW)
            assert p.returncode == 0 and out.decode().strip() == expect, (i, out, err)
        assert origin.count("/slowbody/%d" % n) == 1, origin.stats()
    finally:
        assert e.stop() == 0
        e.assert_clean()


@test
def memory_bound_holds_with_twice_the_bound_written():
    e = Edge(config(origin.url, memory="64MB", max_object="8MB"), name="bound")
    try:
        curl(e.url("/count/warm?cc=max-age=60"))
        base = e.rss_kb()
        for i in range(128):  # 128 MB of distinct 1 MB objects
            rc, out, err = curl(e.url("/count/mem%d?cc=max-age=600&size=1048576" % i))
            assert rc == 0 and len(out) > 1048576
        m = e.metrics()
        growth_mb = (e.rss_kb() - base) / 1024.0
        print("  cache_bytes %.1f MB, objects %d, evictions %d, rss growth %.1f MB" % (
            m["edgehook_cache_bytes"] / 1048576, m["edgehook_cache_objects"], m["edgehook_cache_evictions_total"], growth_mb))
        assert m["edgehook_cache_bytes"] <= 64 * 1048576
        assert m["edgehook_cache_evictions_total"] >= 60
        # documented overhead: the bound plus 32 MB (allocator slack, socket buffers, per-thread pools)
        if not SANITIZE_BUILD:
            assert growth_mb < 64 + 32, growth_mb
        # the newest objects are hits, the oldest were evicted
        s, h, b = curl_status(e.url("/count/mem127?cc=max-age=600&size=1048576"))
        assert h["x-cache"] == "Hit from edgehook"
        s, h, b = curl_status(e.url("/count/mem0?cc=max-age=600&size=1048576"))
        assert h["x-cache"] == "Miss from edgehook"
    finally:
        assert e.stop() == 0
        e.assert_clean()


SANITIZE_BUILD = SANITIZE  # ASan or TSan (edgetest.py): RSS is the sanitizer's, not edgehook's


@test
def admin_refuses_missing_or_wrong_token():
    assert edge.admin("POST", "/purge", {"all": True}, token="")[0] == 401
    assert edge.admin("POST", "/purge", {"all": True}, token="wrong-token-xxxxxxxxx")[0] == 401
    assert edge.admin("GET", "/metrics", token="x")[0] == 401
    conn = http.client.HTTPConnection("127.0.0.1", edge.ports["admin"], timeout=10)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    assert edge.admin("POST", "/purge", {"nothing": 1})[0] == 400
    assert edge.admin("GET", "/nope")[0] == 404


def thread_of(h):
    # the request id is CloudFront-shaped: 40 bytes in base64url, the fourth of which is the worker
    return base64.urlsafe_b64decode(h["x-request-id"])[3]


@test
def purge_by_url_prefix_tag_and_soft_on_every_thread():
    paths = ["/count/p/a?cc=max-age=600&h=Surrogate-Key:grp1%20grp2", "/count/p/b?cc=max-age=600&h=Surrogate-Key:grp2",
             "/count/q/c?cc=max-age=600&h=Cache-Tag:grp3,grp1"]
    for p in paths:
        get(p)
        s, h, b = get(p)
        assert h["x-cache"] == "Hit from edgehook", p

    def fresh_on_all_threads(p, expect):
        # new connections until both workers have answered (the kernel picks the worker that accepts, so the count
        # needed varies with load); each answer must reflect the purge
        seen = set()
        for _ in range(2000):
            s, h, b = get(p)
            seen.add(thread_of(h))
            assert h["x-cache"] in expect, (p, h["x-cache"])
            if len(seen) == 2:
                break
        return seen
    # by tag: grp2 covers a and b
    st, body = edge.admin("POST", "/purge", {"tag": "grp2"})
    assert st == 200 and body["purged"] == 2, body
    s, h, b = get(paths[0])
    assert h["x-cache"] == "Miss from edgehook" and count_of(b) == 2
    threads_seen = fresh_on_all_threads(paths[1], ("Miss from edgehook", "Hit from edgehook"))
    s, h, b = get(paths[2])
    assert h["x-cache"] == "Hit from edgehook"
    assert len(threads_seen) == 2, threads_seen  # both workers answered
    # by prefix
    st, body = edge.admin("POST", "/purge", {"prefix": "/count/p/*"})
    assert st == 200 and body["purged"] == 2, body
    for p in paths[:2]:
        s, h, b = get(p)
        assert h["x-cache"] == "Miss from edgehook", p
    # by exact URL (query normalised like the key: order does not matter)
    st, body = edge.admin("POST", "/purge", {"url": "/count/q/c?h=Cache-Tag:grp3,grp1&cc=max-age=600"})
    assert st == 200 and body["purged"] == 1, body
    s, h, b = get(paths[2])
    assert h["x-cache"] == "Miss from edgehook"
    # soft purge: marked stale, revalidated on the next request
    p = "/count/soft?cc=max-age=600&etag=v1"
    get(p)
    assert get(p)[1]["x-cache"] == "Hit from edgehook"
    st, body = edge.admin("POST", "/purge", {"url": "/count/soft?cc=max-age=600&etag=v1", "soft": True})
    assert st == 200 and body == {"purged": 1, "soft": True}, body
    s, h, b = get(p)
    assert h["x-cache"] == "RefreshHit from edgehook", h  # the origin said 304 to our If-None-Match
    assert count_of(b) == 1
    s, h, b = get(p)
    assert h["x-cache"] == "Hit from edgehook"
    # everything
    st, body = edge.admin("POST", "/purge", {"all": True})
    assert st == 200 and body["purged"] >= 3
    assert get(paths[1])[1]["x-cache"] == "Miss from edgehook"


@test
def stale_if_error_with_origin_down():
    o2 = Origin()
    e = Edge(config(o2.url), name="sie")
    try:
        p = "/count/sie?cc=max-age=1,stale-if-error=60"
        s, h, b = curl_status(e.url(p))
        assert s == 200 and count_of(b) == 1
        time.sleep(1.5)
        o2.stop()  # the origin is down now
        s, h, b2 = curl_status(e.url(p))
        assert s == 200 and b2 == b, (s, b2)
        assert "StaleIfError" in e.access_log(wait_for="StaleIfError")
        # without stale-if-error, the error comes through
        s, h, b = curl_status(e.url("/count/nosie?cc=max-age=60"))
        assert s == 502
        m = e.metrics()
        assert m["edgehook_cache_stale_served_total"] >= 1
    finally:
        assert e.stop() == 0
        e.assert_clean()
        o2.stop()


@test
def stale_if_error_on_origin_5xx():
    p = "/count/sie5?cc=max-age=1,stale-if-error=60&fail=1"
    s, h, b = get(p)
    assert s == 200 and count_of(b) == 1
    m0 = edge.metrics()
    time.sleep(2.2)  # a lower bound: the copy (max-age=1) is stale from then on, however late the next request comes
    s, h, b2 = get(p)  # the origin now answers 503
    assert s == 200 and b2 == b, (s, b2)
    assert origin.count("/count/sie5") == 2, origin.stats()  # it was asked, and failed
    assert edge.metrics()["edgehook_cache_stale_served_total"] - m0["edgehook_cache_stale_served_total"] == 1
    wait_until(lambda: "answered 503: serving the stale copy (stale-if-error)" in edge.log(), what="the stale-if-error log line")


@test
def stale_if_error_by_default():
    """cache.stale_if_error not configured: like CloudFront, a stored copy whose origin gave no stale-if-error is served when
    revalidating it fails (for a day by default); a behavior's stale_if_error: 0s turns that off and the error comes through"""
    p, q = "/count/siedef?cc=max-age=1&fail=1", "/siezero/count/siedef?cc=max-age=1&fail=1"
    s, h, b = get(p)
    assert s == 200 and count_of(b) == 1
    s, h, c = get(q)
    assert s == 200 and count_of(c) == 1
    time.sleep(2.2)  # a lower bound: both copies (max-age=1) are stale from then on, however late the next requests come
    s, h, b2 = get(p)  # the origin answers 503 now
    assert s == 200 and b2 == b, (s, b2)
    assert origin.count("/count/siedef") == 2, origin.stats()
    s, h, c2 = get(q)
    assert s == 503, (s, c2)
    assert origin.count("/siezero/count/siedef") == 2, origin.stats()


@test
def stale_while_revalidate_refreshes_exactly_once():
    # the refresh waits at the origin's gate; the refreshed copy says max-age=600 (cc2), so the checks after the release see it
    # fresh however slow the machine is. Staleness is waited for by polling: a hit of the fresh copy changes nothing
    p = "/count/swr?cc=max-age=1,stale-while-revalidate=600&cc2=max-age=600&gate=swr&gatefrom=2"
    s, h, b = get(p)
    assert count_of(b) == 1
    m0 = edge.metrics()
    wait_until(lambda: count_of(get(p)[2]) == 1 and origin.count("/count/swr") == 2, timeout=30,
               what="a stale hit to start the background refresh")
    results = []

    def client():
        results.append(get(p))
    threads = [threading.Thread(target=client) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r[0] == 200 and count_of(r[2]) == 1 for r in results), [r[2] for r in results]  # the stale copy, at once
    assert origin.count("/count/swr") == 2, origin.requests()  # exactly one refresh for the stale hits
    assert edge.metrics()["edgehook_cache_stale_served_total"] - m0["edgehook_cache_stale_served_total"] >= 11
    origin.release("swr")
    wait_until(lambda: count_of(get(p)[2]) == 2, timeout=20, what="the refreshed copy")
    s, h, b = get(p)
    assert count_of(b) == 2 and h["x-cache"] == "Hit from edgehook"
    assert origin.count("/count/swr") == 2, origin.requests()


@test
def stale_while_revalidate_after_a_failed_refresh():
    """the background refresh fails (the origin answers 503): the stale copy is still served, the refresh is tried again, and
    the second one replaces the copy. The failing refresh is held at a gate so that the test sees it in flight."""
    p = "/count/swrf?cc=max-age=1,stale-while-revalidate=600,stale-if-error=600&failonly=2&gate=swrf&gatefrom=2&cc2=max-age=600"
    s, h, b = get(p)
    assert s == 200 and count_of(b) == 1
    m0 = edge.metrics()
    log_at = len(edge.log())

    def refresh_started():
        if origin.count("/count/swrf") == 2:
            return True
        get(p)  # a hit of the fresh copy changes nothing; the first stale hit starts the refresh
        return False
    wait_until(refresh_started, timeout=30, what="a stale hit to start the background refresh")
    # the refresh is at the origin, held: the stale copy is served meanwhile, and no second refresh starts
    for _ in range(5):
        s, h, b2 = get(p)
        assert s == 200 and b2 == b and h["x-cache"] == "Hit from edgehook", (s, h, b2)
    assert origin.count("/count/swrf") == 2, origin.requests()
    origin.release("swrf")  # the origin now answers the refresh with 503
    wait_until(lambda: "answered 503: serving the stale copy (stale-if-error)" in edge.log()[log_at:], timeout=20,
               what="the failed refresh in the error log")
    # the next stale hits still get the stored copy, and one of them (a second after the failure at the earliest) tries again
    seen = []

    def refreshed():
        r = get(p)
        seen.append(r)
        return count_of(r[2]) == 3
    wait_until(refreshed, timeout=30, what="a second refresh after the failed one")
    assert all(r[0] == 200 and r[2] == b for r in seen[:-1]), [(r[0], r[2]) for r in seen[:-1]]
    assert origin.count("/count/swrf") == 3, origin.requests()
    s, h, b3 = get(p)
    assert count_of(b3) == 3 and h["x-cache"] == "Hit from edgehook", h
    m1 = edge.metrics()
    assert m1["edgehook_cache_stale_served_total"] - m0["edgehook_cache_stale_served_total"] >= 5 + len(seen) - 1, (m0, m1)
    assert origin.count("/count/swrf") == 3


@test
def revalidation_304_is_refresh_hit():
    # max-age=1 for the first copy; the 304 says max-age=600 (cc2), so the refreshed copy stays fresh for the last check
    p = "/count/reval?cc=max-age=1&etag=abc&cc2=max-age=600"
    s, h, b = get(p)
    assert h["x-cache"] == "Miss from edgehook" and h["etag"] == '"abc"'
    time.sleep(2.2)  # a lower bound: stale from then on (the origin's Date has one-second granularity)
    m0 = edge.metrics()
    s, h, b2 = get(p)
    assert s == 200 and h["x-cache"] == "RefreshHit from edgehook" and b2 == b
    assert origin.count("/count/reval") == 2  # one conditional request, answered 304
    m1 = edge.metrics()
    assert m1["edgehook_cache_revalidations_total"] > m0["edgehook_cache_revalidations_total"]
    assert m1["edgehook_cache_refresh_hits_total"] > m0["edgehook_cache_refresh_hits_total"]
    s, h, b3 = get(p)
    assert h["x-cache"] == "Hit from edgehook"
    assert origin.count("/count/reval") == 2


@test
def vary_keeps_variants_apart():
    p = "/count/vary?cc=max-age=60&h=Vary:Accept-Language"
    s, h, en = get(p, "-H", "Accept-Language: en")
    s, h, fr = get(p, "-H", "Accept-Language: fr")
    assert count_of(en) == 1 and count_of(fr) == 2
    s, h, en2 = get(p, "-H", "Accept-Language: en")
    s, h2, fr2 = get(p, "-H", "Accept-Language: fr")
    assert en2 == en and fr2 == fr and h2["x-cache"] == "Hit from edgehook"
    s, h, star = get("/count/vstar?cc=max-age=60&h=Vary:*")
    s, h, star2 = get("/count/vstar?cc=max-age=60&h=Vary:*")
    assert count_of(star2) == 2  # Vary: * never matches


@test
def vary_restarts_are_capped():
    """a request that waited for another's fetch restarts when the response is another variant (Vary); after three restarts it
    is answered 503 instead of queueing forever. Six clients with six Accept-Language values: the first leads fetch 1, the
    five others wait for it. Each fetch is held at the origin (gateeach) until the test releases it; after each, the waiters
    restart, one of them leads the next fetch and the rest wait again. After the 4th fetch the two still waiting have
    restarted four times: 503. Whatever order the waiters wake in, the counts are the same."""
    p = "/count/vcap?cc=max-age=600&h=Vary:Accept-Language&gateeach=vcap"
    out = {}
    lock = threading.Lock()

    def client(lang):
        c = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=120 * SLOW)
        c.request("GET", p, headers={"Accept-Language": lang})
        r = c.getresponse()
        data = r.read()
        c.close()
        with lock:
            out[lang] = (r.status, data)
    m0 = edge.metrics()
    threads = [threading.Thread(target=client, args=("l0",))]
    threads[0].start()
    wait_until(lambda: origin.count("/count/vcap") == 1, timeout=30, what="fetch 1 at the origin")
    for i in range(1, 6):
        threads.append(threading.Thread(target=client, args=("l%d" % i,)))
        threads[-1].start()
    wait_until(lambda: edge.metrics()["edgehook_cache_collapsed_total"] - m0["edgehook_cache_collapsed_total"] == 5, timeout=30,
               what="five requests waiting for fetch 1")
    collapsed = 5
    for k in range(1, 5):
        origin.release("vcap-%d" % k)
        if k < 4:
            # the waiters restarted: one leads fetch k+1 (at the origin, held), the others wait for it
            wait_until(lambda: origin.count("/count/vcap") == k + 1, timeout=30, what="fetch %d at the origin" % (k + 1))
            collapsed += 5 - k
            wait_until(lambda: edge.metrics()["edgehook_cache_collapsed_total"] - m0["edgehook_cache_collapsed_total"] == collapsed,
                       timeout=30, what="%d requests waiting for fetch %d" % (5 - k, k + 1))
    for t in threads:
        t.join(60 * SLOW)
    statuses = sorted(s for s, _ in out.values())
    assert statuses == [200, 200, 200, 200, 503, 503], out
    assert all(b"could not get a shareable response" in b for s, b in out.values() if s == 503), out
    assert origin.count("/count/vcap") == 4, origin.stats()  # no fifth fetch: the capped requests gave up
    # each of the four variants is stored: its viewer now hits
    for lang, (s, b) in out.items():
        if s == 200:
            s2, h2, b2 = get(p, "-H", "Accept-Language: " + lang)
            assert h2["x-cache"] == "Hit from edgehook" and b2 == b, (lang, h2)


@test
def head_client_conditionals_and_ranges_from_cache():
    p = "/count/cond?cc=max-age=60&etag=e1"
    s, h, b = get(p)
    n0 = origin.count("/count/cond")
    s, h, _ = curl_status("-I", "-o", "/dev/null", edge.url(p))
    assert s == 200 and h["x-cache"] == "Hit from edgehook" and h["content-length"] == str(len(b))
    s, h, body = get(p, "-H", 'If-None-Match: "e1"')
    assert s == 304 and body == b"" and h["x-cache"] == "Hit from edgehook"
    s, h, body = get(p, "-H", 'If-Match: "zzz"')
    assert s == 412
    s, h, body = get(p, "-H", "Range: bytes=2-5")
    assert s == 206 and body == b[2:6] and h["content-range"] == "bytes 2-5/%d" % len(b)
    s, h, body = get(p, "-H", "Range: bytes=0-1,4-5")
    assert s == 200 and body == b  # several ranges: the whole object
    s, h, body = get(p, "-H", "Range: bytes=9999-")
    assert s == 416 and h["content-range"] == "bytes */%d" % len(b)
    assert origin.count("/count/cond") == n0  # all answered from the cache


@test
def unsafe_method_invalidates():
    p = "/count/inv?cc=max-age=60"
    get(p)
    assert get(p)[1]["x-cache"] == "Hit from edgehook"
    s, h, b = get("/count/inv?cc=max-age=60", "-X", "POST", "-d", "x=1")
    assert s == 200 and h["x-cache"] == "Miss from edgehook"
    s, h, b = get(p)
    assert h["x-cache"] == "Miss from edgehook", "POST did not invalidate"


@test
def cdn_cache_control_overrides_and_is_forwarded():
    """CDN-Cache-Control replaces Cache-Control here and goes on downstream (RFC 9213 §3: for the CDN caches after this one),
    on the miss and on the hit; Surrogate-Control is consumed"""
    p = "/count/cdncc?cc=no-store&h=CDN-Cache-Control:max-age=60&h=Surrogate-Control:max-age=5"
    s, h, b = get(p)
    assert h["x-cache"] == "Miss from edgehook" and h.get("cdn-cache-control") == "max-age=60", h
    s, h, b = get(p)
    assert h["x-cache"] == "Hit from edgehook" and count_of(b) == 1
    assert h.get("cdn-cache-control") == "max-age=60" and "surrogate-control" not in h, h
    assert h["cache-control"] == "no-store"  # the client still sees the origin's Cache-Control


@test
def if_modified_since_without_last_modified_uses_date():
    """RFC 9111 §4.3.2: a stored response without Last-Modified answers If-Modified-Since by its Date: a date not before it
    gets a 304 from the cache, an earlier one the full response (a hit both times: the origin is asked once)"""
    p = "/count/ims-date?cc=max-age=600"
    s, h, b = get(p)
    assert s == 200 and "last-modified" not in h and "date" in h, h
    s, h, b = get(p, "-H", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT")
    assert s == 304 and b == b"" and h["x-cache"] == "Hit from edgehook", (s, h)
    s, h, b = get(p, "-H", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT")
    assert s == 200 and count_of(b) == 1 and h["x-cache"] == "Hit from edgehook", (s, h, b)
    assert origin.count("/count/ims-date") == 1


@test
def must_understand_overrides_no_store_for_a_known_status():
    """RFC 9111 §5.2.2.3: `no-store, must-understand` on a 200 (a status this cache implements) is stored; the same on a
    status it does not know (599) is not"""
    p = "/count/mu?cc=max-age=600,%20no-store,%20must-understand"
    get(p)
    s, h, b = get(p)
    assert h["x-cache"] == "Hit from edgehook" and count_of(b) == 1, (h, b)
    p = "/status/599?h=Cache-Control:max-age=600,%20no-store,%20must-understand"
    s1, h1, _ = get(p)
    s2, h2, _ = get(p)
    assert s1 == s2 == 599 and h2["x-cache"] == "Miss from edgehook", (s2, h2)
    assert origin.count("/status/599") == 2


@test
def vary_accept_language_is_normalised():
    """Vary: Accept-Language: requests that state the same preferences (case, spaces, order of equal weights) share one
    variant; other preferences are another"""
    p = "/count/lang?cc=max-age=600&h=Vary:Accept-Language"
    s, h, b = get(p, "-H", "Accept-Language: en, de")
    assert count_of(b) == 1
    for same in ("De,EN", " de ;q=1.0 ,  en"):
        s, h, b = get(p, "-H", "Accept-Language: " + same)
        assert h["x-cache"] == "Hit from edgehook" and count_of(b) == 1, (same, h, b)
    s, h, b = get(p, "-H", "Accept-Language: de, en;q=0.9")
    assert h["x-cache"] == "Miss from edgehook" and count_of(b) == 2, (h, b)
    assert origin.count("/count/lang") == 2


@test
def cdn_cache_control_invalid_is_ignored_whole():
    """RFC 9213 §2.1: a CDN-Cache-Control that is not a valid Structured Field is ignored, and the origin's Cache-Control
    applies (here no-store: not stored, the second request reaches the origin)"""
    p = "/count/cdncc-bad?cc=no-store&h=CDN-Cache-Control:max-age=10000,%20%26%26%26"
    get(p)
    s, h, b = get(p)
    assert h["x-cache"] == "Miss from edgehook" and count_of(b) == 2, (h, b)
    p = "/count/cdncc-good?cc=no-store&h=CDN-Cache-Control:max-age=10000"
    get(p)
    s, h, b = get(p)
    assert h["x-cache"] == "Hit from edgehook" and count_of(b) == 1, (h, b)


@test
def cache_key_policy_query_headers_cookies():
    a = get("/keyed/count/k?a=1&b=2&zz=9&cc=max-age=60")
    b = get("/keyed/count/k?b=2&a=1&zz=7&cc=max-age=60")  # sorted; zz and cc are not in the key
    assert a[1]["x-cache"] == "Miss from edgehook" and b[1]["x-cache"] == "Hit from edgehook", b[1]
    c = get("/keyed/count/k?b=2&a=1&cc=max-age=60", "-H", "X-Variant: v2")
    assert c[1]["x-cache"] == "Miss from edgehook"
    d = get("/keyed/count/k?a=1&b=2&cc=max-age=60", "-b", "session=s1; other=x")
    e = get("/keyed/count/k?a=1&b=2&cc=max-age=60", "-b", "other=y; session=s1")
    assert d[1]["x-cache"] == "Miss from edgehook" and e[1]["x-cache"] == "Hit from edgehook"
    get("/noquery/count/n?x=1&cc=max-age=60")
    f = get("/noquery/count/n?x=2&cc=max-age=60")
    assert f[1]["x-cache"] == "Hit from edgehook"


@test
def ttl_rules_default_min_max():
    # default_ttl applies only when the origin gives no freshness
    s, h, b = get("/ttl/count/none")
    s, h, b = get("/ttl/count/none")
    assert h["x-cache"] == "Hit from edgehook"
    # min_ttl 30s raises max-age=1 to 30 s: after 2.2 s (a lower bound; the origin's Date has one-second granularity) the copy
    # is past its max-age, and 27 s of margin remain before min_ttl ends
    get("/ttl/count/min?cc=max-age=1")
    time.sleep(2.2)
    s, h, b = get("/ttl/count/min?cc=max-age=1")
    assert h["x-cache"] == "Hit from edgehook" and count_of(b) == 1
    # cache: off passes everything
    get("/nocache/count/x?cc=max-age=60")
    s, h, b = get("/nocache/count/x?cc=max-age=60")
    assert count_of(b) == 2


@test
def errors_without_freshness_are_cached_for_error_ttl():
    # the default behavior: a 404 without Cache-Control is reused for error_ttl's default, 10 s (CloudFront)
    s1, h1, b1 = get("/status/404?x=default")
    s2, h2, b2 = get("/status/404?x=default")
    assert s1 == s2 == 404 and h2["x-cache"] == "Hit from edgehook" and b2 == b1, (h1, h2, b1, b2)
    assert int(h2["age"]) < 10
    # error_ttl: 4s (not the behavior's default_ttl of 1h): the second request hits; once error_ttl has passed, a request goes
    # to the origin. No fixed sleeps: the origin's Date has one-second granularity, so the expiry is waited for (a poll that
    # hits changes nothing), with several seconds of margin on both sides
    s1, h1, b1 = get("/errttl/status/404")
    get("/errttl/status/404?cc=max-age=60")  # a 404 with its own max-age keeps it
    s2, h2, b2 = get("/errttl/status/404")
    assert h2["x-cache"] == "Hit from edgehook" and b2 == b1, (h2, b1, b2)
    seen = []

    def expired():
        r = get("/errttl/status/404")
        seen.append(r)
        return r[1]["x-cache"] == "Miss from edgehook"
    wait_until(expired, timeout=30, what="the 404 to expire after error_ttl")
    s3, h3, b3 = seen[-1]
    assert s3 == 404 and b3 != b1, (h3, b1, b3)
    assert all(r[2] == b1 for r in seen[:-1])  # until then, hits of the first answer
    s, h, b = get("/errttl/status/404?cc=max-age=60")
    assert h["x-cache"] == "Hit from edgehook", h
    get("/status/500?x=e")
    s, h, b = get("/status/500?x=e")
    assert s == 500 and h["x-cache"] != "Hit from edgehook" and b"count 2" in b, (h, b)


@test
def object_larger_than_max_is_streamed_not_stored():
    n = 40 * 1024 * 1024  # max_object_size is 32MB
    for i in range(2):
        rc, out, err = curl(edge.url("/size/%d?cc=max-age=60" % n))
        assert rc == 0 and len(out) == n and hashlib.sha256(out).hexdigest() == body_sha256(n)
    assert origin.count("/size/%d" % n) == 2
    # the same through chunked encoding (size unknown until it exceeds the bound)
    for i in range(2):
        rc, out, err = curl(edge.url("/size/%d?cc=max-age=60&chunked=1" % n))
        assert rc == 0 and len(out) == n


if __name__ == "__main__":
    try:
        run()
    finally:
        rc = edge.stop()
        edge.assert_clean()
        origin.stop()
        if rc != 0:
            sys.exit(1)
