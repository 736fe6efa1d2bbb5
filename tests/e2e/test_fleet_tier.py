"""End-to-end: a fleet with a shield tier, as issue 18 draws it. A real 3-member etcd cluster, two parents (127.0.0.2-3) and
three edges (127.0.0.4-6) sending their misses to the parents, one real origin that counts its requests; all five nodes are
members of one fleet (same etcd prefix). Proven here: a miss at any edge reaches the origin once; a purge at one edge is applied
at every node, the parents included (the next request at another edge gets the origin's new answer, not the parent's old
copy); an alias moved through the Lambda API at one node routes traffic at all nodes (the time it takes is printed); a parent
killed with SIGKILL moves its keys to the other parent without errors to viewers; an edge killed -9 while a purge happened
catches up on restart: the purged object, kept in its disk tier, is not served again, while an object that was not purged is
still a hit from its disk."""
import http.client
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, SLOW, free_port, run, test, version_hook, wait_until  # noqa: E402
from etcdcluster import Etcd, available  # noqa: E402
from origin import Origin  # noqa: E402

if not available():
    print("skip: etcd is not installed (Debian: etcd-server; scripts/deps.sh test installs it)")
    sys.exit(0)

TMP = tempfile.mkdtemp(prefix="e2e-fleet-tier-")
TOKEN = "fleet-tier-token-1234"
PREFIX = "/edgehook/tier%d" % os.getpid()
ACK_TIMEOUT = 3 * SLOW
HOST = "www.fleet-tier.test"
CC = "?cc=max-age=600"
NAMES = ("parent-1", "parent-2", "edge-1", "edge-2", "edge-3")
ADDR = {"parent-1": "127.0.0.2", "parent-2": "127.0.0.3", "edge-1": "127.0.0.4", "edge-2": "127.0.0.5", "edge-3": "127.0.0.6"}
PORTS = {n: (free_port(), free_port()) for n in NAMES}
STATE = {n: tempfile.mkdtemp(prefix="edgestate-fleet-tier-") for n in NAMES}
DISK = os.path.join(TMP, "edge-3-disk")


def hook_file(name, version):
    return version_hook(TMP, name, version)


V1 = hook_file("tag.lua", "1")
V2 = hook_file("tag_v2.lua", "2")


def main_url(n):
    return "http://%s:%d" % (ADDR[n], PORTS[n][0])


def config(n):
    parents = ""
    if n.startswith("edge"):
        parents = ", parents: [%s], parent_health_interval: 200ms, parent_health_timeout: 2s" % ", ".join(
            "{name: %s, url: \"%s\", health_url: \"http://127.0.0.1:%d/healthz\"}" % (p, main_url(p), PORTS[p][1])
            for p in ("parent-1", "parent-2"))
    disk = ", disk: {path: %s, size: 64MB}" % DISK if n == "edge-3" else ""
    return """
threads: 1
node_name: %s
listen: [{host: %s, port: %d}]
origins:
  web: {type: http, url: "%s", read_timeout: 20s%s}
hooks:
  tag: {lua: %s}
cache: {memory: 64MB%s}
behaviors:
  - {path: "*", origin: web, hooks: {viewer-response: tag}}
admin:
  listen: {host: 127.0.0.1, port: %d}
  token: %s
state_dir: %s
fleet:
  etcd: [%s]
  prefix: %s
  node: %s
  ack_timeout: %ds
  lease_ttl: 60s
""" % (n, ADDR[n], PORTS[n][0], origin.url, parents, V1, disk, PORTS[n][1], TOKEN, STATE[n], ", ".join(etcd.endpoints()),
       PREFIX, n, ACK_TIMEOUT)


def start(n, name=None):
    e = Edge(config(n), name=name or n)
    wait_until(lambda: e.metric("edgehook_fleet_connected") == 1, 30, n + " to watch etcd")
    return e


origin = Origin()
etcd = Etcd(TMP)
nodes = {n: start(n) for n in NAMES}
EDGES = ("edge-1", "edge-2", "edge-3")


