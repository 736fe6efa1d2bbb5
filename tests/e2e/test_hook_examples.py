# ctest-labels: notsan
# notsan: time budget: the example hooks' outputs (test_hooks covers the hook runtime's threads)
"""End-to-end: every example hook (examples/hooks/lua/*.lua, examples/hooks/c/*.c) configured in a behavior and exercised
through the real proxy with requests that prove what it is for. Cache hits are proven by the origin's request count.

The `counted` origin is origin.py with the path prefix /count: it answers 200 to any path with a body naming the path it saw
and how often, so a test reads off the body which path a rewriting hook sent to the origin. Its answers carry no freshness:
the behaviors that need hits have a default_ttl.

origin_by_header.lua sends viewers with X-Country: DE to a custom origin on port 443 over HTTPS (hard-coded in the example).
The test runs that origin in-process on a random 127.x.y.z:443 with a self-signed certificate for that address, trusted
through SSL_CERT_FILE in edgehook's environment; binding port 443 needs root (or CAP_NET_BIND_SERVICE): without it that
half is skipped with a message. Its /media/ half (an S3 origin) goes to the embedded store, with the store's credentials in
edgehook's AWS_* environment (what a hook-chosen S3 origin signs with).
"""
import base64
import hashlib
import hmac
import http.client
import os
import random
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import origin as origin_mod  # noqa: E402
from edgetest import retry_port_taken, BUILD, SLOW, SRC, Edge, free_port, run, test  # noqa: E402
from origin import Origin  # noqa: E402

TOKEN = "hook-examples-admin-token"
TMP = tempfile.mkdtemp(prefix="e2e-hook-examples-")
LUA = os.path.join(SRC, "examples", "hooks", "lua")
CLIB = os.path.join(BUILD, "examples", "hooks", "c")
E2E = os.path.join(SRC, "tests", "hooks", "e2e")
AK, SK = "EXAMPLESACCESSKEY", "examples-secret-key-0123456789"
HMAC_SECRET = "the-hmac-secret-of-the-examples"
HMAC_SECRET_ENV = "another-secret-read-from-the-environment"
STORE_PORT = free_port()

origin = Origin()

# the seeded bucket for origin_by_header's /media/ branch (path-style: /media/KEY is bucket "media")
SEED = os.path.join(TMP, "seed")
os.makedirs(SEED)
MEDIA = b"media object served from the embedded store\n" * 5
with open(os.path.join(SEED, "clip.txt"), "wb") as f:
    f.write(MEDIA)


# ---- the "EU" origin of origin_by_header.lua: HTTPS on port 443 of a loopback address ------------------------------------------

class EuOrigin:
    """origin.py's handler, in this process, over TLS on IP:443; None when port 443 cannot be bound"""

    def __init__(self):
        self.srv = None
        self.why = ""
        for _ in range(5):
            ip = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(1, 254), random.randint(2, 254))
            cert, key = os.path.join(TMP, "eu.crt"), os.path.join(TMP, "eu.key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "3",
                            "-subj", "/CN=" + ip, "-addext", "subjectAltName=IP:" + ip], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            try:
                srv = origin_mod.Server((ip, 443), origin_mod.Handler)
            except OSError as e:
                self.why = "cannot bind %s:443: %s" % (ip, e)
                continue
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
            self.srv, self.ip, self.cert = srv, ip, cert
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            return

    def count(self, path):
        with origin_mod.State.lock:
            return origin_mod.State.counts.get(path, 0)

    def stop(self):
        if self.srv is not None:
            self.srv.shutdown()
            self.srv.server_close()


eu = EuOrigin()


