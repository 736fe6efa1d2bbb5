"""End-to-end: kv stores (CloudFront KeyValueStore). Written through the admin API, read by Lua and C hooks through real HTTP:
an acknowledged PUT is what every worker's next call reads; a bulk write is seen whole by a call that reads two keys while
writes run; acknowledged writes survive kill -9; limits, hostile keys and a missing token are refused with a clear error; a
hook reads only the stores its kv: list names."""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BIN, BUILD, SLOW, SRC, Edge, run, test, wait_until  # noqa: E402

TOKEN = "kv-test-token-1234"
KV_READ = os.path.join(SRC, "tests/hooks/kv_read.lua")
KV_READER = os.path.join(BUILD, "tests/hooks/libkv_reader.so")
KV_REDIRECTS = os.path.join(SRC, "examples/hooks/lua/kv_redirects.lua")


def config(extra_kv=""):
    return """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
origins:
  web: {type: http, url: "http://127.0.0.1:9"}
kv:
  flags: {}
  small: {path: ./data/kv/small.kvlog, max_keys: 3, max_bytes: 64, max_value: 16}
  redirects: {}
%s
hooks:
  lua: {lua: %s, kv: [flags, small]}
  native: {native: %s, kv: [flags]}
  nokv: {lua: %s}
  redirects: {lua: %s, kv: [redirects]}
behaviors:
  - {path: "/r/*", origin: web, hooks: {viewer-request: redirects}}
  - {path: "/c/*", origin: web, hooks: {viewer-request: native}}
  - {path: "/nokv/*", origin: web, hooks: {viewer-request: nokv}}
  - {path: "*", origin: web, hooks: {viewer-request: lua}}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
""" % (extra_kv, KV_READ, KV_READER, KV_READ, KV_REDIRECTS, TOKEN)


def start(workdir=None):
    return Edge(config(), workdir=workdir)


def admin(e, method, path, body=None, token=TOKEN):
    """an admin call answered as raw bytes (Edge.admin decodes JSON, and a stored value such as "0" is not JSON): status, body"""
    conn = http.client.HTTPConnection("127.0.0.1", e.ports["admin"], timeout=30 * SLOW)
    headers = {}
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def get(e, path, headers=None):
    """a new connection each time (so the kernel spreads them over the workers): status, headers, body"""
    conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=30 * SLOW)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    h = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, h, data


def worker_of(h):
    # the request id is CloudFront-shaped: 40 bytes in base64url, the fourth of which is the worker
    return base64.urlsafe_b64decode(h["x-request-id"])[3]


@test
def put_is_read_by_every_worker_after_its_answer():
    e = start()
    try:
        for i in range(3):
            value = "value-%d" % i
            st, body = admin(e, "PUT", "/kv/flags/color", value)
            assert st == 200, body
            assert json.loads(body)["version"] == i + 1, body
            # the answer comes once every worker's next call reads it: every request from now on, on either worker
            seen = set()
            for _ in range(2000):
                s, h, b = get(e, "/", {"X-Key": "color"})
                assert (s, b) == (200, value.encode()), (s, b, value)
                seen.add(worker_of(h))
                if len(seen) == 2:
                    break
            assert len(seen) == 2, seen
        # C plugins read it too
        s, h, b = get(e, "/c/x", {"X-Key": "color"})
        assert (s, b) == (200, b"value-2"), (s, b)
        s, h, b = get(e, "/c/x", {"X-Key": "absent"})
        assert s == 404, s
        st, body = admin(e, "GET", "/kv/flags/color")
        assert (st, body) == (200, b"value-2")
        st, body = admin(e, "DELETE", "/kv/flags/color")
        assert st == 200 and json.loads(body)["deleted"] is True, body
        s, h, b = get(e, "/", {"X-Key": "color"})
        assert (s, b, h["x-exists"]) == (404, b"absent", "false")
        assert admin(e, "DELETE", "/kv/flags/color")[0] == 404
        assert admin(e, "GET", "/kv/flags/color")[0] == 404
        assert e.metric("edgehook_kv_updates_total", store="flags") == 4
        assert e.metric("edgehook_kv_keys", store="flags") == 0
        e.assert_clean()
    finally:
        e.stop()


