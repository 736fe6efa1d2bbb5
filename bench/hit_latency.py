#!/usr/bin/python3
"""bench/hit_latency.py - how much the embedded store and reloads move the latency of 1 KB cache hits.

edgehook runs one behavior `*` in front of a local origin that serves a 1 KB cacheable object, plus the embedded store, on
loopback. h2load asks for the (cached) 1 KB object at a fixed request rate, so the latency it measures is that of each hit
rather than the depth of a queue, in three scenarios:

  idle           nothing else runs
  upload         a 200 MB file is uploaded to the embedded store, again and again, with /usr/bin/aws s3 cp (multipart:
                 8 MB parts, up to 10 in parallel, as the AWS CLI does by default)
  upload+reload  the same, and edgehook gets SIGHUP (a configuration reload) every second

edgehook runs on CPU 1 (taskset), h2load and the AWS CLI on CPU 0 (--no-pin: unpinned). The AWS CLI runs at nice 19, so
that it does not delay h2load's requests: it stands for clients elsewhere on the network. edgehook and h2load run at nice -10
(--nice), so that other tenants of a shared machine (compilers at nice 0) do not make the tail; edgehook's store threads and
store loop run 10 levels below edgehook itself whatever its nice.

Where the kernel schedules by session group (autogroup: /proc/sys/kernel/sched_autogroup_enabled is 1, as on Debian), a
process's nice counts only against the processes of its own session: each session's group gets an equal share of a busy CPU
whatever the nice of its processes. So edgehook and h2load are each started in a session of its own whose group gets the
same nice (/proc/PID/autogroup); the AWS CLI's groups stay at 0 (at 19 they starve behind the tenants' compilers on CPU 0).
--no-autogroup leaves edgehook's and h2load's groups at 0, as runs before 2026-12-02 08:30 did: then the tenants' compilers
take CPU 1 in turns with edgehook, and edgehook's own store threads use up its group's share, which delays its worker.

h2load waits for each answer before it sends the next request on that connection, so a stall delays one request per
connection and the requests that would have been sent meanwhile are never sent: the table gives how many of the scheduled
hits were answered, which is where long stalls show (a 700 ms stall costs 1,400 hits at 2,000 req/s, but only 8 slow samples).

It prints p50, p99 and p99.9 of the hits for each scenario (median and min-max over --reps repetitions) and how much was
uploaded meanwhile. This is a tool, not a test: nothing in it asserts a time.

    /usr/bin/python3 bench/hit_latency.py --build build-bench     # the binary in build-bench/ (bench/run.sh builds it Release)
    /usr/bin/python3 bench/hit_latency.py --help

Needs h2load (nghttp2-client), /usr/bin/aws (Debian's awscli 2) and curl: `sh scripts/deps.sh bench` and `test`.
Standard library only.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
AK, SK = "BENCHSTOREKEY0000001", "benchstoresecret000000000000000000000001"


def log(msg):
    print("hit_latency: " + msg, file=sys.stderr, flush=True)


AUTOGROUP = True


def set_group_nice(pid, nice):
    """gives the session group of pid (a session leader) this nice, where the kernel has autogroups"""
    if not AUTOGROUP or not os.path.exists("/proc/%d/autogroup" % pid):
        return
    try:
        with open("/proc/%d/autogroup" % pid, "w") as f:
            f.write(str(nice))
    except OSError as e:
        log("cannot set the nice of the session group of %d: %s" % (pid, e))


class Proc:
    """a child in its own session (and session group, with that nice if given), stopped by process group id on exit"""
    all = []

    def __init__(self, argv, group_nice=None, **kw):
        self.p = subprocess.Popen(argv, start_new_session=True, **kw)
        Proc.all.append(self)
        if group_nice is not None:
            set_group_nice(self.p.pid, group_nice)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
                self.p.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()


def stop_all(*_):
    for p in reversed(Proc.all):
        p.stop()


def wait_for(pred, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit("hit_latency: timed out waiting for " + what)


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def start_origin(workdir):
    out = open(os.path.join(workdir, "origin.out"), "w+")
    p = Proc(["/usr/bin/python3", os.path.join(SRC, "tests", "e2e", "lib", "origin.py")], stdout=out, stderr=subprocess.STDOUT)
    port = wait_for(lambda: (out.seek(0), out.readline().strip())[1], "the origin's port")
    return p, int(port)


def start_edge(binary, workdir, origin_port, threads, store_threads, pin, nice):
    store_extra = "  threads: %d\n" % store_threads if store_threads else ""
    conf = """threads: %d
listen:
  - {host: 127.0.0.1, port: 0}
origins:
  web: {type: http, url: "http://127.0.0.1:%d"}
cache: {memory: 256MB}
behaviors:
  - {path: "*", origin: web}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  credentials: {access_key: %s, secret_key: %s}