def config():
    return """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: json}
origins:
  web: {type: http, url: "%(origin)s"}
  counted: {type: http, url: "%(origin)s/count"}
hooks:
  security-headers: {lua: %(lua)s/security_headers.lua}
  redirect: {lua: %(lua)s/redirect.lua, config: {moves: {"/r/old/": "/r/new/"}, mobile_host: "m.example.com"}}
  ab-test: {lua: %(lua)s/ab_test.lua}
  ab-cookie: {lua: %(e2e)s/ab_cookie.lua}
  basic-auth: {lua: %(lua)s/basic_auth.lua, config: {user: alice, password: "s3cret", realm: "edge"}}
  normalize-query: {lua: %(lua)s/normalize_query.lua}
  origin-by-header: {lua: %(lua)s/origin_by_header.lua, config: {eu_origin: "%(eu_ip)s", bucket_domain: "127.0.0.1:%(store_port)d", region: us-east-1}}
  pretty-urls: {lua: %(lua)s/pretty_urls.lua}
  cache-control: {lua: %(lua)s/cache_control.lua, config: {static_max_age: 31536000, default_max_age: 60}}
  c-security-headers: {native: %(clib)s/libsecurity_headers.so}
  c-hmac: {native: %(clib)s/libhmac_token.so, config: {secret: "%(hmac)s"}}
  c-hmac-env: {native: %(clib)s/libhmac_token.so, config: {secret_env: EXAMPLES_HMAC_SECRET}}
  c-uri-rewrite: {native: %(clib)s/liburi_rewrite.so}
behaviors:
  - {path: "/sec/*", origin: web, hooks: {viewer-response: security-headers}}
  - {path: "/sec-stored/*", origin: web, hooks: {origin-response: security-headers}}
  - {path: "/r/*", origin: web, hooks: {viewer-request: redirect}}
  # the group header ab_test.lua sets for the origin is not in the key (the group is in the URI it rewrites): a cacheable
  # request forwards it only when origin_request lists it
  - {path: "/experiment-pixel.jpg", origin: counted, cache: {default_ttl: 60s}, origin_request: {headers: [x-experiment-group]},
     hooks: {viewer-request: ab-test, viewer-response: ab-cookie}}
  - {path: "/private/*", origin: web, hooks: {viewer-request: basic-auth}}
  - {path: "/nq/*", origin: web, cache: {default_ttl: 60s}, hooks: {viewer-request: normalize-query}}
  - {path: "/plainq/*", origin: web, cache: {default_ttl: 60s}}
  - {path: "/media/*", origin: counted, cache: {default_ttl: 60s}, hooks: {origin-request: origin-by-header}}
  - {path: "/obh/*", origin: counted, cache: {key: {headers: [x-country]}}, hooks: {origin-request: origin-by-header}}
  - {path: "/site/*", origin: counted, cache: {default_ttl: 60s}, hooks: {viewer-request: pretty-urls}}
  - {path: "/cc/*", origin: web, hooks: {origin-response: cache-control}}
  - {path: "/nocc/*", origin: web}
  - {path: "/csec/*", origin: web, hooks: {viewer-response: c-security-headers}}
  - {path: "/csec-stored/*", origin: web, hooks: {origin-response: c-security-headers}}
  - {path: "/signed/*", origin: web, hooks: {viewer-request: c-hmac}}
  - {path: "/signed-env/*", origin: web, hooks: {viewer-request: c-hmac-env}}
  - {path: "/blog/*", origin: counted, cache: {default_ttl: 60s}, hooks: {viewer-request: c-uri-rewrite}}
  - {path: "/pages/*", origin: counted, cache: {default_ttl: 60s}, hooks: {viewer-request: c-uri-rewrite}}
  - {path: "*", origin: web}
store:
  listen: {host: 127.0.0.1, port: %(store_port)d}
  root: %(tmp)s/store
  credentials: {access_key: %(ak)s, secret_key: %(sk)s}
  seed: {bucket: media, dir: %(seed)s}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %(token)s
""" % {"origin": origin.url, "lua": LUA, "e2e": E2E, "clib": CLIB, "eu_ip": eu.ip if eu.srv else "127.0.0.1",
       "store_port": STORE_PORT, "hmac": HMAC_SECRET, "tmp": TMP, "ak": AK, "sk": SK, "seed": SEED, "token": TOKEN}


ENV = {"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK, "EXAMPLES_HMAC_SECRET": HMAC_SECRET_ENV}
if eu.srv is not None:
    ENV["SSL_CERT_FILE"] = eu.cert  # OpenSSL's default verify paths: the EU origin's self-signed certificate is trusted


def start_edge():
    # the store's port is chosen before edgehook binds it (the hooks' config names it): chosen again if it was taken meanwhile
    global STORE_PORT
    try:
        return Edge(config(), env=ENV)
    except RuntimeError:
        STORE_PORT = free_port()
        raise


edge = retry_port_taken(start_edge)


# ---- helpers ------------------------------------------------------------------------------------------------------------------

class Resp:
    def __init__(self, r, body):
        self.status, self.reason, self.body = r.status, r.reason, body
        self.header_list = r.getheaders()
        self.headers = {k.lower(): v for k, v in self.header_list}

    def h(self, name):
        return self.headers.get(name.lower())

    def all(self, name):
        return [v for k, v in self.header_list if k.lower() == name.lower()]

    def __repr__(self):
        return "<%d %r %r>" % (self.status, self.headers, self.body[:300])


def req(path, headers=None, method="GET", source=None):
    c = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30 * SLOW,
                                   source_address=(source, 0) if source else None)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    out = Resp(r, r.read())
    c.close()
    return out


