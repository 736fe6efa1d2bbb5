"""End-to-end: fleet state on etcd. A real 3-member etcd cluster (Debian's etcd-server) and 3 edgehook nodes on 127.0.0.1:
a purge at one node is applied at all and acked by all; hook versions published on one node (admin API, Lambda API) exist on
every node with the same number and code, and code in etcd that does not match its sha256 is refused; an alias moved through the Lambda API on one node routes traffic on
all (the time it takes is printed); kv writes reach every node; a node killed -9 is reported as a straggler and, restarted on
its state dir, catches up from the revision it last applied; an etcd member going away does not stop the fleet."""
import base64
import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import etcdcluster  # noqa: E402
from edgetest import SLOW, Edge, run, test, version_hook, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TOKEN = "fleet-test-token"
TMP = tempfile.mkdtemp(prefix="e2e-fleet-")
PREFIX = "/edgehook/test%d" % os.getpid()
ACK_TIMEOUT = 3 * SLOW  # seconds: a live node's ack takes milliseconds; a killed one is reported after this
URL = "/count/fleet?cc=max-age=600"


V1 = version_hook(TMP, "tag.lua", "1")
V2 = version_hook(TMP, "tag_v2.lua", "2")
V3 = version_hook(TMP, "tag_v3.lua", "3")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


if not etcdcluster.available():
    print("skip: etcd is not installed (Debian: etcd-server; scripts/deps.sh test installs it)")
    sys.exit(0)

origin = Origin()
etcd = etcdcluster.Etcd(TMP)
STATE = [tempfile.mkdtemp(prefix="edgestate-fleet-") for _ in range(3)]


def config(i):
    return """
threads: 1
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: combined}
origins:
  web: {type: http, url: "%s"}
hooks:
  tag: {lua: %s}
behaviors:
  - {path: "*", origin: web, hooks: {viewer-response: tag}}
kv:
  flags: {path: %s/flags.kvlog}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
state_dir: %s
fleet:
  etcd: [%s]
  prefix: %s
  node: e%d
  ack_timeout: %ds
  lease_ttl: 60s
""" % (origin.url, V1, STATE[i], TOKEN, STATE[i], ", ".join(etcd.endpoints()), PREFIX, i + 1, ACK_TIMEOUT)


def start(i):
    e = Edge(config(i), name="e%d" % (i + 1))
    wait_until(lambda: e.metric("edgehook_fleet_connected") == 1, 30, "e%d to watch etcd" % (i + 1))
    return e


edges = [start(i) for i in range(3)]


