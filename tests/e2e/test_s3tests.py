# ctest-labels: notsan;s3tests
# notsan: time budget: several hundred boto3 tests against one store (test_store_threads covers the store's threads)
# ctest-timeout: 2400
"""End-to-end: the vendored ceph/s3-tests (tests/s3tests) against a fresh edgehook: no test of expected-pass.txt may fail.

tests/s3tests/run.py starts the edgehook, runs the wider subset with Debian's python3-pytest (-j 3 with python3-pytest-xdist),
prints the counts per subset and every failing test with its reason. A test of tests/s3tests/expected-pass.txt that does not
pass is a regression and fails this test; new passes are printed (tests/s3tests/run.py --update-expected adds them).
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BIN, BUILD, SRC, run, test  # noqa: E402

S3TESTS = os.path.join(SRC, "tests", "s3tests")


@test
def subsets_follow_their_rule():
    """core.txt, wider.txt and tags.tsv are what subsets.py derives from the vendored suite (nobody edited a list by hand)"""
    p = subprocess.run(["/usr/bin/python3", os.path.join(S3TESTS, "subsets.py"), "--check"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=600)
    assert p.returncode == 0, p.stdout.decode("utf-8", "replace")


@test
def expected_passes_still_pass():
    for mod in ("boto3", "pytest", "munch", "isodate", "pytz", "dateutil", "requests"):
        p = subprocess.run(["/usr/bin/python3", "-c", "import " + mod], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert p.returncode == 0, "python module %s missing: scripts/deps.sh test installs it (Debian's python3-*)" % mod
    out = os.path.join(BUILD, "s3tests-results")
    p = subprocess.run(["/usr/bin/python3", os.path.join(S3TESTS, "run.py"), "--bin", BIN, "--out", out, "--check", "--quick"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=2300)
    text = p.stdout.decode("utf-8", "replace")
    print(text, flush=True)
    assert p.returncode == 0, "s3-tests: a regression (see REGRESSIONS above; %s/pytest.out has every traceback)" % out
    assert "REGRESSIONS" not in text


if __name__ == "__main__":
    run()
