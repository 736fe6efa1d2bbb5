#!/usr/bin/python3
"""bench/bench.py - edgehook against nginx proxy_cache and Varnish on loopback, side by side in one run.

Started by bench/run.sh (which installs the peers and builds edgehook); standard library only. It starts a static nginx
origin, edgehook, nginx proxy_cache and Varnish (malloc) with equivalent settings, warms their caches, runs wrk and
h2load against each in turn (interleaved, repeated), reads every server's CPU time from /proc/PID/stat around each run,
and prints one table of medians (min-max) with edgehook/peer ratios and a PASS/MISS column per target. The table goes to
bench/results/latest.md and every raw run to bench/results/latest.json. See bench/README.md.
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
HOOK_HEADER = ("Strict-Transport-Security", "max-age=63072000")
SIZES = [("1k", 1024), ("64k", 65536), ("1m", 1048576)]
SIZE_LABEL = {"1k": "1 KB", "64k": "64 KB", "1m": "1 MB"}
NGINX_MODULES = "/usr/lib/nginx/modules"

# ----------------------------------------------------------------------------------------------------------------------
# processes: everything we start is in its own session; cleanup signals those process groups by id, nothing else

PROCS = []


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def spawn(argv, logpath, cwd=None, env=None):
    f = open(logpath, "ab")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env,
                         start_new_session=True)
    f.close()
    PROCS.append(p)
    return p


def stop_proc(p, timeout=15):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # the group may still hold children (nginx workers, varnish child) a moment after its leader exits
    deadline = time.time() + 5
    while time.time() < deadline and group_alive(p.pid):
        time.sleep(0.05)
    if group_alive(p.pid):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if p.poll() is None:
        p.wait()
    if p in PROCS:
        PROCS.remove(p)


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def cleanup():
    for p in reversed(list(PROCS)):
        stop_proc(p)


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on %d" % (what, port))


def taskset(cpus):
    return ["taskset", "-c", cpus] if cpus is not None else []


# ----------------------------------------------------------------------------------------------------------------------
# /proc accounting


def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()


def proc_tree(root):
    """root and all its descendants"""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(_stat_fields(int(d))[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    """{pid: utime+stime} (every thread of each process is included by the kernel)"""
    out = {}
    for p in pids:
        try:
            f = _stat_fields(p)
            out[p] = int(f[11]) + int(f[12])
        except (OSError, ValueError, IndexError):
            pass
    return out


def rss_bytes(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def host_cpu():
    """(busy ticks, steal ticks) of the whole machine"""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


# ----------------------------------------------------------------------------------------------------------------------
# servers


class Server:
    """one server under test; `name` is what the table calls it, `kind` one of edgehook/nginx/varnish"""
    kind = "?"

    def __init__(self, name, work, cpus):
        self.name, self.cpus = name, cpus
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.h2port = self.port
        self.proc = None

    def url(self, path, h2=False):
        return "http://127.0.0.1:%d%s" % (self.h2port if h2 else self.port, path)

    def pids(self):
        return proc_tree(self.proc.pid)

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc)
            self.proc = None

    def is_hit(self, headers):
        raise NotImplementedError


class Edgehook(Server):
    kind = "edgehook"

    def __init__(self, name, work, cpus, binary, origin_port, threads, hook=None, cache_memory="2GB", admin=False,
                 parents=None):
        super().__init__(name, work, cpus)
        self.binary = binary
        hooks, bhooks = "", ""
        if hook:
            kind, path = hook
            hooks = "hooks:\n  one-header: {%s: \"%s\"}\n" % (kind, path)
            bhooks = "    hooks: {viewer-response: one-header}\n"
        self.admin_port = free_port() if admin else None
        conf = ("threads: %d\n" % threads +
                "listen:\n  - {host: 127.0.0.1, port: %d}\n" % self.port +
                "error_log: {path: \"-\", level: info}\n" +
                "origins:\n  web: {type: http, url: \"http://127.0.0.1:%d\", max_connections: 1024%s}\n" % (
                    origin_port, ", parents: [%s]" % ", ".join("{name: parent-%d, url: \"http://127.0.0.1:%d\"}" % (i + 1, p)
                                                               for i, p in enumerate(parents)) if parents else "") +
                "cache: {memory: %s}\n" % cache_memory + hooks +
                "behaviors:\n  - path: \"*\"\n    origin: web\n" + bhooks)
        if admin:
            conf += "admin:\n  listen: {host: 127.0.0.1, port: %d}\n  token_env: BENCH_ADMIN_TOKEN\n" % self.admin_port
        self.conf = os.path.join(self.dir, "edgehook.yaml")
        with open(self.conf, "w") as f:
            f.write(conf)

    def start(self):
        env = dict(os.environ, BENCH_ADMIN_TOKEN="bench-admin-token")
        self.proc = spawn(taskset(self.cpus) + [self.binary, "-c", self.conf], os.path.join(self.dir, "log"),
                          cwd=self.dir, env=env)
        wait_port(self.port, self.proc, self.name)

    def version(self):
        return subprocess.run([self.binary, "--version"], capture_output=True, text=True).stdout.strip()

    def is_hit(self, h):
        return h.get("x-cache", "").lower().startswith("hit")

    def metric(self, name):
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % self.admin_port,
                                     headers={"Authorization": "Bearer bench-admin-token"})
        text = urllib.request.urlopen(req, timeout=10).read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.split()[-1])
        return total


class Nginx(Server):
    kind = "nginx"

    def __init__(self, name, work, cpus, workers, origin_port=None, lua=False, origin_root=None, h2=True,
                 access_log=None):
        super().__init__(name, work, cpus)
        d = self.dir
        self.h2port = free_port() if h2 else self.port
        for t in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(d, "tmp", t), exist_ok=True)
        mods = ""
        if lua:  # Debian: ndk first, then lua (as /etc/nginx/modules-enabled orders them)
            mods = ("load_module %s/ndk_http_module.so;\nload_module %s/ngx_http_lua_module.so;\n" %
                    (NGINX_MODULES, NGINX_MODULES))
        common = """
