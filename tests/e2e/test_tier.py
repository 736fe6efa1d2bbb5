"""End-to-end: tiered caching. Three edges (127.0.0.4-6) send their cache misses to two parents (127.0.0.2-3) chosen by
rendezvous hashing of the cache key; the parents go to one real origin process that counts its requests. Proven here: a key
reaches the origin once whichever edges ask (the parents collapse concurrent misses of all their children), every edge sends a
key to the same parent, a parent killed with SIGKILL while requests run costs the viewers nothing (its keys move to the other
parent, the probes mark it down), a loop of parents is refused with 508, and X-Cache / X-Served-By say which tier hit."""
import os
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BIN, Edge, curl_status, free_port, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

HOST = "www.tier.test"  # what viewers send to every edge: the cache key (and so the parent) is the same at all of them
CC = "?cc=max-age=600"
origin = Origin()

ports = {}
for n in ("parent-1", "parent-2", "edge-1", "edge-2", "edge-3"):
    ports[n] = (free_port(), free_port())
addr = {"parent-1": "127.0.0.2", "parent-2": "127.0.0.3", "edge-1": "127.0.0.4", "edge-2": "127.0.0.5", "edge-3": "127.0.0.6"}


def main_url(n):
    return "http://%s:%d" % (addr[n], ports[n][0])


def parent_list():
    return "[%s]" % ", ".join("{name: %s, url: \"%s\", health_url: \"http://127.0.0.1:%d/healthz\"}" % (p, main_url(p), ports[p][1])
                              for p in ("parent-1", "parent-2"))


def config(n):
    edge = n.startswith("edge")
    web = "web: {type: http, url: \"%s\", read_timeout: 20s%s}" % (
        origin.url, ", parents: %s, parent_health_interval: 200ms, parent_health_timeout: 2s" % parent_list() if edge else "")
    # /loop/*: edge-1 sends it to parent-1, whose own origin for it has edge-1 as its parent (a misconfiguration)
    loop = ""
    if n == "edge-1":
        loop = "  loop: {type: http, url: \"%s\", parents: [{name: parent-1, url: \"%s\"}], parent_health_interval: 200ms}\n" % (origin.url, main_url("parent-1"))
    elif n == "parent-1":
        loop = "  loop: {type: http, url: \"%s\", parents: [{name: edge-1, url: \"%s\"}], parent_health_interval: 200ms}\n" % (origin.url, main_url("edge-1"))
    return """
threads: 2
node_name: %s
listen: [{host: %s, port: %d}]
origins:
  %s
%scache: {memory: 64MB}
behaviors:
  - {path: "/loop/*", origin: %s}
  - {path: "*", origin: web}
admin:
  listen: {host: 127.0.0.1, port: %d}
  token: tier-admin-token-1234
""" % (n, addr[n], ports[n][0], web, loop, "loop" if loop else "web", ports[n][1])


nodes = {}
for n in ("parent-1", "parent-2", "edge-1", "edge-2", "edge-3"):
    nodes[n] = Edge(config(n), name=n)
edges = ["edge-1", "edge-2", "edge-3"]


def get(node, path):
    return curl_status("-H", "Host: " + HOST, main_url(node) + path)


def served_by(h):
    return [s.strip() for s in h.get("x-served-by", "").split(",")]


def x_cache(h):
    return [s.strip() for s in h.get("x-cache", "").split(",")]


def metric(node, name, **labels):
    return nodes[node].metric(name, **labels) or 0


