# ctest-labels: notsan
# notsan: runs cmake --install and man; the installed binary only checks a config, no threads serve
"""End-to-end: `cmake --install` (issue 17.7) puts the binary, the plugin header, the examples, the man pages and a default
configuration where GNUInstallDirs says, with --prefix and with DESTDIR; the installed default configuration passes -t; the
man pages format without a warning and name every configuration key and command-line option."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BUILD, SRC, Skip, run, test  # noqa: E402


def cache_var(name):
    with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split("=", 1)[1].rstrip("\n")
    raise AssertionError("%s is not in %s/CMakeCache.txt" % (name, BUILD))


def install(dest, prefix=None, destdir=None):
    env = dict(os.environ)
    env.pop("DESTDIR", None)
    if destdir is not None:
        env["DESTDIR"] = destdir
    cmd = ["cmake", "--install", BUILD] + (["--prefix", prefix] if prefix else [])
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, (cmd, p.stdout.decode(), p.stderr.decode())
    return p.stdout.decode()


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


EXPECTED = [
    "sbin/edgehook",
    "include/edgehook/edge_hook.h",
    "share/man/man8/edgehook.8",
    "share/man/man5/edgehook.yaml.5",
    "etc/edgehook/edgehook.yaml",
    "share/edgehook/examples/configs/minimal.yaml",
    "share/edgehook/examples/configs/https.yaml",
    "share/edgehook/examples/hooks/lua/security_headers.lua",
    "share/edgehook/examples/hooks/c/hmac_token.c",
    "share/edgehook/examples/hooks/events/viewer-response.json",
    "share/edgehook/examples/site/index.html",
    "share/edgehook/examples/lambda-edge/cors.lua",
]


def full_sysconfdir():
    """GNUInstallDirs' CMAKE_INSTALL_FULL_SYSCONFDIR for the configured prefix (/etc for /usr, PREFIX/etc otherwise)"""
    prefix, rel = cache_var("CMAKE_INSTALL_PREFIX"), cache_var("CMAKE_INSTALL_SYSCONFDIR")
    if rel.startswith("/"):
        return rel
    if prefix in ("/", "/usr"):
        return "/etc"
    if prefix.startswith("/opt/"):
        return "/etc" + prefix
    return prefix + "/" + rel