daemon off;
master_process on;
user root;
worker_processes %s;
pid %s/nginx.pid;
error_log %s/error.log warn;
%s
events { worker_connections 8192; }
http {
    %s
    sendfile on;
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server_tokens off;
    default_type application/octet-stream;
    client_body_temp_path %s/tmp/body;
    proxy_temp_path %s/tmp/proxy;
    fastcgi_temp_path %s/tmp/fastcgi;
    uwsgi_temp_path %s/tmp/uwsgi;
    scgi_temp_path %s/tmp/scgi;
""" % (workers, d, d, mods, ("access_log %s combined buffer=256k flush=100ms;" % access_log) if access_log else "access_log off;",
       d, d, d, d, d)
        if origin_root:  # the origin: static files (cacheable), the same not cacheable, and tiny distinct objects
            body1k = "x" * 1023 + "\\n"  # /m/: the memory test's objects, 1 KB each
            conf = common + """
    server {
        listen 127.0.0.1:%d backlog=4096;
        root %s;
        location /obj/ { add_header Cache-Control "max-age=3600"; }
        location /nostore/ { alias %s/obj/; add_header Cache-Control "no-store"; }
        location /m/ { add_header Cache-Control "max-age=3600"; return 200 "%s"; }
        location /u/ { add_header Cache-Control "max-age=3600"; try_files /obj/1k =404; }
    }
}
""" % (self.port, origin_root, origin_root, body1k)
        else:
            hook = ""
            if lua:
                hook = "header_filter_by_lua_block { ngx.header[\"%s\"] = \"%s\" }" % HOOK_HEADER
            conf = common + """
    proxy_cache_path %s/cache levels=1:2 keys_zone=edge:128m max_size=4g inactive=1d use_temp_path=off;
    upstream origin {
        server 127.0.0.1:%d;
        keepalive 128;
    }
    server {
        listen 127.0.0.1:%d backlog=4096;
        %s
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_lock on;
            add_header X-Cache $upstream_cache_status;
            %s
        }
    }
}
""" % (d, origin_port, self.port, ("listen 127.0.0.1:%d http2 backlog=4096;" % self.h2port) if h2 else "", hook)
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)

    def start(self):
        self.proc = spawn(taskset(self.cpus) + ["nginx", "-c", self.conf, "-p", self.dir], os.path.join(self.dir, "log"))
        wait_port(self.port, self.proc, self.name)
        if self.h2port != self.port:
            wait_port(self.h2port, self.proc, self.name)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, master exits
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        super().stop()

    def is_hit(self, h):
        return h.get("x-cache", "") == "HIT"


class Varnish(Server):
    kind = "varnish"

    def __init__(self, name, work, cpus, pools, origin_port, vcl_header=False, storage="2G", extra=()):
        super().__init__(name, work, cpus)
        deliver = ""
        if vcl_header:
            deliver = "sub vcl_deliver {\n    set resp.http.%s = \"%s\";\n}\n" % HOOK_HEADER
        self.vcl = os.path.join(self.dir, "default.vcl")
        with open(self.vcl, "w") as f:
            f.write("vcl 4.1;\nbackend origin {\n    .host = \"127.0.0.1\";\n    .port = \"%d\";\n}\n%s" %
                    (origin_port, deliver))
        os.chmod(self.vcl, 0o644)
        self.argv = ["varnishd", "-F", "-n", os.path.join(self.dir, "n"), "-a", "127.0.0.1:%d" % self.port,
                     "-T", "127.0.0.1:%d" % free_port(), "-f", self.vcl, "-s", "malloc,%s" % storage,
                     "-p", "thread_pools=%d" % pools] + list(extra)

    def start(self):
        self.proc = spawn(taskset(self.cpus) + self.argv, os.path.join(self.dir, "log"))
        wait_port(self.port, self.proc, self.name, timeout=60)

    def version(self):
        r = subprocess.run(["varnishd", "-V"], capture_output=True, text=True)
        return (r.stdout + r.stderr).splitlines()[0]

    def is_hit(self, h):
        return len(h.get("x-varnish", "").split()) == 2

    def stat(self, field):
        r = subprocess.run(["varnishstat", "-n", os.path.join(self.dir, "n"), "-1", "-f", field], capture_output=True,
                           text=True)
        for line in r.stdout.splitlines():
            if line.startswith(field):
                return int(line.split()[1])
        return -1


# ----------------------------------------------------------------------------------------------------------------------
# clients


def http_get(port, path, extra_headers=()):
    """one HTTP/1.1 GET; returns (status, headers dict lowercased, header block bytes, body length)"""
    s = socket.create_connection(("127.0.0.1", port), 10)
    try:
        req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sConnection: close\r\n\r\n" % (
            path, port, "".join("%s: %s\r\n" % kv for kv in extra_headers))
        s.sendall(req.encode())
        data = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, len(head) + 4, len(body)


WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, "errors": %d, "non2xx": %d, ' ..
    '"p50": %.1f, "p99": %.1f, "p999": %.1f, "mean": %.1f, "max": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.mean, latency.max))
end
"""


WRK_UNIQUE = r"""
local n = 0
local prefix = "/u/"
init = function(args)
  prefix = args[1]
end
request = function()
  n = n + 1
  return wrk.format("GET", prefix .. n)
end
""" + WRK_SCRIPT


