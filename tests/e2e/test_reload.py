"""End-to-end: reloads are transactional. A refused reload (a hook file that does not compile, a config that does not build)
changes nothing: not GET /hooks, not the alias targets, not what is served, not what the next alias change deploys; it is
counted (edgehook_reloads_total{result="failed"}) and the log says why. Then a good reload applies."""
import http.client
import json
import os
import re
import signal
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import SANITIZE, Edge, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TOKEN = "reload-test-token"
TMP = tempfile.mkdtemp(prefix="e2e-reload-")
origin = Origin()

HOOK = """-- a test hook: says which version answered
function handler(event, context)
    local response = event.Records[1].cf.response
    response.headers["x-version"] = {{key = "X-Version", value = "%s"}}
    return response
end
"""


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


LIVE = write("tag.lua", HOOK % "1")
OTHER = write("other.lua", HOOK % "other")
BROKEN = write("broken.lua", "function handler(event\n")
V2 = write("tag_v2.lua", HOOK % "2")


def config(tag_ref="tag", other=OTHER):
    return """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
origins:
  web: {type: http, url: "%s"}
hooks:
  tag: {lua: %s}
  other: {lua: %s}
behaviors:
  - {path: "/canary/*", origin: web, hooks: {viewer-response: tag@canary}}
  - {path: "/other/*", origin: web, hooks: {viewer-response: other}}
  - {path: "*", origin: web, hooks: {viewer-response: %s}}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
""" % (origin.url, LIVE, other, tag_ref, TOKEN)


GOOD = config()
edge = Edge(GOOD)


def registry():
    st, reg = edge.admin("GET", "/hooks")
    assert st == 200, reg
    return reg


def reloads(result):
    st, text = edge.admin("GET", "/metrics")
    assert st == 200
    label = "failed" if result == "refused" else result  # a refused reload is counted as failed
    m = re.search(r'^edgehook_reloads_total\{result="%s"\} (\d+)$' % label, text, re.M)
    assert m, text[:2000]
    return int(m.group(1))


def served(path="/count/r?cc=max-age=600", n=8):
    """the x-version of n requests on fresh connections (both workers answer some)"""
    seen = set()
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        c.close()
        assert r.status == 200, r.status
        seen.add(r.getheader("x-version"))
    return seen


def reload_with(text, result):
    """writes the config, sends SIGHUP and waits for the reload to be counted; returns the log lines it wrote"""
    before = {"ok": reloads("ok"), "refused": reloads("refused")}
    mark = len(edge.log())
    with open(edge.conf_path, "w") as f:
        f.write(text)
    edge.signal(signal.SIGHUP)
    wait_until(lambda: reloads(result) == before[result] + 1, timeout=10, what="the reload counted as " + result)
    other = "refused" if result == "ok" else "ok"
    assert reloads(other) == before[other]
    wait_until(lambda: ("reload refused" if result == "refused" else "reload: configuration applied") in edge.log()[mark:],
               what="the reload's log line")
    return edge.log()[mark:]


def unchanged(baseline, lines):
    assert registry() == baseline, (registry(), baseline)
    assert served() == {"1"}
    assert served("/canary/count/r?cc=max-age=600") == {"1"}
    # nothing of the refused reload was logged as done: no version published, no alias moved
    assert "published" not in lines and "alias live ->" not in lines, lines