def get(e, path=URL):
    c = http.client.HTTPConnection("127.0.0.1", e.port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("x-version"), body


@test
def fleet_sees_every_node():
    for e in edges:
        wait_until(lambda: e.metric("edgehook_fleet_live_nodes") == 3, 30, "3 live nodes")
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=edges[0].metrics_text().encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        assert p.returncode == 0 and p.stdout.strip() == b"", p.stdout.decode()


@test
def purge_at_one_node_is_applied_at_all():
    before = origin.count("/count/fleet")
    bodies = []
    for e in edges:
        st, _, b = get(e)
        assert st == 200, st
        bodies.append(b)
        assert get(e)[2] == b  # a hit: same body
    assert origin.count("/count/fleet") == before + 3, origin.stats()
    st, ans = edges[1].admin("POST", "/purge", {"url": URL})
    assert st == 200, (st, ans)
    f = ans["fleet"]
    assert sorted(f["acked"]) == ["e1", "e2", "e3"] and f["stragglers"] == [] and f["complete"] is True, ans
    print("purge at e2: every live node acked after %d ms" % f["ms"], flush=True)
    # acked means applied: every node goes to the origin again, at once
    for e, b in zip(edges, bodies):
        assert get(e)[2] != b
    assert origin.count("/count/fleet") == before + 6, origin.stats()
    for e in edges[::2]:
        assert "fleet: purge url" in e.log() and "from e2" in e.log(), e.log()[-2000:]
    assert edges[1].metric("edgehook_fleet_purges_acked_total") == 1
    assert edges[1].metric("edgehook_fleet_published_total") >= 1 and edges[0].metric("edgehook_fleet_applied_total") >= 1
    assert edges[1].metric("edgehook_fleet_last_ack_seconds") > 0


def versions(e):
    """{number: sha256} of hook tag on e"""
    st, hooks = e.admin("GET", "/hooks")
    assert st == 200, (st, hooks)
    return {v["version"]: v["sha256"] for v in hooks["hooks"]["tag"]["versions"]}


def latest(e):
    """the sha256 of tag's $LATEST on e"""
    st, hooks = e.admin("GET", "/hooks")
    assert st == 200, (st, hooks)
    return hooks["hooks"]["tag"]["latest"]["sha256"]


def wait_version(number, digest, nodes=None):
    for e in nodes or edges:
        wait_until(lambda: versions(e).get(number) == digest, 30, "version %d (sha256 %.12s) on every node" % (number, digest))


@test
def alias_moved_through_the_lambda_api_routes_on_all_nodes():
    # versions are replicated with their numbers: e3 publishes V3 (version 2 on every node), then e1 publishes V2 (version 3)
    st, ans = edges[2].admin("POST", "/hooks/tag/versions", {"path": V3})
    assert st == 201 and ans["version"] == 2, (st, ans)
    wait_version(2, sha(V3))
    st, ans = edges[0].admin("POST", "/hooks/tag/versions", {"path": V2})
    assert st == 201 and ans["version"] == 3, (st, ans)
    wait_version(3, sha(V2))
    assert "fleet: version tag@3 from e1 added" in edges[2].log(), edges[2].log()[-2000:]
    for e in edges:
        assert get(e, "/count/alias")[1] == "1"
    t0 = time.time()
    st, ans = edges[0].admin("PUT", "/2015-03-31/functions/tag/aliases/live", {"FunctionVersion": "3"})
    assert st == 200, (st, ans)
    answered = time.time() - t0
    seen = {}
    def all_moved():
        for i, e in enumerate(edges):
            if i not in seen and get(e, "/count/alias")[1] == "2":
                seen[i] = time.time() - t0
        return len(seen) == 3
    deadline = time.time() + 30 * SLOW
    while not all_moved():  # polled without a pause: the figure printed below is the time to the first request that saw it
        assert time.time() < deadline, "not every node serves version 2: %s" % seen
    print("alias move: answered by e1 after %.0f ms, seen on every node after %.0f ms (per node: %s)" % (
        answered * 1000, max(seen.values()) * 1000, ", ".join("e%d %.0f ms" % (i + 1, seen[i] * 1000) for i in sorted(seen))),
        flush=True)
    for e in edges[1:]:
        st, hooks = e.admin("GET", "/hooks")
        live = hooks["hooks"]["tag"]["aliases"]["live"]
        assert live["versions"] == {"3": 1} and live["history"][-1]["by"] == "fleet", live


def lua_zip(label):
    """a Lambda API zip of a tag hook whose X-Version says label; (base64 zip, sha256 of the code)"""
    code = ("""-- published through the Lambda API
function handler(event, context)
    local response = event.Records[1].cf.response
    response.headers["x-version"] = {{key = "X-Version", value = "%s"}}
    return response
end
""" % label).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("tag.lua", code)
    return base64.b64encode(buf.getvalue()).decode(), hashlib.sha256(code).hexdigest()


def lambda_publish(e, label, number):
    z, digest = lua_zip(label)
    st, ans = e.admin("PUT", "/2015-03-31/functions/tag/code", {"ZipFile": z, "Publish": True})
    assert st == 200 and ans["Version"] == str(number), (st, ans)
    return digest


@test
def version_published_through_the_lambda_api_reaches_every_node():
    digest = lambda_publish(edges[0], "lambda-4", 4)
    wait_version(4, digest)
    for e in edges:  # $LATEST is state too: update-function-code sets it on every node
        wait_until(lambda: latest(e) == digest, 30, "$LATEST on every node")
    st, ans = edges[1].admin("PUT", "/hooks/tag/aliases/live", {"versions": {"4": 1}})
    assert st == 200, (st, ans)
    for e in edges:
        wait_until(lambda: get(e, "/count/alias")[1] == "lambda-4", 30, "every node to serve version 4")
    assert "fleet: version tag@4 from e1 added" in edges[1].log(), edges[1].log()[-2000:]


@test
def tampered_code_in_etcd_is_refused():
    # someone with write access to etcd puts other bytes under a code key and a version that names the code's sha256; its
    # number (5) is then taken in etcd though no node has it: the next publish claims 5, finds it taken and takes 6
    code = b"function handler(event, context) return event.Records[1].cf.response end\n"
    digest = hashlib.sha256(code).hexdigest()
    failed = [e.metric("edgehook_fleet_apply_failed_total") for e in edges]
    etcd_put(1, PREFIX + "/code/" + digest, code.replace(b"return", b"error('owned') return"))
    record = {"node": "mallory", "hook": "tag", "version": 5, "sha256": digest, "code_sha256": "", "size": len(code),
              "kind": "lua", "ext": "lua", "created": "", "created_ms": 0, "timeout_ms": -1, "memory": 0, "include_body": False,
              "description": "", "source": "api", "fetch_allow": [], "kv": [], "config": {}}
    etcd_put(1, PREFIX + "/versions/tag/5", json.dumps(record).encode())
    for e, f in zip(edges, failed):
        wait_until(lambda: e.metric("edgehook_fleet_apply_failed_total") > f, 30, "every node to refuse the version")
        assert "is not the version's (sha256 %.12s" % digest in e.log(), e.log()[-2000:]
        assert 5 not in versions(e) and get(e, "/count/alias")[1] == "lambda-4"


@test
def kv_writes_reach_every_node():
    st, ans = edges[2].admin("PUT", "/kv/flags/checkout", "on")
    assert st == 200, (st, ans)
    st, ans = edges[0].admin("POST", "/kv/flags", {"dark": "yes", "beta": "1"})
    assert st == 200, (st, ans)
    def have(e, items):
        st, ans = e.admin("GET", "/kv/flags")
        return st == 200 and {i["key"]: i["value"] for i in ans["items"]} == items
    want = {"checkout": "on", "dark": "yes", "beta": "1"}
    for e in edges:
        wait_until(lambda: have(e, want), 30, "the kv writes on every node")
    st, ans = edges[1].admin("POST", "/kv/flags?replace=1", {"dark": "no"})
    assert st == 200, (st, ans)
    for e in edges:
        wait_until(lambda: have(e, {"dark": "no"}), 30, "the replace on every node")


@test
def node_down_is_a_straggler_and_catches_up():
    edges[2].kill()  # kill -9: its lease lives on (lease_ttl 60s), so it is still a live node that does not ack
    t0 = time.time()
    st, ans = edges[0].admin("POST", "/purge", {"prefix": "/count/"})
    assert st == 200, (st, ans)
    f = ans["fleet"]
    assert f["stragglers"] == ["e3"] and f["complete"] is False and sorted(f["acked"]) == ["e1", "e2"], ans
    assert time.time() - t0 >= ACK_TIMEOUT * 0.9, "answered before fleet.ack_timeout"
    # meanwhile: a version is published (Lambda API at e1), the alias moves to it (at e2) and a kv key changes
    digest = lambda_publish(edges[0], "lambda-6", 6)  # 5 is taken in etcd (tampered_code_in_etcd_is_refused)
    assert "fleet: version 5 of hook tag: another node has that number; trying 6" in edges[0].log(), edges[0].log()[-2000:]
    wait_version(6, digest, edges[:2])
    st, ans = edges[1].admin("PUT", "/hooks/tag/aliases/live", {"versions": {"6": 1}})
    assert st == 200, (st, ans)
    st, ans = edges[1].admin("PUT", "/kv/flags/late", "yes")
    assert st == 200, (st, ans)
    wait_until(lambda: get(edges[0], "/count/alias")[1] == "lambda-6", 30, "e1 to follow the alias")
    target = edges[1].metric("edgehook_fleet_revision")
    edges[2] = Edge(config(2), name="e3-restarted")
    e3 = edges[2]
    wait_until(lambda: (e3.metric("edgehook_fleet_revision") or 0) >= target, 30, "e3 to catch up")
    assert "catching up from revision" in e3.log(), e3.log()[-2000:]
    assert "fleet: purge prefix /count/ from e1" in e3.log(), e3.log()[-3000:]
    assert get(e3, "/count/alias")[1] == "lambda-6"
    assert versions(e3).get(6) == digest and latest(e3) == digest and "fleet: version tag@6 from e1 added" in e3.log(), e3.log()[-3000:]
    st, ans = e3.admin("GET", "/kv/flags/late")
    assert st == 200 and ans == "yes", (st, ans)


@test
def an_etcd_member_going_away_does_not_stop_the_fleet():
    etcd.kill(0)
    st, ans = edges[1].admin("PUT", "/kv/flags/after", "member0-down")
    assert st == 200, (st, ans)
    for e in edges:
        wait_until(lambda: e.admin("GET", "/kv/flags/after") == (200, "member0-down"), 60, "the write with a member down")
    st, ans = edges[0].admin("POST", "/purge", {"url": URL})
    assert st == 200 and ans["fleet"]["complete"] is True, ans


class HoldingProxy:
    """a TCP relay in front of one etcd member that, once armed, passes a node's /v3/kv/put on to etcd (it is committed) and
    keeps etcd's answer from the node until released, then closes the connection: an answer lost after the write"""

    def __init__(self, upstream):
        self.upstream = upstream
        self.armed, self.held, self.release = threading.Event(), threading.Event(), threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.relay, args=(c,), daemon=True).start()

    @staticmethod
    def pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def relay(self, c):
        u = socket.create_connection(("127.0.0.1", self.upstream))
        first = c.recv(65536)
        hold = self.armed.is_set() and first.startswith(b"POST /v3/kv/put ")
        u.sendall(first)
        threading.Thread(target=self.pump, args=(c, u), daemon=True).start()
        if hold:
            self.armed.clear()
            u.recv(65536)  # etcd answered: the write is committed
            self.held.set()
            self.release.wait(120)
            for s in (c, u):
                try:
                    s.shutdown(socket.SHUT_RDWR)  # wakes the other direction's pump too (close alone would not)
                except OSError:
                    pass
                s.close()
            return
        self.pump(u, c)


