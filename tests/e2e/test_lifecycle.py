"""End-to-end: the process lifecycle an operator drives (issue 17, items 3, 4 and the unit of 7).

Drain: SIGTERM closes the traffic listeners at once (connect() is refused) while a request held at the origin's gate finishes
with Connection: close, HTTP/2 connections get GOAWAY, /healthz answers 503 `draining` and /metrics still answers, then exit 0;
a second signal stops at once (128 + its number). Start: /healthz answers 503 `starting` while a large store seed runs (with
progress lines), then `ok`. Logs: SIGUSR1 reopens the access and error logs after a rename, under traffic, losing no line;
the shipped logrotate file does it with `logrotate -f`; `error_log: {format: json}` writes one JSON object per line. Reloads:
POST /reload answers ok with what changed, "no change", or 422 with FILE:LINE; metrics count them; restart-only settings are
compared with what runs. systemd: the shipped unit passes `systemd-analyze verify`, and sd_notify says READY/RELOADING/STOPPING.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BIN, SLOW, SRC, Edge, Skip, curl_status, metric, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TMP = tempfile.mkdtemp(prefix="e2e-lifecycle-")
origin = Origin()
TOKEN = "lifecycle-token"


def config(extra="", grace="30s", threads=2, memory="64MB", logs=""):
    return """
threads: %d
listen:
  - {host: 127.0.0.1, port: 0}
%s
limits: {shutdown_grace: %s}
origins:
  web: {type: http, url: "%s", first_byte_timeout: 60s, read_timeout: 60s}
cache: {memory: %s}
behaviors:
  - {path: "*", origin: web}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