@test
def refused_reloads_change_nothing():
    baseline = registry()
    assert [v["version"] for v in baseline["hooks"]["tag"]["versions"]] == [1]
    assert baseline["hooks"]["tag"]["aliases"]["live"]["versions"] == {"1": 1}
    assert served() == {"1"}
    assert reloads("ok") == 0 and reloads("refused") == 0
    # 1. the hook's file gets new content that compiles, but another hook's file does not: refused, live stays on 1
    with open(LIVE, "w") as f:
        f.write(HOOK % "refused")
    lines = reload_with(config(other=BROKEN), "refused")
    line = [ln for ln in lines.splitlines() if "reload refused" in ln][-1]
    assert re.search(r"hooks\.other: %s:\d+: " % re.escape(BROKEN), line), line  # the file as given, not the version's copy
    unchanged(baseline, lines)
    # 2. new content that compiles, and a config that does not build (a behavior pins a version that does not exist)
    lines = reload_with(config(tag_ref="tag@99"), "refused")
    line = [ln for ln in lines.splitlines() if "reload refused" in ln][-1]
    assert re.search(r"behaviors\[2\]\.hooks\.viewer-response: hook tag has no version 99", line), line
    unchanged(baseline, lines)
    # 3. a file that is not a config
    lines = reload_with(GOOD.replace("behaviors:", "behaviours:"), "refused")
    assert re.search(r"reload refused.*behaviours: unknown key", lines), lines
    unchanged(baseline, lines)
    assert reloads("refused") == 3 and reloads("ok") == 0


@test
def next_alias_change_deploys_only_what_it_names():
    # the bug a non-transactional reload left: live moved by a refused reload went out with the next alias change
    st, res = edge.admin("PUT", "/hooks/tag/aliases/canary", {"versions": {"1": 1}})
    assert st == 200, res
    assert res["hooks"]["tag"]["aliases"]["live"]["versions"] == {"1": 1}, res
    assert [v["version"] for v in res["hooks"]["tag"]["versions"]] == [1], res
    assert served() == {"1"} and served("/canary/count/r?cc=max-age=600") == {"1"}
    # the refused reloads used no version number: the next one published is 2
    st, res = edge.admin("POST", "/hooks/tag/versions", {"path": V2})
    assert st == 201 and res["version"] == 2, res
    st, res = edge.admin("PUT", "/hooks/tag/aliases/live", {"versions": {"2": 1}})
    assert st == 200, res
    wait_until(lambda: served() == {"2"}, timeout=10, what="version 2 on every thread")
    st, res = edge.admin("POST", "/hooks/tag/aliases/live/rollback")
    assert st == 200 and res["hooks"]["tag"]["aliases"]["live"]["versions"] == {"1": 1}, res
    wait_until(lambda: served() == {"1"}, timeout=10, what="version 1 again")


@test
def refused_admin_change_changes_nothing():
    # an alias change whose bindings do not resolve (a version that does not handle the event) is refused whole
    baseline = registry()
    handles_nothing = write("tag_origin_only.lua", "function origin_request(event)\n  return event.Records[1].cf.request\nend\n")
    st, res = edge.admin("POST", "/hooks/tag/versions", {"path": handles_nothing})
    assert st == 201 and res["version"] == 3, res
    baseline = registry()
    st, res = edge.admin("PUT", "/hooks/tag/aliases/live", {"versions": {"3": 1}})
    assert st == 409 and "does not handle viewer-response" in res["error"], (st, res)
    assert registry() == baseline
    assert served() == {"1"}


@test
def good_reload_applies():
    with open(LIVE, "w") as f:
        f.write(HOOK % "4")
    lines = reload_with(GOOD, "ok")
    # live was last set by the admin API (moved to 2, rolled back): the edited file is published, live stays where a person put it
    assert "hook tag: version 4 published from" in lines, lines
    assert re.search(r"hook tag: live stays at version 1; set by admin at \S+; new version 4 published, move it with update-alias",
                     lines), lines
    assert "alias live ->" not in lines, lines
    assert served() == {"1"}
    st, res = edge.admin("PUT", "/hooks/tag/aliases/live", {"versions": {"4": 1}})
    assert st == 200, res
    wait_until(lambda: served() == {"4"}, timeout=10, what="the reloaded version")
    reg = registry()
    assert [v["version"] for v in reg["hooks"]["tag"]["versions"]] == [1, 2, 3, 4], reg
    assert reg["hooks"]["tag"]["aliases"]["live"]["versions"] == {"4": 1}, reg
    assert reloads("ok") == 1 and reloads("refused") == 3


def control_jobs():
    st, text = edge.admin("GET", "/metrics")
    return int(re.search(r"^edgehook_control_jobs_total (\d+)$", text, re.M).group(1))


