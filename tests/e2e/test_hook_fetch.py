"""End-to-end: edge.fetch and edge.fetch_all from Lua hooks through the real proxy, against real origin processes
(tests/e2e/lib/origin.py): an answer of any status, a timeout, a denied host, an answer over the size cap, an origin that is
down, parallel fetches, a configured origin allowed by its name, the worker serving other requests while a fetch waits, a call
that moves to an offload thread and fetches (it runs once), the metrics, and the SPA-404 example (examples/hooks/lua/spa_fallback.lua).
"""
import hashlib
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import retry_port_taken, BUILD, SLOW, SRC, Edge, free_port, notsan, run, test, metric, wait_until  # noqa: E402
from origin import Origin, body as origin_body  # noqa: E402

TH = os.path.join(SRC, "tests", "hooks")
LUA = os.path.join(SRC, "examples", "hooks", "lua")
TOKEN = "hook-fetch-admin-token"
PLUGINS = os.path.join(BUILD, "tests", "hooks")

origin = Origin()
other = Origin()  # a second origin the hooks may not reach (not in fetch_allow)
CLOSED = free_port()  # nothing listens there: an origin that is down
O = origin.url


def config():
    return """
threads: 1
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: json}
origins:
  web: {type: http, url: "%(origin)s"}
hooks:
  fetch: {lua: %(th)s/fetch.lua, fetch_allow: ["127.0.0.1:%(port)d", "127.0.0.1:%(closed)d"]}
  byname: {lua: %(th)s/fetch.lua, fetch_allow: [web]}
  none: {lua: %(th)s/fetch.lua}
  once: {lua: %(th)s/fetch_once.lua, fetch_allow: [web], config: {url: "%(origin)s"}}
  spa: {lua: %(lua)s/spa_fallback.lua, fetch_allow: [web], config: {index_url: "%(origin)s/size/300"}}
  cfetch: {native: %(plugins)s/libfetch_plugin.so, fetch_allow: [web], config: {origin: "%(origin)s", denied: "%(other)s/size/1"}}
behaviors:
  - {path: "/f/*", origin: web, cache: off, hooks: {viewer-request: fetch}}
  - {path: "/byname/*", origin: web, cache: off, hooks: {viewer-request: byname}}
  - {path: "/none/*", origin: web, cache: off, hooks: {viewer-request: none}}
  - {path: "/once/*", origin: web, cache: off, hooks: {viewer-request: once}}
  - {path: "/app/*", origin: web, cache: off, hooks: {origin-response: spa}}
  - {path: "/ofetch/*", origin: web, origin_request: {headers: [X-Fetch-All]}, hooks: {origin-request: fetch}}
  - {path: "/c/*", origin: web, cache: off, hooks: {viewer-request: cfetch}}
  - {path: "*", origin: web, cache: off}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %(token)s
""" % {"origin": O, "th": TH, "lua": LUA, "port": origin.port, "closed": CLOSED, "token": TOKEN,
       "plugins": PLUGINS, "other": other.url}


edge = retry_port_taken(lambda: Edge(config(), name="fetch"))


def get(path, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=timeout * SLOW)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def fetch(url, path="/f/x", **headers):
    h = {"X-Fetch-Url": url}
    h.update({"X-Fetch-" + k.capitalize(): str(v) for k, v in headers.items()})
    st, _, body = get(path, h)
    assert st == 200, (st, body)
    return json.loads(body)


def fetches(result):
    m = edge.metrics_text()
    return (metric(m, "edgehook_hook_fetches_total", hook="fetch@1", result=result) or 0)


@test
def fetch_200_with_headers_and_body():
    ok0 = fetches("ok")
    n0 = origin.count("/status/200")
    out = fetch(O + "/status/200?h=X-Test:yes")
    assert out["results"][0]["status"] == 200 and out["results"][0]["x_test"] == "yes", out
    out = fetch(O + "/size/5000")
    assert out["results"][0]["status"] == 200 and out["results"][0]["len"] == 5000, out
    assert out["results"][0]["sha"] == hashlib.sha256(origin_body(5000)).hexdigest(), out
    assert origin.count("/status/200") == n0 + 1
    # the request the origin saw: the hook's header, the method and body it gave
    out = fetch(O + "/echo", method="POST", body="hello")
    echo = json.loads(out["results"][0]["echo"])
    assert echo["method"] == "POST" and ["x-from-hook", "yes"] in [[k.lower(), v] for k, v in echo["headers"]], echo
    assert echo["body_sha256"] == hashlib.sha256(b"hello").hexdigest(), echo
    assert fetches("ok") == ok0 + 3


