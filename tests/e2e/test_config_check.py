# ctest-labels: notsan
# notsan: edgehook -t only: no threads run
"""End-to-end: `edgehook -t -c FILE` on broken, valid and sample configs, and the command line's own flags (issue: foundation, config)."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BIN, SRC, run, test  # noqa: E402

DATA = os.path.join("tests", "data", "configs")  # relative to SRC: error messages name the file as it was given
UNSET_VAR = "EDGEHOOK_TEST_SURELY_UNSET_VARIABLE"
# every line of an error: FILE:LINE: KEY: reason
ERROR_RE = re.compile(r"^(?P<file>[^:]+):(?P<line>[1-9][0-9]*): (?P<key>[^ ]+): (?P<reason>.+)$")


def env(**extra):
    """the environment the sample files name in their *_env keys"""
    e = dict(os.environ)
    e.update({"EDGEHOOK_ADMIN_TOKEN": "a-test-token-of-some-length", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
              "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "EDGEHOOK_TEST_ACCESS_KEY": "AKIDEXAMPLE",
              "EDGEHOOK_TEST_SECRET_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"})
    e.pop(UNSET_VAR, None)
    e.update(extra)
    return e


def edgehook(*args, cwd=SRC, environ=None):
    p = subprocess.run([BIN] + list(args), cwd=cwd, env=environ or env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def expected_error(path):
    """a broken file states its error on a line `# error: LINE: KEY: reason`"""
    with open(os.path.join(SRC, path), encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("# error: "):
                return line[len("# error: "):].rstrip("\n")
    raise AssertionError("%s has no '# error: LINE: KEY: reason' line" % path)


def check_valid(path, cwd):
    rc, out, err = edgehook("-t", "-c", path, cwd=cwd)
    assert rc == 0, "%s: exit %d\n%s" % (path, rc, err)
    assert out == "%s: configuration is valid\n" % path, (path, out)
    assert err == "", (path, err)


@test
def broken_configs_exit_1_with_file_line_key_reason():
    files = sorted(glob.glob(os.path.join(SRC, DATA, "broken", "*.yaml")))
    assert len(files) >= 15, files
    failures = []
    for full in files:
        path = os.path.relpath(full, SRC)
        want = expected_error(path)
        want_line, want_key = want.split(": ")[0], want.split(": ")[1]
        rc, out, err = edgehook("-t", "-c", path)
        lines = err.splitlines()
        m = ERROR_RE.match(lines[0]) if len(lines) == 1 else None
        if rc != 1:
            failures.append("%s: exit %d, not 1 (stderr %r)" % (path, rc, err))
        elif out != "":
            failures.append("%s: stdout %r" % (path, out))
        elif m is None or not err.endswith("\n"):
            failures.append("%s: stderr is not one line FILE:LINE: KEY: reason: %r" % (path, err))
        elif (m.group("file"), m.group("line"), m.group("key")) != (path, want_line, want_key):
            failures.append("%s: got file %s line %s key %s, want line %s key %s" % (path, m.group("file"), m.group("line"),
                                                                                       m.group("key"), want_line, want_key))
        elif lines[0] != "%s:%s" % (path, want):
            failures.append("%s:\n   got: %s\n  want: %s:%s" % (path, lines[0], path, want))
    assert not failures, "\n".join(failures)


@test
def valid_test_configs_exit_0():
    files = sorted(glob.glob(os.path.join(SRC, DATA, "valid", "*.yaml")))
    assert len(files) >= 3, files
    for full in files:
        check_valid(os.path.relpath(full, SRC), SRC)


@test
def example_configs_are_valid():
    """the examples name paths relative to where edgehook starts (tls/..., examples/hooks/...): check them from such a place"""
    tmp = tempfile.mkdtemp(prefix="e2e-config-")
    try:
        shutil.copytree(os.path.join(SRC, DATA, "tls"), os.path.join(tmp, "tls"))
        os.symlink(os.path.join(SRC, "examples"), os.path.join(tmp, "examples"))
        files = sorted(glob.glob(os.path.join(SRC, "examples", "configs", "*.yaml")))
        assert len(files) >= 5, files
        checked = []
        for full in files:
            name = os.path.basename(full)
            if name == "hooks.yaml" and not os.path.exists(os.path.join(SRC, "examples", "hooks", "lua", "security_headers.lua")):
                print("skipped %s: examples/hooks/lua/security_headers.lua does not exist yet" % name)
                continue
            check_valid(os.path.join("examples", "configs", name), tmp)
            checked.append(name)
        for name in ("minimal.yaml", "https.yaml", "s3-origin.yaml", "caching.yaml"):
            assert name in checked, (name, checked)
    finally:
        shutil.rmtree(tmp)


@test
def samples_need_their_environment():
    """a *_env key naming an unset variable is an error with the line of that key"""
    e = env()
    e.pop("AWS_ACCESS_KEY_ID")
    path = os.path.join("examples", "configs", "s3-origin.yaml")
    rc, out, err = edgehook("-t", "-c", path, environ=e)
    assert rc == 1, (rc, err)
    m = ERROR_RE.match(err.rstrip("\n"))
    assert m is not None, err
    assert m.group("key") == "origins.assets.credentials.access_key_env", err
    assert m.group("reason") == "environment variable AWS_ACCESS_KEY_ID is not set", err
    with open(os.path.join(SRC, path)) as f:
        want_line = [i + 1 for i, line in enumerate(f) if "access_key_env:" in line and not line.lstrip().startswith("#")][0]
    assert int(m.group("line")) == want_line, (err, want_line)


@test
def error_names_the_file_as_given():
    rel = os.path.join(DATA, "broken", "bad-size.yaml")
    for given, cwd in ((rel, SRC), (os.path.join(SRC, rel), "/"), ("bad-size.yaml", os.path.join(SRC, DATA, "broken"))):
        rc, out, err = edgehook("-t", "-c", given, cwd=cwd)
        assert rc == 1 and err.startswith(given + ":9: cache.memory: "), (given, rc, err)


@test
def missing_and_unreadable_files():
    rc, out, err = edgehook("-t", "-c", "/nonexistent/edgehook.yaml")
    assert rc == 1, rc
    assert err == "/nonexistent/edgehook.yaml: cannot open: No such file or directory\n", err
    rc, out, err = edgehook("-t", "-c", "/")
    assert rc == 1 and err == "/: read error: Is a directory\n", (rc, err)
    # --conf is the long form of -c, --test of -t
    rc, out, err = edgehook("--test", "--conf", os.path.join(DATA, "broken", "empty.yaml"))
    assert rc == 1 and ":1: (file): the file is empty" in err, (rc, err)


@test
def version_help_and_bad_flags():
    rc, out, err = edgehook("--version")
    assert rc == 0 and re.match(r"^edgehook \d+\.\d+\.\d+\n$", out), (rc, out, err)
    rc, out2, err = edgehook("-v")
    assert rc == 0 and out2 == out, (rc, out2)
    rc, out, err = edgehook("--help")
    assert rc == 0 and "usage:" in out and "edgehook -t -c FILE" in out and err == "", (rc, out, err)
    rc, out2, err = edgehook("-h")
    assert rc == 0 and out2 == out
    for args in (("--bogus",), ("-x",), ("-t",), (), ("-c",), ("-t", "-c", "a.yaml", "extra")):
        rc, out, err = edgehook(*args)
        assert rc == 2, (args, rc, err)
        assert "usage:" in err and out == "", (args, out, err)


if __name__ == "__main__":
    run()