@test
def admin_calls_and_reloads_are_serialised_on_the_control_thread():
    # alias changes from 16 connections at once and SIGHUPs meanwhile: every call answered, one at a time on the control thread
    import threading
    jobs0 = control_jobs()
    mark = len(edge.log())
    results = []

    def change(i):
        results.append(edge.admin("PUT", "/hooks/tag/aliases/canary", {"versions": {"1": 1} if i % 2 else {"4": 1}}))
    threads = [threading.Thread(target=change, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for _ in range(3):
        edge.signal(signal.SIGHUP)
    for t in threads:
        t.join(60)
    assert len(results) == 16 and all(st == 200 for st, _ in results), results
    wait_until(lambda: reloads("ok") >= 2, timeout=10, what="the reloads")  # SIGHUPs queued together are one reload
    assert control_jobs() >= jobs0 + 17
    reg = registry()
    assert reg["hooks"]["tag"]["aliases"]["canary"]["versions"] in ({"1": 1}, {"4": 1}), reg
    assert reg["hooks"]["tag"]["aliases"]["live"]["versions"] == {"4": 1}, reg
    # the reload and the changes ran on the control thread, not on a worker
    lines = edge.log()[mark:]
    assert re.search(r"\[control\] reload: configuration applied", lines), lines
    assert re.search(r"\[control\] hook tag: alias canary -> version", lines), lines
    assert served() == {"4"}


@test
def admin_client_gone_before_the_answer():
    # the client leaves while its job runs: the job completes, its answer is dropped, nothing breaks
    import socket
    n0 = control_jobs()
    body = json.dumps({"path": V2}).encode()
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", edge.ports["admin"]))
        s.sendall(b"POST /hooks/tag/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
                  b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        s.close()
    wait_until(lambda: control_jobs() >= n0 + 10, timeout=20, what="the ten jobs")
    st, res = edge.admin("POST", "/hooks/tag/versions", {"path": V2})
    assert st == 201 and res["version"] == 2, res  # the same content: the same version
    assert served() == {"4"}


def long_loop_iterations(over):
    """iterations of the worker loops that took more than `over` seconds of CPU (edgehook_worker_loop_busy_seconds)"""
    st, text = edge.admin("GET", "/metrics")
    buckets = [(float("inf") if m.group(1) == "+Inf" else float(m.group(1)), int(m.group(2)))
               for m in re.finditer(r'^edgehook_worker_loop_busy_seconds_bucket\{le="([^"]+)"\} (\d+)$', text, re.M)]
    at = max(n for le, n in buckets if le <= over)
    return buckets[-1][1] - at


@test
def a_big_hook_is_compiled_off_the_worker_loops():
    # a 4 MB Lua hook: compiling it takes hundreds of ms. Publishing it and moving live to it (and a reload with it) compile
    # on the control thread; the worker loops only take the states built for them, so none of their iterations gets long
    big = os.path.join(TMP, "tag_big.lua")
    with open(big, "w") as f:
        f.write("local t = {}\n")
        i = 0
        while f.tell() < 4 << 20:
            f.write("t[%d] = function(s) local x = {} for k = 1, #s do x[k] = s:sub(k, k) .. '%d' end return table.concat(x) end\n"
                    % (i, i))
            i += 1
        f.write(HOOK % "big")
    over = 1.0 if SANITIZE else 0.1
    before = long_loop_iterations(over)
    st, res = edge.admin("POST", "/hooks/tag/versions", {"path": big})
    assert st == 201, res
    st, res = edge.admin("PUT", "/hooks/tag/aliases/live", {"versions": {str(res["version"]): 1}})
    assert st == 200, res
    wait_until(lambda: served() == {"big"}, timeout=20, what="the big version on every thread")
    assert long_loop_iterations(over) == before, "a worker loop iteration took more than %g s of CPU" % over


if __name__ == "__main__":
    try:
        run()
    finally:
        rc = edge.stop()
        edge.assert_clean()
        origin.stop()
        if rc != 0:
            sys.exit(1)