@test
def fetch_404_is_an_answer():
    out = fetch(O + "/status/404", path="/f/logged404")
    assert out["results"][0]["status"] == 404 and "err" not in out["results"][0], out
    # the access log's hooks field lists the fetches of the call (here one, and one of three failing with fetch_all)
    assert '"hooks":"vreq:fetch@1[fetch=1,failed=0]"' in edge.access_log(wait_for="/f/logged404"), edge.out()[-2000:]
    get("/f/logged3", {"X-Fetch-All": " ".join([O + "/size/1", O + "/size/2", other.url + "/size/3"])})
    assert '"hooks":"vreq:fetch@1[fetch=3,failed=1]"' in edge.access_log(wait_for="/f/logged3"), edge.out()[-2000:]


@test
def fetch_timeout():
    err0 = fetches("error")
    n0 = origin.count("/stall")
    out = fetch(O + "/stall", timeout=300)
    assert "timed out" in out["results"][0]["err"], out
    assert origin.count("/stall") == n0 + 1  # it went out
    assert fetches("error") == err0 + 1


@test
def fetch_denied():
    n0 = other.count("/size/10")
    out = fetch(other.url + "/size/10")
    assert "denied" in out["results"][0]["err"] and "fetch_allow" in out["results"][0]["err"], out
    # a hook without fetch_allow reaches nothing, not even its own origin
    st, _, body = get("/none/x", {"X-Fetch-Url": O + "/size/10"})
    assert st == 200 and "denied" in json.loads(body)["results"][0]["err"], body
    out = fetch("file:///etc/passwd")
    assert "not an http" in out["results"][0]["err"], out
    assert other.count("/size/10") == n0  # nothing went out


@test
def fetch_too_large():
    out = fetch(O + "/size/2000000")
    assert "too large" in out["results"][0]["err"], out
    out = fetch(O + "/size/2000000?chunked=1")  # no Content-Length: stopped while the body comes
    assert "too large" in out["results"][0]["err"], out


@test
def fetch_origin_down():
    out = fetch("http://127.0.0.1:%d/x" % CLOSED)
    assert out["results"][0].get("err") and "status" not in out["results"][0], out


@test
def fetch_all_in_parallel():
    urls = [O + "/size/100", O + "/status/404", other.url + "/size/1", O + "/size/7"]
    st, _, body = get("/f/all", {"X-Fetch-All": " ".join(urls)})
    out = json.loads(body)
    assert out["results"][0]["status"] == 200 and out["results"][0]["len"] == 100, out
    assert out["results"][1]["status"] == 404, out
    assert "denied" in out["results"][2]["err"], out
    assert out["results"][3]["status"] == 200 and out["results"][3]["len"] == 7, out
    # in parallel: three gated requests are all at the origin at once before any is answered
    paths = ["/count/parA?gateeach=pa", "/count/parB?gateeach=pb", "/count/parC?gateeach=pc"]
    box = {}

    def call():
        box["r"] = get("/f/gated", {"X-Fetch-All": " ".join(O + p for p in paths)})
    t = threading.Thread(target=call)
    t.start()
    wait_until(lambda: all(origin.count(p.split("?")[0]) == 1 for p in paths), timeout=10, what="the three fetches at the origin")
    for g in ("pa-1", "pb-1", "pc-1"):
        origin_release(g)
    t.join(30 * SLOW)
    out = json.loads(box["r"][2])
    assert [out["results"][i]["status"] for i in (0, 1, 2)] == [200, 200, 200], out


def origin_release(name):
    import urllib.request
    with urllib.request.urlopen(O + "/_release?gate=" + name, timeout=10) as r:
        r.read()


@test
def configured_origin_allowed_by_name():
    st, _, body = get("/byname/x", {"X-Fetch-Url": O + "/size/11"})
    out = json.loads(body)
    assert st == 200 and out["results"][0]["status"] == 200 and out["results"][0]["len"] == 11, out
    st, _, body = get("/byname/x", {"X-Fetch-Url": other.url + "/size/11"})
    assert "denied" in json.loads(body)["results"][0]["err"], body


@test
def the_worker_serves_others_while_a_fetch_waits():
    """threads: 1 - a hook waits 3 s for a stalled fetch; the same worker answers other requests meanwhile (counted)"""
    n0 = origin.count("/stall")
    box = {}

    def call():
        box["out"] = fetch(O + "/stall", timeout=3000)
        box["at"] = time.time()
    t = threading.Thread(target=call)
    t.start()
    wait_until(lambda: origin.count("/stall") == n0 + 1, timeout=10, what="the fetch at the origin")
    done = []
    while t.is_alive():
        st, _, _ = get("/size/100")
        assert st == 200
        done.append(time.time())
    t.join()
    assert "timed out" in box["out"]["results"][0]["err"], box
    during = [x for x in done if x < box["at"]]
    print("  while the fetch waited: %d requests answered" % len(during))
    assert len(during) >= 3, len(during)


