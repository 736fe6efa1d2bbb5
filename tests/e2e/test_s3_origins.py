# ctest-labels: serial;notsan
# notsan: time budget: Ceph RGW and s3rver start-up (minutes under TSan)
"""End-to-end: the proxy in front of three S3 implementations - the embedded store (`endpoint: embedded`), @20minutes/s3rver
5.0.0 (npm; checks SigV4) and a Ceph RGW 16.2 mini-cluster (Debian's ceph-mon, ceph-osd, radosgw; S3.md section 4).

For each: objects are uploaded with awscli v2 (a 9 MiB binary in multipart, keys with spaces, unicode, + and parentheses), then
fetched through edgehook: identical bytes (sha256), a second GET is a cache hit while the origin saw one request, Range works on
hits and misses, a wrong secret in the origin config surfaces as a 403 without S3's error XML (its SignatureDoesNotMatch is in the
error log: tests/e2e/test_origin_internals.py), and a missing key as its 404. Virtual-hosted addressing (BUCKET.s3.localhost) runs edgehook in a private mount namespace whose /etc/hosts maps those names
to 127.0.0.1 (glibc here resolves neither *.localhost nor anything not in /etc/hosts; the machine's file is never touched);
without `unshare -m` (no root or CAP_SYS_ADMIN) those checks are skipped with a message.

Known limit: @20minutes/s3rver cannot verify a virtual-hosted SigV4 request at all (it puts /BUCKET in the canonical URI: see
lib/middleware/authentication.js), so for it the test only proves that edgehook's request has the shape awscli's has and meets the
same SignatureDoesNotMatch. It also fails `/bucket/` paths, which edgehook never sends to an S3 origin.

The Ceph cluster (about 15 s to start, 1.3 GB RSS: hence `serial`) is started once for the file, under the test's temp dir, with
every daemon killed when the test process goes away (PR_SET_PDEATHSIG) and stopped in the end whatever happened.
"""
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import edgetest  # noqa: E402
from edgetest import Edge, SLOW, SRC, curl_status, free_port, run, test  # noqa: E402

TMP = tempfile.mkdtemp(prefix="e2e-s3-origins-")
TOKEN = "s3-origins-admin-token"
edges = []    # every edgehook started, killed at the end
daemons = []  # s3rver and the Ceph daemons, stopped at the end

# ---- the objects --------------------------------------------------------------------------------------------------------------

UP = os.path.join(TMP, "up")
BIG = 9 * 1024 * 1024  # awscli uploads it in two parts (8 MiB): an md5-N ETag on every server
FILES = {
    "big.bin": os.urandom(BIG),
    "small.txt": b"small object\n" * 40,
    "dir/a b/h\u00e9llo w\u00f6rld \u2603.txt": "unicode key \u2603\n".encode(),
    "sp ace+plus (1).bin": os.urandom(3000),
    "range.bin": os.urandom(100000),  # fetched first with a Range (a miss)
}
for key, data in FILES.items():
    path = os.path.join(UP, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def url_path(key):
    return "/" + urllib.parse.quote(key, safe="/")


# ---- processes ----------------------------------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # children go when the test process goes, even if it is SIGKILLed by a ctest timeout
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Daemon:
    def __init__(self, name, args, cwd, stdout=subprocess.DEVNULL, env=None):
        self.name = name
        self.proc = subprocess.Popen(args, cwd=cwd, stdout=stdout, stderr=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent)
        daemons.append(self)

    def stop(self, grace=3):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # the memstore OSD can take more than 5 s; its data is in memory anyway
                self.proc.wait()


def wait_port(port, timeout, what, proc=None):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s exited with %d" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("%s did not listen on %d within %ds" % (what, port, timeout))


BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("http_proxy", "https_proxy")}


