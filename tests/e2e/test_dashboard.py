"""End-to-end: the admin listener's web dashboard (proxy/dashboard.c, proxy/dashboard/).

Without a token (raw HTTP, no browser): `/` is the login page and nothing else, every data endpoint and every form's call is
401 (and changes nothing), the security headers are on every dashboard answer, the markup has no inline script or style, the
assets carry their ETag (304 on If-None-Match), the path tricks of a raw request reach no data.

In a browser (Debian's chromium, headless, driven by puppeteer-core from tests/package.json): a wrong token is refused; with
the right one the request counter rises while the test sends traffic; a URL purged from the form (after its confirmation step)
misses on the next request (the origin's answer changed, its request count and the proxy's miss counter grew); a canary weight
moved from the form changes the split shown in the page and the versions real viewers get. Screenshots of each step go to
dashboard-screenshots/ in the ctest working directory (the build folder).
"""
# ctest-timeout: 1500
import collections
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, SLOW, curl_status, run, test, version_hook, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TOKEN = "dashboard-test-token-3f9a"
TMP = tempfile.mkdtemp(prefix="e2e-dashboard-")


def hook_file(name, version):
    return version_hook(TMP, name, version)


TAG = hook_file("tag.lua", "1")
TAG_V2 = hook_file("tag_v2.lua", "2")
origin = Origin()
edge = Edge("""
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: combined}
origins:
  web: {type: http, url: "%s"}
hooks:
  tag: {lua: %s}
behaviors:
  - {path: "*", origin: web, hooks: {viewer-response: tag}}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
""" % (origin.url, TAG, TOKEN))
ADMIN = edge.url("", kind="admin")


def get(path, headers=None, method="GET", body=None, kind="main"):
    """(status, headers lowercased, body bytes) of one request on its own connection"""
    c = http.client.HTTPConnection("127.0.0.1", edge.ports[kind], timeout=60 * SLOW)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def admin_get(path, token=TOKEN, headers=None, method="GET", body=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    return get(path, h, method, body, kind="admin")


def stats():
    st, _, body = admin_get("/dashboard/stats")
    assert st == 200, (st, body)
    return json.loads(body)


def raw(request):
    """a raw HTTP/1.1 request on the admin listener: the status line and the rest"""
    s = socket.create_connection(("127.0.0.1", edge.ports["admin"]), timeout=60 * SLOW)
    try:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode("latin-1")
    finally:
        s.close()


def check_security_headers(h, what, cache_control="no-store"):
    csp = h.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in (x.strip() for x in csp.split(";")) if d}
    assert directives.get("default-src") == ["'none'"], (what, csp)
    assert directives.get("script-src") == ["'self'"], (what, csp)  # no inline script, no eval, no other origin
    assert directives.get("style-src") == ["'self'"], (what, csp)
    assert directives.get("frame-ancestors") == ["'none'"], (what, csp)
    assert "unsafe" not in csp, (what, csp)
    assert h.get("x-frame-options") == "DENY", (what, h)
    assert h.get("x-content-type-options") == "nosniff", (what, h)
    assert h.get("referrer-policy") == "no-referrer", (what, h)
    assert h.get("cache-control") == cache_control, (what, h)


def check_markup(html, what):
    """no inline script, event handler attribute, style attribute or javascript: URL; scripts and styles only our own files"""
    assert not re.search(r"<script(?![^>]*\bsrc=)", html, re.I), what
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), what
    assert not re.search(r"\sstyle\s*=", html, re.I), what
    assert not re.search(r"<style", html, re.I), what
    assert "javascript:" not in html.lower(), what
    for url in re.findall(r"""(?:src|href)=["']([^"']+)""", html):
        assert url.startswith("/dashboard/"), (what, url)