class Load:
    """runs one load generator against one server and accounts the CPU of both and of the host"""

    def __init__(self, work):
        self.work = work
        self.origin = None  # its CPU is accounted apart (it works only on misses)
        self.wrk_script = os.path.join(work, "done.lua")
        with open(self.wrk_script, "w") as f:
            f.write(WRK_SCRIPT)
        self.wrk_unique = os.path.join(work, "unique.lua")
        with open(self.wrk_unique, "w") as f:
            f.write(WRK_UNIQUE)
        self.unique_runs = 0

    def run(self, server, argv, parse):
        pids = server.pids()
        opids = self.origin.pids() if self.origin is not None and self.origin is not server else []
        before = cpu_ticks(pids)
        obefore = cpu_ticks(opids)
        hb, hs = host_cpu()
        t0 = time.time()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        PROCS.append(p)
        out = p.stdout.read().decode("utf-8", "replace")
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        PROCS.remove(p)
        wall = time.time() - t0
        ha, hsa = host_cpu()
        after = cpu_ticks(set(pids) | set(server.pids()))
        oafter = cpu_ticks(opids)
        server_cpu = sum(after[k] - before.get(k, 0) for k in after) / CLK
        origin_cpu = sum(oafter[k] - obefore.get(k, 0) for k in oafter) / CLK
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s" % (argv[0], p.returncode, out[-3000:]))
        r = parse(out)
        load_cpu = ru.ru_utime + ru.ru_stime
        host = (ha - hb) / CLK
        r.update(server_cpu_s=server_cpu, loadgen_cpu_s=load_cpu, origin_cpu_s=origin_cpu, host_busy_s=host,
                 steal_s=(hsa - hs) / CLK, foreign_cpu_s=max(0.0, host - server_cpu - load_cpu - origin_cpu), wall_s=wall)
        r["rps"] = r["requests"] / r["duration_s"] if r["duration_s"] else 0
        r["rpcs"] = r["requests"] / server_cpu if server_cpu > 0 else 0
        return r

    def wrk(self, server, url, conns, threads, duration, cpus, unique=False):
        """unique: every request asks for a new URL under url's path (url + N), with -t1 only"""
        argv = taskset(cpus) + ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--latency",
                                "-s", self.wrk_unique if unique else self.wrk_script, url]
        if unique:
            assert threads == 1
            self.unique_runs += 1
            path = re.sub(r"^https?://[^/]+", "", url)
            argv += ["--", "%s%d-%d-" % (path, os.getpid(), self.unique_runs)]

        def parse(out):
            m = re.search(r"BENCHJSON (\{.*\})", out)
            if not m:
                raise RuntimeError("wrk printed no summary:\n" + out)
            j = json.loads(m.group(1))
            return dict(requests=j["requests"], duration_s=j["duration_us"] / 1e6, bytes=j["bytes"],
                        errors=j["errors"], non2xx=j["non2xx"], p50_us=j["p50"], p99_us=j["p99"], p999_us=j["p999"],
                        mean_us=j["mean"], max_us=j["max"])
        return self.run(server, argv, parse)

    def h2load(self, server, url, conns, streams, threads, duration, cpus, logfile):
        argv = taskset(cpus) + ["h2load", "-c%d" % conns, "-m%d" % streams, "-t%d" % threads, "-D", str(duration),
                                "--log-file", logfile, url]

        def parse(out):
            m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
            n = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                          r"(\d+) errored, (\d+) timeout", out)
            if not m or not n:
                raise RuntimeError("h2load output not understood:\n" + out)
            dur = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
            lat = []
            with open(logfile) as f:
                for line in f:
                    parts = line.split("\t")
                    if len(parts) >= 3:
                        lat.append(int(parts[2]))
            os.unlink(logfile)
            lat.sort()
            pct = (lambda q: float(lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else 0.0)
            tb = re.search(r"traffic: .*?\((\d+)\) total", out)
            succeeded = int(n.group(4))
            return dict(requests=succeeded, duration_s=dur, bytes=int(tb.group(1)) if tb else 0,
                        errors=int(n.group(6)) + int(n.group(7)), non2xx=int(n.group(5)), p50_us=pct(0.5),
                        p99_us=pct(0.99), p999_us=pct(0.999), mean_us=(sum(lat) / len(lat)) if lat else 0.0,
                        max_us=float(lat[-1]) if lat else 0.0)
        return self.run(server, argv, parse)


# ----------------------------------------------------------------------------------------------------------------------
# statistics and the table


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_num(x, unit=""):
    if x is None:
        return "—"
    if unit == "us":
        if x >= 10000:
            return "%.1f ms" % (x / 1000)
        return "%.0f µs" % x
    if unit == "pct":
        return "%+.1f %%" % (x * 100)
    if unit == "B":
        return "%.0f B" % x
    if abs(x) >= 1e6:
        return "%.2f M" % (x / 1e6)
    if abs(x) >= 1e4:
        return "%.1f k" % (x / 1e3)
    if abs(x) >= 1e3:
        return "%.2f k" % (x / 1e3)
    return "%.0f" % x


def fmt_cell(xs, unit=""):
    if not xs:
        return "—"
    if len(xs) == 1:
        return fmt_num(xs[0], unit)
    lo, hi = min(xs), max(xs)
    if unit == "pct":
        return "%s (%+.1f…%+.1f)" % (fmt_num(med(xs), unit), lo * 100, hi * 100)
    return "%s (%s–%s)" % (fmt_num(med(xs), unit), fmt_num(lo, unit), fmt_num(hi, unit))


def ratio(a, b):
    return a / b if a is not None and b else None


# ----------------------------------------------------------------------------------------------------------------------
# the benchmark


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = tempfile.mkdtemp(prefix="edgebench-")
        os.chmod(self.work, 0o755)
        self.load = Load(self.work)
        self.runs = []  # every measured run
        self.notes = []
        self.info = {}
        self.extra = {}

    # -- setup ---------------------------------------------------------------------------------------------------------

    def start_origin(self):
        root = os.path.join(self.work, "www")
        os.makedirs(os.path.join(root, "obj"))
        for name, n in SIZES:
            with open(os.path.join(root, "obj", name), "wb") as f:
                f.write(os.urandom(n))
        self.origin_log = os.path.join(self.work, "origin-access.log")
        # the origin has no pinning: it only works while caches warm and in the miss-path test
        self.origin = Nginx("origin", self.work, None, 1, origin_root=root, h2=False, access_log=self.origin_log)
        self.origin.start()
        self.load.origin = self.origin

    def origin_requests(self):
        time.sleep(0.3)  # the access log is flushed every 100 ms
        try:
            with open(self.origin_log, "rb") as f:
                return f.read().count(b"\n")
        except OSError:
            return 0

    def servers_for(self, cfg):
        a, w = self.a, self.work
        cpus, threads = cfg["server_cpus"], cfg["threads"]
        sfx = "-" + cfg["id"]
        op = self.origin.port
        hook_c = os.path.join(a.build, "tests", "hooks", "libbench_one_header.so")
        hook_lua = os.path.join(a.src, "tests", "hooks", "bench_one_header.lua")
        s = {
            "edgehook": Edgehook("edgehook" + sfx, w, cpus, a.binary, op, threads),
            "nginx": Nginx("nginx" + sfx, w, cpus, threads, origin_port=op),
            "varnish": Varnish("varnish" + sfx, w, cpus, threads, op),
        }
        if cfg["hooks"]:
            s["edgehook+lua"] = Edgehook("edgehook-lua" + sfx, w, cpus, a.binary, op, threads, hook=("lua", hook_lua))
            s["edgehook+c"] = Edgehook("edgehook-c" + sfx, w, cpus, a.binary, op, threads, hook=("native", hook_c))
            s["nginx+lua"] = Nginx("nginx-lua" + sfx, w, cpus, threads, origin_port=op, lua=True, h2=False)
            s["varnish+vcl"] = Varnish("varnish-vcl" + sfx, w, cpus, threads, op, vcl_header=True)
        return s

    def warm(self, servers, sizes):
        for key, srv in servers.items():
            for name, n in sizes:
                path = "/obj/" + name
                for _ in range(3):
                    st, h, hlen, blen = http_get(srv.port, path)
                if st != 200 or blen != n or not srv.is_hit(h):
                    raise RuntimeError("%s: %s is not a cache hit after warming (status %d, %d bytes, headers %s)" %
                                       (key, path, st, blen, h))
                if "+" in key and h.get(HOOK_HEADER[0].lower()) != HOOK_HEADER[1]:
                    raise RuntimeError("%s: the hook header is missing: %s" % (key, h))
                self.extra.setdefault("response_header_bytes", {}).setdefault(key, {})[name] = hlen
            # a short run so that JIT traces, pools and connections are warm before the first measurement
            self.load.wrk(srv, srv.url("/obj/1k"), 64, 1, 1, None)

    # -- the hit matrix ------------------------------------------------------------------------------------------------

    def configs(self):
        out = []
        pin = NCPU >= 2
        if "1w" in self.a.configs:
            out.append(dict(id="1w", threads=1, server_cpus="1" if pin else None, load_cpus="0" if pin else None,
                            load_threads=1, hooks=not self.a.no_hooks,
                            label="1 worker" + (" (server on CPU 1, load generator on CPU 0)" if pin else "")))
        if "nw" in self.a.configs and NCPU >= 2:
            out.append(dict(id="nw", threads=NCPU, server_cpus=None, load_cpus=None, load_threads=NCPU, hooks=False,
                            label="%d workers, one per core (nothing pinned)" % NCPU))
        return out

    def busy_cpus(self, secs=0.5):
        b0, _ = host_cpu()
        time.sleep(secs)
        b1, _ = host_cpu()
        return (b1 - b0) / CLK / secs

    def measured(self, fn):
        """runs fn (one load run) when the machine is quiet enough, and again (up to --retries times) when other
        tenants used more than --max-foreign CPUs during it; keeps the least disturbed run"""
        a = self.a
        best = None
        for attempt in range(1 + a.retries):
            deadline = time.time() + a.max_wait
            while True:
                busy = self.busy_cpus()
                if busy <= a.max_foreign or time.time() > deadline:
                    break
                time.sleep(1)
            r = fn()
            r["attempts"] = attempt + 1
            r["busy_before"] = busy
            if best is None or r["foreign_cpu_s"] < best["foreign_cpu_s"]:
                best = r
            if r["foreign_cpu_s"] / r["wall_s"] <= a.max_foreign:
                break
            log("    (others used %.2f CPUs during that run%s)" % (r["foreign_cpu_s"] / r["wall_s"],
                                                                  "; again" if attempt < a.retries else ""))
        return best

    def record(self, cfg, proto, size, key, rep, r):
        r.update(config=cfg["id"], proto=proto, size=size, server=key, rep=rep)
        self.runs.append(r)
        log("  %-3s %-3s %-4s %-13s rep %d: %9.0f req/s %9.0f req/CPU-s  p50 %7.0f µs  p99 %7.0f µs  server %.2f "
            "CPU-s, loadgen %.2f, origin %.2f, foreign %.2f, steal %.2f%s" %
            (cfg["id"], proto, size, key, rep + 1, r["rps"], r["rpcs"], r["p50_us"], r["p99_us"], r["server_cpu_s"],
             r["loadgen_cpu_s"], r["origin_cpu_s"], r["foreign_cpu_s"], r["steal_s"],
             ("  ERRORS %d non-2xx %d" % (r["errors"], r["non2xx"])) if r["errors"] or r["non2xx"] else ""))

    def hit_matrix(self):
        a = self.a
        sizes = [s for s in SIZES if s[0] in a.sizes]
        for cfg in self.configs():
            log("config %s: %s" % (cfg["id"], cfg["label"]))
            servers = self.servers_for(cfg)
            for s in servers.values():
                s.start()
            try:
                self.warm(servers, sizes)
                o0 = self.origin_requests()
                tests = []
                for name, _ in sizes:
                    keys = ["edgehook", "nginx", "varnish"]
                    if name == "1k" and cfg["hooks"]:
                        keys += ["edgehook+lua", "edgehook+c", "nginx+lua", "varnish+vcl"]
                    tests.append(("h1", name, keys))
                if not a.no_h2:
                    for name, _ in sizes:
                        tests.append(("h2", name, ["edgehook", "nginx"]))
                for rep in range(a.reps):
                    for proto, name, keys in tests:
                        k = rep % len(keys)
                        for key in keys[k:] + keys[:k]:  # rotate the order each repetition
                            srv = servers[key]
                            path = "/obj/" + name
                            if proto == "h1":
                                r = self.measured(lambda: self.load.wrk(
                                    srv, srv.url(path), a.connections, cfg["load_threads"], a.duration,
                                    cfg["load_cpus"]))
                            else:
                                r = self.measured(lambda: self.load.h2load(
                                    srv, srv.url(path, h2=True), a.connections, a.streams, cfg["load_threads"],
                                    a.duration, cfg["load_cpus"], os.path.join(self.work, "h2load.log")))
                            self.record(cfg, proto, name, key, rep, r)
                if cfg["hooks"] and "1k" in a.sizes and a.hook_rounds:
                    self.hook_rounds(cfg, servers)
                grew = self.origin_requests() - o0
                self.extra.setdefault("origin_requests_during_hit_runs", {})[cfg["id"]] = grew
                if grew:
                    self.notes.append("config %s: the origin saw %d requests during the hit runs" % (cfg["id"], grew))
            finally:
                for s in servers.values():
                    s.stop()

    def hook_rounds(self, cfg, servers):
        """the hook overhead, resolved finer than the hit matrix can on a noisy machine: many short rounds in which
        each server runs with and without its hook back to back; the cost is the median of the per-round ratios"""
        a = self.a
        keys = ["edgehook", "edgehook+c", "edgehook+lua", "nginx", "nginx+lua", "varnish", "varnish+vcl"]
        log("hook overhead: %d rounds of %d s runs" % (a.hook_rounds, a.hook_duration))
        for rnd in range(a.hook_rounds):
            for group in (keys[0:3], keys[3:5], keys[5:7]):
                k = rnd % len(group)
                for key in group[k:] + group[:k]:
                    srv = servers[key]
                    r = self.measured(lambda: self.load.wrk(srv, srv.url("/obj/1k"), a.connections,
                                                            cfg["load_threads"], a.hook_duration, cfg["load_cpus"]))
                    self.record(cfg, "hook", "1k", key, rnd, r)

    # -- the miss path -------------------------------------------------------------------------------------------------

    def miss_path(self):
        """two kinds of miss at low concurrency, through each proxy and to the origin directly:
        `nostore` - one URL whose responses say no-store (never stored: every request goes to the origin);
        `unique` - a new cacheable URL on every request (fetched, stored, never hit)"""
        a = self.a
        pin = NCPU >= 2
        cpus, lcpus = ("1", "0") if pin else (None, None)
        servers = {"edgehook": Edgehook("edgehook-miss", self.work, cpus, a.binary, self.origin.port, 1),
                   "nginx": Nginx("nginx-miss", self.work, cpus, 1, origin_port=self.origin.port, h2=False),
                   "varnish": Varnish("varnish-miss", self.work, cpus, 1, self.origin.port)}
        log("miss path: wrk -t1 -c%d, /nostore/1k (no-store) and a new /u/N (1 KB, cacheable) per request" %
            a.miss_connections)
        for s in servers.values():
            s.start()
        try:
            for key, s in servers.items():
                for _ in range(2):
                    st, h, _, blen = http_get(s.port, "/nostore/1k")
                if st != 200 or blen != 1024 or s.is_hit(h):
                    raise RuntimeError("%s: /nostore/1k is not a miss: %d %s" % (key, st, h))
                self.load.wrk(s, s.url("/nostore/1k"), a.miss_connections, 1, 1, lcpus)
                self.load.wrk(s, s.url("/u/warm-"), a.miss_connections, 1, 1, lcpus, unique=True)
            o0 = self.origin_requests()
            for rep in range(a.reps):
                order = ["direct", "edgehook", "nginx", "varnish"]
                k = rep % 4
                for variant, path in (("nostore", "/nostore/1k"), ("unique", "/u/")):
                    for key in order[k:] + order[:k]:
                        srv = self.origin if key == "direct" else servers[key]
                        r = self.measured(lambda: self.load.wrk(srv, srv.url(path), a.miss_connections, 1,
                                                                a.miss_duration, lcpus, unique=variant == "unique"))
                        self.record(dict(id="miss"), variant, "1k", key, rep, r)
            self.extra["origin_requests_during_miss_runs"] = self.origin_requests() - o0
            self.extra["proxied_miss_requests"] = sum(r["requests"] for r in self.runs
                                                      if r["config"] == "miss" and r["server"] != "direct")
        finally:
            for s in servers.values():
                s.stop()

    # -- the disk tier: hits from disk against nginx proxy_cache on disk, restart with N objects on disk ---------------------
    def disk_tier(self):
        """bench/disk_hits.py (1 KB and 1 MB hits from disk vs nginx proxy_cache on disk), bench/disk_bench.c (index load at
        --objects objects of 1 KB) and bench/disk_restart.py (process start to the first disk hit); their lines go to the
        report's notes"""
        a = self.a
        d = os.path.join(self.work, "disk-tier")

        def run(label, argv):
            log("disk tier: " + " ".join(argv))
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            lines = [l for l in p.stdout.splitlines() if l.strip() and (p.returncode != 0 or "req/s" in l or l.startswith(
                ("run ", "filled", "load average")))]
            for l in lines[-12:]:
                self.notes.append("%s: %s" % (label, " ".join(l.split())))
        try:
            run("Disk tier hits (bench/disk_hits.py, 1 worker each)", ["/usr/bin/python3", os.path.join(HERE, "disk_hits.py"),
                                                                       a.binary, str(a.duration)])
            subprocess.run(["cmake", "--build", a.build, "--target", "disk_bench"], check=True, stdout=subprocess.DEVNULL)
            run("Disk tier index at %d objects (bench/disk_bench.c)" % a.objects,
                [os.path.join(a.build, "disk_bench"), d, str(a.objects), "1024"])
            run("Disk tier restart at %d objects (bench/disk_restart.py)" % a.objects,
                ["/usr/bin/python3", os.path.join(HERE, "disk_restart.py"), a.binary, d, str(a.objects), "3"])
        except (OSError, subprocess.CalledProcessError) as e:
            self.notes.append("Disk tier: not measured (%s)" % e)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    # -- tiered caching: the miss latency of edge -> parent -> origin --------------------------------------------------

    def tier_miss(self):
        """a new cacheable URL per request (wrk -c1), three ways: the origin directly, one edgehook in front of it, and an
        edgehook whose origin has a parent edgehook (edge -> parent -> origin: a 3-node tier, both tiers miss and store)"""
        a = self.a
        pin = NCPU >= 2
        cpus, lcpus = ("1", "0") if pin else (None, None)
        parent = Edgehook("edgehook-parent", self.work, cpus, a.binary, self.origin.port, 1)
        servers = {"single": Edgehook("edgehook-single", self.work, cpus, a.binary, self.origin.port, 1),
                   "tier": Edgehook("edgehook-child", self.work, cpus, a.binary, self.origin.port, 1,
                                    parents=[parent.port])}
        log("tier miss: wrk -t1 -c1, a new /u/tier-N (1 KB, cacheable) per request: origin, edge -> origin, "
            "edge -> parent -> origin")
        parent.start()
        for s in servers.values():
            s.start()
        try:
            st, h, _, blen = http_get(servers["tier"].port, "/u/tier-probe")
            if st != 200 or blen != 1024 or h.get("x-cache", "").count("from edgehook") != 2:
                raise RuntimeError("tier: the child did not go through the parent: %d %s" % (st, h))
            for s in servers.values():
                self.load.wrk(s, s.url("/u/tier-warm-"), 1, 1, 1, lcpus, unique=True)
            for rep in range(a.reps):
                order = ["direct", "single", "tier"]
                k = rep % 3
                for key in order[k:] + order[:k]:
                    srv = self.origin if key == "direct" else servers[key]
                    r = self.measured(lambda: self.load.wrk(srv, srv.url("/u/tier-"), 1, 1, a.miss_duration, lcpus,
                                                            unique=True))
                    self.record(dict(id="tier"), "unique", "1k", key, rep, r)
        finally:
            for s in servers.values():
                s.stop()
            parent.stop()

    # -- memory per cached object --------------------------------------------------------------------------------------

    def fill(self, srv, first, n):
        urls = os.path.join(self.work, "urls.txt")
        with open(urls, "w") as f:
            for i in range(first, first + n):
                f.write("http://127.0.0.1:%d/m/%d\n" % (srv.port, i))
        t0 = time.time()
        r = subprocess.run(["h2load", "--h1", "-c1", "-m16", "-n%d" % n, "-i", urls], capture_output=True, text=True)
        m = re.search(r"(\d+) succeeded", r.stdout)
        ok = int(m.group(1)) if m else 0
        if r.returncode != 0 or ok != n:
            raise RuntimeError("filling %s: %d of %d succeeded\n%s%s" % (srv.name, ok, n, r.stdout[-2000:], r.stderr))
        return time.time() - t0

    def memory(self):
        a = self.a
        n, base = a.objects, 2000
        srvs = [("edgehook", Edgehook("edgehook-mem", self.work, None, a.binary, self.origin.port, 1,
                                      cache_memory="4GB", admin=True)),
                ("varnish", Varnish("varnish-mem", self.work, None, 1, self.origin.port, storage="4G"))]
        st, h, hlen, blen = http_get(self.origin.port, "/m/1")
        # what a cache has to keep of the origin's response: end-to-end header names and values, and the body
        hdr = sum(len(k) + len(v) for k, v in h.items() if k not in ("connection", "keep-alive", "transfer-encoding"))
        self.extra["memory_object"] = dict(body=blen, header_bytes=hdr, headers=h, objects=n)
        log("memory: %d objects of %d body bytes, %d header bytes (%s)" % (n, blen, hdr, ", ".join(h)))
        for key, s in srvs:
            s.start()
            try:
                self.fill(s, 0, base)  # allocator, pools and connections warm; the baseline
                time.sleep(1)
                r0 = rss_bytes(s.pids())
                secs = self.fill(s, base, n)
                time.sleep(1)
                r1 = rss_bytes(s.pids())
                if key == "edgehook":
                    objs = s.metric("edgehook_cache_objects")
                else:
                    objs = s.stat("MAIN.n_object")
                per = (r1 - r0) / n
                res = dict(rss_before=r0, rss_after=r1, objects_in_cache=objs, fill_s=secs, rss_per_object=per,
                           beyond_headers_body=per - hdr - blen)
                self.extra.setdefault("memory", {})[key] = res
                log("  %s: RSS %.1f -> %.1f MB, %s objects in cache, %.0f B per object, %.0f B beyond headers+body "
                    "(filled in %.1f s)" % (key, r0 / 1e6, r1 / 1e6, objs, per, per - hdr - blen, secs))
                if objs < n + base:
                    self.notes.append("memory: %s holds %s objects, fewer than the %d requested" % (key, objs, n + base))
            finally:
                s.stop()

    # -- profile -------------------------------------------------------------------------------------------------------

    def perf_profile(self, srv, path, conns, f, title, unique=False):
        """perf record (cpu-clock: this VM has no hardware counters) of srv during a wrk run on path; summaries to f"""
        a = self.a
        lcpus = "0" if NCPU >= 2 else None
        data = os.path.join(self.work, "perf.data")
        rec = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "2999", "-g", "-o", data, "-p",
                                ",".join(str(p) for p in srv.pids()), "--", "sleep", str(a.duration)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        PROCS.append(rec)
        r = self.load.wrk(srv, srv.url(path), conns, 1, a.duration + 1, lcpus, unique=unique)
        rec.wait()
        PROCS.remove(rec)
        f.write("\n\n# %s: %s, wrk -t1 -c%d: %.0f req/s, %.0f req per server CPU-s, %.1f µs of server CPU per request\n" %
                (title, path, conns, r["rps"], r["rpcs"], 1e6 / r["rpcs"] if r["rpcs"] else 0))
        reports = [("CPU by object (self)", ["--no-children", "--sort", "dso", "-g", "none", "--percent-limit", "0.5"]),
                   ("top functions (self)", ["--no-children", "--sort", "dso,symbol", "-g", "none", "--percent-limit",
                                             "0.4"])]
        for name, extra in reports:
            f.write("\n## %s\n\n" % name)
            out = subprocess.run(["perf", "report", "-i", data, "--stdio", "-q"] + extra, capture_output=True,
                                 text=True).stdout
            f.write("\n".join(line.rstrip() for line in out.splitlines() if line.strip()) + "\n")
        f.flush()
        os.unlink(data)

    def strace_count(self, srv, path, conns, f, title, unique=False):
        """system calls per request (strace -c slows the server down, but the counts per request hold)"""
        lcpus = "0" if NCPU >= 2 else None
        out = os.path.join(self.work, "strace.txt")
        tr = subprocess.Popen(["strace", "-c", "-f", "-o", out] + sum((["-p", str(p)] for p in srv.pids()), []),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        PROCS.append(tr)
        time.sleep(1)
        r = self.load.wrk(srv, srv.url(path), conns, 1, 3, lcpus, unique=unique)
        time.sleep(0.5)
        tr.send_signal(signal.SIGINT)
        tr.wait()
        PROCS.remove(tr)
        n = r["requests"]
        f.write("\n## %s: system calls per request (%s, strace -c -f over %d requests)\n\n" % (title, path, n))
        rows = []
        with open(out) as t:
            for line in t:
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+\s+)?(\w+)\s*$", line)
                if m and m.group(3) != "total":
                    rows.append((int(m.group(1)) / n if n else 0, m.group(3)))
        rows.sort(reverse=True)
        f.write("    " + ", ".join("%s %.2f" % (name, c) for c, name in rows if c >= 0.01) +
                "  (total %.2f)\n" % sum(c for c, _ in rows))
        f.flush()

    def callgrind(self, f):
        """user-space instructions per 1 KB hit (valgrind callgrind: exact, immune to the noise of a shared machine),
        for edgehook with no hook, the C hook and the Lua hook; the top functions by self and inclusive cost"""
        a = self.a
        hooks = [("no hook", None), ("C hook", ("native", os.path.join(a.build, "tests", "hooks",
                                                                        "libbench_one_header.so"))),
                 ("Lua hook", ("lua", os.path.join(a.src, "tests", "hooks", "bench_one_header.lua")))]
        f.write("\n\n# callgrind: user-space instructions (Ir) per 1 KB hit, 1 worker, wrk -c4 (kernel time is not "
                "counted)\n")
        base = None
        for title, hook in hooks:
            e = Edgehook("edgehook-cg-%s" % title.split()[0], self.work, None, a.binary, self.origin.port, 1, hook=hook)
            cg = os.path.join(self.work, "callgrind.out")
            e.proc = spawn(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg, "--instr-atstart=no",
                            a.binary, "-c", e.conf], os.path.join(e.dir, "log"), cwd=e.dir)
            try:
                wait_port(e.port, e.proc, e.name, timeout=120)
                for _ in range(3):
                    http_get(e.port, "/obj/1k")
                self.load.wrk(e, e.url("/obj/1k"), 4, 1, 2, None)
                subprocess.run(["callgrind_control", "-i", "on", str(e.proc.pid)], capture_output=True)
                r = self.load.wrk(e, e.url("/obj/1k"), 4, 1, 5, None)
                subprocess.run(["callgrind_control", "-i", "off", str(e.proc.pid)], capture_output=True)
            finally:
                e.stop()
            n = r["requests"]
            ann = subprocess.run(["callgrind_annotate", cg], capture_output=True, text=True).stdout
            inc = subprocess.run(["callgrind_annotate", "--inclusive=yes", cg], capture_output=True, text=True).stdout
            os.unlink(cg)
            m = re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", ann) or re.search(r"([\d,]+)\s+PROGRAM TOTALS", ann)
            total = int(m.group(1).replace(",", "")) if m else 0
            per = total / n if n else 0
            base = per if base is None else base
            self.extra.setdefault("callgrind_ir_per_1k_hit", {})[title] = per
            f.write("\n## %s: %.0f Ir per request (%s) over %d requests\n\n" % (
                title, per, "%+.0f vs no hook" % (per - base) if per != base else "baseline", n))

            def top(text, limit):
                out = []
                for line in text.splitlines():
                    mm = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S+)", line)
                    if mm and "PROGRAM TOTALS" not in line:
                        fn = mm.group(2)
                        lib = re.search(r"\[(.*?)\]\s*$", line)
                        fn = fn.split(":", 1)[-1] if ":" in fn else fn
                        out.append("%8.0f  %s  (%s)" % (int(mm.group(1).replace(",", "")) / n, fn,
                                                         os.path.basename(lib.group(1)) if lib else "?"))
                    if len(out) >= limit:
                        break
                return out
            f.write("self Ir/request, top 25:\n\n    " + "\n    ".join(top(ann, 25)) + "\n\n")
            f.write("inclusive Ir/request, top 30:\n\n    " + "\n    ".join(top(inc, 30)) + "\n")
            f.flush()

    def profile(self):
        """where the CPU goes, into OUT/profile.txt: system calls per request of the three servers (strace -c), perf
        profiles of edgehook (1 KB hit with and without hooks, 1 MB hit, the two misses) and callgrind instruction counts"""
        a = self.a
        cpus = "1" if NCPU >= 2 else None
        out = os.path.join(a.out, "profile.txt")
        w, op = self.work, self.origin.port
        hook_c = os.path.join(a.build, "tests", "hooks", "libbench_one_header.so")
        hook_lua = os.path.join(a.src, "tests", "hooks", "bench_one_header.lua")
        servers = {"edgehook": Edgehook("edgehook-prof", w, cpus, a.binary, op, 1),
                   "edgehook+c": Edgehook("edgehook-c-prof", w, cpus, a.binary, op, 1, hook=("native", hook_c)),
                   "edgehook+lua": Edgehook("edgehook-lua-prof", w, cpus, a.binary, op, 1, hook=("lua", hook_lua)),
                   "nginx": Nginx("nginx-prof", w, cpus, 1, origin_port=op, h2=False),
                   "varnish": Varnish("varnish-prof", w, cpus, 1, op)}
        log("profile: strace -c, perf record, callgrind (a few minutes)")
        for s in servers.values():
            s.start()
        try:
            self.warm(servers, SIZES)
            with open(out, "w") as f:
                f.write("# where the CPU goes: 1 worker pinned to CPU %s, wrk on CPU 0 (%s, git %s)\n" % (
                    cpus, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), self.info.get("git")))
                if shutil.which("strace"):
                    for key in ("edgehook", "nginx", "varnish"):
                        self.strace_count(servers[key], "/obj/1k", a.connections, f, "1 KB hit, " + key)
                    for key in ("edgehook", "nginx", "varnish"):
                        self.strace_count(servers[key], "/obj/1m", a.connections, f, "1 MB hit, " + key)
                    for key in ("edgehook", "nginx"):
                        self.strace_count(servers[key], "/nostore/1k", 1, f, "miss (no-store), " + key)
                        self.strace_count(servers[key], "/u/", 1, f, "miss (new URL), " + key, unique=True)
                if shutil.which("perf"):
                    for key in ("edgehook", "edgehook+c", "edgehook+lua"):
                        self.perf_profile(servers[key], "/obj/1k", a.connections, f, "1 KB hit, " + key)
                    self.perf_profile(servers["edgehook"], "/obj/1m", a.connections, f, "1 MB hit, edgehook")
                    self.perf_profile(servers["nginx"], "/obj/1m", a.connections, f, "1 MB hit, nginx")
                    self.perf_profile(servers["edgehook"], "/nostore/1k", 1, f, "miss (no-store), edgehook")
                    self.perf_profile(servers["edgehook"], "/u/", 1, f, "miss (new URL), edgehook", unique=True)
                for s in servers.values():
                    s.stop()
                if shutil.which("valgrind"):
                    self.callgrind(f)
            log("profile written to %s" % out)
        finally:
            for s in servers.values():
                s.stop()

    # -- the table -----------------------------------------------------------------------------------------------------

    def vals(self, cfg, proto, size, server, metric):
        return [r[metric] for r in self.runs if r["config"] == cfg and r["proto"] == proto and r["size"] == size and
                r["server"] == server]

    def paired(self, cfg, proto, size, a_key, b_key, fn):
        """fn(run of a, run of b) for each repetition where both ran"""
        A = {r["rep"]: r for r in self.runs if (r["config"], r["proto"], r["size"], r["server"]) == (cfg, proto, size,
                                                                                                     a_key)}
        B = {r["rep"]: r for r in self.runs if (r["config"], r["proto"], r["size"], r["server"]) == (cfg, proto, size,
                                                                                                     b_key)}
        return [fn(A[k], B[k]) for k in sorted(A) if k in B]

    def table(self):
        rows = []
        checks = []  # (target, result) for the summary

        def target_cell(ratios, spec):
            """spec: [(peer, op, value)]; returns (target text, PASS/MISS text)"""
            if not spec:
                return "", ""
            txt, miss = [], []
            for peer, op, want in spec:
                got = ratios.get(peer)
                txt.append("%s %s %s" % (peer, op, ("%.1f×" % want) if op != ">" else "1×"))
                if got is None:
                    miss.append("%s n/a" % peer)
                elif (op == "≥" and got < want) or (op == ">" and got <= want):
                    miss.append("%s %.2f×" % (peer, got))
            return " and ".join(txt), ("MISS (" + ", ".join(miss) + ")") if miss else "PASS"

        targets = {("h1", "1k", "rpcs"): [("nginx", "≥", 1.5), ("Varnish", "≥", 2.0)],
                   ("h1", "1k", "rps"): [("nginx", ">", 1.0), ("Varnish", ">", 1.0)],
                   ("h1", "64k", "rpcs"): [("nginx", "≥", 1.2), ("Varnish", "≥", 1.2)],
                   ("h1", "1m", "rpcs"): [("nginx", "≥", 1.5), ("Varnish", "≥", 1.0)],
                   ("h2", "1k", "rpcs"): [("nginx", "≥", 1.5)]}
        metrics = [("rps", "req/s", ""), ("rpcs", "req per server CPU-s", ""), ("p50_us", "p50 latency", "us"),
                   ("p99_us", "p99 latency", "us")]
        for cfg in self.configs():
            for proto in ("h1", "h2"):
                for size, _ in SIZES:
                    if not self.vals(cfg["id"], proto, size, "edgehook", "rps"):
                        continue
                    test = "%s hit, %s, %s" % (SIZE_LABEL[size], "HTTP/1.1 wrk -c%d" % self.a.connections
                                              if proto == "h1" else "HTTP/2 h2load -c%d -m%d" % (self.a.connections,
                                                                                                  self.a.streams),
                                              cfg["label"])
                    for m, mlabel, unit in metrics:
                        e = self.vals(cfg["id"], proto, size, "edgehook", m)
                        n = self.vals(cfg["id"], proto, size, "nginx", m)
                        v = self.vals(cfg["id"], proto, size, "varnish", m)
                        ratios = {"nginx": ratio(med(e), med(n)), "Varnish": ratio(med(e), med(v))}
                        tgt, res = target_cell(ratios, targets.get((proto, size, m)))
                        if tgt:
                            checks.append(("%s: %s: %s" % (test, mlabel, tgt), res))
                        rows.append([test, mlabel, fmt_cell(e, unit), fmt_cell(n, unit), fmt_cell(v, unit),
                                     "%.2f×" % ratios["nginx"] if ratios["nginx"] else "—",
                                     "%.2f×" % ratios["Varnish"] if ratios["Varnish"] else "—", tgt, res])
                        test = ""  # only on the first row of a group
            # hooks
            hp = "hook" if self.vals(cfg["id"], "hook", "1k", "edgehook+lua", "rps") else "h1"
            if cfg["hooks"] and self.vals(cfg["id"], hp, "1k", "edgehook+lua", "rps"):
                rounds = "%d rounds of %d s" % (len(self.vals(cfg["id"], hp, "1k", "edgehook", "rps")),
                                                self.a.hook_duration if hp == "hook" else self.a.duration)
                variants = [("Lua viewer-response hook (nginx header_filter_by_lua_block, Varnish vcl_deliver)",
                             "edgehook+lua", "nginx+lua", "varnish+vcl", 0.05),
                            ("C viewer-response hook", "edgehook+c", None, None, 0.02)]
                for title, ek, nk, vk, limit in variants:
                    test = "1 KB hit + one header: %s, %s; %s, each with and without its hook back to back" % (
                        title, cfg["label"], rounds)
                    for m, mlabel in (("rpcs", "req per server CPU-s"), ("rps", "req/s")):
                        e = self.vals(cfg["id"], hp, "1k", ek, m)
                        n = self.vals(cfg["id"], hp, "1k", nk, m) if nk else []
                        v = self.vals(cfg["id"], hp, "1k", vk, m) if vk else []
                        rn, rv = ratio(med(e), med(n)), ratio(med(e), med(v))
                        rows.append([test, mlabel, fmt_cell(e), fmt_cell(n), fmt_cell(v),
                                     "%.2f×" % rn if rn else "—", "%.2f×" % rv if rv else "—", "", ""])
                        test = ""
                        def cost(h, b, m=m):
                            return 1 - h[m] / b[m] if b[m] else 0.0
                        ce = self.paired(cfg["id"], hp, "1k", ek, "edgehook", cost)
                        cn = self.paired(cfg["id"], hp, "1k", nk, "nginx", cost) if nk else []
                        cv = self.paired(cfg["id"], hp, "1k", vk, "varnish", cost) if vk else []
                        tgt = res = ""
                        if m == "rpcs":
                            tgt = "edgehook ≤ %d %%" % (limit * 100)
                            res = "PASS" if med(ce) is not None and med(ce) <= limit else "MISS (%.1f %%)" % (
                                (med(ce) or 0) * 100)
                            checks.append(("%s: cost in %s: %s" % (title.split(" (")[0], mlabel, tgt), res))
                        rows.append(["", "cost vs no hook, %s (paired per round)" % mlabel, fmt_cell(ce, "pct"),
                                     fmt_cell(cn, "pct"), fmt_cell(cv, "pct"), "", "", tgt, res])
        cg = self.extra.get("callgrind_ir_per_1k_hit")
        if cg and "no hook" in cg:
            b = cg["no hook"]
            cell = " / ".join("%s %.0f%s" % (k, v, "" if k == "no hook" else " (%+.0f %%)" % ((v / b - 1) * 100))
                              for k, v in cg.items())
            rows.append(["1 KB hit, user-space instructions per request (callgrind: exact, the kernel not counted)",
                         "Ir per request", cell, "", "", "", "", "", ""])
        # miss path
        for variant, title in (("nostore", "miss, origin answers no-store (one URL, never stored)"),
                               ("unique", "miss, a new cacheable URL per request (fetched and stored)")):
            if not self.vals("miss", variant, "1k", "direct", "rps"):
                continue
            d50 = self.vals("miss", variant, "1k", "direct", "p50_us")
            d99 = self.vals("miss", variant, "1k", "direct", "p99_us")
            test = "%s, 1 KB, wrk -c%d, 1 worker; the origin directly: p50 %s, p99 %s" % (
                title, self.a.miss_connections, fmt_cell(d50, "us"), fmt_cell(d99, "us"))
            for m, mlabel in (("p50_us", "added p50 latency"), ("p99_us", "added p99 latency")):
                add = {k: self.paired("miss", variant, "1k", k, "direct", lambda x, y, m=m: x[m] - y[m])
                       for k in ("edgehook", "nginx", "varnish")}
                tgt = res = ""
                if m == "p50_us":
                    tgt = "edgehook ≤ 100 µs"
                    res = "PASS" if med(add["edgehook"]) is not None and med(add["edgehook"]) <= 100 else \
                        "MISS (%.0f µs)" % (med(add["edgehook"]) or 0)
                    checks.append(("%s: added p50: %s" % (title, tgt), res))
                rows.append([test, mlabel, fmt_cell(add["edgehook"], "us"), fmt_cell(add["nginx"], "us"),
                             fmt_cell(add["varnish"], "us"), "", "", tgt, res])
                test = ""
            for m, mlabel in (("rps", "req/s"), ("rpcs", "req per server CPU-s")):
                v = {k: self.vals("miss", variant, "1k", k, m) for k in ("edgehook", "nginx", "varnish")}
                rn, rv = ratio(med(v["edgehook"]), med(v["nginx"])), ratio(med(v["edgehook"]), med(v["varnish"]))
                rows.append(["", mlabel, fmt_cell(v["edgehook"]), fmt_cell(v["nginx"]), fmt_cell(v["varnish"]),
                             "%.2f×" % rn if rn else "—", "%.2f×" % rv if rv else "—", "", ""])
        # tiered caching
        if self.vals("tier", "unique", "1k", "tier", "p50_us"):
            test = "3-node tier miss latency: a new cacheable 1 KB URL per request, wrk -c1; edge -> parent -> origin " \
                   "(both tiers miss and store) vs edge -> origin; the origin directly: p50 %s, p99 %s" % (
                       fmt_cell(self.vals("tier", "unique", "1k", "direct", "p50_us"), "us"),
                       fmt_cell(self.vals("tier", "unique", "1k", "direct", "p99_us"), "us"))
            for m, mlabel in (("p50_us", "p50"), ("p99_us", "p99")):
                t = self.vals("tier", "unique", "1k", "tier", m)
                s1 = self.vals("tier", "unique", "1k", "single", m)
                extra = self.paired("tier", "unique", "1k", "tier", "single", lambda x, y, m=m: x[m] - y[m])
                rows.append([test, "%s edge -> parent -> origin / edge -> origin / the parent's cost" % mlabel,
                             "%s / %s / %s" % (fmt_cell(t, "us"), fmt_cell(s1, "us"), fmt_cell(extra, "us")),
                             "n/a", "n/a", "", "", "", ""])
                test = ""
        # memory
        mem = self.extra.get("memory")
        if mem:
            mo = self.extra["memory_object"]
            test = "memory per cached object: RSS growth over %d objects of %d B body + %d B headers" % (
                mo["objects"], mo["body"], mo["header_bytes"])
            e = mem.get("edgehook", {}).get("beyond_headers_body")
            v = mem.get("varnish", {}).get("beyond_headers_body")
            res = "PASS" if e is not None and e <= 300 else "MISS (%.0f B)" % (e or 0)
            checks.append(("memory per object beyond headers and body: edgehook ≤ 300 B", res))
            rows.append([test, "bytes beyond headers and body", fmt_num(e, "B"), "n/a (file cache)",
                         fmt_num(v, "B"), "", "%.2f×" % ratio(e, v) if e and v else "—", "edgehook ≤ 300 B", res])
            rows.append(["", "total RSS per object", fmt_num(mem.get("edgehook", {}).get("rss_per_object"), "B"), "",
                         fmt_num(mem.get("varnish", {}).get("rss_per_object"), "B"), "", "", "", ""])
        head = ["test", "metric", "edgehook", "nginx", "Varnish", "edgehook/nginx", "edgehook/Varnish", "target",
                "result"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        return "\n".join(lines), checks

    def machine(self):
        model = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem = f.readline().split()[1]
        load = open("/proc/loadavg").read().split()[:3]

        def ver(argv):
            r = subprocess.run(argv, capture_output=True, text=True)
            return ((r.stdout + r.stderr).strip().splitlines() or ["?"])[0]
        self.info = dict(nproc=NCPU, cpu=model, kernel=platform.release(), memory_kb=int(mem), loadavg_start=load,
                         edgehook=ver([self.a.binary, "--version"]), nginx=ver(["nginx", "-v"]),
                         varnish=ver(["varnishd", "-V"]), wrk=ver(["wrk", "-v"]), h2load=ver(["h2load", "--version"]),
                         git=self.a.rev[:12] if self.a.rev else subprocess.run(
                             ["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                             text=True).stdout.strip())

    def report(self, started):
        table, checks = self.table()
        i = self.info
        a = self.a
        foreign = [r["foreign_cpu_s"] / r["wall_s"] for r in self.runs if r.get("wall_s")]
        steal = [r["steal_s"] / r["wall_s"] for r in self.runs if r.get("wall_s")]
        hb = self.extra.get("response_header_bytes", {})
        hb_txt = ", ".join("%s %d B" % (k, v.get("1k", 0)) for k, v in hb.items())
        passed = sum(1 for _, r in checks if r == "PASS")
        md = ["# edgehook vs nginx proxy_cache vs Varnish", "",
              "%s, `bench/run.sh %s`, %s min, edgehook %s (git %s)." % (
                  time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), " ".join(sys.argv[1:]).replace(
                      "--build build-bench", "").strip(), "%.0f" % ((time.time() - started) / 60), i["edgehook"],
                  i["git"]), "",
              "Machine: %d × %s, Linux %s, %.1f GB; load average at start %s. Peers: %s; %s. Load: %s; %s." % (
                  i["nproc"], i["cpu"], i["kernel"], i["memory_kb"] / 1048576, " ".join(i["loadavg_start"]),
                  i["nginx"], i["varnish"], i["wrk"], i["h2load"]), "",
              "Each cell: median (min–max) of %d runs of %d s, servers interleaved, order rotated each repetition. "
              "Ratios are edgehook/peer of the medians (for latency, lower is better). *req per server CPU-s* = requests "
              "/ (utime+stime of every process of the server, /proc/PID/stat, around the run). Targets: %d of %d met." % (
                  a.reps, a.duration, passed, len(checks)), "", table, "",
              "Notes:", ""]
        if hb_txt:
            md.append("- Response header bytes on a 1 KB hit: %s." % hb_txt)
        md.append("- CPU used by neither the server, the load generator nor the origin during the runs (other tenants, "
                  "softirq): median %.2f, max %.2f CPUs; steal: median %.2f, max %.2f CPUs." % (
                      med(foreign) or 0, max(foreign or [0]), med(steal) or 0, max(steal or [0])))
        again = sum(1 for r in self.runs if r.get("attempts", 1) > 1)
        still = sum(1 for r in self.runs if r["foreign_cpu_s"] / r["wall_s"] > a.max_foreign)
        md.append("- Runs measured again because other tenants used more than %.2f CPUs during them: %d of %d; kept "
                  "although still disturbed: %d." % (a.max_foreign, again, len(self.runs), still))
        ohits = self.extra.get("origin_requests_during_hit_runs")
        if ohits is not None:
            md.append("- Origin requests during the hit runs: %s (0: every measured response was a hit)." % (
                ", ".join("%s %d" % kv for kv in ohits.items())))
        mem = self.extra.get("memory_object")
        if mem:
            md.append("- Memory test object: %d B body; origin headers %s (%d B of names and values)." % (
                mem["body"], ", ".join(mem["headers"]), mem["header_bytes"]))
        for n in self.notes:
            md.append("- " + n)
        text = "\n".join(md) + "\n"
        print(text)
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "latest.md"), "w") as f:
            f.write(text)
        with open(os.path.join(a.out, "latest.json"), "w") as f:
            json.dump(dict(machine=self.info, args=vars(a), checks=checks, runs=self.runs, extra=self.extra,
                           notes=self.notes), f, indent=1)
        log("written %s/latest.md and latest.json" % a.out)


def main():
    ap = argparse.ArgumentParser(description="edgehook vs nginx proxy_cache vs Varnish (run it through bench/run.sh)")
    ap.add_argument("--quick", action="store_true", help="one repetition of 3 s runs, smaller memory test")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"), help="edgehook build dir (default build-bench)")
    ap.add_argument("--reps", type=int, help="repetitions of every figure (default 3; --quick 1)")
    ap.add_argument("--duration", type=int, help="seconds per run (default 8; --quick 3)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--streams", type=int, default=10, help="h2load -m")
    ap.add_argument("--configs", default="1w,nw", help="1w (1 worker, pinned), nw (one per core); default both")
    ap.add_argument("--sizes", default="1k,64k,1m")
    ap.add_argument("--no-h2", action="store_true")
    ap.add_argument("--no-hooks", action="store_true")
    ap.add_argument("--no-miss", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-tier", action="store_true", help="skip the 3-node tier miss latency")
    ap.add_argument("--no-disk", action="store_true", help="skip the disk tier (hits from disk vs nginx, restart with "
                    "--objects objects on disk)")
    ap.add_argument("--tier-only", action="store_true", help="only the 3-node tier miss latency")
    ap.add_argument("--no-hits", action="store_true")
    ap.add_argument("--miss-connections", type=int, default=1)
    ap.add_argument("--hook-rounds", type=int, help="rounds of the hook-overhead phase (default 10; --quick 3; 0: "
                    "take the cost from the hit matrix)")
    ap.add_argument("--hook-duration", type=int, default=3, help="seconds per hook-overhead run (default 3)")
    ap.add_argument("--objects", type=int, help="objects of 1 KB for the memory test (default 1000000; --quick 100000)")
    ap.add_argument("--memory-only", action="store_true", help="only the memory-per-object test (same as --no-hits "
                    "--no-miss; about 3 minutes at 1 million objects)")
    ap.add_argument("--profile", action="store_true", help="also perf-record edgehook on 1 KB hits "
                    "(bench/results/profile-1k-hit.txt)")
    ap.add_argument("--max-foreign", type=float, default=0.3, help="CPUs other tenants may use during a run before it "
                    "is measured again (default 0.3)")
    ap.add_argument("--retries", type=int, default=2, help="how many times a disturbed run is measured again")
    ap.add_argument("--max-wait", type=float, default=20, help="seconds to wait for a quiet machine before a run")
    ap.add_argument("--rev", help="measure this git revision (exported and built in build-bench/rev-SHA/) instead of "
                    "the working tree")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    a = ap.parse_args()
    a.reps = a.reps or (1 if a.quick else 3)
    a.duration = a.duration or (3 if a.quick else 8)
    a.miss_duration = 2 if a.quick else 5
    a.hook_rounds = a.hook_rounds if a.hook_rounds is not None else (3 if a.quick else 10)
    a.objects = a.objects or (100000 if a.quick else 1000000)
    if a.memory_only:
        a.no_hits = a.no_miss = a.no_tier = a.no_disk = True
    if a.tier_only:
        a.no_hits = a.no_miss = a.no_memory = a.no_disk = True
    a.configs = a.configs.split(",")
    a.sizes = a.sizes.split(",")
    a.build = os.path.abspath(a.build)
    a.src = ROOT
    if a.rev:
        a.rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", a.rev + "^{commit}"], capture_output=True,
                               text=True, check=True).stdout.strip()
        base = os.path.join(ROOT, "build-bench", "rev-" + a.rev[:12])
        a.src, a.build = os.path.join(base, "src"), os.path.join(base, "build")
        if not os.access(os.path.join(a.build, "edgehook"), os.X_OK):
            log("building %s in %s" % (a.rev[:12], base))
            shutil.rmtree(a.src, ignore_errors=True)
            os.makedirs(a.src)
            arch = subprocess.Popen(["git", "-C", ROOT, "archive", a.rev], stdout=subprocess.PIPE)
            subprocess.run(["tar", "-x", "-C", a.src], stdin=arch.stdout, check=True)
            arch.wait()
            subprocess.run(["cmake", "-S", a.src, "-B", a.build, "-DCMAKE_BUILD_TYPE=Release", "-DEDGE_TESTS=ON"],
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run(["cmake", "--build", a.build, "-j%d" % NCPU], check=True, stdout=subprocess.DEVNULL)
    a.binary = os.path.join(a.build, "edgehook")
    if not os.access(a.binary, os.X_OK):
        sys.exit("bench: no %s (bench/run.sh builds it)" % a.binary)
    for tool in ("wrk", "h2load", "nginx", "varnishd", "taskset"):
        if shutil.which(tool) is None:
            sys.exit("bench: %s is missing (scripts/deps.sh bench installs it)" % tool)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    b = Bench(a)
    started = time.time()
    try:
        b.machine()
        b.start_origin()
        if not a.no_hits:
            b.hit_matrix()
        if not a.no_miss:
            b.miss_path()
        if not a.no_tier:
            b.tier_miss()
        if not a.no_disk:
            b.disk_tier()
        if not a.no_memory:
            b.memory()
        if a.profile:
            b.profile()
        b.report(started)
    finally:
        cleanup()
        if a.keep:
            log("kept %s" % b.work)
        else:
            shutil.rmtree(b.work, ignore_errors=True)


if __name__ == "__main__":
    main()