def aws(endpoint, ak, sk, *args, check=True, config=None):
    # Debian's awscli v2 by its absolute path: the `aws` first on PATH is an old v1
    env = dict(BASE_ENV, AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=config or "/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", endpoint] + list(args), env=env, cwd=TMP, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=180 * SLOW)
    if check and p.returncode != 0:
        raise AssertionError("aws %s: exit %d\n%s" % (" ".join(args), p.returncode, p.stderr.decode("utf-8", "replace")[-3000:]))
    return p


# ---- virtual-hosted names: a private /etc/hosts for edgehook ------------------------------------------------------------------

VHOSTS = ["s3.localhost", "emb.s3.localhost", "s3rbkt.s3.localhost", "cephbkt.s3.localhost"]
HOSTS = os.path.join(TMP, "hosts")
with open(HOSTS, "w") as f, open("/etc/hosts") as sysf:
    f.write("127.0.0.1 %s\n" % " ".join(VHOSTS) + sysf.read())
# edgehook started through setpriv --pdeathsig dies with the test process too; unshare without --fork execs in place, so the PID the
# test signals stays edgehook's; the bind mount is private to the namespace
WRAPPER = os.path.join(TMP, "edgehook.sh")
NS_WRAPPER = os.path.join(TMP, "edgehook-in-hosts-ns.sh")
with open(WRAPPER, "w") as f:
    f.write("#!/bin/sh\nexec setpriv --pdeathsig KILL %s \"$@\"\n" % edgetest.BIN)
with open(NS_WRAPPER, "w") as f:
    f.write("#!/bin/sh\nexec setpriv --pdeathsig KILL unshare -m sh -c 'mount --bind \"$0\" /etc/hosts && exec \"$@\"' %s %s \"$@\"\n" %
            (HOSTS, edgetest.BIN))
os.chmod(WRAPPER, 0o755)
os.chmod(NS_WRAPPER, 0o755)
_probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind \"$0\" /etc/hosts && getent hosts emb.s3.localhost", HOSTS],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
CAN_VHOST = _probe.returncode == 0 and b"127.0.0.1" in _probe.stdout
if not CAN_VHOST:
    print("note: `unshare -m` with a bind-mounted /etc/hosts is not possible here (%s): virtual-hosted checks are skipped" %
          _probe.stderr.decode("utf-8", "replace").strip(), flush=True)


def start_edge(origins_yaml, name, extra="", in_namespace=False):
    conf = """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
cache: {memory: 128MB}
origins:
%s
behaviors:
  - {path: "/bad/*", origin: bad, cache: off}
  - {path: "*", origin: good, cache: {default_ttl: 1h}}
admin: {listen: {host: 127.0.0.1, port: 0}, token: %s}
%s""" % (origins_yaml, TOKEN, extra)
    saved = edgetest.BIN
    edgetest.BIN = NS_WRAPPER if in_namespace else WRAPPER
    workdir = os.path.join(TMP, "edge-" + name)
    os.makedirs(workdir, exist_ok=True)
    try:
        e = Edge(conf, name=name, workdir=workdir)
    finally:
        edgetest.BIN = saved
    edges.append(e)
    return e


def origin_requests_metric(edge):
    status, _, body = curl_status("-s", "-H", "Authorization: Bearer " + TOKEN, edge.url("/metrics", kind="admin"))
    assert status == 200, (status, body)
    m = re.search(rb"^edgehook_origin_requests_total (\d+)", body, re.M)
    assert m, body[:2000]
    return int(m.group(1))


# ---- the three servers --------------------------------------------------------------------------------------------------------

class Target:
    """one S3 server: how to reach it, its credentials, and how many requests for a path it has seen (None: not observable)"""
    name = bucket = ak = sk = endpoint = None
    port = 0
    edge = None
    vedge = None

    def origin(self, name, secret=None, virtual=False):
        ep = "http://s3.localhost:%d" % self.port if virtual else self.endpoint
        return "  %s: {type: s3, endpoint: \"%s\", bucket: %s, addressing: %s, credentials: {access_key: %s, secret_key: %s}}\n" % (
            name, ep, self.bucket, "virtual" if virtual else "path", self.ak, secret or self.sk)

    def start_edges(self):
        self.edge = start_edge(self.origin("good") + self.origin("bad", secret="wrong" + self.sk), self.name)

    def seen(self, key):
        return None


