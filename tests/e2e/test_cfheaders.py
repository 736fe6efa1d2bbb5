"""End-to-end: the CloudFront-* request headers. A behavior that lists them in origin_request.headers (or cache.key.headers) has
them generated after viewer-request: geo headers from a MaxMind database the test writes itself (127.0.0.1 is in Brazil,
127.0.0.2 in Germany, ::1 in the US), device headers from the User-Agent, the viewer's address and port, HTTP version, TLS and
protocol. The origin and the origin-request hook see them; a viewer's CloudFront-* headers never reach a hook, the key or the
origin; the cache key holds them only when cache.key.headers names them; the database is opened per configuration (a reload
with another file works, a bad file is a config error with FILE:LINE)."""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import SRC, Edge, BIN, curl, make_cert, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TMP = tempfile.mkdtemp(prefix="e2e-cfheaders-")
CITY = os.path.join(TMP, "city.mmdb")
ASN = os.path.join(TMP, "asn.mmdb")
made = subprocess.run(["perl", os.path.join(SRC, "tests", "data", "geoip", "make_mmdb.pl"), CITY, ASN], stderr=subprocess.PIPE)
HAVE_DB = made.returncode == 0
# the geo headers need libmaxminddb in the binary: without it, edgehook says so at config load
HAVE_LIB = True
origin = Origin()
CERT, KEY = make_cert(TMP)

GEO = ["cloudfront-viewer-country", "cloudfront-viewer-country-name", "cloudfront-viewer-country-region",
       "cloudfront-viewer-country-region-name", "cloudfront-viewer-city", "cloudfront-viewer-postal-code",
       "cloudfront-viewer-latitude", "cloudfront-viewer-longitude", "cloudfront-viewer-time-zone", "cloudfront-viewer-asn",
       "cloudfront-viewer-metro-code"]
OTHER = ["cloudfront-is-desktop-viewer", "cloudfront-is-mobile-viewer", "cloudfront-is-tablet-viewer",
         "cloudfront-is-smarttv-viewer", "cloudfront-is-android-viewer", "cloudfront-is-ios-viewer", "cloudfront-viewer-address",
         "cloudfront-viewer-http-version", "cloudfront-viewer-tls", "cloudfront-forwarded-proto"]

HOOK = os.path.join(TMP, "geo_branch.lua")
with open(HOOK, "w") as f:
    f.write("""-- origin-request: a Lambda@Edge geo/device example, ported: it branches on the generated headers
function handler(event, context)
    local request = event.Records[1].cf.request
    local h = request.headers
    local country = h["cloudfront-viewer-country"] and h["cloudfront-viewer-country"][1].value or "none"
    local mobile = h["cloudfront-is-mobile-viewer"] and h["cloudfront-is-mobile-viewer"][1].value == "true"
    local body
    if country == "BR" then body = "pt-BR" elseif country == "DE" then body = "de-DE" else body = "default" end
    if mobile then body = body .. " mobile" else body = body .. " desktop" end
    return {status = "200", headers = {["content-type"] = {{key = "Content-Type", value = "text/plain"}}}, body = body}
end
""")
VREQ = os.path.join(TMP, "vreq.lua")
with open(VREQ, "w") as f:
    f.write("""-- viewer-request: reports whether a CloudFront-* header is visible here (it must not be: they are added after)
function handler(event, context)
    local request = event.Records[1].cf.request
    local seen = {}
    for name, _ in pairs(request.headers) do
        if name:sub(1, 11) == "cloudfront-" then seen[#seen + 1] = name end
    end
    table.sort(seen)
    request.headers["x-vreq-saw"] = {{key = "X-Vreq-Saw", value = #seen == 0 and "none" or table.concat(seen, ",")}}
    return request
end
""")