@test
def a_request_that_ends_while_its_hook_waits():
    """the client goes away (HTTP/2, curl's --max-time) while the hook waits 20 s for a stalled fetch: the fetch fails at once
    ("the request ended") and the hook runs to its end on an offload thread (counted: an invocation), rather than being freed
    mid-flight, long before the fetch's own timeout; the worker goes on serving"""
    from edgetest import curl_status
    m = edge.metrics_text()
    calls0 = metric(m, "edgehook_hook_invocations_total", hook="fetch@1") or 0
    err0 = metric(m, "edgehook_hook_fetches_total", hook="fetch@1", result="error") or 0
    n0 = origin.count("/stall")
    box = {}

    def call():
        try:
            box["r"] = curl_status("--http2-prior-knowledge", "-m", "2", "-H", "X-Fetch-Url: %s/stall" % O, "-H",
                                   "X-Fetch-Timeout: 20000", edge.url("/f/abort"))
        except Exception as e:  # curl gives up after 2 s: that is the point
            box["r"] = e
    t = threading.Thread(target=call)
    t.start()
    wait_until(lambda: origin.count("/stall") == n0 + 1, timeout=10, what="the fetch at the origin")
    t.join(30)
    wait_until(lambda: (edge.metric("edgehook_hook_invocations_total", hook="fetch@1") or 0) == calls0 + 1, timeout=10,
               what="the hook's call to end")
    assert (edge.metric("edgehook_hook_fetches_total", hook="fetch@1", result="error") or 0) == err0 + 1
    st, _, _ = get("/size/10")
    assert st == 200


@test
@notsan("the move of a compiled loop is made by a signal that ThreadSanitizer holds back while the loop runs")
def a_call_that_moves_and_fetches_runs_once():
    at = len(edge.log())
    m = edge.metrics_text()
    moved0 = metric(m, "edgehook_hook_moved_total", hook="once@1") or 0
    st, _, body = get("/once/one")
    assert st == 200 and body == b"a=10 b=20", (st, body)
    assert edge.log()[at:].count("fetch_once.lua: started /once/one\n") == 1, edge.log()[at:]
    # it moved off the worker past its budget (once before each fetch), parked, and went on; a starved machine may move its
    # short tail too (a move is a matter of wall time), so at least twice - and still one start, above
    assert (metric(edge.metrics_text(), "edgehook_hook_moved_total", hook="once@1") or 0) - moved0 >= 2


@test
def c_plugin_fetches():
    """ABI 1.2: host->fetch twice in parallel, host->fetch_wait, a completion callback each; the denied one gets EDGE_E_DENIED
    (-3) and the call goes on; thread_init gave the worker thread its state"""
    n0 = origin.count("/size/33")
    st, _, body = get("/c/x/33")
    assert st == 200 and body == b"status=200 len=33 denied=-3 thread=1", (st, body)
    assert origin.count("/size/33") == n0 + 1
    assert (metric(edge.metrics_text(), "edgehook_hook_fetches_total", hook="cfetch@1", result="error") or 0) >= 1


@test
def spa_404_example():
    # a route the origin does not know: the app's index.html (here /size/300 of the origin) with 200
    st, h, body = get("/app/status/404")
    assert st == 200 and body == origin_body(300) and h["content-type"].startswith("text/html"), (st, h, body[:80])
    st, h, body = get("/app/status/200")  # a file the origin has: untouched
    assert st == 200 and body.startswith(b"status 200 count"), (st, body[:80])
    # the access log lists the origin-response hook's fetch (it runs in the fill; the request that started it logs it)
    assert '"hooks":"ores:spa@1[fetch=1,failed=0]"' in edge.access_log(wait_for="/app/status/404"), edge.out()[-2000:]


@test
def origin_request_fetches_are_in_the_access_log():
    # an origin-request hook runs in the fill: its fetches go into its entry of the hook list of the request that started it
    get("/ofetch/one", {"X-Fetch-All": " ".join([O + "/size/1", other.url + "/size/3"])})
    assert '"hooks":"oreq:fetch@1[fetch=2,failed=1]"' in edge.access_log(wait_for="/ofetch/one"), edge.out()[-2000:]


if __name__ == "__main__":
    try:
        run()
    finally:
        edge.stop()
        origin.stop()
        other.stop()