%s
""" % (threads, logs or 'access_log: {path: "-", format: combined}', grace, origin.url, memory, TOKEN, extra)


def healthz(edge):
    """(status, body) of /healthz on the admin listener"""
    st, body = edge.admin("GET", "/healthz", token="")
    return st, (body or "").strip() if isinstance(body, str) else body


def connect_refused(port):
    s = socket.socket()
    s.settimeout(5 * SLOW)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


def raw_request(port, path):
    """a connected socket that has sent GET path (HTTP/1.1, keep-alive)"""
    s = socket.create_connection(("127.0.0.1", port), timeout=60 * SLOW)
    s.sendall(("GET %s HTTP/1.1\r\nHost: cdn.test\r\n\r\n" % path).encode())
    return s


def read_response(s):
    """(head text, body bytes) of one response with Content-Length, read until the peer closes"""
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


# ---- HTTP/2 frames by hand (h2c prior knowledge) --------------------------------------------------------------------------

def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


class H2:
    def __init__(self, port):
        import hpack  # Debian python3-hpack
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60 * SLOW)
        self.s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b""))
        self.enc, self.dec, self.buf = hpack.Encoder(), hpack.Decoder(), b""

    def request(self, stream, path):
        block = self.enc.encode([(":method", "GET"), (":scheme", "http"), (":authority", "cdn.test"), (":path", path)])
        self.s.sendall(frame(1, 0x5, stream, block))

    def read_frame(self):
        """(type, flags, stream, payload), or None when the connection closed"""
        while len(self.buf) < 9 or len(self.buf) < 9 + struct.unpack(">I", b"\0" + self.buf[:3])[0]:
            b = self.s.recv(65536)
            if not b:
                return None
            self.buf += b
        ln = struct.unpack(">I", b"\0" + self.buf[:3])[0]
        f = (self.buf[3], self.buf[4], struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF, self.buf[9:9 + ln])
        self.buf = self.buf[9 + ln:]
        if f[0] == 4 and not f[1] & 1:
            self.s.sendall(frame(4, 1, 0, b""))
        return f


# ---- drain ----------------------------------------------------------------------------------------------------------------

@test
def sigterm_refuses_new_connections_and_finishes_in_flight_requests():
    e = Edge(config(), name="drain")
    origin.reset()
    held = raw_request(e.port, "/count/drain-h1?gate=drain1")
    h2 = H2(e.port)
    h2.request(1, "/count/drain-h2?gate=drain1")
    wait_until(lambda: origin.count("/count/drain-h1") == 1 and origin.count("/count/drain-h2") == 1, timeout=20,
               what="both requests to reach the origin")
    assert healthz(e) == (200, "ok")
    e.signal(signal.SIGTERM)
    # new connections are refused (not queued) while the two requests are held
    wait_until(lambda: connect_refused(e.port), timeout=10, what="connect() to be refused")
    # the admin listener stays: /healthz says draining, /metrics answers
    st, body = healthz(e)
    assert (st, body) == (503, "draining"), (st, body)
    assert metric(e.metrics_text(), "edgehook_config_generation") is not None
    # HTTP/2: GOAWAY (NO_ERROR) while stream 1 is still open
    goaway = None
    while goaway is None:
        f = h2.read_frame()
        assert f is not None, "the HTTP/2 connection closed without GOAWAY"
        if f[0] == 7:
            goaway = struct.unpack(">I", f[3][4:8])[0]
        assert not (f[0] == 1 and f[2] == 1), "stream 1 answered before the gate opened"
    assert goaway == 0, goaway
    assert e.proc.poll() is None
    origin.release("drain1")
    # HTTP/1: the held answer completes, says Connection: close, and the connection closes
    head, body = read_response(held)
    assert head.startswith("HTTP/1.1 200"), head
    assert re.search(r"(?im)^connection: close\r?$", head), head
    # HTTP/2: stream 1 completes with 200
    status = None
    while status is None:
        f = h2.read_frame()
        assert f is not None, "the HTTP/2 connection closed before stream 1 answered"
        if f[0] == 1 and f[2] == 1:
            status = dict(h2.dec.decode(f[3]))[":status"]
    assert status == "200", status
    e.proc.wait(30 * SLOW)
    assert e.proc.returncode == 0, e.proc.returncode
    assert "stopped" in e.log()
    e.assert_clean()


@test
def a_second_signal_stops_at_once():
    e = Edge(config(grace="120s"), name="second")
    origin.reset()
    held = raw_request(e.port, "/count/second?gate=never-opened")
    wait_until(lambda: origin.count("/count/second") == 1, timeout=20, what="the request to reach the origin")
    e.signal(signal.SIGTERM)
    wait_until(lambda: "shutting down" in e.log(), timeout=10, what="the drain to start")
    assert e.proc.poll() is None  # the held request keeps it draining (grace 120 s)
    e.signal(signal.SIGINT)
    e.proc.wait(20 * SLOW)  # far less than the grace period
    assert e.proc.returncode == 128 + signal.SIGINT, e.proc.returncode
    assert "second SIGINT: stopping now" in e.log(), e.log()[-2000:]
    held.close()
    e.assert_clean()


@test
def healthz_says_starting_during_a_store_seed():
    # a seed large enough that the admin listener answers long before it is stored: 48 files of 1 MB (MD5, a copy, an fsync each)
    site = os.path.join(TMP, "bigsite")
    os.makedirs(site, exist_ok=True)
    chunk = os.urandom(1 << 20)
    for i in range(48):
        with open(os.path.join(site, "f%03d.bin" % i), "wb") as f:
            f.write(chunk)
    store = """store:
  listen: {host: 127.0.0.1, port: 0}
  root: %s
  credentials: {access_key: LIFECYCLEKEY, secret_key: LIFECYCLESECRET}
  seed: {bucket: big, dir: %s}