class Embedded(Target):
    name, bucket, ak, sk = "embedded", "emb", "EMBEDDEDSTOREKEY0001", "embeddedstoresecret000000000000000000001"

    def start(self):
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.start_edges()  # the store is part of the proxy's process

    def start_edges(self):
        # the good origin is `endpoint: embedded`: the proxy signs with the store's own credentials
        store = "store: {listen: {host: 127.0.0.1, port: %d}, root: ./data, domain: s3.localhost, " \
                "credentials: {access_key: %s, secret_key: %s}}\n" % (self.port, self.ak, self.sk)
        self.edge = start_edge("  good: {type: s3, endpoint: embedded, bucket: emb}\n" + self.origin("bad", secret="x" + self.sk),
                               self.name, extra=store)

    def seen_total(self):
        # the store runs in the proxy's process: its own origin counter is what can be observed
        return origin_requests_metric(self.edge)


class S3rver(Target):
    name, bucket, ak, sk = "s3rver", "s3rbkt", "S3RVER", "S3RVER"

    def start(self):
        npm_ready()
        self.log = os.path.join(TMP, "s3rver-requests.log")
        out = os.path.join(TMP, "s3rver.out")
        with open(out, "wb") as f:
            self.daemon = Daemon("s3rver", ["node", os.path.join(SRC, "tests", "e2e", "lib", "s3rver_origin.js"),
                                            os.path.join(TMP, "s3rver-data"), self.log], cwd=os.path.join(SRC, "tests"), stdout=f,
                                 env=dict(BASE_ENV, NODE_NO_WARNINGS="1"))
        deadline = time.time() + 30 * SLOW
        while time.time() < deadline and not open(out).read().strip():
            assert self.daemon.proc.poll() is None, "s3rver exited"
            time.sleep(0.1)
        self.port = json.loads(open(out).read().splitlines()[0])["port"]
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def requests(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def seen(self, key):
        want = "/%s%s" % (self.bucket, url_path(key))
        return sum(1 for r in self.requests() if r["method"] == "GET" and r["url"].split("?")[0] == want)


class Ceph(Target):
    name, bucket, ak, sk = "ceph", "cephbkt", "TESTACCESSKEY0000001", "testsecretkey00000000000000000000000001"

    def start(self):
        d = self.dir = os.path.join(TMP, "ceph")
        for sub in ("mon", "osd", "rgw", "run", "log"):
            os.makedirs(os.path.join(d, sub))
        mon, self.port = free_port(), free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        fsid = str(uuid.uuid4())
        with open(os.path.join(d, "ceph.conf"), "w") as f:
            f.write("""[global]
fsid = {fsid}
mon host = v1:127.0.0.1:{mon}
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr2 = false
public addr = 127.0.0.1
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
run dir = {d}/run
log file = {d}/log/$name.log
admin socket = {d}/run/$name.asok
keyring = {d}/keyring
mon data = {d}/mon
osd data = {d}/osd
osd objectstore = memstore
memstore device bytes = 2147483648
# the crush map is set up by hand below; without these the OSD's start-up commands can race its first monmap ('wrong fsid')
osd class update on start = false
osd crush update on start = false
[client.rgw.local]
rgw frontends = beast endpoint=127.0.0.1:{rgw}
rgw data = {d}/rgw
rgw dns name = s3.localhost
""".format(fsid=fsid, mon=mon, rgw=self.port, d=d))
        c = ["-c", os.path.join(d, "ceph.conf")]

        def sh(*args, timeout=60):
            # a mon that is busy (starting, or starved of CPU on a loaded machine) answers EPERM "problem getting command
            # descriptions" before it has looked at the command: nothing ran, so asking again is safe, until it answers
            deadline = time.time() + 120 * SLOW
            while True:
                p = subprocess.run(list(args), cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout * SLOW)
                if p.returncode == 0 or b"problem getting command descriptions" not in p.stderr or time.time() > deadline:
                    break
                time.sleep(0.5)
            if p.returncode != 0:
                raise AssertionError("%s: exit %d\n%s\n%s" % (" ".join(args), p.returncode, p.stdout.decode()[-2000:],
                                                              p.stderr.decode()[-2000:]))
            return p.stdout.decode()

        # a v1 address: `--add a IP:PORT` would make a v2 one for a port other than 6789
        sh("monmaptool", "--create", "--addv", "a", "[v1:127.0.0.1:%d]" % mon, "--fsid", fsid, "monmap")
        sh("ceph-authtool", "--create-keyring", "keyring", "--gen-key", "-n", "mon.", "--cap", "mon", "allow *")
        sh("ceph-mon", *c, "--mkfs", "-i", "a", "--monmap", "monmap", "--keyring", "keyring")
        self.mon = Daemon("ceph-mon", ["ceph-mon", *c, "-i", "a", "-f"], cwd=d)

        def mon_answers():
            # a mon that is still starting refuses commands (EPERM "problem getting command descriptions"): ask until it
            # answers, instead of sending the first command at once
            return subprocess.run(["ceph", *c, "--connect-timeout", "10", "mon", "stat"], cwd=d, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=30 * SLOW).returncode == 0
        deadline = time.time() + 120 * SLOW
        while not mon_answers():
            assert time.time() < deadline, "the ceph mon did not answer within 120 s"
            time.sleep(0.5)
        osd = sh("ceph", *c, "osd", "create").strip()
        sh("ceph-osd", *c, "-i", osd, "--mkfs", "--osd-uuid", str(uuid.uuid4()))
        sh("ceph", *c, "osd", "crush", "add-bucket", "localhost", "host")
        sh("ceph", *c, "osd", "crush", "move", "localhost", "root=default")
        sh("ceph", *c, "osd", "crush", "add", "osd." + osd, "1.0", "host=localhost")
        self.osd = Daemon("ceph-osd", ["ceph-osd", *c, "-i", osd, "-f"], cwd=d)
        self.rgw = Daemon("radosgw", ["radosgw", *c, "-n", "client.rgw.local", "-f"], cwd=d)
        wait_port(self.port, 90, "radosgw", self.rgw.proc)
        sh("radosgw-admin", *c, "user", "create", "--uid=tester", "--display-name=Tester", "--access-key=" + self.ak,
           "--secret-key=" + self.sk)

    def stop(self):
        for dmn in (getattr(self, "rgw", None), getattr(self, "osd", None), getattr(self, "mon", None)):
            if dmn is not None:
                dmn.stop()

    def access_lines(self):
        # radosgw's beast frontend logs one access line per request at its default level
        with open(os.path.join(self.dir, "log", "client.rgw.local.log"), errors="replace") as f:
            return [line for line in f if " beast: " in line]

    def seen(self, key, virtual=False):
        want = '"GET %s%s HTTP/1.1"' % ("" if virtual else "/" + self.bucket, url_path(key))
        return sum(1 for line in self.access_lines() if want in line)


def npm_ready():
    edgetest.npm_ready("@20minutes/s3rver")


# ---- the checks, the same for every server ------------------------------------------------------------------------------------

def check_upload(t):
    aws(t.endpoint, t.ak, t.sk, "s3", "mb", "s3://" + t.bucket)
    aws(t.endpoint, t.ak, t.sk, "s3", "cp", "--recursive", UP, "s3://%s/" % t.bucket, "--only-show-errors")
    out = aws(t.endpoint, t.ak, t.sk, "s3api", "list-objects-v2", "--bucket", t.bucket, "--query", "Contents[].[Key,Size,ETag]",
              "--output", "json").stdout
    listed = {k: (s, e) for k, s, e in json.loads(out)}
    assert set(listed) == set(FILES), listed
    assert listed["big.bin"][0] == BIG, listed["big.bin"]
    if not isinstance(t, S3rver):  # s3rver gives a multipart object the MD5 of its bytes
        assert listed["big.bin"][1].endswith('-2"'), listed["big.bin"]
    if t.edge is None:
        t.start_edges()


def check_get_identical_then_hit(t):
    for key in ("big.bin", "small.txt", "dir/a b/h\u00e9llo w\u00f6rld \u2603.txt", "sp ace+plus (1).bin"):
        before = t.seen_total() if isinstance(t, Embedded) else None
        status, h, body = curl_status("-s", t.edge.url(url_path(key)))
        assert status == 200 and sha(body) == sha(FILES[key]), (key, status, h, len(body), body[:300])
        assert h.get("x-cache") == "Miss from edgehook", (key, h)
        assert int(h.get("content-length", -1)) == len(FILES[key]), (key, h)
        status, h, body = curl_status("-s", t.edge.url(url_path(key)))
        assert status == 200 and sha(body) == sha(FILES[key]), (key, status)
        assert h.get("x-cache") == "Hit from edgehook", (key, h)
        if isinstance(t, Embedded):
            assert t.seen_total() - before == 1, (key, before)
        else:
            assert t.seen(key) == 1, (key, t.seen(key))


def check_range(t):
    data = FILES["range.bin"]
    # on a miss
    status, h, body = curl_status("-s", "-r", "1000-1999", t.edge.url("/range.bin"))
    assert status == 206 and body == data[1000:2000], (status, h, len(body))
    assert h.get("content-range") == "bytes 1000-1999/%d" % len(data), h
    # on a hit: the full object first, then ranges served from the cache
    status, h, body = curl_status("-s", t.edge.url("/range.bin"))
    assert status == 200 and body == data, (status, h)
    for rng, want, cr in (("0-9", data[:10], "bytes 0-9/%d" % len(data)), ("-100", data[-100:], "bytes %d-%d/%d" % (
            len(data) - 100, len(data) - 1, len(data))), ("99990-", data[99990:], "bytes 99990-99999/%d" % len(data))):
        status, h, body = curl_status("-s", "-r", rng, t.edge.url("/range.bin"))
        assert status == 206 and body == want and h.get("content-range") == cr, (rng, status, h, len(body))
        assert h.get("x-cache") == "Hit from edgehook", (rng, h)
    # a range of the multi-MB object, across the part boundary of its multipart upload
    lo = 8 * 1024 * 1024 - 5
    status, h, body = curl_status("-s", "-r", "%d-%d" % (lo, lo + 9), t.edge.url("/big.bin"))
    assert status == 206 and body == FILES["big.bin"][lo:lo + 10] and h.get("x-cache") == "Hit from edgehook", (status, h)


def check_errors(t):
    status, h, body = curl_status("-s", t.edge.url("/bad/small.txt"))
    assert status == 403, (status, h, body)
    assert b"<Error>" not in body and not any(k.startswith("x-amz-") for k in h), (h, body)
    edgetest.wait_until(lambda: re.search(r"origin bad \(S3\) answered 403 SignatureDoesNotMatch", t.edge.log()),
                        what="the 403's cause in the error log")
    status, h, body = curl_status("-s", t.edge.url("/no/such-key.txt"))
    assert status == 404 and b"<Code>NoSuchKey</Code>" in body, (status, body)


def check_virtual_hosted(t):
    if not CAN_VHOST:
        print("skipped: no private /etc/hosts for BUCKET.s3.localhost (see the note above)")
        return
    t.vedge = start_edge(t.origin("good", virtual=True) + t.origin("bad", virtual=True, secret="wrong"), t.name + "-virtual",
                         in_namespace=True)
    key = "dir/a b/h\u00e9llo w\u00f6rld \u2603.txt"
    if isinstance(t, S3rver):
        # s3rver signs virtual-hosted requests over /BUCKET/KEY: edgehook and awscli alike get SignatureDoesNotMatch
        n = len(t.requests())
        status, h, body = curl_status("-s", t.vedge.url(url_path(key)))
        req = t.requests()[n:]
        assert req and req[0]["host"] == "%s.s3.localhost:%d" % (t.bucket, t.port) and req[0]["url"] == url_path(key), req
        assert status == 403 and b"SignatureDoesNotMatch" not in body, (status, body)
        edgetest.wait_until(lambda: "answered 403 SignatureDoesNotMatch" in t.vedge.log(), what="the 403's cause in the log")
        cfg = os.path.join(TMP, "aws-virtual.cfg")
        with open(cfg, "w") as f:
            f.write("[default]\ns3 =\n  addressing_style = virtual\n")
        p = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', HOSTS, "/usr/bin/aws",
                            "--endpoint-url", "http://s3.localhost:%d" % t.port, "s3api", "get-object", "--bucket", t.bucket, "--key",
                            key, os.path.join(TMP, "virtual.out")],
                           env=dict(BASE_ENV, AWS_ACCESS_KEY_ID=t.ak, AWS_SECRET_ACCESS_KEY=t.sk, AWS_DEFAULT_REGION="us-east-1",
                                    AWS_CONFIG_FILE=cfg, AWS_SHARED_CREDENTIALS_FILE="/dev/null"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        assert p.returncode != 0 and b"SignatureDoesNotMatch" in p.stderr, (p.returncode, p.stderr)
        assert t.requests()[-1]["host"] == req[0]["host"] and t.requests()[-1]["url"].split("?")[0] == req[0]["url"]
        return
    for k in ("big.bin", key):
        status, h, body = curl_status("-s", t.vedge.url(url_path(k)))
        assert status == 200 and sha(body) == sha(FILES[k]), (k, status, h, body[:300])
        assert h.get("x-cache") == "Miss from edgehook", h
        status, h, body = curl_status("-s", t.vedge.url(url_path(k)))
        assert status == 200 and h.get("x-cache") == "Hit from edgehook", (k, status, h)
    if isinstance(t, Ceph):
        # the bucket went in the Host header: the request line has no /BUCKET
        assert t.seen("big.bin", virtual=True) == 1, t.access_lines()[-5:]
    status, h, body = curl_status("-s", t.vedge.url("/bad/small.txt"))
    assert status == 403 and b"<Error>" not in body, (status, body)
    edgetest.wait_until(lambda: "origin bad (S3) answered 403 SignatureDoesNotMatch" in t.vedge.log(),
                        what="the 403's cause in the error log")


def check_clean(t):
    for e in (t.edge, t.vedge):
        if e is not None:
            assert e.stop() == 0
            e.assert_clean()


TARGETS = [Embedded(), S3rver(), Ceph()]
STEPS = [("start", lambda t: t.start()), ("upload_with_awscli", check_upload),
         ("get_identical_bytes_then_hit_one_origin_request", check_get_identical_then_hit), ("range", check_range),
         ("wrong_secret_is_origin_403_and_missing_key_404", check_errors), ("virtual_hosted", check_virtual_hosted),
         ("clean_shutdown", check_clean)]


def make_test(t, step_name, fn):
    def f():
        if step_name != "start" and not t.endpoint:
            raise AssertionError("%s did not start" % t.name)
        if step_name not in ("start", "upload_with_awscli") and t.edge is None:
            raise AssertionError("no edgehook for %s (the upload step failed)" % t.name)
        fn(t)
    f.__name__ = "%s_%s" % (t.name, step_name)
    return test(f)


for _t in TARGETS:
    for _name, _fn in STEPS:
        make_test(_t, _name, _fn)


def cleanup():
    for e in edges:
        e.kill()
    for t in TARGETS:
        if isinstance(t, Ceph):
            t.stop()
    for d in daemons:
        d.stop()
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # a SIGTERM still runs the cleanup below
    try:
        run()
    finally:
        cleanup()