@test
def bulk_writes_are_all_or_nothing_and_calls_see_one_snapshot():
    e = start()
    try:
        st, body = admin(e, "POST", "/kv/flags", {"a": "0", "b": "0", "c": "x"})
        assert st == 200 and json.loads(body)["changes"] == 3, body
        # a refused bulk write changes nothing: one value is not a string
        st, body = admin(e, "POST", "/kv/flags", {"a": "1", "b": 2})
        assert st == 400 and b"not a string" in body, body
        st, body = admin(e, "POST", "/kv/flags", "[1, 2]")
        assert st == 400 and b"JSON object" in body, body
        st, body = admin(e, "POST", "/kv/flags", "{\"a\": ")
        assert st == 400, body
        assert admin(e, "GET", "/kv/flags/a") == (200, b"0")
        # calls read a, spin, read b while bulk writes set both: never two values in one call
        stop = threading.Event()
        writes = [0]

        def writer():
            i = 0
            while not stop.is_set():
                i += 1
                st, body = admin(e, "POST", "/kv/flags", {"a": str(i), "b": str(i), "c": None})
                assert st == 200, body
                writes[0] = i
        t = threading.Thread(target=writer)
        t.start()
        try:
            seen = set()
            for n in range(100000):
                s, h, b = get(e, "/", {"X-Key": "a", "X-Key2": "b", "X-Spin": "200000"})
                assert s == 200, (s, b)
                assert h["x-value2"] == b.decode(), (b, h["x-value2"])  # one snapshot per call
                seen.add(b)
                if len(seen) >= 5 and n >= 50:
                    break
            assert len(seen) >= 5, seen  # the writes really ran meanwhile
            for n in range(100000):
                s, h, b = get(e, "/c/x", {"X-Key": "a", "X-Key2": "b"})
                assert s == 200 and h["x-value2"] == b.decode(), (b, h)
                if n >= 50:
                    break
        finally:
            stop.set()
            t.join()
        st, body = admin(e, "GET", "/kv/flags")
        listing = json.loads(body)
        assert [i["key"] for i in listing["items"]] == ["a", "b"], listing  # c deleted by null
        assert listing["version"] == writes[0] + 1, (listing, writes)
        # replace: the store becomes the object
        st, body = admin(e, "POST", "/kv/flags?replace=1", {"only": "this"})
        assert st == 200, body
        st, body = admin(e, "GET", "/kv/flags")
        assert [(i["key"], i["value"]) for i in json.loads(body)["items"]] == [("only", "this")], body
        e.assert_clean()
    finally:
        e.stop()


@test
def acknowledged_writes_survive_kill_9():
    d = tempfile.mkdtemp(prefix="e2e-kv-")
    e = start(d)
    acked = {}
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            key, value = "k%d" % i, "v%d" % i
            try:
                st, body = admin(e, "PUT", "/kv/flags/" + key, value)
            except (OSError, http.client.HTTPException):
                return  # killed meanwhile: this write was never acknowledged
            if st == 200:
                acked[key] = value
            i += 1
    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_until(lambda: len(acked) >= 40, timeout=60, what="40 acknowledged writes")
        e.proc.send_signal(signal.SIGKILL)  # while writes are in flight
        e.proc.wait()
    finally:
        stop.set()
        t.join()
        e.kill()
    n = len(acked)
    e = start(d)
    try:
        st, body = admin(e, "GET", "/kv/flags?limit=1000")
        got = {i["key"]: i["value"] for i in json.loads(body)["items"]}
        for k, v in acked.items():
            assert got.get(k) == v, (k, v, got.get(k))
        assert len(got) in (n, n + 1), (n, len(got))  # at most the one write in flight when killed, whole
        k = sorted(acked, key=lambda x: int(x[1:]))[-1]
        s, h, b = get(e, "/", {"X-Key": k})
        assert (s, b) == (200, acked[k].encode())
        e.assert_clean()
    finally:
        e.stop()
    shutil.rmtree(d, ignore_errors=True)


