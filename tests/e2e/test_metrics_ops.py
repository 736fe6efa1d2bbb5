"""End-to-end: GET /metrics for operations (issue 17.5).

A busy edgehook (cache misses and hits, hooks, an origin that is down, store requests of several S3 operations, reloads) is
scraped and its text checked by `promtool check metrics` (Debian's prometheus package): any complaint fails the test. Every
metric family is one group (# HELP, # TYPE, then all its samples together). Counters survive a no-op reload (per origin, per
hook version); an origin a reload removes disappears, one it adds starts at 0. edgehook_build_info and the process_* metrics
are there and plausible; connections by listener and protocol (http1, h2c, tls) are counted at accept and at close (100
connections opened and closed bring the gauge back to where it was); the store's requests and bytes by S3 operation.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, Skip, curl, curl_status, free_port, make_cert, metric, retry_port_taken, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TMP = tempfile.mkdtemp(prefix="e2e-metrics-ops-")
AK, SK = "AKIAMETRICSTEST00001", "metricsstoresecret00000000000000000001"
TOKEN = "metrics-ops-admin-token"
CERT, KEY = make_cert(TMP)
origin = Origin()
HOOK = os.path.join(TMP, "tag.lua")
with open(HOOK, "w") as f:
    f.write("function handler(event, context)\n    return event.Records[1].cf.response\nend\n")


def config(store_port, extra_origin=False, keep_old=True):
    return """
threads: 2
listen:
  - {host: 127.0.0.1, port: 0}
  - {host: 127.0.0.1, port: 0, tls: {certificate: %(cert)s, key: %(key)s}}
store: {listen: {host: 127.0.0.1, port: %(sp)d}, root: ./data, credentials: {access_key: %(ak)s, secret_key: %(sk)s}}
origins:
  web: {type: http, url: "%(web)s"}
  s3: {type: s3, endpoint: embedded, bucket: metrics}
  down: {type: http, url: "http://127.0.0.1:%(down)d"}
%(old)s%(extra)shooks:
  tag: {lua: %(hook)s}
  other: {lua: %(hook)s}
behaviors:
  - {path: "/other/*", origin: web, hooks: {viewer-response: other}}
  - {path: "/s3/*", origin: s3}
  - {path: "/down/*", origin: down}
  - {path: "/pinned/*", origin: web, hooks: {viewer-response: tag@1}}
  - {path: "*", origin: web, hooks: {viewer-response: tag}}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %(token)s
