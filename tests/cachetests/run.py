#!/usr/bin/python3
"""tests/cachetests/run.py - runs the vendored http-tests/cache-tests against edgehook in front of the suite's own test server.

    tests/cachetests/run.py [--bin build/edgehook] [--out DIR] [--check] [--update-expected] [TEST_ID ...]

Starts the suite's origin (vendor/test-engine/server/server.mjs, Node) on a free port, an edgehook whose one behavior
proxies and caches everything to it (the defaults: no behavior or global cache setting is changed), then the suite's
client (run.mjs) with the edgehook as base URL. Prints the pass counts per kind (required, optimal; `check` tests only
report a behaviour) and every test that did not pass with its reason, and writes DIR/results.json and DIR/summary.txt.

--check            exit 1 if a test of expected-pass.txt did not pass (a regression); new passes are listed, not fatal. A test
                   of the list that fails in the full run (all tests at once) runs again alone first: the suite's fixed
                   timing windows (3 s pauses, lifetimes of a few seconds) can be crossed on a loaded machine
--update-expected  rewrite expected-pass.txt with the tests that passed (a `check` test is listed when it answered yes)
TEST_ID ...        run only these tests (ids as in vendor/tests/*.mjs)

Needs Node (scripts/deps.sh) and, for the interim-response tests only, the npm package undici (tests/package.json,
installed with `npm ci` by tests/e2e/lib/edgetest.npm_ready()).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
VENDOR = os.path.join(HERE, "vendor")
sys.path.insert(0, os.path.join(SRC, "tests", "e2e", "lib"))

PASSED = ("pass", "yes")


def read_list(path):
    out = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    out.append(line.split()[0])
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(workdir):
    """the suite's test server on a free port; returns (process, port)"""
    for _ in range(5):
        port = free_port()
        env = dict(os.environ, npm_config_protocol="http", npm_config_port=str(port),
                   npm_config_pidfile=os.path.join(workdir, "server.pid"))
        log = open(os.path.join(workdir, "server.log"), "wb")
        p = subprocess.Popen(["node", "--no-warnings", os.path.join(VENDOR, "test-engine", "server", "server.mjs")],
                             cwd=VENDOR, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline and p.poll() is None:
            with open(log.name, "rb") as f:
                if b"Listening on" in f.read():
                    return p, port
            time.sleep(0.05)
        if p.poll() is None:
            p.kill()
        p.wait()
    raise RuntimeError("the cache-tests server did not start: %s" % open(log.name).read())


# The suite identifies each request by headers of its own (Test-ID, Req-Num, Test-Name) and varies responses on Foo, Bar,
# Baz, Abc, Other: a cacheable request forwards only the listed headers (behaviors[].origin_request), so they are listed with
# the default list (accept, accept-encoding, accept-language, authorization). Nothing else departs from the defaults: the
# client's Cache-Control and Pragma are not forwarded and are ignored, as they are by default.
FORWARD = "accept, accept-encoding, accept-language, authorization, test-id, req-num, test-name, foo, bar, baz, abc, other"


def edge_config(port):
    return """threads: 2
listen:
  - {host: 127.0.0.1, port: 0}
origins:
  web: {type: http, url: "http://127.0.0.1:%d", read_timeout: 20s}
behaviors:
  - {path: "*", origin: web, origin_request: {headers: [%s]}}
""" % (port, FORWARD)


def run_client(edge, results, tests):
    """the suite's client (run.mjs) against the edge, for `tests` (all when empty); returns its report"""
    p = subprocess.run(["node", "--no-warnings", os.path.join(HERE, "run.mjs"), edge.url("").rstrip("/"), results] + tests,
                       cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)
    if p.returncode != 0:
        print(p.stdout.decode("utf-8", "replace")[-4000:])
        raise SystemExit("the cache-tests client failed (exit %d)" % p.returncode)
    with open(results) as f:
        return json.load(f)


def summarize(report):
    counts = {}
    for r in report.values():
        k = r["kind"]
        c = counts.setdefault(k, [0, 0])
        c[1] += 1
        c[0] += r["result"] in PASSED
    lines = []
    for k in ("required", "optimal", "check"):
        if k in counts:
            lines.append("%-8s %3d/%d" % (k, counts[k][0], counts[k][1]))
    lines.append("")
    for tid in sorted(report):
        r = report[tid]
        if r["result"] not in PASSED:
            lines.append("%-13s %-8s %-40s %s" % (r["result"], r["kind"], tid, r["detail"][:160].replace("\n", " ")))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("EDGEHOOK_BIN", os.path.join(os.getcwd(), "edgehook")))
    ap.add_argument("--out", default=None)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--update-expected", action="store_true")
    ap.add_argument("tests", nargs="*")
    args = ap.parse_args()
    os.environ["EDGEHOOK_BIN"] = os.path.abspath(args.bin)
    import edgetest

    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.bin)), "cachetests-results")
    os.makedirs(out, exist_ok=True)
    try:
        edgetest.npm_ready("undici")
    except Exception as e:  # the interim tests fail as harness errors; everything else still runs
        print("warning: npm ci failed (%s): the interim-response tests need undici" % str(e)[:200], flush=True)
    workdir = tempfile.mkdtemp(prefix="cachetests-")
    server, port = start_server(workdir)
    edge = None
    try:
        edge = edgetest.Edge(edge_config(port), name="edge", workdir=workdir)
        results = os.path.join(out, "results.json")
        report = run_client(edge, results, args.tests)
        if args.check:
            # the suite's tests have fixed windows (3 s pauses, lifetimes of a few seconds) that all tests at once on a loaded
            # machine can cross: an expected pass that failed runs again alone, and is a regression only if it fails again
            again = [t for t in read_list(os.path.join(HERE, "expected-pass.txt"))
                     if t in report and report[t]["result"] not in PASSED]
            if again:
                print("again, one at a time: " + " ".join(again), flush=True)
                for t in again:
                    r = run_client(edge, os.path.join(out, "again.json"), [t])
                    report[t]["first_run"] = report[t]["result"]
                    report[t].update(r.get(t, {}))
                with open(results, "w") as f:
                    json.dump(report, f, indent=1)
        edge.assert_clean()
    finally:
        if edge is not None:
            edge.stop()
        server.terminate()
        server.wait()

    text = summarize(report)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text)
    print(text, end="")
    print("edgehook log: %s" % edge.log_path)

    expected_path = os.path.join(HERE, "expected-pass.txt")
    expected = read_list(expected_path)
    passed = sorted(t for t, r in report.items() if r["result"] in PASSED)
    status = 0
    if args.update_expected:
        with open(expected_path, "w") as f:
            f.write("# tests/cachetests: the cache-tests that pass against edgehook (run.py --update-expected writes it)\n")
            f.write("".join(t + "\n" for t in passed))
        print("expected-pass.txt: %d tests" % len(passed))
    if args.check:
        regressions = [t for t in expected if t in report and report[t]["result"] not in PASSED]
        missing = [t for t in expected if t not in report] if not args.tests else []
        new = [t for t in passed if t not in expected]
        if new:
            print("new passes (run.py --update-expected to keep them): " + " ".join(new))
        if regressions or missing:
            print("REGRESSIONS: " + " ".join(regressions + missing))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
