"""End-to-end: hook versions and aliases kept in the state dir: after a clean restart and after kill -9 right after an admin
change, a config pinning NAME@N, a SIGHUP with an edited file during an API split, rollback N steps, a broken state.json, and a
state dir that cannot be written."""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BIN, Edge, SLOW, run, test, version_hook, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TOKEN = "state-test-token"
TMP = tempfile.mkdtemp(prefix="e2e-state-")
origin = Origin()


def hook_file(name, version):
    return version_hook(TMP, name, version)


V = {n: hook_file("tag_v%d.lua" % n, str(n)) for n in range(1, 6)}


def config(live_file, tag_ref="tag", state_dir=None):
    text = """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: combined}
origins:
  web: {type: http, url: "%s"}
hooks:
  tag: {lua: %s}
behaviors:
  - {path: "/canary/*", origin: web, hooks: {viewer-response: tag@canary}}
  - {path: "/pinned/*", origin: web, hooks: {viewer-response: %s}}
  - {path: "*", origin: web, hooks: {viewer-response: tag}}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
""" % (origin.url, live_file, tag_ref, TOKEN)
    if state_dir:
        text += "state_dir: %s\n" % state_dir
    return text


def new_case(name):
    """a directory with its own state dir and live hook file (a copy of version 1)"""
    d = tempfile.mkdtemp(prefix=name + "-", dir=TMP)
    live = os.path.join(TMP, "tag-%s.lua" % name)  # beside the versions: the admin API loads from the config's hook directories
    shutil.copy(V[1], live)
    return d, os.path.join(d, "state"), live


def version_of(edge, path="/count/v?cc=max-age=600", headers=None, conn=None):
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    r.read()
    if own:
        c.close()
    return r.getheader("x-version")


def share_over_viewers(edge, path, n=2000):
    """{version: viewers} over n viewers (x-viewer header keys)"""
    counts = {}
    conns = [http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30) for _ in range(4)]
    for i in range(n):
        v = version_of(edge, path, {"x-viewer": "viewer-%d" % i}, conns[i % 4])
        counts[v] = counts.get(v, 0) + 1
    for c in conns:
        c.close()
    return counts


def ok(edge, method, path, body=None, status=(200, 201)):
    st, res = edge.admin(method, path, body)
    assert st in status, (method, path, st, res)
    return res


def registry(edge):
    return ok(edge, "GET", "/hooks")["hooks"]["tag"]


def durable_view(h):
    """what must survive a restart: versions (number, code, settings) and aliases (targets, key, description, history)"""
    versions = [(v["version"], v["sha256"], v["code_sha256"], v["size"], v["created"]) for v in h["versions"]]
    aliases = {name: (a["versions"], a["key"], a["description"], [(e["versions"], e["at"], e["by"], e["rollback"]) for e in a["history"]])
               for name, a in h["aliases"].items()}
    return versions, aliases, h["next_version"]


def start(d, state, live, **kw):
    return Edge(config(live, **kw), workdir=d, state_dir=state)


@test
def versions_and_aliases_survive_a_clean_restart():
    d, state, live = new_case("restart")
    edge = start(d, state, live)
    assert ok(edge, "POST", "/hooks/tag/versions", {"path": V[2]})["version"] == 2
    assert ok(edge, "POST", "/hooks/tag/versions", {"path": V[3]})["version"] == 3
    ok(edge, "PUT", "/hooks/tag/aliases/canary", {"versions": {"1": 0.9, "2": 0.1}, "key": "header:x-viewer"})
    ok(edge, "PUT", "/hooks/tag/aliases/beta", {"versions": {"3": 1}})
    before = durable_view(registry(edge))
    # one edgehook per state dir: a second one is refused, saying which process has it
    other = Edge(config(live), workdir=tempfile.mkdtemp(prefix="other-", dir=TMP), state_dir=state, expect_fail=True)
    assert other.proc.wait(30 * SLOW) == 1
    assert "the state dir is in use by another edgehook (pid %d)" % edge.proc.pid in other.log(), other.log()
    other.stop()
    assert edge.stop() == 0
    # the layout: state.json and the content-addressed code
    assert os.path.isfile(os.path.join(state, "hooks", "state.json"))
    codes = sorted(os.listdir(os.path.join(state, "code")))
    assert codes == sorted(v["sha256"] + ".lua" for v in registry_from_file(state)["versions"]), codes

    edge = start(d, state, live)
    h = registry(edge)
    assert durable_view(h) == before, (durable_view(h), before)
    assert h["aliases"]["canary"]["versions"] == {"1": 0.9, "2": 0.1} and h["aliases"]["canary"]["key"] == "header:x-viewer"
    # the same file again at start: no new version, live untouched
    assert [v["version"] for v in h["versions"]] == [1, 2, 3]
    assert "published" not in edge.log(), edge.log()
    # the split serves as before the restart, measured over viewers
    counts = share_over_viewers(edge, "/canary/count/c?cc=max-age=600")
    share = 100.0 * counts.get("2", 0) / sum(counts.values())
    print("  canary share over 2,000 viewers after a restart: %.2f %% (target 10 +- 3)" % share)
    assert set(counts) == {"1", "2"} and 7.0 <= share <= 13.0, counts
    assert version_of(edge) == "1"
    edge.stop()
    edge.assert_clean()


