"""tests/e2e/lib/edgetest.py - runs the real edgehook binary on a YAML config with ephemeral ports, for end-to-end tests.

Standard library only (Debian's /usr/bin/python3). The binary comes from $EDGEHOOK_BIN (set by ctest).
"""
import atexit
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ.get("EDGEHOOK_BIN", os.path.join(os.getcwd(), "edgehook"))
SRC = os.environ.get("EDGEHOOK_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
BUILD = os.environ.get("EDGEHOOK_BUILD", os.path.dirname(BIN))
SANITIZE = os.environ.get("EDGE_SANITIZE", "0") in ("1", "ON", "TRUE", "true")
# a ThreadSanitizer build (EDGE_TSAN): also a sanitizer build for what the tests measure (memory, time)
TSAN = os.environ.get("EDGE_TSAN", "0") in ("1", "ON", "TRUE", "true")
SANITIZE = SANITIZE or TSAN
# sanitizer builds are several times slower: scale waits, never assertions on behaviour
SLOW = 4 if SANITIZE else 1


_live = []  # every edgehook a test started: killed when the test process exits, so a failed test leaves none running


@atexit.register
def _kill_leftovers():
    for p in _live:
        if p.poll() is None:
            p.kill()
            p.wait()


class Edge:
    """An edgehook process. `config` is YAML text; write `port: 0` for listeners and read the bound ports from .ports."""

    def __init__(self, config, name="edge", env=None, expect_fail=False, workdir=None, admin_token=None, state_dir=None):
        # the admin API's bearer token: given, or the config's `token:` line (the admin section's)
        m = re.search(r"^\s+token:\s*(\S+)\s*$", config, re.M)
        self.admin_token = admin_token or (m.group(1) if m else None)
        self.dir = workdir or tempfile.mkdtemp(prefix="edgetest-")
        # hook versions and aliases (and the async queue) live in a state dir: every Edge gets its own unless the test gives one
        # (state_dir=, to restart on the same state) or its config has a state_dir: line
        m = re.search(r"^state_dir:\s*(\S+)", config, re.M)
        if m:
            self.state_dir = m.group(1)
        else:
            self.state_dir = state_dir or tempfile.mkdtemp(prefix="edgestate-")  # beside, not in, the work dir the test looks at
            config = config.rstrip("\n") + "\nstate_dir: %s\n" % self.state_dir
        self.conf_path = os.path.join(self.dir, name + ".yaml")
        with open(self.conf_path, "w") as f:
            f.write(config)
        self.log_path = os.path.join(self.dir, name + ".log")
        self.out_path = os.path.join(self.dir, name + ".out")
        self.logf = open(self.log_path, "wb")
        self.outf = open(self.out_path, "wb")
        e = dict(os.environ)
        if env:
            e.update(env)
        self.proc = subprocess.Popen([BIN, "-c", self.conf_path], stdout=self.outf, stderr=self.logf, cwd=self.dir, env=e)
        _live.append(self.proc)
        self.ports = {}
        self.listeners = []
        if expect_fail:
            return
        deadline = time.time() + 20 * SLOW
        while time.time() < deadline:
            text = self.log()
            if "started:" in text:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("edgehook exited with %d:\n%s" % (self.proc.returncode, text))
            time.sleep(0.05)
        else:
            self.kill()
            raise RuntimeError("edgehook did not start:\n" + self.log())
        for m in re.finditer(r"listening: (\w+) (https?)://(\S+):(\d+)", self.log()):
            self.listeners.append((m.group(1), m.group(2), m.group(3), int(m.group(4))))
            self.ports.setdefault(m.group(1), int(m.group(4)))
        self.port = self.ports.get("main")

    def url(self, path="/", scheme="http", kind="main"):
        for k, s, host, port in self.listeners:
            if k == kind and s == scheme:
                return "%s://%s:%d%s" % (s, host.strip("[]"), port, path)
        raise KeyError("no %s listener for %s" % (scheme, kind))

    def log(self):
        if not self.logf.closed:
            self.logf.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def out(self):
        if not self.outf.closed:
            self.outf.flush()
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def access_log(self, wait_for=None, timeout=15):
        """stdout is the access log in tests ("-"); it is flushed every 100 ms. `timeout` caps the wait for `wait_for` (wide: a
        loaded machine delays the flush; a pass returns as soon as the text is there)"""
        deadline = time.time() + timeout * SLOW
        while True:
            text = self.out()
            if wait_for is None or wait_for in text or time.time() > deadline:
                if wait_for is None:
                    time.sleep(0.25)
                    text = self.out()
                return text
            time.sleep(0.05)

    def admin(self, method, path, body=None, token=None, timeout=30):
        """one admin API call: (status, JSON answer or text, or None when empty). body: a dict/list (sent as JSON), bytes or
        str; token: the bearer token (default: the edge's), "" sends none"""
        token = self.admin_token if token is None else token
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        c = http.client.HTTPConnection("127.0.0.1", self.ports["admin"], timeout=timeout * SLOW)
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        if not data:
            return r.status, None
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode("utf-8", "replace")

    def metrics_text(self, token=None):
        """the /metrics page of the admin listener"""
        st, text = self.admin("GET", "/metrics", token=token)
        assert st == 200, (st, text)
        return text

    def metrics(self, token=None):
        """every sample of /metrics: {'name{labels}': value}"""
        out = {}
        for line in self.metrics_text(token).splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def metric(self, name, **labels):
        """one sample of /metrics (see metric()); None when absent"""
        return metric(self.metrics_text(), name, **labels)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status"""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("edgehook did not exit after SIGTERM\n" + self.log())
        self.logf.close()
        self.outf.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def assert_clean(self):
        """no sanitizer report, no crash in the error log"""
        text = self.log()
        for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer", "ThreadSanitizer", "Segmentation", "Assertion", "h2o_fatal",
                    "[fatal]"):
            assert bad not in text, "%s in the error log:\n%s" % (bad, text[-6000:])


def version_hook(directory, name, label):
    """writes DIRECTORY/NAME: a Lua viewer-response hook whose X-Version header says LABEL (which version answered); returns
    its path"""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("""-- a test hook: says which version answered
function handler(event, context)
    local response = event.Records[1].cf.response
    response.headers["x-version"] = {{key = "X-Version", value = "%s"}}
    return response
end
""" % label)
    return path


def metric(text, name, **labels):
    """the value of one sample in a /metrics text: `name` with every given label (others may be present); None when absent"""
    for line in text.splitlines():
        m = re.match(r"(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            return float(m.group(3))
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def retry_port_taken(start, tries=5):
    """start() starts an Edge on ports chosen with free_port(); another process may take such a port between the choice and
    edgehook's bind: start() is called again then (it should choose again), up to `tries` times"""
    for attempt in range(tries):
        try:
            return start()
        except RuntimeError as e:
            if "Address already in use" not in str(e) or attempt == tries - 1:
                raise


def curl(*args, timeout=60):
    """runs curl; returns (returncode, stdout bytes, stderr text)"""
    p = subprocess.run(["curl", "-sS", "--max-time", str(timeout * SLOW)] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout * SLOW + 10)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def curl_status(*args, timeout=60):
    """returns (status, headers dict lowercased (last wins), body bytes)"""
    fd, hpath = tempfile.mkstemp()
    os.close(fd)
    try:
        rc, body, err = curl("-D", hpath, *args, timeout=timeout)
        with open(hpath, "rb") as f:
            raw = f.read().decode("latin-1")
    finally:
        os.unlink(hpath)
    blocks = [b for b in raw.replace("\r\n", "\n").split("\n\n") if b.strip()]
    status, headers = 0, {}
    if blocks:
        lines = blocks[-1].split("\n")
        m = re.match(r"HTTP/[\d.]+ (\d+)", lines[0])
        status = int(m.group(1)) if m else 0
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
    return status, headers, body


_tests = []
_notsan = {}


class Skip(Exception):
    """raised by a scenario that cannot run here (a piece it needs is missing): run() reports it as skipped, with the reason"""


def test(fn):
    _tests.append(fn)
    return fn


def notsan(reason):
    """a scenario a ThreadSanitizer build cannot run: run() skips it there and prints why (put it under @test)"""
    def mark(fn):
        _notsan[fn.__name__] = reason
        return fn
    return mark


def run(argv=None):
    """runs every @test in the module in order; a failure prints its traceback; exit status 1 if any failed"""
    only = (argv or sys.argv)[1:]
    failed = skipped = 0
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        if TSAN and fn.__name__ in _notsan:
            skipped += 1
            print("skip %-50s (ThreadSanitizer: %s)" % (fn.__name__, _notsan[fn.__name__]), flush=True)
            continue
        t0 = time.time()
        try:
            fn()
            print("ok   %-50s %.1fs" % (fn.__name__, time.time() - t0), flush=True)
        except Skip as e:
            skipped += 1
            print("skip %-50s (%s)" % (fn.__name__, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %-50s %.1fs" % (fn.__name__, time.time() - t0), flush=True)
            traceback.print_exc()
    print("%d passed, %d failed, %d skipped" % (len([f for f in _tests if not only or f.__name__ in only]) - failed - skipped, failed,
                                               skipped))
    sys.exit(1 if failed else 0)


def npm_ready(*packages):
    """installs tests/node_modules from tests/package-lock.json with `npm ci` when the tree is missing, older than the lock file,
    or lacks one of `packages` (e.g. "@aws-sdk/client-lambda"); returns the tests directory. Under an exclusive flock on
    tests/.npm-install.lock (beside node_modules, which `npm ci` removes and rebuilds): build folders share one tree, and two
    suites (or two ctest runs) must not install into it at once, nor read it while another installs."""
    import fcntl
    tests = os.path.join(SRC, "tests")
    lock, stamp = os.path.join(tests, "package-lock.json"), os.path.join(tests, "node_modules", ".package-lock.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("http_proxy", "https_proxy")}
    with open(os.path.join(tests, ".npm-install.lock"), "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(lock) or \
                not all(os.path.isdir(os.path.join(tests, "node_modules", p)) for p in packages):
            p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tests, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
            assert p.returncode == 0, p.stderr.decode("utf-8", "replace")[-3000:]
    return tests


def wait_until(pred, timeout=30, what="condition"):
    """polls pred until it holds; `timeout` only caps a wait that failed (a pass returns as soon as pred holds), so it is wide:
    on a loaded machine (issue 12: the suite under ctest -j2 beside a CPU-bound job) a log line or counter can take seconds"""
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def make_cert(directory, cn="localhost"):
    """a self-signed certificate for localhost and 127.0.0.1 (openssl from Debian)"""
    cert = os.path.join(directory, cn + ".crt")
    key = os.path.join(directory, cn + ".key")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "3",
                        "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % cn],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key