%s""" % (threads, origin_port, AK, SK, store_extra)
    path = os.path.join(workdir, "edgehook.yaml")
    with open(path, "w") as f:
        f.write(conf)
    logp = os.path.join(workdir, "edgehook.log")
    p = Proc((["taskset", "-c", "1"] if pin else []) + ["nice", "-n", str(nice), binary, "-c", path], group_nice=nice, cwd=workdir,
             stdout=subprocess.DEVNULL, stderr=open(logp, "wb"))
    import re
    text = wait_for(lambda: (lambda t: t if "started:" in t else None)(read(logp)) if p.p.poll() is None else
                    sys.exit("hit_latency: edgehook exited:\n" + read(logp)), "edgehook to start")
    ports = {m.group(1): int(m.group(2)) for m in re.finditer(r"listening: (\w+) http://\S+:(\d+)", text)}
    return p, ports, logp


def curl_headers(url):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-D", "-", url], stdout=subprocess.PIPE, timeout=30)
    return r.stdout.decode("latin-1").lower()


class Uploader(threading.Thread):
    """uploads the big file again and again until stopped; counts completed uploads"""

    def __init__(self, endpoint, path, env, pin):
        super().__init__(daemon=True)
        self.endpoint, self.path, self.env, self.pin = endpoint, path, env, pin
        self.stopping = threading.Event()
        self.done = 0
        self.failed = 0
        self.proc = None

    def run(self):
        n = 0
        while not self.stopping.is_set():
            n += 1
            self.proc = Proc((["taskset", "-c", "0"] if self.pin else []) + ["nice", "-n", "19", "/usr/bin/aws", "--endpoint-url", self.endpoint, "--no-cli-pager", "s3", "cp", "--only-show-errors",
                              self.path, "s3://bench/big-%d.bin" % (n % 2)], env=self.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            rc = self.proc.p.wait()
            if self.stopping.is_set():
                break
            if rc == 0:
                self.done += 1
            else:
                self.failed += 1
                time.sleep(0.5)

    def stop(self):
        self.stopping.set()
        if self.proc is not None:
            self.proc.stop(signal.SIGINT, timeout=10)
        self.join(30)


def percentile(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def measure(url, workdir, args):
    logf = os.path.join(workdir, "h2load.log")
    if os.path.exists(logf):
        os.unlink(logf)
    argv = (["taskset", "-c", "0"] if args.pin else []) + ["nice", "-n", str(args.nice), "h2load", "--h1", "-c%d" % args.clients, "-t1", "--rps=%g" % (args.rate / args.clients), "-D", str(args.duration),
            "--log-file=" + logf, url]
    h2 = Proc(argv, group_nice=args.nice, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = h2.p.communicate(timeout=args.duration + 60)[0].decode("utf-8", "replace")
    lat, bad = [], 0
    with open(logf) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3:
                if cols[1] != "200":
                    bad += 1
                lat.append(int(cols[2]))
    lat.sort()
    if not lat:
        raise SystemExit("hit_latency: h2load measured nothing:\n" + out)
    return {"n": len(lat), "non200": bad, "p50": percentile(lat, 0.50), "p99": percentile(lat, 0.99),
            "p999": percentile(lat, 0.999), "max": lat[-1]}


def fmt_us(v):
    return "%.1f ms" % (v / 1000) if v >= 10000 else "%d µs" % v


def cell(runs, key):
    vals = [r[key] for r in runs]
    med = statistics.median(vals)
    return "%s (%s–%s)" % (fmt_us(med), fmt_us(min(vals)), fmt_us(max(vals)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(SRC, "build-bench"), help="directory holding the edgehook binary")
    ap.add_argument("--threads", type=int, default=1, help="edgehook worker threads (default 1: one worker serves the hits, on the CPU of the store loop and threads)")
    ap.add_argument("--store-threads", type=int, default=0, help="store.threads to write in the config (default: not written)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each scenario (default 3)")
    ap.add_argument("--rate", type=float, default=2000, help="hit requests per second, over all connections (default 2000)")
    ap.add_argument("--clients", type=int, default=8, help="h2load connections (default 8)")
    ap.add_argument("--size-mb", type=int, default=200, help="size of the uploaded file (default 200)")
    ap.add_argument("--scenarios", default="idle,upload,upload+reload")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin edgehook to CPU 1 and the clients to CPU 0 (needs 2 CPUs)")
    ap.add_argument("--nice", type=int, default=-10, help="nice of edgehook and h2load (default -10; needs root below 0)")
    ap.add_argument("--no-autogroup", dest="autogroup", action="store_false",
                    help="leave the session groups' nice at 0 (see above; where the kernel has autogroups)")
    ap.add_argument("--label", help="what the binary is, for the table's note (default: the git commit of this tree)")
    ap.add_argument("--json", help="also write the raw figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = ap.parse_args()
    global AUTOGROUP
    AUTOGROUP = args.autogroup

    binary = os.path.join(args.build, "edgehook")
    if not os.access(binary, os.X_OK):
        raise SystemExit("hit_latency: no %s (build it: bench/run.sh builds build-bench/, or give --build)" % binary)
    for tool in ("h2load", "curl", "/usr/bin/aws"):
        if subprocess.run(["sh", "-c", "command -v " + tool], stdout=subprocess.DEVNULL).returncode != 0:
            raise SystemExit("hit_latency: %s is missing (sh scripts/deps.sh bench; sh scripts/deps.sh test)" % tool)
    signal.signal(signal.SIGTERM, lambda *a: (stop_all(), sys.exit(1)))
    workdir = tempfile.mkdtemp(prefix="hit-latency-")
    try:
        run(args, binary, workdir)
    finally:
        stop_all()
        if not args.keep:
            subprocess.run(["rm", "-rf", workdir])
        else:
            log("kept " + workdir)


def run(args, binary, workdir):
    origin, oport = start_origin(workdir)
    if args.pin and os.cpu_count() < 2:
        args.pin = False
    edge, ports, edge_log = start_edge(binary, workdir, oport, args.threads, args.store_threads, args.pin, args.nice)
    url = "http://127.0.0.1:%d/size/1024?cc=max-age%%3D86400" % ports["main"]
    endpoint = "http://127.0.0.1:%d" % ports["store"]
    wait_for(lambda: "x-cache: hit" in curl_headers(url), "the 1 KB object to be a cache hit")
    big = os.path.join(workdir, "big.bin")
    with open(big, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(args.size_mb):
            f.write(chunk)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
    subprocess.run(["/usr/bin/aws", "--endpoint-url", endpoint, "s3", "mb", "s3://bench"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    git = args.label or "git " + subprocess.run(["git", "-C", SRC, "log", "-1", "--format=%h"],
                                                stdout=subprocess.PIPE).stdout.decode().strip()
    log("edgehook %s%s, threads %d, %s; hits at %g req/s over %d connections, %d s per run, %d reps" %
        (binary, " on CPU 1, clients on CPU 0" if args.pin else "", args.threads, "store.threads %d" % args.store_threads if args.store_threads else "store.threads default",
         args.rate, args.clients, args.duration, args.reps))

    scenarios = args.scenarios.split(",")
    results = {s: [] for s in scenarios}
    for rep in range(args.reps):
        for sc in scenarios:
            up, reloader, stop_reload = None, None, threading.Event()
            reloads = [0]
            if "upload" in sc:
                up = Uploader(endpoint, big, env, args.pin)
                up.start()
                # the upload is under way once the store holds an upload in progress
                uploads = os.path.join(workdir, "data", ".uploads")
                wait_for(lambda: os.path.isdir(uploads) and os.listdir(uploads), "the upload to start")
            if "reload" in sc:
                def reload_loop():
                    while not stop_reload.wait(1.0):
                        os.kill(edge.p.pid, signal.SIGHUP)
                        reloads[0] += 1
                reloader = threading.Thread(target=reload_loop, daemon=True)
                reloader.start()
            t0 = time.time()
            m = measure(url, workdir, args)
            m["seconds"] = time.time() - t0
            if reloader is not None:
                stop_reload.set()
                reloader.join()
            if up is not None:
                up.stop()
                m["uploads_done"] = up.done
                m["uploads_failed"] = up.failed
            m["reloads"] = reloads[0]
            if edge.p.poll() is not None:
                raise SystemExit("hit_latency: edgehook died:\n" + read(edge_log)[-3000:])
            results[sc].append(m)
            log("rep %d %-14s n=%d p50=%s p99=%s p99.9=%s max=%s%s%s" %
                (rep + 1, sc, m["n"], fmt_us(m["p50"]), fmt_us(m["p99"]), fmt_us(m["p999"]), fmt_us(m["max"]),
                 " uploads=%d" % m["uploads_done"] if up else "", " reloads=%d" % m["reloads"] if reloader else ""))
            if m["non200"]:
                log("  %d responses were not 200" % m["non200"])
    if "x-cache: hit" not in curl_headers(url):
        log("warning: the object is no longer a hit after the runs")

    print("\n| scenario | hits answered (of those scheduled) | p50 | p99 | p99.9 | max |")
    print("|---|---|---|---|---|---|")
    for sc in scenarios:
        runs = results[sc]
        extra = ""
        if "upload" in sc:
            extra = "; %d uploads of %d MB completed" % (sum(r["uploads_done"] for r in runs), args.size_mb)
        if "reload" in sc:
            extra += ", %d reloads" % sum(r["reloads"] for r in runs)
        n = sum(r["n"] for r in runs)
        print("| %s%s | %d (%.0f %%) | %s | %s | %s | %s |" % (sc, extra, n, 100.0 * n / (args.rate * args.duration * len(runs)),
                                                             cell(runs, "p50"), cell(runs, "p99"), cell(runs, "p999"),
                                                             cell(runs, "max")))
    print("\nedgehook threads: %d%s, nice %d%s; %g req/s over %d connections (h2load --h1 --rps); %d s runs; median (min–max) of %d; %s" %
          (args.threads, " (on CPU 1; h2load and the AWS CLI on CPU 0)" if args.pin else "", args.nice,
           " (also their session groups')" if args.autogroup and os.path.exists("/proc/self/autogroup") else "", args.rate, args.clients, args.duration,
           args.reps, git))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "git": git, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
