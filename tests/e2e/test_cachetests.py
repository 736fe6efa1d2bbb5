# ctest-labels: noasan;notsan;cachetests
# noasan: the suite's own timing: its tests pause 3 s between requests and give lifetimes of a few seconds (fixed windows in
# notsan: the vendored tests, not ours), which a sanitizer build's slower hits can cross; the policy rules are unit-tested there
"""End-to-end: the vendored http-tests/cache-tests (tests/cachetests) against edgehook in front of the suite's own origin.

tests/cachetests/run.py starts the suite's test server (Node), an edgehook that caches everything from it with the defaults,
runs every test of the suite at once and prints the pass counts per kind and each test that did not pass with its reason.
A test of tests/cachetests/expected-pass.txt that does not pass is a regression and fails this test.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BIN, BUILD, SRC, Skip, run, test  # noqa: E402


@test
def expected_passes_still_pass():
    if shutil.which("node") is None:
        raise Skip("node is missing (scripts/deps.sh installs it)")
    out = os.path.join(BUILD, "cachetests-results")
    p = subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tests", "cachetests", "run.py"), "--bin", BIN, "--out", out,
                        "--check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    text = p.stdout.decode("utf-8", "replace")
    print(text, flush=True)
    assert p.returncode == 0 and "REGRESSIONS" not in text, "cache-tests: a regression (see REGRESSIONS above)"


if __name__ == "__main__":
    run()