def etcd_put(member, key, value=b""):
    """a key written straight to one etcd member; the revision of the write"""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(), "value": base64.b64encode(value).decode()}).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/v3/kv/put" % etcd.client[member], data=body, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return int(json.loads(r.read())["header"]["revision"])


@test
def a_purge_whose_write_is_answered_late_waits_for_it():
    # a node alone under its prefix (no other live node to wait for) writes a purge whose put etcd commits but answers too late
    # (here: never, the connection closes); meanwhile its watch applies another event: the purge must not be answered (and
    # forgotten) from the watch thread before its write returned, which then failed and forgot it again (a double free)
    proxy = HoldingProxy(etcd.client[2])
    STATE.append(tempfile.mkdtemp(prefix="edgestate-fleet-"))
    prefix = PREFIX + "solo"
    cfg = config(3).replace(", ".join(etcd.endpoints()), "http://127.0.0.1:%d" % proxy.port).replace(PREFIX, prefix)
    cfg = cfg.replace("lease_ttl: 60s", "lease_ttl: 60s\n  timeout: 60s")  # the longest fleet.timeout allowed
    e4 = Edge(cfg, name="e4")
    try:
        wait_until(lambda: e4.metric("edgehook_fleet_connected") == 1, 30, "e4 to watch etcd")
        proxy.armed.set()
        result = {}
        t = threading.Thread(target=lambda: result.update(ans=e4.admin("POST", "/purge", {"url": URL}, timeout=120)))
        t.start()
        assert proxy.held.wait(30 * SLOW), "the purge's put did not come"
        rev = etcd_put(2, prefix + "/ack/another-purge/e9")
        wait_until(lambda: e4.metric("edgehook_fleet_revision") >= rev, 30, "e4 to read the ack")
        proxy.release.set()
        t.join(120 * SLOW)
        st, ans = result["ans"]
        assert st == 200 and "error" in ans["fleet"], (st, ans)
        assert e4.metric("edgehook_fleet_publish_failed_total") == 1
    finally:
        proxy.release.set()
        assert e4.stop() == 0, e4.log()[-3000:]
        proxy.sock.close()
    e4.assert_clean()


@test
def nodes_stop_cleanly():
    for e in edges:
        assert e.stop() == 0, e.log()[-3000:]
        e.assert_clean()


try:
    run()
finally:
    for e in edges:
        e.kill()
    etcd.stop()
    origin.stop()