@test
def limits_are_refused_with_a_clear_error():
    e = start()
    try:
        st, body = admin(e, "PUT", "/kv/flags/big", "x" * 1025)
        assert st == 413 and b"over the store's max_value of 1024" in body, (st, body)
        assert admin(e, "PUT", "/kv/flags/ok", "x" * 1024)[0] == 200
        st, body = admin(e, "PUT", "/kv/flags/" + "k" * 513, "v")
        assert st == 400 and b"over the limit of 512" in body, (st, body)
        assert admin(e, "PUT", "/kv/flags/" + "k" * 512, "v")[0] == 200
        st, body = admin(e, "PUT", "/kv/flags/bad", b"\xff\xfe")
        assert st == 400 and b"UTF-8" in body, (st, body)
        # the small store: 3 keys, 64 bytes
        for i in range(3):
            assert admin(e, "PUT", "/kv/small/k%d" % i, "v")[0] == 200
        st, body = admin(e, "PUT", "/kv/small/k3", "v")
        assert st == 413 and b"over its max_keys of 3" in body, (st, body)
        st, body = admin(e, "POST", "/kv/small", {"k0": "x" * 16, "k1": "y" * 16, "k2-longer-key-name": "z" * 16, "k2": None})
        assert st == 413 and b"max_bytes of 64" in body, (st, body)
        assert admin(e, "GET", "/kv/small/k0") == (200, b"v")  # nothing of the refused bulk write
        st, body = admin(e, "PUT", "/kv/nosuch/k", "v")
        assert st == 404 and b"no kv store" in body, (st, body)
        assert admin(e, "PATCH", "/kv/flags/k", "v")[0] == 405
        st, body = admin(e, "GET", "/kv/flags?limit=0")
        assert st == 400, body
        e.assert_clean()
    finally:
        e.stop()


@test
def admin_token_is_required():
    e = start()
    try:
        assert admin(e, "PUT", "/kv/flags/k", "v")[0] == 200
        for method, path, body in (("GET", "/kv", None), ("GET", "/kv/flags", None), ("GET", "/kv/flags/k", None),
                                   ("PUT", "/kv/flags/k", "evil"), ("DELETE", "/kv/flags/k", None),
                                   ("POST", "/kv/flags", {"k": "evil"})):
            for token in (None, "wrong-token-xxxxxxxxxx"):
                st, data = admin(e, method, path, body, token=token)
                assert st == 401, (method, path, token, st, data)
                assert b"evil" not in data and b'"v"' not in data
        assert admin(e, "GET", "/kv/flags/k") == (200, b"v")
    finally:
        e.stop()