def registry_from_file(state):
    import json
    with open(os.path.join(state, "hooks", "state.json")) as f:
        return json.load(f)["hooks"]["tag"]


@test
def kill_9_right_after_an_admin_change_keeps_it():
    d, state, live = new_case("kill9")
    edge = start(d, state, live)
    changes = [
        ("POST", "/hooks/tag/versions", {"path": V[2]}, lambda h: [v["version"] for v in h["versions"]] == [1, 2]),
        ("PUT", "/hooks/tag/aliases/canary", {"versions": {"1": 0.5, "2": 0.5}, "key": "cookie:uid"},
         lambda h: h["aliases"]["canary"]["versions"] == {"1": 0.5, "2": 0.5} and h["aliases"]["canary"]["key"] == "cookie:uid"),
        ("PUT", "/hooks/tag/aliases/live", {"versions": {"2": 1}}, lambda h: h["aliases"]["live"]["versions"] == {"2": 1}),
        ("POST", "/hooks/tag/aliases/live/rollback", None,
         lambda h: h["aliases"]["live"]["versions"] == {"1": 1} and h["aliases"]["live"]["history"][-1]["rollback"]),
        ("DELETE", "/hooks/tag/aliases/canary", None, lambda h: "canary" not in h["aliases"]),
    ]
    for method, path, body, check in changes:
        ok(edge, method, path, body)
        edge.proc.kill()  # SIGKILL as soon as the answer is in
        edge.proc.wait()
        edge.logf.close()
        edge.outf.close()
        edge = start(d, state, live)
        h = registry(edge)
        assert check(h), (method, path, h)
    # and what is served follows: live was rolled back to 1
    assert version_of(edge) == "1"
    edge.stop()
    edge.assert_clean()