def count(path):
    return origin.count(path)


def hit(r):
    return (r.h("x-cache") or "").startswith("Hit")


SECURITY = {
    "strict-transport-security": "max-age=63072000; includeSubdomains; preload",
    "content-security-policy": "default-src 'none'; img-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "x-xss-protection": "1; mode=block",
    "referrer-policy": "same-origin",
}


def assert_security_headers(r):
    for k, v in SECURITY.items():
        assert r.all(k) == [v], (k, r.all(k), r)


# ---- Lua examples -------------------------------------------------------------------------------------------------------------

@test
def lua_security_headers_on_misses_and_hits():
    r1 = req("/sec/count/a?cc=max-age=600")
    r2 = req("/sec/count/a?cc=max-age=600")
    assert r1.status == r2.status == 200 and not hit(r1) and hit(r2), (r1, r2)
    assert count("/sec/count/a") == 1
    assert_security_headers(r1)
    assert_security_headers(r2)
    # at origin-response the headers are stored with the object: a hit has them without the hook running again
    r1 = req("/sec-stored/count/b?cc=max-age=600")
    r2 = req("/sec-stored/count/b?cc=max-age=600")
    assert hit(r2) and count("/sec-stored/count/b") == 1, r2
    assert_security_headers(r1)
    assert_security_headers(r2)
    # a response without the hook has none of them
    r = req("/count/plain")
    assert all(r.h(k) is None for k in SECURITY), r