@test
def unauthenticated_login_page_only_and_every_data_call_refused():
    # `/`: the login page, with the page's security headers, and nothing of the dashboard's data or markup
    st, h, body = get("/", kind="admin")
    page = body.decode()
    assert st == 200 and h["content-type"] == "text/html; charset=utf-8", (st, h)
    check_security_headers(h, "/")
    assert 'id="login-form"' in page and 'type="password"' in page, page
    for inside in ("stat-requests", "purge-form", "alias-form", "behaviors", TOKEN):
        assert inside not in page, inside
    check_markup(page, "/")
    etag = h["etag"]
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag), etag
    st, h2, body = get("/", {"If-None-Match": etag}, kind="admin")
    assert st == 304 and body == b"" and h2["etag"] == etag, (st, h2)

    # the CSS and the JS: public (no data in them), their own types, revalidated by ETag
    for path, ctype in (("/dashboard/app.js", "text/javascript; charset=utf-8"), ("/dashboard/app.css", "text/css; charset=utf-8")):
        st, h, body = get(path, kind="admin")
        assert st == 200 and h["content-type"] == ctype and len(body) > 1000, (path, st, h)
        check_security_headers(h, path, cache_control="no-cache")
        st, h2, body2 = get(path, {"If-None-Match": h["etag"]}, kind="admin")
        assert st == 304 and body2 == b"", (path, st)
        st, _, body3 = get(path, {"If-None-Match": '"0000000000000000"'}, kind="admin")
        assert st == 200 and body3 == body, path
    _, _, js = get("/dashboard/app.js", kind="admin")
    assert b"eval(" not in js and b"new Function" not in js and b"innerHTML" in js  # innerHTML only for the fetched panel
    assert js.count(b"innerHTML") == 1

    # every data endpoint: 401 without a token, with a wrong one, with the token anywhere but the Authorization header
    cached = "/count/unauth?cc=max-age=600"
    assert get(cached)[0] == 200 and get(cached)[1]["x-cache"] == "Hit from edgehook"
    before = origin.count("/count/unauth")
    hooks_before = json.loads(admin_get("/hooks")[2])["hooks"]["tag"]["aliases"]["live"]
    calls = [("GET", "/dashboard/panel.html", None), ("GET", "/dashboard/stats", None), ("GET", "/metrics", None),
             ("GET", "/hooks", None), ("POST", "/purge", json.dumps({"url": cached})), ("POST", "/purge", '{"all": true}'),
             ("PUT", "/hooks/tag/aliases/live", json.dumps({"versions": {"1": 1}, "key": "ip"})), ("POST", "/reload", None)]
    for method, path, body in calls:
        for headers in ({}, {"Authorization": "Bearer wrong-" + TOKEN}, {"Authorization": "Bearer " + TOKEN[:-1]},
                        {"Cookie": "token=" + TOKEN}, {"Authorization": "Basic " + TOKEN}):
            st, h, answer = get(path, dict(headers, **({"Content-Type": "application/json"} if body else {})), method, body,
                                kind="admin")
            assert st == 401, (method, path, headers, st, answer)
            assert TOKEN.encode() not in answer and b"stat-requests" not in answer, (method, path)
        st, _, _ = get(path + "?token=" + TOKEN, {}, method, body, kind="admin")
        assert st == 401, (method, path, "query")
    # the refused purges and alias move changed nothing
    st, h, _ = get(cached)
    assert h["x-cache"] == "Hit from edgehook" and origin.count("/count/unauth") == before
    assert json.loads(admin_get("/hooks")[2])["hooks"]["tag"]["aliases"]["live"] == hooks_before

    # raw requests: path tricks normalise to the protected paths; other methods on the page are refused
    for target in (b"/dashboard/%2e%2e/dashboard/stats", b"/x/../dashboard/stats", b"//dashboard/stats", b"/dashboard/./panel.html",
                   b"/dashboard/%70anel.html"):
        head = raw(b"GET " + target + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert head.startswith("HTTP/1.1 401") or head.startswith("HTTP/1.1 404") or head.startswith("HTTP/1.1 400"), (target, head)
        assert "stat-requests" not in head and '"requests"' not in head, target
    head = raw(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\ntoken")
    assert head.startswith("HTTP/1.1 405") and "allow: get" in head.lower(), head
    head = raw(b"GET /index.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert head.startswith("HTTP/1.1 401"), head  # not a dashboard file: the admin API's answer without a token

    # with the token: the panel (its markup clean too) and the stats, with the same headers
    st, h, body = admin_get("/dashboard/panel.html")
    assert st == 200 and h["content-type"] == "text/html; charset=utf-8" and b'id="purge-form"' in body, (st, h)
    check_security_headers(h, "panel.html")
    check_markup(body.decode(), "panel.html")
    st, h, body = admin_get("/dashboard/stats")
    assert st == 200 and h["content-type"] == "application/json", (st, h)
    check_security_headers(h, "stats")
    s = json.loads(body)
    for key in ("requests", "bytes_sent", "counters", "origins", "behaviors", "hook_versions", "aliases", "generation"):
        assert key in s, key
    assert [o["name"] for o in s["origins"]] == ["web"] and s["origins"][0]["heads"] >= 1, s["origins"]
    assert s["behaviors"][0]["path"] == "*" and "tag" in s["behaviors"][0]["hooks"]["viewer-response"], s["behaviors"]


@test
def stats_count_what_the_proxy_answered():
    """the JSON the page samples: its counters are the proxy's (/metrics), the alias picks count the requests per version"""
    s0 = stats()
    picks0 = {v["version"]: v["picks"] for a in s0["aliases"] if a["alias"] == "live" for v in a["versions"]}
    for i in range(20):
        st, h, _ = get("/count/stats-%d?cc=max-age=600" % (i % 4))
        assert st == 200 and h["x-version"] == "1"
    # a request is counted once its response has ended, which may be just after the client read it: wait for the 20
    box = []
    wait_until(lambda: box.append(stats()) or (box[-1]["requests"] - s0["requests"] >= 20 and
                                              box[-1]["requests_by_class"]["2xx"] - s0["requests_by_class"]["2xx"] >= 20),
               30, "the 20 requests counted")
    s1 = box[-1]
    assert s1["counters"]["misses"] - s0["counters"]["misses"] == 4 and s1["counters"]["hits"] - s0["counters"]["hits"] >= 16
    live = [a for a in s1["aliases"] if a["hook"] == "tag" and a["alias"] == "live"]
    assert len(live) == 1 and live[0]["key"] == "ip", s1["aliases"]
    assert live[0]["versions"][0]["version"] == 1 and live[0]["versions"][0]["picks"] - picks0.get(1, 0) == 20, live
    web = s1["origins"][0]
    assert web["heads"] - s0["origins"][0]["heads"] == 4 and web["head_us"] > s0["origins"][0]["head_us"], web
    m = edge.metrics()
    assert m['edgehook_hook_alias_requests_total{hook="tag",alias="live",version="1"}'] == live[0]["versions"][0]["picks"]
    assert m['edgehook_origin_first_byte_seconds_count{origin="web"}'] == web["heads"]
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=edge.metrics_text().encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), (p.stdout, p.stderr)


class Viewers(threading.Thread):
    """viewers (a new x-viewer id each request, the alias's sticky key) asking while the browser acts: which versions answered
    the requests that started after the last reset()"""

    def __init__(self):
        super().__init__(daemon=True)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.epoch = 0
        self.seen = collections.Counter()
        self.errors = []

    def reset(self):
        with self.lock:
            self.epoch += 1
            self.seen = collections.Counter()

    def counts(self):
        with self.lock:
            return dict(self.seen)

    def run(self):
        i = 0
        while not self.stopped.is_set():
            with self.lock:
                epoch = self.epoch
            i += 1
            try:
                st, h, _ = get("/count/canary?cc=max-age=600", {"x-viewer": "viewer-%d" % i})
            except OSError as e:
                self.errors.append(repr(e))
                continue
            with self.lock:
                if epoch == self.epoch:
                    self.seen[h.get("x-version") if st == 200 else "status %d" % st] += 1
            self.stopped.wait(0.02)  # pacing only: a viewer every 20 ms or so, nothing waits on it

    def stop(self):
        self.stopped.set()
        self.join(120)


def dom_text(selector):
    return "(document.querySelector(%s) || {}).textContent" % json.dumps(selector)


def share_expr(version):
    return dom_text('.alias[data-alias="tag@live"] .share[data-version="%d"]' % version)


@test
def browser_login_counter_purge_and_canary():
    from browser import Browser
    b = Browser()
    viewers = None
    try:
        print("browser: %s; screenshots in %s" % (b.version, os.path.abspath("dashboard-screenshots")), flush=True)
        b.goto(ADMIN + "/")
        b.wait("document.querySelector('#login-form') && !document.querySelector('#login').hidden")
        assert b.eval("document.querySelector('#app').hidden && document.querySelector('#app').children.length === 0")
        b.screenshot("01-login.png")

        # a wrong token: refused, nothing of the dashboard shows, nothing is kept
        b.type("#token", "not-" + TOKEN)
        b.click("#login-button")
        b.wait(dom_text("#login-error") + ".includes('refused')")
        assert b.eval("document.querySelector('#app').hidden && sessionStorage.length === 0")
        b.screenshot("02-wrong-token.png")

        # the right one: the dashboard, fed by /dashboard/stats
        b.type("#token", TOKEN)
        b.click("#login-button")
        b.wait("/^[0-9]+$/.test(%s || '')" % dom_text("#stat-requests"))
        assert b.eval("sessionStorage.getItem('edgehook.admin-token')") == TOKEN
        assert b.eval("document.cookie") == ""  # the token is in this tab's session storage, never in a cookie

        # the request counter rises while the test sends traffic
        n0 = int(b.text("#stat-requests"))
        for i in range(30):
            assert get("/count/rise-%d?cc=max-age=600" % (i % 3))[0] == 200
        b.wait("+%s >= %d" % (dom_text("#stat-requests"), n0 + 30))
        b.wait(dom_text("#stat-rps") + " !== '–' && " + dom_text("#legend-rps") + ".includes('all')")
        b.wait(dom_text("#origins") + ".includes('web') && " + dom_text("#hook-versions") + ".includes('tag@1')")
        b.screenshot("03-dashboard.png")

        # purge a URL from the form: nothing happens before the confirmation; after it the next request misses
        url = "/count/purge-me?cc=max-age=600"
        st, h, first = get(url)
        st2, h2, again = get(url)
        assert h2["x-cache"] == "Hit from edgehook" and again == first and origin.count("/count/purge-me") == 1
        b.select("#purge-kind", "url")
        b.type("#purge-value", url)
        b.click("#purge-go")
        b.wait("!document.querySelector('#purge-confirm').hidden")
        assert url in b.text("#purge-confirm-text")
        b.screenshot("04-purge-confirm.png")
        assert get(url)[1]["x-cache"] == "Hit from edgehook" and origin.count("/count/purge-me") == 1  # not yet
        b.click("#purge-no")
        b.wait(dom_text("#purge-result") + " === 'Cancelled.'")
        assert get(url)[1]["x-cache"] == "Hit from edgehook" and origin.count("/count/purge-me") == 1
        misses = edge.metric("edgehook_cache_misses_total")
        b.click("#purge-go")
        b.wait("!document.querySelector('#purge-confirm').hidden")
        b.click("#purge-yes")
        b.wait(dom_text("#purge-result") + ".startsWith('Purged 1 object')")
        b.screenshot("05-purged.png")
        st, h, after = get(url)
        assert st == 200 and h["x-cache"] == "Miss from edgehook", h
        assert after != first and b"count=2" in after and origin.count("/count/purge-me") == 2, (first, after)
        wait_until(lambda: edge.metric("edgehook_cache_misses_total") >= misses + 1, 30, "the miss counted")
        assert edge.metric("edgehook_cache_misses_total") == misses + 1

        # the canary: version 2 published, live still all version 1; moved to 50/50 from the form
        st, pub = edge.admin("POST", "/hooks/tag/versions", {"path": TAG_V2})
        assert st == 201 and pub["version"] == 2, (st, pub)
        viewers = Viewers()
        viewers.start()
        wait_until(lambda: viewers.counts().get("1", 0) >= 10, 120, "viewers answered by version 1")
        assert set(viewers.counts()) == {"1"}, viewers.counts()
        b.wait(share_expr(1) + " === '100%'")
        # the form's hook list comes from GET /hooks, read again when the generation changes
        b.wait("[...document.querySelectorAll('#alias-hook option')].some(o => o.value === 'tag')")
        b.select("#alias-hook", "tag")
        b.type("#alias-name", "live")
        b.type("#alias-v1", "1")
        b.type("#alias-w1", "50")
        b.type("#alias-v2", "2")
        b.type("#alias-w2", "50")
        b.type("#alias-key", "header:x-viewer")
        b.click("#alias-go")
        b.wait("!document.querySelector('#alias-confirm').hidden")
        assert "v1 50% / v2 50%" in b.text("#alias-confirm-text"), b.text("#alias-confirm-text")
        b.screenshot("06-canary-confirm.png")
        assert edge.admin("GET", "/hooks")[1]["hooks"]["tag"]["aliases"]["live"]["versions"] == {"1": 1}  # not before Confirm
        b.click("#alias-yes")
        b.wait(dom_text("#alias-result") + ".startsWith('Moved tag@live')")
        viewers.reset()
        live = edge.admin("GET", "/hooks")[1]["hooks"]["tag"]["aliases"]["live"]
        assert live["versions"] == {"1": 0.5, "2": 0.5} and live["key"] == "header:x-viewer", live
        # the page: both versions answer a share of live's requests, at weights of 50 %
        b.wait(" && ".join(["/^[0-9.]+%%$/.test(%s || '') && %s !== '0%%'" % (share_expr(v), share_expr(v)) for v in (1, 2)]))
        assert b.text('.alias[data-alias="tag@live"] .weight[data-version="2"]') == "50%"
        b.wait(dom_text("#legend-canary") + ".includes('tag@live v2')")
        b.screenshot("07-canary-split.png")
        # real traffic: viewers get both versions
        wait_until(lambda: viewers.counts().get("1", 0) >= 5 and viewers.counts().get("2", 0) >= 5, 120,
                   "viewers answered by both versions: %s" % viewers.counts())

        # all in on version 2 from the form
        b.type("#alias-v1", "2")
        b.type("#alias-w1", "100")
        b.type("#alias-v2", "")
        b.type("#alias-w2", "0")
        b.click("#alias-go")
        b.wait("!document.querySelector('#alias-confirm').hidden")
        b.click("#alias-yes")
        b.wait(dom_text("#alias-result") + " === 'Moved tag@live to v2 100%.'")
        viewers.reset()
        b.wait(share_expr(2) + " === '100%' && !document.querySelector('.alias[data-alias=\"tag@live\"] .share[data-version=\"1\"]')")
        b.screenshot("08-canary-all-in.png")
        wait_until(lambda: viewers.counts().get("2", 0) >= 20, 120, "viewers answered by version 2: %s" % viewers.counts())
        assert set(viewers.counts()) == {"2"}, viewers.counts()
        viewers.stop()
        assert not viewers.errors, viewers.errors[:5]

        # the page ran without a script error or a blocked resource (a CSP violation is a console error); the 401 of the wrong
        # token is the one expected console line
        problems = [p for p in b.problems() if "status of 401" not in p]
        assert not problems, problems
    except Exception:
        try:
            print("the page at the failure: %s" % b.screenshot("failure.png"), flush=True)
        except Exception as e:  # the browser itself may be what failed
            print("no screenshot: %s" % e, flush=True)
        raise
    finally:
        if viewers is not None:
            viewers.stop()
        b.close()


@test
def clean_shutdown():
    assert edge.stop() == 0
    edge.assert_clean()
    origin.stop()


if __name__ == "__main__":
    run()