def check_config(text, d):
    path = os.path.join(d, "check.yaml")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([BIN, "-t", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=d, timeout=60 * SLOW)
    return p.returncode, p.stdout.decode() + p.stderr.decode(), path


@test
def a_config_pins_a_version_kept_in_the_state():
    d, state, live = new_case("pin")
    edge = start(d, state, live)
    assert ok(edge, "POST", "/hooks/tag/versions", {"path": V[2]})["version"] == 2
    edge.stop()
    # -t reads the state (and writes nothing): tag@2 exists there
    pinned = config(live, tag_ref="tag@2", state_dir=state)
    before = open(os.path.join(state, "hooks", "state.json")).read()
    rc, out, path = check_config(pinned, d)
    assert rc == 0 and "configuration is valid" in out, out
    assert open(os.path.join(state, "hooks", "state.json")).read() == before
    # and it starts, after the restart, serving version 2 where it is pinned
    edge = Edge(pinned, workdir=d)
    assert version_of(edge, "/pinned/count/p") == "2" and version_of(edge) == "1"
    edge.stop()
    # a version the state does not have: FILE:LINE at -t and at start
    bad = config(live, tag_ref="tag@9", state_dir=state)
    rc, out, path = check_config(bad, d)
    assert rc == 1 and re.search(r"check\.yaml:\d+: behaviors\[1\]\.hooks\.viewer-response: hook tag has no version 9", out), out
    edge = Edge(bad, workdir=d, expect_fail=True)
    assert edge.proc.wait(30 * SLOW) == 1
    assert re.search(r"edge\.yaml:\d+: behaviors\[1\]\.hooks\.viewer-response: hook tag has no version 9", edge.log()), edge.log()
    edge.stop()


@test
def sighup_with_an_edited_file_keeps_an_api_split():
    d, state, live = new_case("split")
    edge = start(d, state, live)
    assert ok(edge, "POST", "/hooks/tag/versions", {"path": V[2]})["version"] == 2
    ok(edge, "PUT", "/hooks/tag/aliases/live", {"versions": {"1": 0.9, "2": 0.1}, "key": "header:x-viewer"})
    mark = len(edge.log())
    shutil.copy(V[3], live)
    edge.signal(signal.SIGHUP)
    wait_until(lambda: "reload: configuration applied" in edge.log()[mark:], what="the reload")
    lines = edge.log()[mark:]
    assert "hook tag: version 3 published from %s" % live in lines, lines
    assert re.search(r"hook tag: live stays at version 1 \(0\.9\) and 2 \(0\.1\); set by admin at \S+; new version 3 published, "
                     r"move it with update-alias", lines), lines
    h = registry(edge)
    assert [v["version"] for v in h["versions"]] == [1, 2, 3] and h["aliases"]["live"]["versions"] == {"1": 0.9, "2": 0.1}, h
    counts = share_over_viewers(edge, "/count/s?cc=max-age=600")
    share = 100.0 * counts.get("2", 0) / sum(counts.values())
    print("  live split over 2,000 viewers after the SIGHUP: %.2f %% on 2 (target 10 +- 3)" % share)
    assert set(counts) == {"1", "2"} and 7.0 <= share <= 13.0, counts
    # the same after a restart with that file: the config does not take live back
    edge.stop()
    edge = start(d, state, live)
    assert registry(edge)["aliases"]["live"]["versions"] == {"1": 0.9, "2": 0.1}
    edge.stop()
    edge.assert_clean()


@test
def a_config_owned_live_follows_the_file():
    d, state, live = new_case("follow")
    edge = start(d, state, live)
    shutil.copy(V[2], live)
    mark = len(edge.log())
    edge.signal(signal.SIGHUP)
    wait_until(lambda: "reload: configuration applied" in edge.log()[mark:], what="the reload")
    assert "hook tag: alias live -> version 2 (from the configuration)" in edge.log()[mark:]
    wait_until(lambda: version_of(edge) == "2", what="version 2")
    edge.stop()
    # an edit while stopped: at start, the same rule
    shutil.copy(V[3], live)
    edge = start(d, state, live)
    assert registry(edge)["aliases"]["live"]["versions"] == {"3": 1} and version_of(edge) == "3"
    edge.stop()


@test
def rollback_walks_the_history_any_number_of_steps():
    d, state, live = new_case("rollback")
    edge = start(d, state, live)
    for n in (2, 3, 4):
        assert ok(edge, "POST", "/hooks/tag/versions", {"path": V[n]})["version"] == n
    for n in (1, 2, 3, 4):
        ok(edge, "PUT", "/hooks/tag/aliases/beta", {"versions": {str(n): 1}})
    res = ok(edge, "POST", "/hooks/tag/aliases/beta/rollback", {"steps": 3})
    beta = res["hooks"]["tag"]["aliases"]["beta"]
    assert beta["versions"] == {"1": 1}, beta
    assert [list(e["versions"]) for e in beta["history"]] == [["1"], ["2"], ["3"], ["4"], ["1"]], beta
    assert [e["by"] for e in beta["history"]] == ["admin"] * 5 and beta["history"][-1]["rollback"] is True
    # nothing before the first target: refused with a reason, nothing changes
    st, res = edge.admin("POST", "/hooks/tag/aliases/beta/rollback", {"steps": 1})
    assert st == 409 and "no earlier target" in res["error"], (st, res)
    # a target set after a rollback goes back to the one it replaced
    ok(edge, "PUT", "/hooks/tag/aliases/beta", {"versions": {"3": 1}})
    res = ok(edge, "POST", "/hooks/tag/aliases/beta/rollback")
    assert res["hooks"]["tag"]["aliases"]["beta"]["versions"] == {"1": 1}
    st, res = edge.admin("POST", "/hooks/tag/aliases/beta/rollback", {"steps": 0})
    assert st == 400, (st, res)
    # the walk survives a restart: the history is in the state
    ok(edge, "PUT", "/hooks/tag/aliases/beta", {"versions": {"4": 1}})
    edge.stop()
    edge = start(d, state, live)
    res = ok(edge, "POST", "/hooks/tag/aliases/beta/rollback", {"steps": 1})
    assert res["hooks"]["tag"]["aliases"]["beta"]["versions"] == {"1": 1}, res
    st, res = edge.admin("POST", "/hooks/tag/aliases/beta/rollback", {"steps": 2})
    assert st == 409 and "has no earlier target" in res["error"], (st, res)
    edge.stop()


@test
def a_broken_state_file_stops_the_start_with_its_name():
    d, state, live = new_case("broken")
    edge = start(d, state, live)
    ok(edge, "PUT", "/hooks/tag/aliases/canary", {"versions": {"1": 1}})
    edge.stop()
    path = os.path.join(state, "hooks", "state.json")
    good = open(path, "rb").read()
    for name, content in (("torn", good[:len(good) // 2]), ("garbage", b"\x00\xffnot json at all"),
                          ("not ours", b'{"hello": "world"}')):
        with open(path, "wb") as f:
            f.write(content)
        edge = Edge(config(live), workdir=d, state_dir=state, expect_fail=True)
        assert edge.proc.wait(30 * SLOW) == 1, name
        log = edge.log()
        assert path in log and "cannot be read" in log, (name, log)
        edge.stop()
        edge.assert_clean()
        rc, out, _ = check_config(config(live, state_dir=state), d)
        assert rc == 1 and path in out, (name, out)
        # the file was not replaced by an empty state
        assert open(path, "rb").read() == content
    with open(path, "wb") as f:
        f.write(good)
    edge = start(d, state, live)
    assert "canary" in registry(edge)["aliases"]
    edge.stop()


@test
def a_state_dir_that_cannot_be_written_refuses_the_change():
    d, state, live = new_case("readonly")
    edge = start(d, state, live)
    assert ok(edge, "POST", "/hooks/tag/versions", {"path": V[2]})["version"] == 2
    before = registry(edge)
    # the hooks/ directory replaced by a file: state.json cannot be written (root ignores permissions; ENOTDIR does not)
    hooks_dir = os.path.join(state, "hooks")
    os.rename(hooks_dir, hooks_dir + ".away")
    open(hooks_dir, "w").close()
    st, res = edge.admin("PUT", "/hooks/tag/aliases/live", {"versions": {"2": 1}})
    assert st == 500 and "state.json: cannot write" in res["error"], (st, res)
    st, res = edge.admin("PUT", "/hooks/tag/aliases/canary", {"versions": {"2": 1}})
    assert st == 500, (st, res)
    assert registry(edge) == before
    assert version_of(edge) == "1" and version_of(edge, "/canary/count/x") == "1"
    # a reload with an edited file is refused too, and the running configuration stays
    shutil.copy(V[3], live)
    mark = len(edge.log())
    edge.signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in edge.log()[mark:], what="the refused reload")
    assert registry(edge) == before and version_of(edge) == "1"
    # code that cannot be stored: publishing is refused
    os.remove(hooks_dir)
    os.rename(hooks_dir + ".away", hooks_dir)
    code_dir = os.path.join(state, "code")
    os.rename(code_dir, code_dir + ".away")
    open(code_dir, "w").close()
    st, res = edge.admin("POST", "/hooks/tag/versions", {"path": V[4]})
    assert st == 500 and "cannot write" in res["error"], (st, res)
    assert registry(edge) == before
    os.remove(code_dir)
    os.rename(code_dir + ".away", code_dir)
    # writable again: the same change goes through
    ok(edge, "PUT", "/hooks/tag/aliases/live", {"versions": {"2": 1}})
    wait_until(lambda: version_of(edge) == "2", what="version 2")
    edge.stop()
    edge.assert_clean()


if __name__ == "__main__":
    try:
        run()
    finally:
        origin.stop()