def get(n, path):
    """(status, headers, body) of a GET at node n with the viewers' Host"""
    c = http.client.HTTPConnection(ADDR[n], PORTS[n][0], timeout=60)
    c.request("GET", path, headers={"Host": HOST})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def x_cache(h):
    return [s.strip() for s in h.get("x-cache", "").split(",")]


def served_by(h):
    return [s.strip() for s in h.get("x-served-by", "").split(",")]


@test
def every_node_is_a_live_fleet_member():
    for n in NAMES:
        wait_until(lambda: nodes[n].metric("edgehook_fleet_live_nodes") == 5, 30, "5 live nodes at " + n)


@test
def a_miss_at_any_edge_reaches_the_origin_once():
    for i in range(8):
        path = "/count/once-%d" % i
        first = EDGES[i % 3]
        st, h, b = get(first, path + CC)
        assert st == 200 and b"count=1" in b and x_cache(h) == ["Miss from edgehook", "Miss from edgehook"], (st, h, b)
        parent = served_by(h)[0]
        assert parent in ("parent-1", "parent-2"), h
        for e in EDGES:
            if e != first:
                st, h, b = get(e, path + CC)
                assert st == 200 and b"count=1" in b and x_cache(h) == ["Hit from edgehook", "Miss from edgehook"], (e, h, b)
                assert served_by(h) == [parent, e], h
        assert origin.count(path) == 1, (path, origin.count(path))


@test
def a_purge_at_one_edge_reaches_the_parents_too():
    path = "/count/purged"
    for e in EDGES:
        st, h, b = get(e, path + CC)
        assert st == 200 and b"count=1" in b, (e, st, b)
    assert origin.count(path) == 1
    st, ans = nodes["edge-1"].admin("POST", "/purge", {"url": path + CC})
    assert st == 200, (st, ans)
    f = ans["fleet"]
    assert sorted(f["acked"]) == sorted(NAMES) and f["stragglers"] == [] and f["complete"] is True, ans
    print("purge at edge-1: acked by the 5 nodes after %d ms" % f["ms"], flush=True)
    # acked means applied everywhere: edge-2 misses, and so does the parent (its old copy is gone): the origin answers anew
    st, h, b = get("edge-2", path + CC)
    assert st == 200 and b"count=2" in b and x_cache(h) == ["Miss from edgehook", "Miss from edgehook"], (st, h, b)
    assert origin.count(path) == 2
    # and the other edges take the parent's new copy
    for e in ("edge-1", "edge-3"):
        st, h, b = get(e, path + CC)
        assert st == 200 and b"count=2" in b and x_cache(h)[0] == "Hit from edgehook", (e, h, b)
    assert origin.count(path) == 2


def versions(n):
    st, hooks = nodes[n].admin("GET", "/hooks")
    assert st == 200, (st, hooks)
    return {v["version"]: v["sha256"] for v in hooks["hooks"]["tag"]["versions"]}


@test
def an_alias_moved_at_one_node_routes_on_all():
    st, ans = nodes["parent-2"].admin("POST", "/hooks/tag/versions", {"path": V2})
    assert st == 201 and ans["version"] == 2, (st, ans)
    digest = ans.get("sha256") or versions("parent-2")[2]
    for n in NAMES:
        wait_until(lambda: versions(n).get(2) == digest, 30, "version 2 at " + n)
    for e in EDGES:
        assert get(e, "/count/alias")[1].get("x-version") == "1"
    t0 = time.time()
    st, ans = nodes["edge-3"].admin("PUT", "/2015-03-31/functions/tag/aliases/live", {"FunctionVersion": "2"})
    assert st == 200, (st, ans)
    seen = {}
    deadline = time.time() + 30 * SLOW
    while len(seen) < len(NAMES):  # polled without a pause: the figure printed is the time to the first request that saw it
        for n in NAMES:
            if n not in seen and get(n, "/count/alias")[1].get("x-version") == "2":
                seen[n] = time.time() - t0
        assert time.time() < deadline, "not every node serves version 2: %s" % seen
    print("alias move at edge-3: seen at all 5 nodes after %.0f ms (%s)" % (
        max(seen.values()) * 1000, ", ".join("%s %.0f ms" % (n, seen[n] * 1000) for n in NAMES)), flush=True)