@test
def install_with_prefix_puts_every_file_in_place():
    if full_sysconfdir() != cache_var("CMAKE_INSTALL_PREFIX") + "/etc":
        raise Skip("configured for %s: the configuration goes to %s whatever --prefix says (use DESTDIR)"
                   % (cache_var("CMAKE_INSTALL_PREFIX"), full_sysconfdir()))
    tmp = tempfile.mkdtemp(prefix="e2e-install-")
    try:
        install(tmp, prefix=tmp)
        have = files_under(tmp)
        for f in EXPECTED:
            assert f in have, (f, have)
        # the systemd unit and the logrotate file, once the tree has them (issue 17.3/17.4)
        if os.path.exists(os.path.join(SRC, "examples", "systemd", "edgehook.service")):
            assert "lib/systemd/system/edgehook.service" in have, have
            # the installed unit starts the binary and the configuration of the prefix configured (like the default
            # configuration, its paths are the configure-time prefix's), not the example's /usr ones
            with open(os.path.join(tmp, "lib", "systemd", "system", "edgehook.service")) as f:
                unit = f.read()
            want = "ExecStart=%s/%s/edgehook -c %s/edgehook/edgehook.yaml" % (
                cache_var("CMAKE_INSTALL_PREFIX"), cache_var("CMAKE_INSTALL_SBINDIR"), full_sysconfdir())
            assert want in unit, (want, unit)
        if os.path.exists(os.path.join(SRC, "examples", "logrotate", "edgehook")):
            assert "etc/logrotate.d/edgehook" in have, have
        libdir = cache_var("CMAKE_INSTALL_LIBDIR")
        for name in ("hmac_token", "security_headers", "uri_rewrite"):
            assert "%s/edgehook/examples/lib%s.so" % (libdir, name) in have, (name, have)
        # nothing outside the known places
        for f in have:
            assert f.split("/")[0] in ("sbin", "include", "share", "etc", "lib", libdir.split("/")[0]), f
        assert os.access(os.path.join(tmp, "sbin", "edgehook"), os.X_OK)
        with open(os.path.join(SRC, "hooks", "edge_hook.h"), "rb") as a, \
                open(os.path.join(tmp, "include", "edgehook", "edge_hook.h"), "rb") as b:
            assert a.read() == b.read()
        # the installed binary runs and says what it is
        p = subprocess.run([os.path.join(tmp, "sbin", "edgehook"), "--version"], stdout=subprocess.PIPE, timeout=60)
        assert p.returncode == 0 and p.stdout.decode().startswith("edgehook ") and "git revision: " in p.stdout.decode()
        # the default configuration: loopback, no secrets, state under EDGE_STATE_DIR, examples from the installed share
        # directory (configured for the prefix given at configure time: pointed at this tree to check it)
        with open(os.path.join(tmp, "etc", "edgehook", "edgehook.yaml")) as f:
            text = f.read()
        state = cache_var("EDGE_STATE_DIR")
        assert "root: %s/data" % state in text, text
        assert not re.search(r"^\s*[^#\s].*\b(0\.0\.0\.0|::)\b", text, re.M), "a non-loopback listener by default"
        assert not re.search(r"^\s*(token|secret_key|access_key)\s*:", text, re.M), "a secret in the default config"
        prefix = cache_var("CMAKE_INSTALL_PREFIX")
        local = text.replace(prefix + "/", tmp + "/")
        conf = os.path.join(tmp, "check.yaml")
        with open(conf, "w") as f:
            f.write(local)
        p = subprocess.run([os.path.join(tmp, "sbin", "edgehook"), "-t", "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        assert p.returncode == 0, (p.stderr.decode(), local)
        p = subprocess.run([os.path.join(tmp, "sbin", "edgehook"), "-T", "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        assert p.returncode == 0 and '  - {host: "127.0.0.1", port: 8080}' in p.stdout.decode(), p.stdout.decode()
    finally:
        shutil.rmtree(tmp)


@test
def install_with_destdir_stages_under_it():
    tmp = tempfile.mkdtemp(prefix="e2e-install-destdir-")
    try:
        install(tmp, destdir=tmp)
        prefix = cache_var("CMAKE_INSTALL_PREFIX").lstrip("/")
        have = files_under(tmp)
        assert os.path.join(prefix, "sbin", "edgehook") in have, have
        assert os.path.join(prefix, "share", "man", "man5", "edgehook.yaml.5") in have, have
        # the configuration directory is GNUInstallDirs' full one (/etc/edgehook for the prefix /usr)
        sysconf = full_sysconfdir()
        assert os.path.join(sysconf.lstrip("/"), "edgehook", "edgehook.yaml") in have, (sysconf, have)
    finally:
        shutil.rmtree(tmp)


def man_warnings(page):
    if shutil.which("man") is None:
        raise Skip("man is not installed (scripts/deps.sh test installs man-db)")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    p = subprocess.run(["man", "--warnings", "-l", page], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


@test
def man_pages_format_without_warnings():
    for page in ("edgehook.8", "edgehook.yaml.5"):
        rc, out, err = man_warnings(os.path.join(SRC, "man", page))
        assert rc == 0 and err == "", (page, rc, err)
        assert "NAME" in out and "SEE ALSO" in out, (page, out[:300])


def bold_words(page):
    """the words a roff page sets in bold: .B x, .BR x y ..., \\fBx\\fR, and its section names"""
    with open(page) as f:
        text = f.read()
    words = set()
    for m in re.finditer(r"^\.BR? (.+)$", text, re.M):
        words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_\\-]*", m.group(1).replace("\\-", "-")))
    words.update(re.findall(r"\\fB([^\\]+)\\fR", text))
    words.update(w.lower() for w in re.findall(r"^\.SH (\S+)$", text, re.M))
    return words


@test
def man_pages_name_every_key_and_option():
    """edgehook.yaml(5) names every key the loader knows; edgehook(8) every option of the usage"""
    with open(os.path.join(SRC, "conf", "config.c")) as f:
        src = f.read()
    keys = set()
    for m in re.finditer(r"keys\[\]\s*=\s*\{([^}]*)\}", src):
        keys.update(re.findall(r'"([a-z_]+)"', m.group(1)))
    assert {"threads", "listen", "origins", "behaviors", "max_ttl", "io_threads", "token_env"} <= keys, keys
    documented = bold_words(os.path.join(SRC, "man", "edgehook.yaml.5"))
    missing = sorted(keys - documented)
    assert not missing, "edgehook.yaml(5) does not describe: %s" % ", ".join(missing)
    with open(os.path.join(SRC, "proxy", "main.c")) as f:
        main = f.read()
    options = set(re.findall(r'\{"([a-z-]+)", (?:no|required)_argument', main))
    with open(os.path.join(SRC, "hooks", "invoke.c")) as f:
        options |= set(re.findall(r'\{"([a-z-]+)", (?:no|required)_argument', f.read()))
    assert {"conf", "test", "dump", "version", "help", "hook", "event"} <= options, options
    with open(os.path.join(SRC, "man", "edgehook.8")) as f:
        page = f.read().replace("\\-", "-")
    missing = sorted(o for o in options if "--" + o not in page)
    assert not missing, "edgehook(8) does not describe: %s" % ", ".join(missing)


if __name__ == "__main__":
    run()
