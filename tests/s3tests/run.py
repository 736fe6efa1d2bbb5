#!/usr/bin/python3
"""tests/s3tests/run.py - runs the vendored ceph/s3-tests against a fresh edgehook with the embedded store, counts per subset.

    tests/s3tests/run.py [--bin build/edgehook] [--subset wider|core|all] [-j N] [--out DIR] [--check] [--update-expected]
                         [--config-only] [TEST ...]

Starts edgehook (tests/e2e/lib/edgetest.py) with an empty store and two key pairs (main and alt; with one key if the build
does not take a list of credentials: alt is then main), writes the s3tests.conf for it, runs the tests of the subset with
Debian's python3-pytest (and python3-pytest-xdist with -j > 1), prints pass counts per subset and every failing test with
its reason, and writes DIR/results.json and DIR/summary.txt.

--check            exit 1 if a test of expected-pass.txt did not pass (a regression); new passes are listed, not fatal
--update-expected  rewrite expected-pass.txt with the tests that passed (in the wider subset)
TEST ...           run only these (`test_s3.py::test_x` or `test_x`)

Debian packages: python3-boto3 python3-pytest python3-pytest-xdist python3-pytest-timeout python3-munch python3-isodate
python3-tz python3-dateutil python3-requests (scripts/deps.sh test). No PyPI.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
VENDOR = os.path.join(HERE, "vendor")
sys.path.insert(0, os.path.join(SRC, "tests", "e2e", "lib"))

MAIN = ("S3TESTSMAINKEY000001", "s3testsmainsecret000000000000000000000001")
ALT = ("S3TESTSALTKEY0000002", "s3testsaltsecret0000000000000000000000002")


def read_list(path):
    out = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    out.append(line.split()[0])
    return out


def edge_config(root, two_keys):
    if two_keys:
        creds = "  credentials:\n    - {access_key: %s, secret_key: %s}\n    - {access_key: %s, secret_key: %s}\n" % (MAIN + ALT)
    else:
        creds = "  credentials: {access_key: %s, secret_key: %s}\n" % MAIN
    return """threads: 1
listen:
  - {host: 127.0.0.1, port: 0}
origins:
  web: {type: http, url: "http://127.0.0.1:9"}
behaviors:
  - {path: "*", origin: web, cache: off}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: %s
%s""" % (root, creds)


def start_edge(workdir):
    """edgehook with two keys if it takes a list of credentials, else one; returns (Edge, two_keys)"""
    import edgetest
    root = os.path.join(workdir, "data")
    try:
        return edgetest.Edge(edge_config(root, True), name="edge", workdir=workdir), True
    except RuntimeError as e:
        if "credentials" not in str(e):
            raise
        return edgetest.Edge(edge_config(root, False), name="edge1", workdir=workdir), False


def s3tests_conf(port, two_keys):
    alt = ALT if two_keys else MAIN
    return """[DEFAULT]
host = 127.0.0.1
port = %d
is_secure = False
ssl_verify = False

[fixtures]
bucket prefix = s3t-{random}-

[s3 main]
display_name = main
user_id = %s
email = main@example.com
# test_bucket_get_location creates a bucket with this LocationConstraint and reads it back (us-east-1 reads back as
# null in S3, so another region)
api_name = eu-west-1
access_key = %s
secret_key = %s

[s3 alt]
display_name = alt
user_id = %s
email = alt@example.com
access_key = %s
secret_key = %s

[s3 tenant]
display_name = tenant
user_id = %s
email = tenant@example.com
access_key = %s
secret_key = %s
tenant = testx

[iam]
email = iam@example.com
user_id = iam
access_key = %s
secret_key = %s
display_name = iam

[iam root]
access_key = %s
secret_key = %s
user_id = iamroot
email = iamroot@example.com