""" % (os.path.join(TMP, "seeddata"), site)
    e = Edge(config(store), name="seed", expect_fail=True)
    try:
        wait_until(lambda: re.search(r"listening: admin http://\S+:(\d+)", e.log()), timeout=20, what="the admin listener")
        e.ports["admin"] = int(re.search(r"listening: admin http://\S+:(\d+)", e.log()).group(1))
        first = None
        deadline = time.time() + 20 * SLOW
        while first is None and time.time() < deadline:
            try:
                first = healthz(e)
            except OSError:
                time.sleep(0.02)
        assert first == (503, "starting"), (first, e.log()[-3000:])
        assert "started:" not in e.log()
        wait_until(lambda: "started:" in e.log(), timeout=120, what="the seed to finish")
        assert healthz(e) == (200, "ok")
        # progress: files, bytes and rate
        m = re.search(r"store: seeding bucket big from \S+: (\d+) files, (\d+) bytes, [\d.]+ MB/s \(done\)", e.log())
        assert m and int(m.group(1)) == 48 and int(m.group(2)) == 48 << 20, e.log()[-3000:]
    finally:
        e.kill()
        shutil.rmtree(os.path.join(TMP, "seeddata"), ignore_errors=True)


# ---- logs -----------------------------------------------------------------------------------------------------------------

def start_with_files(name, extra_logs="", json_errors=False):
    """an Edge whose access and error logs are files in its own directory (not stdout/stderr)"""
    d = tempfile.mkdtemp(prefix="logs-", dir=TMP)
    acc, err = os.path.join(d, "access.log"), os.path.join(d, "error.log")
    logs = 'access_log: {path: "%s", format: json}\nerror_log: {path: "%s"%s}' % (acc, err, ", format: json" if json_errors else "")
    e = Edge(config(logs=logs), name=name, expect_fail=True, workdir=d)
    text = lambda: open(err).read() if os.path.exists(err) else ""  # noqa: E731
    wait_until(lambda: "started:" in text(), timeout=20, what="the start")
    for m in re.finditer(r"listening: (\w+) (https?)://([^\s\"]+):(\d+)", text()):
        e.listeners.append((m.group(1), m.group(2), m.group(3), int(m.group(4))))
        e.ports.setdefault(m.group(1), int(m.group(4)))
    e.port = e.ports["main"]
    return e, acc, err


class Traffic:
    """requests /size/10?n=N one after the other on keep-alive connections until stopped; .sent: the N answered"""

    def __init__(self, port):
        import http.client
        self.port, self.sent, self.stop_flag = port, [], False
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30 * SLOW)
        self.t = threading.Thread(target=self.loop)
        self.t.start()

    def loop(self):
        n = 0
        while not self.stop_flag:
            self.conn.request("GET", "/size/10?n=%d" % n)
            r = self.conn.getresponse()
            r.read()
            assert r.status == 200
            self.sent.append(n)
            n += 1

    def stop(self):
        self.stop_flag = True
        self.t.join(60)
        self.conn.close()


def logged_ids(path):
    if not os.path.exists(path):
        return []
    return [int(m) for m in re.findall(r"/size/10\?n=(\d+)", open(path).read())]


@test
def sigusr1_reopens_the_logs_after_a_rename_losing_no_line():
    e, acc, err = start_with_files("usr1")
    try:
        traffic = Traffic(e.port)
        wait_until(lambda: len(logged_ids(acc)) >= 20, timeout=20, what="access lines")
        os.rename(acc, acc + ".1")
        os.rename(err, err + ".1")
        e.signal(signal.SIGUSR1)
        # new lines go to new files: the error log says so in the new file, the access log gets the requests from now on
        wait_until(lambda: os.path.exists(err) and "log files reopened" in open(err).read(), timeout=20,
                   what="the reopen line in the new error log")
        wait_until(lambda: len(logged_ids(acc)) >= 20, timeout=20, what="access lines in the new file")
        traffic.stop()
        sent = sorted(traffic.sent)
        # every request is logged once, in one of the two files (the worker buffers flush every 100 ms)
        wait_until(lambda: sorted(logged_ids(acc + ".1") + logged_ids(acc)) == sent, timeout=20,
                   what="every request in the access logs")
        old, new = logged_ids(acc + ".1"), logged_ids(acc)
        assert old and new and max(old) < max(new)
        assert "started:" in open(err + ".1").read() and "started:" not in open(err).read()
        assert e.stop() == 0
        assert "stopped" in open(err).read()
    finally:
        e.kill()


@test
def logrotate_with_the_shipped_file():
    if shutil.which("logrotate") is None:
        raise Skip("logrotate is not installed (Debian: logrotate; scripts/deps.sh test)")
    e, acc, err = start_with_files("logrotate")
    try:
        traffic = Traffic(e.port)
        wait_until(lambda: len(logged_ids(acc)) >= 10, timeout=20, what="access lines")
        d = os.path.dirname(acc)
        text = open(os.path.join(SRC, "examples", "logrotate", "edgehook")).read()
        assert "/var/log/edgehook/*.log {" in text and "kill -USR1" in text
        # the shipped file, pointed at this test's logs and process
        text = text.replace("/var/log/edgehook/*.log", os.path.join(d, "*.log"))
        text = re.sub(r"kill -USR1 \$\([^)]*\)", "kill -USR1 %d" % e.proc.pid, text)
        conf = os.path.join(d, "logrotate.conf")
        with open(conf, "w") as f:
            f.write(text)
        p = subprocess.run(["logrotate", "-f", "-s", os.path.join(d, "logrotate.state"), conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        assert p.returncode == 0, p.stdout.decode()
        # delaycompress: the rotated files are acc.1 and err.1, uncompressed; the signal made new ones
        assert os.path.exists(acc + ".1") and os.path.exists(err + ".1")
        wait_until(lambda: os.path.exists(err) and "log files reopened" in open(err).read(), timeout=20,
                   what="the reopen line in the new error log")
        wait_until(lambda: len(logged_ids(acc)) >= 10, timeout=20, what="access lines in the new file")
        traffic.stop()
        wait_until(lambda: sorted(logged_ids(acc + ".1") + logged_ids(acc)) == sorted(traffic.sent), timeout=20,
                   what="every request in the access logs")
        assert e.stop() == 0
    finally:
        e.kill()


@test
def json_error_log_lines_parse():
    e, acc, err = start_with_files("jsonlog", json_errors=True)
    try:
        st, body = e.admin("POST", "/reload")
        assert st == 200, (st, body)
        assert e.stop() == 0
        lines = open(err).read().splitlines()
        assert len(lines) >= 5
        for line in lines:
            obj = json.loads(line)
            assert set(obj) == {"time", "level", "thread", "message"}, obj
            assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", obj["time"]), obj
            assert obj["level"] in ("error", "warn", "info", "debug")
        messages = [json.loads(x)["message"] for x in lines]
        assert any(m.startswith("reload: configuration applied") for m in messages), messages
        assert any("started:" in m for m in messages) and messages[-1] == "stopped"
    finally:
        e.kill()


# ---- reloads --------------------------------------------------------------------------------------------------------------

def write_config(e, text):
    """replaces the config file (keeping the state_dir line the harness gave it)"""
    with open(e.conf_path, "w") as f:
        f.write(text.rstrip("\n") + "\nstate_dir: %s\n" % e.state_dir)


@test
def post_reload_answers_what_changed():
    e = Edge(config(), name="reload")
    try:
        gen0 = metric(e.metrics_text(), "edgehook_config_generation")
        ok0 = metric(e.metrics_text(), "edgehook_reloads_total", result="ok")
        assert e.admin("POST", "/reload", token="")[0] == 401
        assert e.admin("GET", "/reload")[0] == 405
        # nothing changed
        st, body = e.admin("POST", "/reload")
        assert st == 200 and body["result"] == "ok" and body["summary"] == "no change", body
        assert body["changes"] == {"added": [], "removed": [], "changed": []}, body
        assert body["warnings"] == []
        # a behavior and an origin added, the cache section changed
        text = config().replace("behaviors:\n", "behaviors:\n  - {path: \"/img/*\", origin: img}\n")
        text = text.replace("origins:\n", "origins:\n  img: {type: http, url: \"%s\"}\n" % origin.url)
        text = text.replace("cache: {memory: 64MB}", "cache: {memory: 64MB, max_object_size: 1MB}")
        write_config(e, text)
        st, body = e.admin("POST", "/reload")
        assert st == 200 and body["summary"] == "changed", body
        assert sorted(body["changes"]["added"]) == ["behaviors./img/*", "origins.img"], body
        assert body["changes"]["changed"] == ["cache"] and body["changes"]["removed"] == [], body
        assert body["generation"] > gen0
        # refused: the reason with FILE:LINE, and the running configuration stays
        write_config(e, text.replace("origin: img}", "origin: nosuch}"))
        st, body = e.admin("POST", "/reload")
        assert st == 422 and body["result"] == "refused", (st, body)
        assert re.match(r"%s:\d+: " % re.escape(e.conf_path), body["error"]), body
        assert curl_status(e.url("/size/7"))[0] == 200
        # the origin removed again
        write_config(e, config())
        st, body = e.admin("POST", "/reload")
        assert st == 200 and sorted(body["changes"]["removed"]) == ["behaviors./img/*", "origins.img"], body
        text = e.metrics_text()
        assert metric(text, "edgehook_reloads_total", result="ok") == ok0 + 3
        assert metric(text, "edgehook_reloads_total", result="failed") == 1
        assert metric(text, "edgehook_config_generation") == body["generation"]
        assert abs(metric(text, "edgehook_reload_last_success_timestamp_seconds") - time.time()) < 120
    finally:
        assert e.stop() == 0


@test
def restart_only_warnings_compare_with_what_runs():
    e = Edge(config(), name="warn")
    try:
        write_config(e, config(memory="128MB", threads=1))
        st, body = e.admin("POST", "/reload")
        assert st == 200, body
        warnings = " | ".join(body["warnings"])
        assert "cache.memory changed" in warnings and "threads changed" in warnings, body
        # back to the running values: the next reload warns about nothing (it compared with the last file before)
        write_config(e, config())
        st, body = e.admin("POST", "/reload")
        assert st == 200 and body["warnings"] == [], body
        st, body = e.admin("POST", "/reload")
        assert st == 200 and body["warnings"] == [] and body["summary"] == "no change", body
    finally:
        assert e.stop() == 0


# ---- systemd --------------------------------------------------------------------------------------------------------------

@test
def the_systemd_unit_verifies():
    if shutil.which("systemd-analyze") is None:
        raise Skip("systemd-analyze is not installed (Debian: systemd; scripts/deps.sh test)")
    unit = open(os.path.join(SRC, "examples", "systemd", "edgehook.service")).read()
    for key in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict", "NoNewPrivileges=yes",
                "ReadWritePaths=/var/lib/edgehook /var/log/edgehook", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                "AmbientCapabilities=CAP_NET_BIND_SERVICE", "PrivateTmp=yes", "ProtectHome=yes", "DynamicUser=yes"):
        assert key in unit, key
    # verify checks that ExecStart's binary exists: this build's stands in for the installed one; --man=no: the man pages are
    # not installed here
    d = tempfile.mkdtemp(prefix="unit-", dir=TMP)
    path = os.path.join(d, "edgehook.service")
    with open(path, "w") as f:
        f.write(unit.replace("/usr/sbin/edgehook", os.path.abspath(BIN)))
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    out = p.stdout.decode()
    assert p.returncode == 0 and out.strip() == "", out
    # and it does complain about a unit with a mistake (so a clean run means something)
    with open(path, "w") as f:
        f.write(unit.replace("/usr/sbin/edgehook", os.path.abspath(BIN)).replace("ProtectHome=yes", "ProtectHomes=yes"))
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    assert "ProtectHomes" in p.stdout.decode()


def built_with_libsystemd():
    p = subprocess.run(["ldd", BIN], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return b"libsystemd" in p.stdout


@test
def sd_notify_says_ready_reloading_stopping():
    if not built_with_libsystemd():
        raise Skip("built without libsystemd (Debian: libsystemd-dev): sd_notify is a no-op in this build")
    sock_path = os.path.join(TMP, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(30 * SLOW)
    got = []

    def until(word):
        while True:
            msg = s.recv(4096).decode()
            got.append(msg)
            if word in msg.split("\n"):
                return msg

    try:
        e = Edge(config(), name="notify", env={"NOTIFY_SOCKET": sock_path})
        until("READY=1")
        # READY=1 comes when the listeners are open
        assert curl_status(e.url("/size/3"))[0] == 200
        e.signal(signal.SIGHUP)
        msg = until("RELOADING=1")
        assert re.search(r"MONOTONIC_USEC=\d+", msg), msg
        until("READY=1")
        assert e.stop() == 0
        until("STOPPING=1")
    finally:
        s.close()


if __name__ == "__main__":
    run()