def config(geoip=True, asn=True):
    """geoip False: no database, and no behavior that lists a geo header"""
    g = ""
    if geoip:
        g = "geoip: {database: %s%s}\n" % (CITY, (", asn_database: " + ASN) if asn else "")
    text = """
listen:
  - {host: 127.0.0.1, port: 0}
  - {host: "::1", port: 0}
  - {host: 127.0.0.1, port: 0, tls: {certificate: %s, key: %s}}
%s
origins:
  o: {type: http, url: "%s"}
hooks:
  branch: {lua: %s}
  vreq: {lua: %s}
behaviors:
  - path: "/all/*"
    origin: o
    cache: off
    origin_request: {headers: [%s, x-vreq-saw]}
    hooks: {viewer-request: vreq}
  - path: "/some/*"
    origin: o
    origin_request: {headers: [CloudFront-Viewer-Country, CloudFront-Is-Mobile-Viewer, user-agent]}
  - path: "/hook/*"
    origin: o
    cache: off
    origin_request: {headers: [CloudFront-Viewer-Country, CloudFront-Is-Mobile-Viewer]}
    hooks: {origin-request: branch}
  - path: "/keyed/*"
    origin: o
    cache: {key: {headers: [cloudfront-viewer-country]}}
  - path: "/unkeyed/*"
    origin: o
    origin_request: {headers: [cloudfront-viewer-country]}
  - path: "*"
    origin: o
    cache: off
""" % (CERT, KEY, g, origin.url, HOOK, VREQ, ", ".join(GEO + OTHER) if geoip else ", ".join(OTHER))
    if not geoip:
        text = text[:text.index('  - path: "/some/*"')] + text[text.index('  - path: "*"'):]
    return text


def line_of(text, needle):
    return text[:text.index(needle)].count("\n") + 1


def request(edge, path, headers=None, source="127.0.0.1", family=socket.AF_INET, kind="http", conn=None):
    """one GET from `source`; returns (status, body, the connection's local port, connection) - the connection stays open"""
    if conn is None:
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        port = [p for k, s, h, p in edge.listeners if k == "main" and s == kind and (h.strip("[]") == host)][0]
        if kind == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=30, source_address=(source, 0))
        else:
            conn = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0))
        conn.connect()
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    return r.status, body, conn.sock.getsockname()[1], conn


