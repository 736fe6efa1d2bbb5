# ctest-labels: noasan;notsan
# notsan: replays libFuzzer targets built apart (clang, ASan): it does not run this build's binary
# ctest-timeout: 1800
"""Fuzz regressions: builds the libFuzzer targets of tests/fuzz/ with clang-14 (their own ASan + UBSan, hence `noasan`), replays
each committed corpus tests/fuzz/corpus/<target>/ once, then fuzzes every target for FUZZ_SECONDS (default 20; two at a time)
starting from a copy of its corpus. Any crash, leak, sanitizer report or broken property fails the test; the input that did it is
printed (hex) and kept under the printed directory, ready to be added to the corpus once fixed.

Needs clang-14 and libclang-rt-14-dev (scripts/deps.sh test). FUZZ_SECONDS=0 only replays the corpora.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import SRC, run, test  # noqa: E402

TARGETS = ["sigv4_auth", "sigv4_presigned", "aws_chunked", "store_xml", "conf_yaml", "accesslog", "cache_key", "path",
           "h1_chunked", "origin_head", "viewer", "store_post", "store_tagset", "cache_head", "image_parse", "sigv2", "disk_record",
           "cache_partial", "fleet_wire", "via", "store_notify"]
SECONDS = int(os.environ.get("FUZZ_SECONDS", "20"))
PARALLEL = 2
TMP = tempfile.mkdtemp(prefix="e2e-fuzz-")
OUT = os.path.join(TMP, "bin")
CORPUS = os.path.join(SRC, "tests", "fuzz", "corpus")
keep = []  # set when something failed: the artifacts stay for the developer


def binary(t):
    return os.path.join(OUT, "fuzz_" + t)


def report(t, log_path, artifacts):
    with open(log_path, errors="replace") as f:
        log = f.read()
    msg = ["fuzz_%s failed; log %s (last lines):" % (t, log_path), log[-4000:]]
    for a in sorted(os.listdir(artifacts)) if os.path.isdir(artifacts) else []:
        p = os.path.join(artifacts, a)
        with open(p, "rb") as f:
            data = f.read()
        msg.append("input %s (%d bytes): %s%s" % (p, len(data), data[:2048].hex(), "..." if len(data) > 2048 else ""))
        msg.append("reproduce: tests/fuzz/build.sh && build-fuzz/fuzz_%s %s" % (t, p))
    keep.append(TMP)
    return "\n".join(msg)


@test
def build_with_clang14():
    assert shutil.which("clang-14"), "clang-14 is not installed (scripts/deps.sh test installs clang-14 and libclang-rt-14-dev)"
    p = subprocess.run(["sh", os.path.join(SRC, "tests", "fuzz", "build.sh"), OUT], env=dict(os.environ, CC="clang-14"),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)  # a hang guard: ~1 min idle, >300 s seen at load 28
    assert p.returncode == 0, p.stdout.decode("utf-8", "replace")[-6000:]
    for t in TARGETS:
        assert os.access(binary(t), os.X_OK), t


@test
def replay_committed_corpora():
    for t in TARGETS:
        files = sorted(os.path.join(CORPUS, t, f) for f in os.listdir(os.path.join(CORPUS, t)))
        assert files, "tests/fuzz/corpus/%s is empty" % t
        artifacts = os.path.join(TMP, "replay-" + t) + "/"
        os.makedirs(artifacts)
        log = os.path.join(TMP, "replay-%s.log" % t)
        with open(log, "wb") as f:
            p = subprocess.run([binary(t), "-artifact_prefix=" + artifacts, "-timeout=10"] + files, cwd=SRC, stdout=f,
                               stderr=subprocess.STDOUT, timeout=300)
        assert p.returncode == 0, report(t, log, artifacts)


@test
def fuzz_every_target():
    if SECONDS <= 0:
        return
    pending, running, failures = list(TARGETS), [], []
    while pending or running:
        while pending and len(running) < PARALLEL:
            t = pending.pop(0)
            corpus = os.path.join(TMP, "corpus-" + t)
            shutil.copytree(os.path.join(CORPUS, t), corpus)  # new inputs go to the copy, never into the repository
            artifacts = os.path.join(TMP, "artifacts-" + t) + "/"
            os.makedirs(artifacts)
            log = os.path.join(TMP, "fuzz-%s.log" % t)
            f = open(log, "wb")
            # cwd: the repository, so the config fuzzer's relative paths (examples/..., tests/data/...) exist
            proc = subprocess.Popen([binary(t), "-max_total_time=%d" % SECONDS, "-timeout=10", "-rss_limit_mb=2048",
                                     "-print_final_stats=1", "-artifact_prefix=" + artifacts, corpus], cwd=SRC, stdout=f,
                                    stderr=subprocess.STDOUT)
            running.append((t, proc, f, log, artifacts, time.time()))
        time.sleep(0.2)
        for item in list(running):
            t, proc, f, log, artifacts, t0 = item
            if proc.poll() is None:
                if time.time() - t0 > SECONDS + 120:  # a hang libFuzzer did not catch
                    proc.kill()
                    proc.wait()
                else:
                    continue
            f.close()
            running.remove(item)
            with open(log, errors="replace") as lf:
                stats = [line.strip() for line in lf if line.startswith("stat::number_of_executed_units")]
            print("  fuzz_%-16s exit %d after %.0fs, %s" % (t, proc.returncode, time.time() - t0,
                                                         stats[-1].split(":")[-1].strip() + " runs" if stats else "no stats"),
                  flush=True)
            if proc.returncode != 0:
                failures.append(report(t, log, artifacts))
    assert not failures, "\n\n".join(failures)


if __name__ == "__main__":
    try:
        run()
    finally:
        if keep:
            print("fuzz artifacts kept in " + TMP)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