@test
def a_miss_reaches_the_origin_once_and_x_cache_names_the_tiers():
    owners = {}
    for i in range(12):
        path = "/count/once-%d" % i
        st, h, b = get("edge-1", path + CC)
        assert st == 200 and b"count=1" in b, (st, h, b)
        by = served_by(h)
        assert len(by) == 2 and by[0] in ("parent-1", "parent-2") and by[1] == "edge-1", h
        assert x_cache(h) == ["Miss from edgehook", "Miss from edgehook"], h
        owners[path] = by[0]
        # the same key at the other edges: the parent's copy (the origin's count stays 1)
        for e in ("edge-2", "edge-3"):
            st, h, b = get(e, path + CC)
            assert st == 200 and b"count=1" in b, (st, h, b)
            assert served_by(h) == [owners[path], e], (path, h)
            assert x_cache(h) == ["Hit from edgehook", "Miss from edgehook"], h
        # and again at edge-1: its own copy
        st, h, b = get("edge-1", path + CC)
        assert b"count=1" in b and x_cache(h) == ["Miss from edgehook", "Hit from edgehook"], h
        assert served_by(h) == [owners[path], "edge-1"], h
        assert origin.count(path) == 1, (path, origin.count(path))
    # rendezvous spreads keys over both parents (12 keys all on one: 1 in 2048)
    assert set(owners.values()) == {"parent-1", "parent-2"}, owners
    # the parents' own view: what they sent on, and the Via the origin saw (edge, then parent)
    reqs = [r for r in origin.requests() if r["path"].startswith("/count/once-")]
    assert len(reqs) == 12
    for r in reqs:
        via = {k.lower(): v for k, v in r["headers"]}["via"]
        assert via == "1.1 edge-1 (edgehook), 1.1 %s (edgehook)" % owners[r["path"].split("?")[0]], via
    sent = sum(metric("edge-1", "edgehook_parent_requests_total", origin="web", parent=p) for p in ("parent-1", "parent-2"))
    assert sent == 12, sent


@test
def concurrent_misses_from_all_edges_collapse_at_the_parent():
    path = "/count/collapse" + CC + "&gate=collapse"
    before = {p: metric(p, "edgehook_cache_collapsed_total") for p in ("parent-1", "parent-2")}
    results = {}

    def fetch(e):
        results[e] = get(e, path)
    threads = [threading.Thread(target=fetch, args=(e,)) for e in edges]
    for t in threads:
        t.start()
    # one request reached the origin (held at the gate); the parent made the two others wait for it
    wait_until(lambda: origin.count("/count/collapse") == 1, what="the first miss at the origin")
    wait_until(lambda: sum(metric(p, "edgehook_cache_collapsed_total") - before[p] for p in before) >= 2, timeout=30,
               what="two misses collapsed at the parent")
    origin.release("collapse")
    for t in threads:
        t.join(60)
    for e in edges:
        st, h, b = results[e]
        assert st == 200 and b"count=1" in b, (e, st, h, b)
    assert origin.count("/count/collapse") == 1


@test
def a_killed_parent_moves_its_keys_without_errors():
    # misses held at the origin, sent through both parents
    paths = ["/count/kill-%d" % i for i in range(8)]
    results, errors, stop = {}, [], threading.Event()

    def fetch(p):
        results[p] = get("edge-2", p + CC + "&gate=kill")
    held = [threading.Thread(target=fetch, args=(p,)) for p in paths]
    for t in held:
        t.start()
    wait_until(lambda: all(origin.count(p) == 1 for p in paths), what="the held misses at the origin")
    via = {r["path"].split("?")[0]: {k.lower(): v for k, v in r["headers"]}["via"]
           for r in origin.requests() if r["path"].startswith("/count/kill-")}
    through_p1 = [p for p in paths if "parent-1" in via[p]]
    assert through_p1 and len(through_p1) < len(paths), via  # 8 keys on one parent only: 1 in 128

    # traffic at every edge while parent-1 dies: hits of earlier keys and new misses
    def traffic():
        i = 0
        while not stop.is_set():
            for e in edges:
                st, h, b = get(e, "/count/during-%d-%s%s" % (i, e, CC))
                if st != 200:
                    errors.append((e, i, st, b))
                st, h, b = get(e, "/count/once-%d%s" % (i % 12, CC))
                if st != 200:
                    errors.append((e, "hit", st, b))
            i += 1
    tt = threading.Thread(target=traffic)
    tt.start()
    nodes["parent-1"].kill()  # SIGKILL: its connections reset, its port refuses
    origin.release("kill")
    for t in held:
        t.join(60)
    # the probes (health_url every 200ms) mark it down on every edge
    for e in edges:
        wait_until(lambda: nodes[e].metric("edgehook_parent_up", origin="web", parent="parent-1") == 0,
                   what="parent-1 down at " + e)
        assert nodes[e].metric("edgehook_parent_up", origin="web", parent="parent-2") == 1
    stop.set()
    tt.join(120)
    assert not errors, errors[:5]
    for p in paths:
        st, h, b = results[p]
        assert st == 200, (p, st, h, b)
        # the keys of parent-1 were fetched again through parent-2 (the held request died with parent-1)
        assert served_by(h)[0] == ("parent-2" if p in through_p1 else via[p].split()[-2]), (p, h)
    # new keys all go to parent-2 now, and each still reaches the origin once
    for i in range(6):
        p = "/count/after-%d" % i
        for e in edges:
            st, h, b = get(e, p + CC)
            assert st == 200 and served_by(h)[0] == "parent-2" and b"count=1" in b, (e, p, h, b)
        assert origin.count(p) == 1
    assert metric("edge-2", "edgehook_parent_failures_total", origin="web", parent="parent-1") >= 1