def echoed(body):
    """the headers the origin received (names lowercased; a repeated name keeps every value)"""
    out = {}
    for k, v in json.loads(body)["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"


def need_db():
    if not HAVE_DB:
        print("skipped: tests/data/geoip/make_mmdb.pl could not write the test databases (Debian: libmaxmind-db-writer-perl): "
              + made.stderr.decode(errors="replace").strip())
        return False
    return True


@test
def generated_headers_reach_the_origin_and_a_viewers_do_not():
    if not need_db():
        return
    edge = Edge(config())
    try:
        if "built without libmaxminddb" in edge.log():
            print("skipped: this edgehook was built without libmaxminddb (Debian: libmaxminddb-dev)")
            return
        # a viewer that tries to pass its own values off as CloudFront's
        spoof = {"User-Agent": IPHONE, "CloudFront-Viewer-Country": "XX", "cloudfront-is-desktop-viewer": "true",
                 "CloudFront-Viewer-Foo": "bar"}
        st, body, port, conn = request(edge, "/all/echo", spoof)
        assert st == 200, (st, body)
        h = echoed(body)
        want = {"cloudfront-viewer-country": "BR", "cloudfront-viewer-country-name": "Brazil",
                "cloudfront-viewer-country-region": "SP", "cloudfront-viewer-country-region-name": "S%C3%A3o Paulo",
                "cloudfront-viewer-city": "S%C3%A3o Paulo", "cloudfront-viewer-postal-code": "01000",
                "cloudfront-viewer-latitude": "-23.54750", "cloudfront-viewer-longitude": "-46.63611",
                "cloudfront-viewer-time-zone": "America/Sao_Paulo", "cloudfront-viewer-asn": "64500",
                "cloudfront-is-desktop-viewer": "false", "cloudfront-is-mobile-viewer": "true",
                "cloudfront-is-tablet-viewer": "false", "cloudfront-is-smarttv-viewer": "false",
                "cloudfront-is-android-viewer": "false", "cloudfront-is-ios-viewer": "true",
                "cloudfront-viewer-address": "127.0.0.1:%d" % port, "cloudfront-viewer-http-version": "1.1",
                "cloudfront-forwarded-proto": "http",
                "x-vreq-saw": "none"}  # the viewer-request hook saw no CloudFront-* header (the viewer's were dropped)
        for k, v in want.items():
            assert h.get(k) == [v], (k, h.get(k), v)
        # the metro code is US only; TLS only over https; the viewer's unknown CloudFront-* header is not forwarded either
        for k in ("cloudfront-viewer-metro-code", "cloudfront-viewer-tls", "cloudfront-viewer-foo"):
            assert k not in h, (k, h[k])
        # the names as CloudFront writes them
        names = [k for k, v in json.loads(body)["headers"]]
        assert "CloudFront-Viewer-Country" in names and "CloudFront-Is-SmartTV-Viewer" in names, names
        conn.close()

        # another viewer: 127.0.0.2 is in Germany (no city or region in the database), a desktop
        st, body, port, conn = request(edge, "/all/echo", {"User-Agent": "curl/7.88.1"}, source="127.0.0.2")
        h = echoed(body)
        assert h["cloudfront-viewer-country"] == ["DE"] and h["cloudfront-viewer-asn"] == ["64501"], h
        assert h["cloudfront-is-desktop-viewer"] == ["true"] and h["cloudfront-is-mobile-viewer"] == ["false"], h
        assert h["cloudfront-viewer-address"] == ["127.0.0.2:%d" % port], h
        for k in ("cloudfront-viewer-city", "cloudfront-viewer-country-region"):
            assert k not in h, (k, h[k])
        conn.close()

        # IPv6: the address without brackets, as CloudFront writes it; a US viewer has a metro code
        st, body, port, conn = request(edge, "/all/echo", {}, source="::1", family=socket.AF_INET6)
        h = echoed(body)
        assert h["cloudfront-viewer-address"] == ["::1:%d" % port], h
        assert h["cloudfront-viewer-country"] == ["US"] and h["cloudfront-viewer-metro-code"] == ["819"], h
        assert h["cloudfront-viewer-city"] == ["Seattle"] and h["cloudfront-viewer-latitude"] == ["47.60620"], h
        conn.close()

        # a behavior that lists two: only those two are generated (a cached fill forwards only what is listed)
        st, body, port, conn = request(edge, "/some/echo?n=1", spoof)
        h = echoed(body)
        assert h["cloudfront-viewer-country"] == ["BR"] and h["cloudfront-is-mobile-viewer"] == ["true"], h
        assert sorted(k for k in h if k.startswith("cloudfront-")) == ["cloudfront-is-mobile-viewer", "cloudfront-viewer-country"], h
        conn.close()

        # a pass that lists none: the viewer's CloudFront-* headers do not reach the origin at all
        st, body, port, conn = request(edge, "/echo", spoof)
        h = echoed(body)
        assert st == 200 and not [k for k in h if k.startswith("cloudfront-")], h
        assert h["user-agent"] == [IPHONE], h
        conn.close()
    finally:
        edge.stop()


@test
def an_origin_request_hook_branches_on_country_and_device():
    if not need_db():
        return
    edge = Edge(config())
    try:
        if "built without libmaxminddb" in edge.log():
            print("skipped: this edgehook was built without libmaxminddb (Debian: libmaxminddb-dev)")
            return
        cases = [("127.0.0.1", socket.AF_INET, IPHONE, b"pt-BR mobile"),
                 ("127.0.0.2", socket.AF_INET, "curl/7.88.1", b"de-DE desktop"),
                 ("::1", socket.AF_INET6, IPHONE, b"default mobile"),
                 # a spoofed country does not change the branch
                 ("127.0.0.2", socket.AF_INET, "Mozilla/5.0 (X11; Linux x86_64)", b"de-DE desktop")]
        for source, fam, ua, want in cases:
            st, body, port, conn = request(edge, "/hook/x", {"User-Agent": ua, "CloudFront-Viewer-Country": "BR"}, source=source,
                                           family=fam)
            conn.close()
            assert (st, body) == (200, want), (source, ua, st, body)
    finally:
        edge.stop()


@test
def tls_and_http2_headers():
    edge = Edge(config(geoip=False))
    try:
        # https, HTTP/1.1: version:cipher:fullHandshake, then connectionReused for the next request on the connection
        st, body, port, conn = request(edge, "/all/echo", {}, kind="https")
        h = echoed(body)
        tls = h["cloudfront-viewer-tls"][0].split(":")
        assert tls[0] in ("TLSv1.2", "TLSv1.3") and tls[1] and tls[2] == "fullHandshake", tls
        assert tls[0] != "TLSv1.3" or tls[1].startswith("TLS_"), tls
        assert conn.sock.version() == tls[0] and conn.sock.cipher()[0] == tls[1], (conn.sock.version(), conn.sock.cipher(), tls)
        assert h["cloudfront-forwarded-proto"] == ["https"] and h["cloudfront-viewer-http-version"] == ["1.1"], h
        st, body, port2, conn = request(edge, "/all/echo", {}, conn=conn)
        h = echoed(body)
        assert port2 == port and h["cloudfront-viewer-tls"][0].endswith(":connectionReused"), h
        conn.close()
        # plain http: no TLS header
        st, body, port, conn = request(edge, "/all/echo", {})
        assert "cloudfront-viewer-tls" not in echoed(body)
        conn.close()
        # HTTP/2 over TLS (ALPN) and h2c: 2.0
        tls_port = [p for k, s, hh, p in edge.listeners if s == "https"][0]
        rc, out, err = curl("-k", "--http2", "https://127.0.0.1:%d/all/echo" % tls_port)
        assert rc == 0, err
        h = echoed(out)
        assert h["cloudfront-viewer-http-version"] == ["2.0"], h
        assert h["cloudfront-viewer-tls"][0].endswith(":fullHandshake"), h
        rc, out, err = curl("--http2-prior-knowledge", edge.url("/all/echo"))
        assert rc == 0, err
        h = echoed(out)
        assert h["cloudfront-viewer-http-version"] == ["2.0"] and h["cloudfront-forwarded-proto"] == ["http"], h
        rc, out, err = curl("--http1.0", edge.url("/all/echo"))
        assert echoed(out)["cloudfront-viewer-http-version"] == ["1.0"]
    finally:
        edge.stop()


@test
def the_cache_key_holds_a_generated_header_only_when_the_key_names_it():
    if not need_db():
        return
    edge = Edge(config())
    try:
        if "built without libmaxminddb" in edge.log():
            print("skipped: this edgehook was built without libmaxminddb (Debian: libmaxminddb-dev)")
            return
        origin.reset()

        def get(path, source, spoof=None):
            st, body, port, conn = request(edge, path, {"CloudFront-Viewer-Country": spoof} if spoof else {}, source=source)
            conn.close()
            return st, body

        # key.headers names it: one entry per country; a spoofed header does not make (or pick) another
        a = get("/keyed/count/k?cc=max-age=600", "127.0.0.1")
        b = get("/keyed/count/k?cc=max-age=600", "127.0.0.2")
        assert a != b and origin.count("/keyed/count/k") == 2, (a, b)
        assert get("/keyed/count/k?cc=max-age=600", "127.0.0.1", spoof="DE") == a
        assert get("/keyed/count/k?cc=max-age=600", "127.0.0.2", spoof="BR") == b
        assert origin.count("/keyed/count/k") == 2
        # only origin_request.headers names it: forwarded, not in the key, so the second country gets the first's entry
        a = get("/unkeyed/count/u?cc=max-age=600", "127.0.0.1")
        b = get("/unkeyed/count/u?cc=max-age=600", "127.0.0.2")
        assert a == b and origin.count("/unkeyed/count/u") == 1, (a, b)
    finally:
        edge.stop()


def check(text):
    path = os.path.join(TMP, "check.yaml")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([BIN, "-t", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=TMP)
    return p.returncode, p.stderr.decode(errors="replace"), path


@test
def config_errors_name_the_file_and_line():
    base = config(geoip=False)
    line = line_of(base, "x-vreq-saw]")
    # a CloudFront-* name edgehook does not generate
    rc, err, path = check(base.replace("x-vreq-saw]", "CloudFront-Viewer-Contry]"))
    assert rc == 1 and "%s:%d: behaviors[0].origin_request.headers: \"CloudFront-Viewer-Contry\" is not a CloudFront header" % (
        path, line) in err, err
    # one CloudFront allows in an origin request policy only
    text = base.replace('  - path: "*"', '  - {path: "/k", origin: o, cache: {key: {headers: [CloudFront-Viewer-TLS]}}}\n  - path: "*"')
    rc, err, path = check(text)
    assert rc == 1 and "%s:%d: behaviors[1].cache.key.headers: CloudFront-Viewer-TLS can be in origin_request.headers, not in " \
        "the cache key" % (path, line_of(text, "[CloudFront-Viewer-TLS]")) in err, err
    # a geo header without a database
    rc, err, path = check(base.replace("x-vreq-saw]", "cloudfront-viewer-city]"))
    assert rc == 1 and "%s:%d: behaviors[0].origin_request.headers: CloudFront-Viewer-City needs a geo database" % (path, line) in err, err
    if not HAVE_DB:
        return
    # a database that is missing, or not a MaxMind DB
    rc, err, path = check(config().replace(CITY, "/nonexistent/city.mmdb"))
    assert rc == 1 and ":6: geoip.database: cannot read \"/nonexistent/city.mmdb\"" in err, err
    bad = os.path.join(TMP, "bad.mmdb")
    with open(bad, "wb") as f:
        f.write(b"\x00" * 4096)
    rc, err, path = check(config().replace(CITY, bad))
    if "without libmaxminddb" in err:
        assert rc == 0, err
        print("note: built without libmaxminddb: a database is not opened, %s" % err.strip())
        return
    assert rc == 1 and "%s:6: geoip: %s: " % (path, bad) in err, err
    rc, err, path = check(config())
    assert rc == 0, err


@test
def a_reload_opens_the_new_database_and_a_bad_one_is_refused():
    if not need_db():
        return
    edge = Edge(config(asn=False))
    try:
        if "built without libmaxminddb" in edge.log():
            print("skipped: this edgehook was built without libmaxminddb (Debian: libmaxminddb-dev)")
            return

        def asn():
            st, body, port, conn = request(edge, "/all/echo", {})
            conn.close()
            return echoed(body).get("cloudfront-viewer-asn")

        def reload(text, line):
            n = edge.log().count(line)
            with open(edge.conf_path, "w") as f:
                f.write(text)
            edge.signal(signal.SIGHUP)
            wait_until(lambda: edge.log().count(line) == n + 1, timeout=20, what=line)

        assert asn() is None  # the city database has no ASN
        reload(config(asn=True), "reload: configuration applied")
        assert asn() == ["64500"]
        bad = os.path.join(TMP, "bad2.mmdb")
        with open(bad, "wb") as f:
            f.write(b"garbage" * 100)
        reload(config(asn=True).replace(ASN, bad), "reload refused")
        assert "geoip: %s: " % bad in edge.log()
        assert asn() == ["64500"]  # the running configuration stays, with its databases
    finally:
        edge.stop()


if __name__ == "__main__":
    try:
        run()
    finally:
        origin.stop()