@test
def an_edge_down_during_a_purge_catches_up_from_its_disk():
    purged, kept = "/count/disk-purged", "/count/disk-kept"
    writes = nodes["edge-3"].metric("edgehook_disk_writes_total") or 0
    for p in (purged, kept):
        st, h, b = get("edge-3", p + CC)
        assert st == 200 and b"count=1" in b, (p, st, b)
    wait_until(lambda: (nodes["edge-3"].metric("edgehook_disk_writes_total") or 0) >= writes + 2, 30,
               "edge-3 to write both objects to its disk")
    nodes["edge-3"].kill()  # kill -9: its lease lives on (60 s), so it is a live node that does not ack
    st, ans = nodes["edge-1"].admin("POST", "/purge", {"url": purged + CC})
    assert st == 200, (st, ans)
    f = ans["fleet"]
    assert f["stragglers"] == ["edge-3"] and f["complete"] is False, ans
    target = nodes["edge-1"].metric("edgehook_fleet_revision")
    nodes["edge-3"] = start("edge-3", "edge-3-restarted")
    e3 = nodes["edge-3"]
    wait_until(lambda: (e3.metric("edgehook_fleet_revision") or 0) >= target, 30, "edge-3 to catch up")
    assert "fleet: purge url" in e3.log() and "from edge-1" in e3.log(), e3.log()[-3000:]
    # not purged: a hit from edge-3's own disk (the origin's count unchanged)
    disk_hits = e3.metric("edgehook_disk_hits_total") or 0
    st, h, b = get("edge-3", kept + CC)
    assert st == 200 and b"count=1" in b and x_cache(h)[-1] == "Hit from edgehook", (st, h, b)
    assert (e3.metric("edgehook_disk_hits_total") or 0) == disk_hits + 1
    assert origin.count(kept) == 1
    # purged while edge-3 was down: its disk copy is not served; the parent had applied the purge too: the origin answers
    st, h, b = get("edge-3", purged + CC)
    assert st == 200 and b"count=2" in b and x_cache(h) == ["Miss from edgehook", "Miss from edgehook"], (st, h, b)
    assert origin.count(purged) == 2


@test
def a_killed_parent_moves_its_keys_without_errors():
    paths = ["/count/move-%d" % i for i in range(10)]
    owner = {}
    for p in paths:
        st, h, b = get("edge-1", p + CC)
        assert st == 200, (p, st, b)
        owner[p] = served_by(h)[0]
    assert set(owner.values()) == {"parent-1", "parent-2"}, owner  # 10 keys on one parent: 1 in 512
    nodes["parent-1"].kill()
    errors = []
    for p in paths:  # at the other edges (not cached there): every key answers, parent-1's through parent-2
        for e in ("edge-2", "edge-3"):
            st, h, b = get(e, p + CC)
            if st != 200:
                errors.append((e, p, st, b))
            elif owner[p] == "parent-2":
                assert served_by(h)[0] == "parent-2" and b"count=1" in b, (e, p, h, b)
    assert not errors, errors[:5]
    for e in EDGES:
        wait_until(lambda: nodes[e].metric("edgehook_parent_up", origin="web", parent="parent-1") == 0, 30,
                   "parent-1 down at " + e)
    for p in paths:  # the keys of the surviving parent never went to the origin again
        assert origin.count(p) == (1 if owner[p] == "parent-2" else 2), (p, owner[p], origin.count(p))


@test
def every_node_stops_cleanly():
    for n in NAMES:
        if nodes[n].proc.poll() is None:
            assert nodes[n].stop() == 0, n
        nodes[n].assert_clean()


try:
    run()
finally:
    for n in NAMES:
        if nodes[n].proc.poll() is None:
            nodes[n].stop()
    etcd.stop()
    origin.stop()