@test
def a_loop_of_parents_is_refused():
    # edge-1 -> parent-1 -> edge-1: parent-1 is dead after the scenario above, so start it again first if needed
    if nodes["parent-1"].proc.poll() is not None:
        nodes["parent-1"] = Edge(config("parent-1"), name="parent-1b")
        wait_until(lambda: nodes["edge-1"].metric("edgehook_parent_up", origin="loop", parent="parent-1") == 1,
                   what="parent-1 up again at edge-1")
    # parent-1 probes edge-1 (a TCP connect): wait until it counts edge-1 up, or it would go to the origin (parents_fallback)
    wait_until(lambda: nodes["parent-1"].metric("edgehook_parent_up", origin="loop", parent="edge-1") == 1,
               what="edge-1 up at parent-1")
    st, h, b = get("edge-1", "/loop/x" + CC)
    assert st == 508, (st, h, b)
    assert origin.count("/loop/x") == 0
    assert metric("edge-1", "edgehook_parent_loops_total") == 1
    assert "answered 508" in nodes["parent-1"].log()
    # a Via naming another node is no loop
    st, h, b = curl_status("-H", "Host: " + HOST, "-H", "Via: 1.1 edge-9 (edgehook)", main_url("edge-2") + "/count/once-0" + CC)
    assert st == 200, (st, h)
    # and one naming this node is, whatever else the header says
    st, h, b = curl_status("-H", "Host: " + HOST, "-H", "Via: 1.0 fred, 1.1 edge-2 (edgehook) , 1.1 x (y)",
                           main_url("edge-2") + "/count/once-0" + CC)
    assert st == 508, (st, h)


@test
def config_errors_name_the_line():
    bad = {
        "parents: []": "6: origins.web.parents: must list between 1 and 64 parents",
        'parents: [{url: "http://h:1/x"}]': "6: origins.web.parents[0].url: a parent gets the viewer's path as it is",
        'parents: [{url: "http://h:1", health_url: "https://h:2/"}]': "origins.web.parents[0].health_url: must be http://",
        'parents: [{url: "http://h:1", name: a}, {url: "http://h:2", name: a}]': 'parents[1]: two parents named "a"',
        "parents_fallback: maybe": "origins.web.parents_fallback: must be origin or error",
        "parent_health_interval: 1s": "origins.web.parent_health_interval: has no effect without parents:",
        'parents: [{url: "http://h:1", weight: 0}]': "6: origins.web.parents[0].weight:",
        'parents: [{url: "http://h:1", weight: 101}]': "6: origins.web.parents[0].weight:",
        "parent_health_fails: 3": "origins.web.parent_health_fails: has no effect without parents:",
        'parents: [{url: "http://h:1"}]\n    parent_health_passes: 0': "7: origins.web.parent_health_passes:",
    }
    d = tempfile.mkdtemp(prefix="tier-conf-")
    for line, want in bad.items():
        path = os.path.join(d, "bad.yaml")
        with open(path, "w") as f:
            f.write('listen: {host: 127.0.0.1, port: 8080}\norigins:\n  web:\n    type: http\n    url: http://127.0.0.1:9\n'
                    '    %s\nbehaviors:\n  - {path: "*", origin: web}\n' % line)
        p = subprocess.run([BIN, "-t", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        out = p.stdout.decode()
        assert p.returncode != 0 and path + ":" in out and want in out, (line, out)


@test
def clean_logs():
    for n in nodes.values():
        n.assert_clean()
    for n in nodes.values():
        n.stop()
    origin.stop()


if __name__ == "__main__":
    run()