[iam alt root]
access_key = %s
secret_key = %s
user_id = iamaltroot
email = iamaltroot@example.com
""" % ((port, MAIN[0]) + MAIN + (alt[0],) + alt + (alt[0],) + alt + MAIN + MAIN + MAIN)


def have_module(name):
    p = subprocess.run(["/usr/bin/python3", "-c", "import " + name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.returncode == 0


def run_pytest(conf_path, select, results_path, jobs, timeout):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("PYTEST_")}
    env.update({
        "S3TEST_CONF": conf_path,
        "EDGE_S3TESTS_SELECT": select,
        "EDGE_S3TESTS_RESULTS": results_path,
        "PYTHONPATH": HERE,
        "PYTHONDONTWRITEBYTECODE": "1",
        # no ~/.aws of whoever runs it; one attempt per request (a retried 500 must count as a 500)
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        "AWS_EC2_METADATA_DISABLED": "true",
        # botocore's pure-Python signer, as upstream runs it: with python3-awscrt present (awscli pulls it in) botocore 1.29
        # signs with the CRT, which refuses the suite's int header values and reads bodies at signing time
        "BOTO_DISABLE_CRT": "true",
    })
    args = ["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "edge_s3tests_plugin", "--tb=short",
            "-rN", "-W", "ignore", "s3tests/functional/test_s3.py", "s3tests/functional/test_headers.py"]
    if jobs > 1 and have_module("xdist"):
        args += ["-n", str(jobs)]
    if have_module("pytest_timeout"):
        args += ["--timeout", str(timeout)]
    t0 = time.time()
    p = subprocess.run(args, cwd=VENDOR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace"), time.time() - t0


def load_results(path):
    """{test: record}; a test with several records (a passed call, then a failed teardown) keeps the worst"""
    out = {}
    if not os.path.exists(path):
        return out
    rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
    with open(path, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            have = out.get(rec["test"])
            if have is None or rank[rec["outcome"]] > rank[have["outcome"]]:
                out[rec["test"]] = rec
    return out


def canon(name, known):
    if "::" in name:
        return name
    for t in known:
        if t.endswith("::" + name):
            return t
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--bin", default=os.environ.get("EDGEHOOK_BIN") or os.path.join(SRC, "build", "edgehook"))
    ap.add_argument("--subset", choices=("wider", "core", "all"), default="wider")
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("S3TESTS_JOBS", "3")))
    ap.add_argument("--out", default=None, help="where results.json and summary.txt go (default: BUILD/s3tests-results)")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--quick", action="store_true", help="leave out the tests of slow.txt (the ctest)")
    ap.add_argument("--update-expected", action="store_true")
    ap.add_argument("--config-only", action="store_true", help="start edgehook, print the s3tests.conf path, wait (Ctrl-C)")
    ap.add_argument("--tmp", default=None, help="where the store's root goes (default: /dev/shm if writable, else $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (store root, edgehook logs, s3tests.conf)")
    ap.add_argument("--timeout", type=int, default=900, help="per test (pytest-timeout), seconds")
    ap.add_argument("tests", nargs="*")
    a = ap.parse_args()

    os.environ["EDGEHOOK_BIN"] = os.path.abspath(a.bin)
    if not os.path.exists(a.bin):
        sys.exit("no edgehook binary at %s (--bin)" % a.bin)
    import edgetest
    slow_factor = edgetest.SLOW
    core = read_list(os.path.join(HERE, "core.txt"))
    wider = read_list(os.path.join(HERE, "wider.txt"))
    expected = read_list(os.path.join(HERE, "expected-pass.txt"))
    known = set(core) | set(wider)
    if a.tests:
        run_set = [canon(t, known | set(read_list(os.path.join(HERE, "tags.tsv")))) for t in a.tests]
    elif a.subset == "core":
        run_set = core
    elif a.subset == "wider":
        run_set = wider
    else:
        run_set = [ln.split("\t")[0] for ln in open(os.path.join(HERE, "tags.tsv"), encoding="utf-8")
                   if not ln.startswith("#")]

    if a.quick:
        slow = set(read_list(os.path.join(HERE, "slow.txt")))
        run_set = [t for t in run_set if t not in slow]

    out_dir = a.out or os.path.join(os.path.dirname(os.path.abspath(a.bin)), "s3tests-results")
    os.makedirs(out_dir, exist_ok=True)
    # the store on tmpfs when there is one: every PUT fsyncs its file and directory, which a loaded disk makes the bulk of
    # the run (two tests PUT 1000 objects each); what is measured is the protocol, not the disk
    shm = "/dev/shm"
    tmp_base = a.tmp or (shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None)
    workdir = tempfile.mkdtemp(prefix="s3tests-", dir=tmp_base)
    # SIGTERM (ctest's timeout, `timeout`) unwinds like Ctrl-C: pytest is killed, edgehook stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    edge, two_keys = start_edge(workdir)
    try:
        port = edge.ports["store"]
        conf_path = os.path.join(workdir, "s3tests.conf")
        with open(conf_path, "w") as f:
            f.write(s3tests_conf(port, two_keys))
        if a.config_only:
            print("edgehook store on 127.0.0.1:%d, S3TEST_CONF=%s (Ctrl-C stops it)" % (port, conf_path), flush=True)
            try:
                edge.proc.wait()
            except KeyboardInterrupt:
                pass
            return 0
        select = os.path.join(workdir, "select.txt")
        with open(select, "w") as f:
            f.write("".join(t + "\n" for t in run_set))
        results_path = os.path.join(workdir, "results.jsonl")
        rc, output, secs = run_pytest(conf_path, select, results_path, a.jobs, a.timeout * slow_factor)
        edge.assert_clean()
        crashed = edge.proc.poll() is not None
        results = load_results(results_path)
    finally:
        status = edge.stop() if edge.proc.poll() is None else edge.proc.returncode
        with open(os.path.join(out_dir, "edgehook.log"), "w") as f:
            f.write(edge.log())
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    with open(os.path.join(out_dir, "pytest.out"), "w") as f:
        f.write(output)
    if not results:
        print(output[-6000:])
        print("s3tests: pytest ran no test (exit %d); its output is in %s/pytest.out" % (rc, out_dir))
        return 1

    passed = {t for t, r in results.items() if r["outcome"] == "passed"}
    lines = []
    lines.append("s3-tests (vendor/NOTICE) against %s, %s, %d test(s) run in %.0f s (-j %d)" % (
        a.bin, "two keys (main, alt)" if two_keys else "ONE key (alt = main: store.credentials takes no list)", len(results),
        secs, a.jobs))
    for name, subset in (("core", core), ("wider", wider)):
        ran = [t for t in subset if t in results]
        if ran:
            lines.append("%-5s %d/%d passed%s" % (name, len([t for t in ran if t in passed]), len(subset),
                                                  "" if len(ran) == len(subset) else " (%d of them run)" % len(ran)))
    failing = sorted(t for t in results if t not in passed)
    if failing:
        lines.append("not passing (%d):" % len(failing))
        for t in failing:
            r = results[t]
            sub = "core" if t in core else "wider" if t in wider else "-"
            lines.append("  %-5s %-7s %s: %s" % (sub, r["outcome"], t, r.get("reason", "")))
    regressions = [t for t in expected if t in results and t not in passed]
    new = sorted(t for t in passed if t not in expected and t in known)
    if regressions:
        lines.append("REGRESSIONS (%d, in expected-pass.txt but not passing):" % len(regressions))
        lines += ["  " + t for t in regressions]
    if new:
        lines.append("new passes (%d, not in expected-pass.txt; --update-expected adds them):" % len(new))
        lines += ["  " + t for t in new]
    if status not in (0, None) or crashed:
        lines.append("edgehook exited with status %s" % status)
    summary = "\n".join(lines) + "\n"
    print(summary, end="")
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(summary)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"two_keys": two_keys, "seconds": round(secs), "results": results,
                   "core": {"passed": len([t for t in core if t in passed]), "total": len(core)},
                   "wider": {"passed": len([t for t in wider if t in passed]), "total": len(wider)}}, f, indent=1)
    print("results: %s/results.json, summary.txt, pytest.out" % out_dir)

    if a.update_expected:
        keep = sorted(t for t in passed if t in set(wider))
        # tests not run this time keep their line
        keep = sorted(set(keep) | {t for t in expected if t not in results})
        with open(os.path.join(HERE, "expected-pass.txt"), "w") as f:
            f.write("# tests of the wider subset known to pass (tests/s3tests/run.py --update-expected); the ctest s3tests fails\n"
                    "# if one of them does not pass\n")
            f.write("".join(t + "\n" for t in keep))
        print("expected-pass.txt: %d tests" % len(keep))
    if a.check and (regressions or crashed or status not in (0, None)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