def raw_admin(e, target, body=b"v"):
    """a PUT with the target sent byte for byte (no client-side dot removal)"""
    s = socket.create_connection(("127.0.0.1", e.ports["admin"]), timeout=30 * SLOW)
    s.sendall(b"PUT " + target + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
              b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return int(data.split(b" ", 2)[1]), data.split(b"\r\n\r\n", 1)[1]


@test
def hostile_keys_are_bytes_or_refused():
    d = tempfile.mkdtemp(prefix="e2e-kv-")
    e = start(d)
    try:
        before = sorted(os.listdir(d))
        st, body = raw_admin(e, b"/kv/flags/../../../etc/passwd")
        assert st == 200 and json.loads(body)["key"] == "../../../etc/passwd", (st, body)
        st, body = raw_admin(e, b"/kv/flags/..%2F..%2Fx%2F.")
        assert st == 200 and json.loads(body)["key"] == "../../x/.", (st, body)
        assert sorted(os.listdir(d)) == before  # no file made for a key: every store is one log file
        s, h, b = get(e, "/", {"X-Key": "../../../etc/passwd"})
        assert (s, b) == (200, b"v")
        st, body = raw_admin(e, b"/kv/flags/a%00b")
        assert st == 400 and b"control character" in body, (st, body)
        st, body = raw_admin(e, b"/kv/flags/a%0d%0aX-Evil:%201")
        assert st == 400 and b"control character" in body, (st, body)
        st, body = raw_admin(e, b"/kv/flags/%ff")
        assert st == 400 and b"UTF-8" in body, (st, body)
        st, body = raw_admin(e, b"/kv/flags/" + b"a" * 20000)
        assert st in (400, 414, 431), (st, body)
        st, body = raw_admin(e, b"/kv/flags/caf%C3%A9")
        assert st == 200 and json.loads(body)["key"] == "caf\u00e9", body
        st, body = admin(e, "GET", "/kv/flags?prefix=..")
        keys = [i["key"] for i in json.loads(body)["items"]]
        assert keys == ["../../../etc/passwd", "../../x/."], keys
        assert not os.path.exists("/etc/passwd.kvlog")
        e.assert_clean()
    finally:
        e.stop()
    shutil.rmtree(d, ignore_errors=True)


@test
def a_hook_reads_only_the_stores_its_kv_list_names():
    e = start()
    try:
        assert admin(e, "PUT", "/kv/small/k", "v")[0] == 200
        assert admin(e, "PUT", "/kv/flags/k", "f")[0] == 200
        s, h, b = get(e, "/", {"X-Key": "k", "X-Store": "small"})
        assert (s, b) == (200, b"v"), (s, b)
        # the native hook lists flags only
        s, h, b = get(e, "/c/x", {"X-Key": "k", "X-Store": "small"})
        assert (s, b) == (403, b"denied"), (s, b)
        # a Lua hook without kv: raises an error: 503, and the log says why
        s, h, b = get(e, "/nokv/x", {"X-Key": "k"})
        assert s == 503, (s, b)
        wait_until(lambda: 'may not read kv store "flags" (list it in the hook\'s kv: setting)' in e.log(), what="the log line")
        e.assert_clean()
    finally:
        e.stop()


@test
def example_redirects_from_a_store():
    """examples/hooks/lua/kv_redirects.lua, as examples/configs/kv.yaml runs it"""
    e = start()
    try:
        st, body = admin(e, "PUT", "/kv/redirects/%2Fr%2Fold", "/r/new")
        assert st == 200 and json.loads(body)["key"] == "/r/old", body
        s, h, b = get(e, "/r/old")
        assert (s, h.get("location")) == (301, "/r/new"), (s, h)
        s, h, b = get(e, "/r/other")  # no entry: the request goes on to the origin (none listens there)
        assert s == 502, s
        e.assert_clean()
    finally:
        e.stop()


@test
def config_check_names_unknown_stores():
    d = tempfile.mkdtemp(prefix="e2e-kv-")
    path = os.path.join(d, "bad.yaml")
    with open(path, "w") as f:
        f.write(config().replace("kv: [flags, small]", "kv: [flag]"))
    p = subprocess.run([BIN, "-t", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=d)
    assert p.returncode == 1, p
    assert b'hooks.lua.kv: no kv store named "flag" in kv (did you mean "flags"?)' in p.stderr, p.stderr
    with open(path, "w") as f:
        f.write(config().replace("max_keys: 3", "max_keys: 0"))
    p = subprocess.run([BIN, "-t", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=d)
    assert p.returncode == 1 and b"kv.small.max_keys" in p.stderr, p.stderr
    # a file that is not a kv log stops the start with the reason, and is left as it was
    os.makedirs(os.path.join(d, "data/kv"))
    with open(os.path.join(d, "data/kv/flags.kvlog"), "w") as f:
        f.write("not a log")
    e = Edge(config(), workdir=d, expect_fail=True)
    assert e.proc.wait(30 * SLOW) == 1
    assert "not an edgehook kv log" in e.log(), e.log()
    with open(os.path.join(d, "data/kv/flags.kvlog")) as f:
        assert f.read() == "not a log"
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    run()