@test
def lua_redirect_by_path_and_device():
    r = req("/r/old/page.html?x=1")
    assert r.status == 301 and r.h("location") == "/r/new/page.html?x=1", r
    assert r.h("cache-control") == "max-age=3600", r
    r = req("/r/old/dir/")
    assert r.status == 301 and r.h("location") == "/r/new/dir/", r
    # mobile devices go to the mobile host, by User-Agent (CloudFront-Is-Mobile-Viewer is added after viewer-request)
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
    r = req("/r/count/m", {"User-Agent": iphone})
    assert r.status == 301 and r.h("location") == "https://m.example.com/r/count/m", r
    r = req("/r/count/m", {"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/120"})
    assert r.status == 301 and r.h("location") == "https://m.example.com/r/count/m", r
    assert count("/r/count/m") == 0
    # a viewer's own CloudFront-Is-Mobile-Viewer is dropped before the hook: a desktop that sends it is not redirected
    r = req("/r/count/spoof", {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120", "CloudFront-Is-Mobile-Viewer": "true"})
    assert r.status == 200 and r.body.startswith(b"path=/r/count/spoof count=1"), r
    # the mobile host itself and desktops are not redirected
    r = req("/r/count/m", {"User-Agent": iphone, "Host": "m.example.com"})
    assert r.status == 200 and r.body.startswith(b"path=/r/count/m count=1"), r
    r = req("/r/count/d", {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120"})
    assert r.status == 200 and r.body.startswith(b"path=/r/count/d"), r
    # a redirect is generated at viewer-request: never cached, nothing reaches the origin
    assert count("/r/old/page.html") == 0


@test
def lua_ab_test_sticky_by_cookie_and_sets_it():
    # a viewer with the cookie sees its group's object
    r = req("/experiment-pixel.jpg", {"Cookie": "session=1; X-Experiment-Name=A"})
    assert r.status == 200 and r.body.startswith(b"path=/count/experiment-group/control-pixel.jpg "), r
    assert r.h("set-cookie") is None, r  # it has the cookie already
    r = req("/experiment-pixel.jpg", {"Cookie": "X-Experiment-Name=B"})
    assert r.status == 200 and r.body.startswith(b"path=/count/experiment-group/treatment-pixel.jpg "), r
    # the origin was told the group
    reqs = [x for x in origin.requests() if x["path"].startswith("/count/experiment-group/")]
    assert any(["X-Experiment-Group", "A"] in x["headers"] for x in reqs), reqs
    assert any(["X-Experiment-Group", "B"] in x["headers"] for x in reqs), reqs
    # a new viewer is placed by its address, sticks to its group, and is given the cookie
    groups = {}
    for i in range(2, 22):
        ip = "127.0.%d.%d" % (random.randint(0, 255), i)
        seen = set()
        for _ in range(3):
            r = req("/experiment-pixel.jpg", source=ip)
            assert r.status == 200, r
            seen.add(r.body.split(b" ")[0])
        assert len(seen) == 1, (ip, seen)
        obj = seen.pop()
        group = "A" if obj == b"path=/count/experiment-group/control-pixel.jpg" else "B"
        assert r.h("set-cookie") == "X-Experiment-Name=%s; Path=/" % group, r
        groups[ip] = group
        # with the cookie it was given, the viewer stays in its group from anywhere
        r = req("/experiment-pixel.jpg", {"Cookie": r.h("set-cookie").split(";")[0]}, source="127.0.0.1")
        assert r.body.split(b" ")[0] == obj and r.h("set-cookie") is None, r
    assert set(groups.values()) == {"A", "B"}, groups


@test
def lua_basic_auth_401_without_200_with_credentials():
    r = req("/private/count/doc")
    assert r.status == 401 and r.body == b"Unauthorized", r
    assert r.h("www-authenticate") == 'Basic realm="edge"' and r.h("content-type") == "text/plain", r
    bad = "Basic " + base64.b64encode(b"alice:wrong").decode()
    r = req("/private/count/doc", {"Authorization": bad})
    assert r.status == 401, r
    assert count("/private/count/doc") == 0
    good = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    r = req("/private/count/doc", {"Authorization": good})
    assert r.status == 200 and r.body.startswith(b"path=/private/count/doc count=1"), r
    # a 401 after an authorized request: the hook runs on every request (the authorized response does not leak)
    r = req("/private/count/doc")
    assert r.status == 401, r


@test
def lua_normalize_query_one_cache_entry():
    r1 = req("/nq/count/q?b=2&a=1")
    r2 = req("/nq/count/q?a=1&b=2")
    r3 = req("/nq/count/q?utm_source=mail&B=2&a=1&fbclid=xyz")
    assert r1.status == r2.status == r3.status == 200
    assert not hit(r1) and hit(r2) and hit(r3), (r1, r2, r3)
    assert r1.body == r2.body == r3.body
    assert count("/nq/count/q") == 1
    seen = [x["path"] for x in origin.requests() if x["path"].startswith("/nq/count/q")]
    assert seen == ["/nq/count/q?a=1&b=2"], seen  # sorted, lowercased, tracking parameters dropped
    # without the hook, the origin gets the query as sent
    req("/plainq/count/q?b=2&a=1&utm_source=x")
    seen = [x["path"] for x in origin.requests() if x["path"].startswith("/plainq/count/q")]
    assert seen == ["/plainq/count/q?b=2&a=1&utm_source=x"], seen


@test
def lua_origin_by_header_reaches_the_other_origin():
    # /media/ goes to an S3 bucket (the embedded store, signed), whatever the behavior's origin
    r1 = req("/media/clip.txt")
    r2 = req("/media/clip.txt")
    assert r1.status == 200 and r1.body == MEDIA, r1
    assert hit(r2) and r2.body == MEDIA, r2
    assert count("/count/media/clip.txt") == 0
    r = req("/media/nope.txt")
    assert r.status == 404, r
    if eu.srv is None:
        print("  skipped the X-Country half: %s (the example hard-codes port 443)" % eu.why)
        return
    # a viewer from an EU country goes to the EU origin (HTTPS, port 443); others to the behavior's origin
    path = "/obh/count/page?cc=max-age=600"
    r = req(path, {"X-Country": "DE"})
    assert r.status == 200 and r.body == b"path=/obh/count/page count=1\n", r
    assert eu.count("/obh/count/page") == 1 and count("/count/obh/count/page") == 0
    r = req(path, {"X-Country": "US"})
    assert r.status == 200 and r.body == b"path=/count/obh/count/page count=1\n", r
    assert count("/count/obh/count/page") == 1
    # X-Country is in this behavior's cache key: each variant is a hit afterwards, from its own origin's copy
    r = req(path, {"X-Country": "DE"})
    assert hit(r) and r.body == b"path=/obh/count/page count=1\n", r
    r = req(path, {"X-Country": "FR"})
    assert r.status == 200 and r.body == b"path=/obh/count/page count=2\n", r
    assert eu.count("/obh/count/page") == 2 and count("/count/obh/count/page") == 1


@test
def lua_pretty_urls_serve_index_html():
    r1 = req("/site/docs/")
    assert r1.status == 200 and r1.body == b"path=/count/site/docs/index.html count=1\n", r1
    r2 = req("/site/docs")
    assert r2.status == 200 and r2.body == r1.body, r2
    assert count("/count/site/docs/index.html") == 1 and count("/count/site/docs") == 0 and count("/count/site/docs/") == 0
    # a file keeps its name
    r = req("/site/style.css")
    assert r.status == 200 and r.body == b"path=/count/site/style.css count=1\n", r


@test
def lua_cache_control_makes_an_uncacheable_object_cached():
    # the origin sends no Cache-Control and no validator: not storable as it is
    r1 = req("/nocc/count/x")
    r2 = req("/nocc/count/x")
    assert r1.h("cache-control") is None and not hit(r2) and count("/nocc/count/x") == 2, r2
    # with the origin-response hook it gets one, is stored, and served from the cache
    r1 = req("/cc/count/x")
    r2 = req("/cc/count/x")
    assert r1.h("cache-control") == "public, max-age=60", r1
    assert hit(r2) and r2.body == r1.body and count("/cc/count/x") == 1, r2
    # static assets get the long max-age
    r = req("/cc/count/app.css")
    assert r.h("cache-control") == "public, max-age=31536000", r
    # the origin's own Cache-Control wins
    r1 = req("/cc/count/ns?cc=no-store")
    r2 = req("/cc/count/ns?cc=no-store")
    assert r1.h("cache-control") == "no-store" and not hit(r2) and count("/cc/count/ns") == 2, r2
    # and only 200s get one
    r = req("/cc/missing-page")
    assert r.status == 404 and r.h("cache-control") is None, r


# ---- C examples ---------------------------------------------------------------------------------------------------------------

@test
def c_security_headers_on_misses_and_hits():
    r1 = req("/csec/count/a?cc=max-age=600")
    r2 = req("/csec/count/a?cc=max-age=600")
    assert not hit(r1) and hit(r2) and count("/csec/count/a") == 1, (r1, r2)
    assert_security_headers(r1)
    assert_security_headers(r2)
    r1 = req("/csec-stored/count/b?cc=max-age=600")
    r2 = req("/csec-stored/count/b?cc=max-age=600")
    assert hit(r2) and count("/csec-stored/count/b") == 1
    assert_security_headers(r1)
    assert_security_headers(r2)


def sign(uri, expires, secret=HMAC_SECRET):
    """the token hmac_token.c expects: hex(HMAC-SHA256(secret, uri + ":" + expires))"""
    return hmac.new(secret.encode(), ("%s:%d" % (uri, expires)).encode(), hashlib.sha256).hexdigest()


@test
def c_hmac_token_valid_bad_expired():
    uri = "/signed/count/file"
    exp = int(time.time()) + 300
    r = req("%s?expires=%d&token=%s" % (uri, exp, sign(uri, exp)))
    assert r.status == 200 and r.body.startswith(b"path=/signed/count/file count=1"), r
    # a bad token, a token for another uri, another secret, an expired one, none: 403 with the reason
    for q, why in (("expires=%d&token=%s" % (exp, "0" * 64), b"bad token\n"),
                   ("expires=%d&token=%s" % (exp, sign("/signed/count/other", exp)), b"bad token\n"),
                   ("expires=%d&token=%s" % (exp, sign(uri, exp, "wrong-secret")), b"bad token\n"),
                   ("expires=%d&token=%s" % (exp + 1, sign(uri, exp)), b"bad token\n"),
                   ("expires=%d&token=%s" % (exp - 400, sign(uri, exp - 400)), b"expired\n"),
                   ("expires=12x&token=%s" % sign(uri, exp), b"bad expires\n"),
                   ("", b"missing expires or token\n")):
        r = req(uri + ("?" + q if q else ""))
        assert r.status == 403 and r.body == why and r.h("content-type") == "text/plain", (q, r)
    assert count("/signed/count/file") == 1
    # the secret can come from the environment (secret_env)
    uri = "/signed-env/count/f"
    r = req("%s?expires=%d&token=%s" % (uri, exp, sign(uri, exp, HMAC_SECRET_ENV)))
    assert r.status == 200, r
    r = req("%s?expires=%d&token=%s" % (uri, exp, sign(uri, exp)))
    assert r.status == 403 and r.body == b"bad token\n", r


@test
def c_uri_rewrite():
    for path, seen in (("/blog/2024/post", "/count/articles/2024/post/index.html"),
                       ("/blog/2024/post/", "/count/articles/2024/post/index.html"),
                       ("/blog/feed.xml", "/count/articles/feed.xml"),
                       ("/pages/about/", "/count/pages/about/index.html"),
                       ("/pages/about", "/count/pages/about/index.html"),
                       ("/pages/logo.png", "/count/pages/logo.png")):
        r = req(path)
        assert r.status == 200 and r.body.startswith(("path=%s count=" % seen).encode()), (path, r)
    # /pages/about/ and /pages/about are one object: the second was a hit
    assert count("/count/pages/about/index.html") == 1
    assert count("/count/articles/2024/post/index.html") == 1


if __name__ == "__main__":
    try:
        run()
    finally:
        edge.stop()
        origin.stop()
        eu.stop()
        edge.assert_clean()