""" % {"cert": CERT, "key": KEY, "sp": store_port, "ak": AK, "sk": SK, "web": origin.url, "down": free_port(), "hook": HOOK,
       "token": TOKEN, "old": "  old: {type: http, url: \"%s\"}\n" % origin.url if keep_old else "",
       "extra": "  extra: {type: http, url: \"%s\"}\n" % origin.url if extra_origin else ""}


def start():
    port = free_port()
    e = Edge(config(port), workdir=tempfile.mkdtemp(dir=TMP))
    e.store_port = port
    return e


edge = retry_port_taken(start)


def aws(*args, ok=True):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", "http://127.0.0.1:%d" % edge.store_port] + list(args), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert (p.returncode == 0) == ok, (args, p.returncode, p.stdout, p.stderr)


def reload(config_text=None):
    n = edge.metric("edgehook_reloads_total", result="ok") or 0
    if config_text is not None:
        with open(edge.conf_path, "w") as f:
            f.write(config_text)
    edge.signal(signal.SIGHUP)
    wait_until(lambda: edge.metric("edgehook_reloads_total", result="ok") == n + 1, what="the reload")


def families(text):
    """checks the grouping rules of the text format (every sample of a family together, after its one # HELP and # TYPE: with
    two hook versions, their samples were interleaved by version before); returns {family: type}"""
    types, seen, current = {}, [], None
    helps = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in helps, "second # HELP for %s" % name
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            name, typ = line.split()[2], line.split()[3]
            assert name not in types, "second # TYPE for %s" % name
            assert name in helps, "# TYPE %s without # HELP before it" % name
            types[name] = typ
            current = name
            seen.append(name)
            continue
        if not line or line.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[:-len(suffix)]) in ("histogram", "summary"):
                fam = name[:-len(suffix)]
        assert fam == current, "sample %r outside its family's group (the group open is %s)" % (line, current)
    return types


def promtool(text):
    if shutil.which("promtool") is None:
        raise Skip("promtool is not installed (Debian: prometheus; scripts/deps.sh test)")
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    assert p.returncode == 0 and out.strip() == "", "promtool check metrics (exit %d):\n%s" % (p.returncode, out)


def make_busy():
    aws("s3api", "create-bucket", "--bucket", "metrics")
    body = os.path.join(TMP, "obj.bin")
    with open(body, "wb") as f:
        f.write(os.urandom(5000))
    aws("s3api", "put-object", "--bucket", "metrics", "--key", "s3/obj.bin", "--body", body)
    aws("s3api", "get-object", "--bucket", "metrics", "--key", "s3/obj.bin", os.path.join(TMP, "got.bin"))
    aws("s3api", "get-object", "--bucket", "metrics", "--key", "s3/none", os.path.join(TMP, "none.bin"), ok=False)
    aws("s3api", "list-objects-v2", "--bucket", "metrics")
    aws("s3api", "head-object", "--bucket", "metrics", "--key", "s3/obj.bin")
    for path in ("/count/a?cc=max-age=600", "/count/a?cc=max-age=600", "/pinned/count/b?cc=max-age=600", "/pinned/count/b?cc=max-age=600",
                 "/s3/obj.bin", "/s3/obj.bin", "/down/x", "/count/pass", "/other/count/z"):
        curl_status(edge.url(path))
    curl_status("--http2-prior-knowledge", edge.url("/count/a?cc=max-age=600"))
    curl_status("-k", "--http2", edge.url("/count/a?cc=max-age=600", scheme="https"))


make_busy()


@test
def promtool_and_groups_on_a_busy_edge():
    text = edge.metrics_text()
    types = families(text)
    for name in ("edgehook_build_info", "process_cpu_seconds_total", "edgehook_connections_open", "edgehook_store_requests_total",
                 "edgehook_hook_invocations_total", "edgehook_hook_duration_seconds", "edgehook_origin_requests_by_origin_total",
                 "edgehook_reloads_total"):
        assert name in types, (name, sorted(types))
    assert metric(text, "edgehook_cache_hits_total") >= 2 and metric(text, "edgehook_cache_misses_total") >= 2, text[:3000]
    promtool(text)
    reload()
    text = edge.metrics_text()
    families(text)
    promtool(text)


@test
def counters_survive_a_noop_reload():
    curl_status(edge.url("/pinned/count/c"))
    before = edge.metrics()
    by_origin = before['edgehook_origin_requests_by_origin_total{origin="web"}']
    hook_keys = [k for k in before if k.startswith("edgehook_hook_invocations_total{")]
    assert by_origin >= 3 and hook_keys and all(before[k] > 0 for k in hook_keys), before
    reload()
    after = edge.metrics()
    assert after['edgehook_origin_requests_by_origin_total{origin="web"}'] == by_origin, after
    assert after['edgehook_origin_failures_total{origin="down"}'] == before['edgehook_origin_failures_total{origin="down"}'] >= 1
    for k in hook_keys:
        assert after.get(k) == before[k], (k, before[k], after.get(k))
    curl_status(edge.url("/count/after-reload"))
    assert edge.metrics()['edgehook_origin_requests_by_origin_total{origin="web"}'] == by_origin + 1


@test
def removed_origin_disappears_added_one_starts_at_zero():
    assert edge.metric("edgehook_origin_requests_by_origin_total", origin="old") == 0
    reload(config(edge.store_port, extra_origin=True, keep_old=False))
    text = edge.metrics_text()
    assert metric(text, "edgehook_origin_requests_by_origin_total", origin="old") is None, text
    assert metric(text, "edgehook_origin_requests_by_origin_total", origin="extra") == 0, text
    assert metric(text, "edgehook_origin_requests_by_origin_total", origin="web") > 0, text


@test
def build_info_and_process_metrics():
    text = edge.metrics_text()
    m = re.search(r'^edgehook_build_info\{version="([^"]+)",revision="([^"]*)",build_type="([^"]*)",h2o="([^"]+)",'
                  r'luajit="([^"]+)",openssl="([^"]+)"\} 1$', text, re.M)
    assert m and m.group(4) == "2.2.5" and m.group(6).startswith("3."), text
    assert m.group(2) != "" and m.group(3) != "", m.groups()
    out = subprocess.run([edge.proc.args[0], "--version"], stdout=subprocess.PIPE).stdout.decode()
    assert m.group(1) in out, (out, m.groups())
    with open("/proc/%d/status" % edge.proc.pid) as f:
        rss_kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    rss = metric(text, "process_resident_memory_bytes")
    assert 0.5 * rss_kb * 1024 < rss < 2 * rss_kb * 1024, (rss, rss_kb)
    assert metric(text, "process_virtual_memory_bytes") >= rss
    assert metric(text, "process_cpu_seconds_total") > 0
    fds = metric(text, "process_open_fds")
    assert 5 < fds <= metric(text, "process_max_fds"), text
    assert abs(fds - len(os.listdir("/proc/%d/fd" % edge.proc.pid))) <= 5, fds
    start = metric(text, "process_start_time_seconds")
    assert time.time() - 3600 < start <= time.time(), start


def open_main(protocol):
    return metric(edge.metrics_text(), "edgehook_connections_open", listener="main", protocol=protocol)


@test
def connections_by_protocol_return_to_where_they_were():
    text = edge.metrics_text()
    acc = {p: metric(text, "edgehook_connections_accepted_total", listener="main", protocol=p) for p in ("http1", "http2", "tls")}
    assert acc["http2"] >= 1 and acc["tls"] >= 1 and acc["http1"] >= 8, acc
    base = {p: metric(text, "edgehook_connections_open", listener="main", protocol=p) for p in ("http1", "http2", "tls")}
    socks = []
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", edge.port))
        socks.append(s)
    wait_until(lambda: open_main("http1") == base["http1"] + 100, what="100 open connections")
    # a request on some, an h2c preface on one: it moves to http2
    for s in socks[:10]:
        s.sendall(b"GET /count/conn?cc=max-age=600 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200"), "no answer"
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    port_tls = [p for k, s, h, p in edge.listeners if k == "main" and s == "https"][0]
    t = tls.wrap_socket(socket.create_connection(("127.0.0.1", port_tls)))
    wait_until(lambda: open_main("tls") == base["tls"] + 1, what="the TLS connection")
    for s in socks:
        s.close()
    t.close()
    wait_until(lambda: open_main("http1") == base["http1"] and open_main("tls") == base["tls"], what="the gauges back")
    assert open_main("http2") == base["http2"]
    text = edge.metrics_text()
    assert metric(text, "edgehook_connections_accepted_total", listener="main", protocol="http1") == acc["http1"] + 100
    assert metric(text, "edgehook_connections_accepted_total", listener="main", protocol="tls") == acc["tls"] + 1
    # h2c: counted as http2 once a request shows it
    rc, out, err = curl("--http2-prior-knowledge", edge.url("/count/a?cc=max-age=600"))
    assert rc == 0, err
    wait_until(lambda: metric(edge.metrics_text(), "edgehook_connections_accepted_total", listener="main", protocol="http2")
               == acc["http2"] + 1, what="the h2c connection")


@test
def store_requests_and_bytes_by_operation():
    text = edge.metrics_text()
    assert metric(text, "edgehook_store_requests_total", op="PutObject", status_class="2xx") >= 1, text
    assert metric(text, "edgehook_store_requests_total", op="CreateBucket", status_class="2xx") == 1
    assert metric(text, "edgehook_store_requests_total", op="ListObjects", status_class="2xx") == 1
    assert metric(text, "edgehook_store_requests_total", op="HeadObject", status_class="2xx") >= 1
    assert metric(text, "edgehook_store_requests_total", op="GetObject", status_class="4xx") >= 1
    # the proxy's S3 origin reads through the store listener too: awscli's GET and the origin's
    assert metric(text, "edgehook_store_requests_total", op="GetObject", status_class="2xx") >= 2
    assert metric(text, "edgehook_store_bytes_total", op="GetObject", direction="out") >= 2 * 5000
    assert metric(text, "edgehook_store_bytes_total", op="PutObject", direction="in") >= 5000
    get_before = metric(text, "edgehook_store_requests_total", op="GetObject", status_class="2xx")
    aws("s3api", "get-object", "--bucket", "metrics", "--key", "s3/obj.bin", os.path.join(TMP, "got2.bin"))
    assert edge.metric("edgehook_store_requests_total", op="GetObject", status_class="2xx") == get_before + 1


@test
def clean():
    edge.assert_clean()
    assert edge.stop() == 0, edge.log()[-3000:]
    origin.stop()


if __name__ == "__main__":
    run()
