# ctest-labels: notsan
# notsan: edgehook -t only: no threads run
"""End-to-end: `edgehook -t -c FILE` on broken, valid and sample configs, `edgehook -T` (the effective configuration, read back),
${VAR} substitution, certificates loaded at check time, start-time errors in the FILE:LINE: KEY: form, and the command line's
own flags (issues: foundation, config; operations 17.2, 17.7)."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BIN, BUILD, SRC, make_cert, run, test  # noqa: E402

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


def build_plugins(tmp):
    """examples/configs/gallery.yaml names the libvips example where the normal build makes it (build/examples/hooks/c/): tmp/build
    is this build; False (gallery.yaml is skipped, with a message) when the example is not built (no libvips)"""
    os.symlink(BUILD, os.path.join(tmp, "build"))
    if os.path.exists(os.path.join(BUILD, "examples", "hooks", "c", "libimage_resize.so")):
        return True
    print("skipped gallery.yaml: examples/hooks/c/image_resize.c is not built (libvips-dev missing?)")
    return False


@test
def example_configs_are_valid():
    """the examples name paths relative to where edgehook starts (tls/..., examples/hooks/...): check them from such a place"""
    tmp = tempfile.mkdtemp(prefix="e2e-config-")
    try:
        shutil.copytree(os.path.join(SRC, DATA, "tls"), os.path.join(tmp, "tls"))
        os.symlink(os.path.join(SRC, "examples"), os.path.join(tmp, "examples"))
        plugins = build_plugins(tmp)
        files = sorted(glob.glob(os.path.join(SRC, "examples", "configs", "*.yaml")))
        files = [f for f in files if plugins or not f.endswith("/gallery.yaml")]
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
    assert rc == 0 and err == "", (rc, out, err)
    lines = out.splitlines()
    assert re.match(r"^edgehook \d+\.\d+\.\d+$", lines[0]), out
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert list(fields) == ["git revision", "build type", "h2o", "LuaJIT", "OpenSSL", "libyaml", "libmaxminddb", "zlib",
                            "expat"], out
    # the revision CMake saw at configure time: a commit of this repository (or "unknown" outside git)
    rev = fields["git revision"]
    assert rev == "unknown" or re.match(r"^[0-9a-f]{12}$", rev), out
    if rev != "unknown" and shutil.which("git"):
        p = subprocess.run(["git", "-C", SRC, "cat-file", "-t", rev], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert p.stdout.decode().strip() == "commit", (rev, p.stdout)
    assert re.match(r"^(Debug|Release|RelWithDebInfo|MinSizeRel)( \(.*\))?$", fields["build type"]), out
    assert fields["h2o"] == "2.2.5", out
    assert re.match(r"^2\.\d", fields["LuaJIT"]), out
    assert fields["OpenSSL"].startswith("OpenSSL 3."), out
    assert re.match(r"^0\.\d+\.\d+$", fields["libyaml"]), out
    assert re.match(r"^(\d+\.\d+\.\d+|not built in .*)$", fields["libmaxminddb"]), out
    assert re.match(r"^1\.\d+", fields["zlib"]), out
    assert re.match(r"^expat_2\.\d+", fields["expat"]), out
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


def write(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def tls_config(cert, key):
    return ("listen:\n  - {port: 0}\n  - port: 0\n    tls:\n      certificate: %s\n      key: %s\n"
            "origins:\n  web: {type: http, url: \"http://127.0.0.1:9\"}\nbehaviors:\n  - {path: \"*\", origin: web}\n" % (cert, key))


@test
def certificates_and_keys_are_loaded_at_check_time():
    """-t loads each listener's certificate and key with OpenSSL: garbage, a key of another certificate, an unreadable file"""
    tmp = tempfile.mkdtemp(prefix="e2e-config-tls-")
    try:
        cert, key = make_cert(tmp)
        other_cert, other_key = make_cert(tmp, cn="other")
        write(tmp, "garbage.pem", "this is not a certificate\n")
        write(tmp, "empty.pem", "")
        cases = [
            ((cert, key), None),
            (("garbage.pem", key), '5: listen[1].tls.certificate: cannot load "garbage.pem" as a PEM certificate: no start line'),
            (("empty.pem", key), '5: listen[1].tls.certificate: cannot load "empty.pem" as a PEM certificate: no start line'),
            ((cert, "garbage.pem"), '6: listen[1].tls.key: cannot load "garbage.pem" as a PEM private key: '),
            ((key, key), '5: listen[1].tls.certificate: cannot load "%s" as a PEM certificate: no start line' % key),
            ((cert, other_key), '6: listen[1].tls.key: "%s" is not the key of the certificate "%s" (key values mismatch)'
             % (other_key, cert)),
            ((cert, "missing.key"), '6: listen[1].tls.key: cannot read "missing.key": No such file or directory'),
        ]
        for (c, k), want in cases:
            write(tmp, "edge.yaml", tls_config(c, k))
            rc, out, err = edgehook("-t", "-c", "edge.yaml", cwd=tmp)
            if want is None:
                assert rc == 0 and err == "", (c, k, rc, err)
                continue
            assert rc == 1 and out == "", (c, k, rc, out, err)
            assert err.startswith("edge.yaml:" + want) and err.count("\n") == 1, (c, k, err, want)
            assert ERROR_RE.match(err.rstrip("\n")), err
        # a start reports the same, in the same form, and exits 1
        write(tmp, "edge.yaml", tls_config(cert, other_key))
        p = subprocess.run([BIN, "-c", "edge.yaml"], cwd=tmp, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert ('edge.yaml:6: listen[1].tls.key: "%s" is not the key of the certificate' % other_key) in p.stderr.decode(), \
            p.stderr
    finally:
        shutil.rmtree(tmp)


@test
def start_time_errors_keep_file_line_key():
    """a port already in use: the start fails with FILE:LINE: KEY: of the listener, for the main, store and admin listeners"""
    import socket
    tmp = tempfile.mkdtemp(prefix="e2e-config-start-")
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        base = ("origins:\n  web: {type: http, url: \"http://127.0.0.1:9\"}\n"
                "behaviors:\n  - {path: \"*\", origin: web}\n")
        cases = [
            ("listen:\n  - {host: 127.0.0.1, port: %d}\n" % port + base, "edge.yaml:2: listen[0]: "),
            ("listen: [{port: 0}]\n" + base + "admin:\n  token: a-long-enough-token\n  listen: {port: %d}\n" % port,
             "edge.yaml:8: admin.listen: "),
            ("listen: [{port: 0}]\n" + base + "store:\n  root: data\n  listen:\n    port: %d\n" % port,
             "edge.yaml:8: store.listen: "),
        ]
        for config, prefix in cases:
            write(tmp, "edge.yaml", config)
            rc, out, err = edgehook("-t", "-c", "edge.yaml", cwd=tmp)
            assert rc == 0, (config, err)  # -t does not bind: another process may hold the port while the file is checked
            p = subprocess.run([BIN, "-c", "edge.yaml"], cwd=tmp, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=120)
            err = p.stderr.decode()
            want = prefix + "cannot listen on 127.0.0.1 port %d: Address already in use" % port
            assert p.returncode == 1 and want in err, (p.returncode, want, err)
    finally:
        taken.close()
        shutil.rmtree(tmp)


def dump_and_reload(path, cwd, environ=None):
    """-T of path, then -t and -T of what it printed: returns (first dump, second dump) without their first (comment) lines"""
    rc, out, err = edgehook("-T", "-c", path, cwd=cwd, environ=environ)
    assert rc == 0 and err == "%s: configuration is valid\n" % path, (path, rc, err)
    assert out.startswith("# the effective configuration of %s" % path), out[:200]
    dumped = write(cwd, "dumped.yaml", out)
    rc2, out2, err2 = edgehook("-t", "-c", dumped, cwd=cwd, environ=environ)
    if rc2 != 0:
        return out, None, err2
    rc3, out3, err3 = edgehook("-T", "-c", dumped, cwd=cwd, environ=environ)
    assert rc3 == 0, err3
    return out.split("\n", 1)[1], out3.split("\n", 1)[1], None


@test
def dump_prints_the_effective_configuration_that_loads_again():
    """-T: every default filled in, YAML that -t accepts, and whose own -T is the same; secrets only as *_env or <redacted>"""
    tmp = tempfile.mkdtemp(prefix="e2e-config-dump-")
    try:
        shutil.copytree(os.path.join(SRC, DATA, "tls"), os.path.join(tmp, "tls"))
        os.symlink(os.path.join(SRC, "examples"), os.path.join(tmp, "examples"))
        os.symlink(os.path.join(SRC, "tests"), os.path.join(tmp, "tests"))
        plugins = build_plugins(tmp)
        files = [os.path.relpath(f, SRC) for f in sorted(glob.glob(os.path.join(SRC, "examples", "configs", "*.yaml")))]
        files = [f for f in files if plugins or not f.endswith("/gallery.yaml")]
        files += [os.path.relpath(f, SRC) for f in sorted(glob.glob(os.path.join(SRC, DATA, "valid", "*.yaml")))]
        files.append("conf/edgehook.yaml")
        os.symlink(os.path.join(SRC, "conf"), os.path.join(tmp, "conf"))
        redacted = 0
        for path in files:
            first, second, refused = dump_and_reload(path, tmp)
            if refused is not None:
                # the documented exception: a secret written in the file is printed as <redacted>, which the loader refuses
                assert '"<redacted>"' in first and "<redacted> is what edgehook -T prints in place of a secret" in refused, \
                    (path, refused)
                redacted += 1
                continue
            assert first == second, "%s: -T of -T differs:\n%s\n---\n%s" % (path, first, second)
        assert redacted < len(files) - 5, redacted
        # the defaults, filled in
        first, _, _ = dump_and_reload(os.path.join("examples", "configs", "minimal.yaml"), tmp)
        for line in ("  max_request_body: 16MB\n", "  shutdown_grace: 30s\n", "  memory: 256MB\n", "  max_object_size: 32MB\n",
                     "    connect_timeout: 5s\n", "    read_timeout: 30s\n", "    max_connections: 256\n",
                     "error_log: {path: \"-\", level: info, format: text}\n", "      error_ttl: 10s\n", "        query: all\n"):
            assert line in first, (line, first)
        # secrets: never their values
        e = env(EDGEHOOK_ADMIN_TOKEN="a-secret-admin-token-value")
        first, second, _ = dump_and_reload(os.path.join("examples", "configs", "hooks.yaml"), tmp, environ=e)
        assert "a-secret-admin-token-value" not in first and 'token_env: "EDGEHOOK_ADMIN_TOKEN"' in first, first
        first, second, _ = dump_and_reload(os.path.join("examples", "configs", "s3-origin.yaml"), tmp)
        assert env()["AWS_SECRET_ACCESS_KEY"] not in first and 'secret_key_env: "AWS_SECRET_ACCESS_KEY"' in first, first
    finally:
        shutil.rmtree(tmp)


@test
def environment_variables_in_values():
    """${VAR}, ${VAR:-default} and $${ in values; an unset variable is FILE:LINE: KEY: environment variable VAR is not set"""
    tmp = tempfile.mkdtemp(prefix="e2e-config-env-")
    try:
        config = ("listen:\n  - {host: 127.0.0.1, port: \"${EDGEHOOK_TEST_PORT:-8080}\"}\n"
                  "origins:\n  web: {type: http, url: \"http://${EDGEHOOK_TEST_ORIGIN}/v1\"}\n"
                  "hooks:\n  h:\n    lua: %s\n    config: {template: \"$${user} at ${EDGEHOOK_TEST_ORIGIN}\"}\n"
                  "behaviors:\n  - {path: \"*\", origin: web, hooks: {viewer-request: h}}\n"
                  % os.path.join(SRC, DATA, "hooks", "passthrough.lua"))
        write(tmp, "edge.yaml", config)
        rc, out, err = edgehook("-T", "-c", "edge.yaml", cwd=tmp, environ=env(EDGEHOOK_TEST_ORIGIN="10.1.2.3:9000"))
        assert rc == 0, err
        assert '  - {host: "127.0.0.1", port: 8080}\n' in out, out
        assert '    url: "http://10.1.2.3:9000/v1"\n' in out, out
        assert '    config: {"template": "$${user} at 10.1.2.3:9000"}\n' in out, out
        rc, out, err = edgehook("-T", "-c", "edge.yaml", cwd=tmp,
                                environ=env(EDGEHOOK_TEST_ORIGIN="o.example", EDGEHOOK_TEST_PORT="8443"))
        assert rc == 0 and "port: 8443}" in out and '"http://o.example:80/v1"' in out, out
        e = env()
        e.pop("EDGEHOOK_TEST_ORIGIN", None)
        rc, out, err = edgehook("-t", "-c", "edge.yaml", cwd=tmp, environ=e)
        assert rc == 1 and err == "edge.yaml:4: origins.web.url: environment variable EDGEHOOK_TEST_ORIGIN is not set\n", err
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    run()
