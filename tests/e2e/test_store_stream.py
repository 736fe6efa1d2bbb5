# ctest-labels: notsan
# ctest-timeout: 3600
# notsan: time budget: 100 MB and 1 GB uploads
"""End-to-end: request bodies streamed to the store's disk (store/http1.c) - big single PUTs with every client's defaults, bounded
memory, max_put_size / EntityTooLarge before the body, Expect: 100-continue after authentication, signed Transfer-Encoding, and the
HTTP/1.1 framing rules of the store listener at the socket level (short bodies, slow bodies, pipelining, malformed chunks).
"""
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import edgetest  # noqa: E402
from edgetest import Edge, SLOW, SRC, run, test, wait_until  # noqa: E402

AK, SK = "STREAMSTOREKEY000001", "streamstoresecret0000000000000000000001"
TMP = tempfile.mkdtemp(prefix="e2e-store-stream-")
MB = 1 << 20


def config(root="./data", extra=""):
    return """
threads: 1
listen:
  - {host: 127.0.0.1, port: 0}
origins:
  web: {type: http, url: "http://127.0.0.1:9"}
behaviors:
  - {path: "*", origin: web, cache: off}
limits:
  client_timeout: 10s
store:
  listen: {host: 127.0.0.1, port: 0}
  root: %s
  domain: s3.localhost
  threads: 1
  credentials: {access_key: %s, secret_key: %s}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: streamtoken0123456789
%s""" % (root, AK, SK, extra)


edge = Edge(config())
PORT = edge.ports["store"]
ENDPOINT = "http://127.0.0.1:%d" % PORT
others = []

# ---- SigV4 over raw sockets ------------------------------------------------------------------------------------------------


def q(s):
    return urllib.parse.quote(s, safe="-_.~")


def sign(method, path, headers, payload_hash, secret=SK):
    """adds x-amz-date, x-amz-content-sha256, authorization (signing every header given, lowercase names)"""
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers["x-amz-date"] = amz
    headers["x-amz-content-sha256"] = payload_hash
    names = sorted(headers)
    p, _, query = path.partition("?")
    cq = "&".join(sorted("%s=%s" % (q(k), q(v)) for k, _, v in (c.partition("=") for c in query.split("&") if c)))
    creq = "\n".join([method, "/".join(q(urllib.parse.unquote(s)) for s in p.split("/")), cq] +
                     ["%s:%s" % (n, headers[n]) for n in names] + ["", ";".join(names), payload_hash])
    scope = "%s/us-east-1/s3/aws4_request" % amz[:8]
    k = hmac.new(("AWS4" + secret).encode(), amz[:8].encode(), hashlib.sha256).digest()
    for part in ("us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(creq.encode()).hexdigest())
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (AK, scope, ";".join(names), sig)
    return headers


def head_bytes(method, path, headers):
    return ("%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n").encode()


def signed_head(method, path, length=None, payload_hash="UNSIGNED-PAYLOAD", extra=None, port=None, secret=SK, signed_extra=None):
    h = {"host": "127.0.0.1:%d" % (port or PORT)}
    h.update(signed_extra or {})
    if length is not None:
        h["content-length"] = str(length)
    sign(method, path, h, payload_hash, secret)
    h.update(extra or {})
    return head_bytes(method, path, h)


def connect(port=None):
    s = socket.create_connection(("127.0.0.1", port or PORT), timeout=60 * SLOW)
    return s


class Reader:
    """reads HTTP/1.1 responses off a socket (Content-Length or chunked bodies; HEAD has none)"""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        d = self.sock.recv(1 << 16)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        h, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = h.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        body = b""
        if head or status in (100, 204, 304):
            pass
        elif "content-length" in hdrs:
            n = int(hdrs["content-length"])
            while len(self.buf) < n:
                self.fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        elif hdrs.get("transfer-encoding") == "chunked":
            while True:
                while b"\r\n" not in self.buf:
                    self.fill()
                line, _, self.buf = self.buf.partition(b"\r\n")
                n = int(line, 16)
                while len(self.buf) < n + 2:
                    self.fill()
                body += self.buf[:n]
                self.buf = self.buf[n + 2:]
                if n == 0:
                    break
        return status, hdrs, body

    def closed(self):
        """True once the peer closed (waits for it; the store's idle timeout bounds the wait)"""
        try:
            while True:
                self.fill()
        except EOFError:
            return True
        except ConnectionResetError:
            return True


def request(method, path, body=b"", extra=None, port=None):
    s = connect(port)
    s.sendall(signed_head(method, path, len(body) if method in ("PUT", "POST") else None, hashlib.sha256(body).hexdigest(),
                          extra, port) + body)
    r = Reader(s).response(head=method == "HEAD")
    s.close()
    return r


def code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


def get_sha(path, port=None):
    """GET streamed to a SHA-256 (the object never sits in the test's memory)"""
    s = connect(port)
    s.sendall(signed_head("GET", path, None, hashlib.sha256(b"").hexdigest(), port=port))
    rd = Reader(s)
    while b"\r\n\r\n" not in rd.buf:
        rd.fill()
    h, _, rest = rd.buf.partition(b"\r\n\r\n")
    status = int(h.split()[1])
    n = int(re.search(rb"(?i)content-length: (\d+)", h).group(1))
    sha, got = hashlib.sha256(rest), len(rest)
    while got < n:
        d = s.recv(1 << 20)
        assert d, "closed early"
        sha.update(d)
        got += len(d)
    s.close()
    return status, sha.hexdigest(), n


def sent_stream(sock, total, seed=b"s"):
    """sends total pseudo-random bytes (1 MB blocks derived from seed); returns their SHA-256"""
    sha = hashlib.sha256()
    block = hashlib.sha256(seed).digest() * (MB // 32)
    sent = 0
    while sent < total:
        b = block[: min(MB, total - sent)]
        sock.sendall(b)
        sha.update(b)
        sent += len(b)
    return sha.hexdigest()


def status_bytes(path):
    return request("GET", path)


assert request("PUT", "/bkt")[0] == 200

# ---- big single PUTs with each client's defaults -----------------------------------------------------------------------------

BIG = os.path.join(TMP, "100m.bin")
with open(BIG, "wb") as f:
    for _ in range(100):
        f.write(os.urandom(MB))
with open(BIG, "rb") as f:
    BIG_SHA = hashlib.sha256(f.read()).hexdigest()

BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_")) and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(BASE_ENV, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")


def sh(cmd, env=None, timeout=600):
    p = subprocess.run(cmd, env=env or BASE_ENV, cwd=TMP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout * SLOW)
    assert p.returncode == 0, "%s: %d\n%s\n%s" % (cmd, p.returncode, p.stdout[-2000:], p.stderr[-3000:])
    return p


def check_big(key):
    st, sha, n = get_sha("/bkt/" + key)
    assert st == 200 and n == 100 * MB and sha == BIG_SHA, (key, st, n)


@test
def awscli_100mb_defaults():
    aws = ["/usr/bin/aws", "--endpoint-url", ENDPOINT, "--no-cli-pager"]
    sh(aws + ["s3", "cp", BIG, "s3://bkt/aws-cp.bin", "--only-show-errors"], env=AWS_ENV)  # its default: multipart above 8 MB
    check_big("aws-cp.bin")
    # s3api put-object: one PUT of 100 MB (Content-MD5, Expect: 100-continue)
    sh(aws + ["s3api", "put-object", "--bucket", "bkt", "--key", "aws-put.bin", "--body", BIG], env=AWS_ENV)
    check_big("aws-put.bin")


@test
def s3cmd_100mb_defaults():
    cfg = os.path.join(TMP, "s3cfg")
    with open(cfg, "w") as f:
        f.write("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = 127.0.0.1:%d\nhost_bucket = 127.0.0.1:%d\n"
                "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n" % (AK, SK, PORT, PORT))
    sh(["s3cmd", "-c", cfg, "--no-progress", "put", BIG, "s3://bkt/s3cmd.bin"])  # its default: 15 MB parts
    check_big("s3cmd.bin")
    sh(["s3cmd", "-c", cfg, "--no-progress", "--disable-multipart", "put", BIG, "s3://bkt/s3cmd-single.bin"])
    check_big("s3cmd-single.bin")


@test
def rclone_100mb_defaults():
    env = dict(BASE_ENV, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_S3T_TYPE="s3", RCLONE_CONFIG_S3T_PROVIDER="Other",
               RCLONE_CONFIG_S3T_ENDPOINT=ENDPOINT, RCLONE_CONFIG_S3T_ACCESS_KEY_ID=AK, RCLONE_CONFIG_S3T_SECRET_ACCESS_KEY=SK)
    env.pop("AWS_CA_BUNDLE", None)
    puts = edge.metric("edgehook_store_requests_total", op="PutObject", status_class="2xx") or 0
    parts = edge.metric("edgehook_store_requests_total", op="UploadPart", status_class="2xx") or 0
    sh(["rclone", "--retries", "1", "copyto", BIG, "s3t:bkt/rclone.bin"], env=env)  # one PUT up to --s3-upload-cutoff 200 MiB
    check_big("rclone.bin")
    assert (edge.metric("edgehook_store_requests_total", op="PutObject", status_class="2xx") or 0) == puts + 1
    assert (edge.metric("edgehook_store_requests_total", op="UploadPart", status_class="2xx") or 0) == parts


@test
def boto3_100mb_put_object():
    code = """
import sys, boto3, botocore.config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                  region_name="us-east-1")
with open(sys.argv[4], "rb") as f:
    s3.put_object(Bucket="bkt", Key="boto3.bin", Body=f)
print(boto3.__version__)
"""
    sh(["/usr/bin/python3", "-c", code, ENDPOINT, AK, SK, BIG])
    check_big("boto3.bin")


@test
def js_sdk_100mb_put_object():
    edgetest.npm_ready("@aws-sdk/client-s3")
    script = os.path.join(TMP, "put.mjs")
    with open(script, "w") as f:
        f.write("""
import { S3Client, PutObjectCommand } from "%s/tests/node_modules/@aws-sdk/client-s3/dist-cjs/index.js";
import { createReadStream, statSync } from "node:fs";
const [port, ak, sk, file] = process.argv.slice(2);
const s3 = new S3Client({ endpoint: `http://127.0.0.1:${port}`, region: "us-east-1", forcePathStyle: true,
                          credentials: { accessKeyId: ak, secretAccessKey: sk } });
await s3.send(new PutObjectCommand({ Bucket: "bkt", Key: "js.bin", Body: createReadStream(file),
                                     ContentLength: statSync(file).size }));
console.log("ok");
""" % SRC)
    sh(["node", script, str(PORT), AK, SK, BIG], env=dict(BASE_ENV, NODE_NO_WARNINGS="1"))
    check_big("js.bin")


# ---- memory, limits, Expect --------------------------------------------------------------------------------------------------


def hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))


@test
def one_gb_put_bounded_memory():
    rss0 = edge.rss_kb()
    n = 1024 * MB
    s = connect()
    t0 = time.time()
    s.sendall(signed_head("PUT", "/bkt/1g.bin", n))
    sha = sent_stream(s, n, b"1g")
    st, _, body = Reader(s).response()
    secs = time.time() - t0
    s.close()
    assert st == 200, (st, body)
    grew = hwm_kb(edge.proc.pid) - rss0
    print("1 GB PUT: %.1f s, %.0f MB/s; peak RSS %d MB above the start (VmHWM)" % (secs, 1024 / secs, grew // 1024), flush=True)
    assert grew < 200 * 1024, "edgehook's peak RSS grew %d MB during a 1 GB PUT" % (grew // 1024)
    st, got, size = get_sha("/bkt/1g.bin")
    assert st == 200 and size == n and got == sha


@test
def declared_6gb_refused_before_the_body():
    s = connect()
    s.sendall(signed_head("PUT", "/bkt/huge.bin", 6 * 1024 * MB))  # no body sent
    st, h, body = Reader(s).response()
    assert st == 400 and code(body) == "EntityTooLarge", (st, body)
    assert b"<RequestId>" in body and h.get("x-amz-request-id"), body
    assert h.get("connection") == "close"
    s.close()
    # aws-chunked: the decoded length counts
    s = connect()
    s.sendall(signed_head("PUT", "/bkt/huge2.bin", 6 * 1024 * MB + 100000, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                          signed_extra={"x-amz-decoded-content-length": str(6 * 1024 * MB), "content-encoding": "aws-chunked"}))
    st, _, body = Reader(s).response()
    assert st == 400 and code(body) == "EntityTooLarge", (st, body)
    s.close()
    assert request("HEAD", "/bkt/huge.bin")[0] == 404


@test
def expect_100_continue_after_authentication():
    # a bad signature: 403 straight away, no 100 Continue, then the connection closes (the body never asked for is not read)
    s = connect()
    s.sendall(signed_head("PUT", "/bkt/expect.bin", 1000, secret="wrong" + SK[5:], extra={"expect": "100-continue"}))
    rd = Reader(s)
    st, _, body = rd.response()
    assert st == 403 and code(body) == "SignatureDoesNotMatch", (st, body)
    assert rd.closed()
    s.close()
    # an expectation other than 100-continue is ignored (as S3 and RGW do): the request is answered
    for value in ("", "200"):
        s = connect()
        s.sendall(signed_head("PUT", "/bkt/expect-other.bin", 3, hashlib.sha256(b"abc").hexdigest(), extra={"expect": value}) +
                  b"abc")
        st, _, body = Reader(s).response()
        assert st == 200, (value, st, body)
        s.close()
    # a missing bucket: 404 without 100 either
    s = connect()
    s.sendall(signed_head("PUT", "/nobucket/x", 1000, extra={"expect": "100-continue"}))
    st, _, body = Reader(s).response()
    assert st == 404 and code(body) == "NoSuchBucket", (st, body)
    s.close()
    # accepted: 100, then the body, then 200 - and the connection goes on
    s = connect()
    data = os.urandom(1000)
    s.sendall(signed_head("PUT", "/bkt/expect.bin", 1000, hashlib.sha256(data).hexdigest(), extra={"expect": "100-continue"}))
    rd = Reader(s)
    st, _, _ = rd.response()
    assert st == 100, st
    s.sendall(data)
    st, h, body = rd.response()
    assert st == 200, (st, body)
    s.sendall(signed_head("GET", "/bkt/expect.bin", None, hashlib.sha256(b"").hexdigest()))
    st, _, body = rd.response()
    assert st == 200 and body == data
    s.close()



@test
def expect_with_the_body_sent_at_once():
    """clients that send the body without waiting for 100 Continue: the 100 (written when the store reads the body) may still
    be in flight when the PUT's empty 200 comes; both go out in order, many times over on one connection. The store is on
    tmpfs when it can be (fsync is instant there, so the 200 can overtake the 100's write, as in the s3-tests runs)"""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else TMP
    root = tempfile.mkdtemp(prefix="e2e-store-stream-", dir=shm)
    e = Edge(config(os.path.join(root, "data")))
    others.append(e)
    port = e.ports["store"]
    assert request("PUT", "/bkt", port=port)[0] == 200
    s = connect(port)
    rd = Reader(s)
    for i in range(200):
        data = b"at-once %d" % i
        s.sendall(signed_head("PUT", "/bkt/at-once.bin", len(data), hashlib.sha256(data).hexdigest(),
                              extra={"expect": "100-continue"}, port=port) + data)
        st, _, body = rd.response()
        if st == 100:
            st, _, body = rd.response()
        assert st == 200, (i, st, body)
    s.sendall(signed_head("GET", "/bkt/at-once.bin", None, hashlib.sha256(b"").hexdigest(), port=port))
    st, _, body = rd.response()
    assert st == 200 and body == b"at-once 199", (st, body)
    s.close()
    assert e.stop() == 0
    e.assert_clean()
    others.remove(e)
    shutil.rmtree(root, ignore_errors=True)

def put_count(cls):
    return edge.metric("edgehook_store_requests_total", op="PutObject", status_class=cls) or 0


@test
def short_body_then_close_stores_nothing():
    assert request("PUT", "/bkt/short.bin", b"old")[0] == 200
    n0 = sum(put_count(c) for c in ("1xx", "2xx", "3xx", "4xx", "5xx", "other"))
    s = connect()
    s.sendall(signed_head("PUT", "/bkt/short.bin", 10 * MB) + b"x" * 100000)
    s.close()
    # the store is done with it once its request is counted (the connection closed, the job ended)
    wait_until(lambda: sum(put_count(c) for c in ("1xx", "2xx", "3xx", "4xx", "5xx", "other")) > n0, what="the short PUT counted")
    st, _, body = request("GET", "/bkt/short.bin")
    assert st == 200 and body == b"old", (st, body[:100])
    assert edge.proc.poll() is None


@test
def slow_body_times_out_without_holding_the_store():
    # store.threads is 1: a body that stops arriving must not hold up other requests, and the connection ends at client_timeout
    s = connect()
    s.sendall(signed_head("PUT", "/bkt/slow.bin", 5 * MB) + b"y" * 1000)
    # meanwhile: other requests are served (the waiting job gave its thread up)
    assert request("PUT", "/bkt/other.bin", b"fine")[0] == 200
    assert request("GET", "/bkt/other.bin")[2] == b"fine"
    t0 = time.time()
    assert Reader(s).closed()  # the idle timeout (10 s) ends it
    assert time.time() - t0 < 60 * SLOW
    s.close()
    wait_until(lambda: request("HEAD", "/bkt/slow.bin", b"")[0] == 404, what="nothing stored")


@test
def pipelined_requests_after_a_streamed_body():
    data = os.urandom(3 * MB)
    s = connect()
    s.sendall(signed_head("PUT", "/bkt/pipe.bin", len(data), hashlib.sha256(data).hexdigest()) + data +
              signed_head("GET", "/bkt/pipe.bin", None, hashlib.sha256(b"").hexdigest()) +
              signed_head("HEAD", "/bkt/pipe.bin", None, hashlib.sha256(b"").hexdigest()) +
              signed_head("PUT", "/bkt/pipe2.bin", 5, hashlib.sha256(b"hello").hexdigest()) + b"hello" +
              signed_head("GET", "/bkt/pipe2.bin", None, hashlib.sha256(b"").hexdigest()))
    rd = Reader(s)
    assert rd.response()[0] == 200
    st, _, body = rd.response()
    assert st == 200 and body == data
    st, h, _ = rd.response(head=True)
    assert st == 200 and h["content-length"] == str(len(data))
    assert rd.response()[0] == 200
    assert rd.response()[2] == b"hello"
    s.close()


def chunked(data, size=70000):
    out = b""
    for i in range(0, len(data), size):
        out += b"%x\r\n" % len(data[i:i + size]) + data[i:i + size] + b"\r\n"
    return out + b"0\r\n\r\n"


@test
def signed_transfer_encoding_chunked():
    data = os.urandom(300000)
    s = connect()
    s.sendall(signed_head("PUT", "/bkt/te.bin", None, hashlib.sha256(data).hexdigest(),
                          signed_extra={"transfer-encoding": "chunked"}) + chunked(data))
    st, _, body = Reader(s).response()
    assert st == 200, (st, body)
    s.close()
    assert request("GET", "/bkt/te.bin")[2] == data
    # a payload that does not match its signed hash leaves nothing
    s = connect()
    s.sendall(signed_head("PUT", "/bkt/te2.bin", None, hashlib.sha256(b"other").hexdigest(),
                          signed_extra={"transfer-encoding": "chunked"}) + chunked(data))
    st, _, body = Reader(s).response()
    assert st == 400 and code(body) == "XAmzContentSHA256Mismatch", (st, body)
    assert request("HEAD", "/bkt/te2.bin")[0] == 404


@test
def malformed_framing_refused():
    def answer(raw_bytes):
        s = connect()
        s.sendall(raw_bytes)
        rd = Reader(s)
        try:
            r = rd.response()
        except (EOFError, ConnectionResetError):
            r = (None, {}, b"")
        s.close()
        return r[0]
    host = "Host: 127.0.0.1:%d\r\n" % PORT
    assert answer(b"PUT /bkt/a HTTP/1.1\r\n" + host.encode() + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello") == 400
    assert answer(b"PUT /bkt/a HTTP/1.1\r\n" + host.encode() + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") \
        == 400
    assert answer(b"PUT /bkt/a HTTP/1.1\r\n" + host.encode() + b"Content-Length: +5\r\n\r\nhello") == 400
    assert answer(b"PUT /bkt/a HTTP/1.1\r\n" + host.encode() + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n") == 400
    assert answer(b"GET /bkt/a HTTP/1.1\r\n" + host.encode() + b"X-A: b\r\n c\r\n\r\n") == 400  # obs-fold
    assert answer(b"GET /bkt/a HTTP/1.1\r\n" + host.encode() + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n") == 431
    assert answer(b"GET /bkt/a HTTP/1.1\r\n" + host.encode() + b"".join(b"X-%d: a\r\n" % i for i in range(120)) + b"\r\n") == 400
    # a bad chunk size: the connection closes, nothing is stored
    s = connect()
    s.sendall(signed_head("PUT", "/bkt/badchunk.bin", None, "UNSIGNED-PAYLOAD", signed_extra={"transfer-encoding": "chunked"}) +
              b"5\r\nhello\r\nzz\r\n")
    assert Reader(s).closed()
    s.close()
    wait_until(lambda: request("HEAD", "/bkt/badchunk.bin")[0] == 404, what="nothing stored")
    assert edge.proc.poll() is None


def h2c(method, path, body=b""):
    """one request over HTTP/2 with prior knowledge (h2o's HTTP/2 serves it; bodies are buffered there)"""
    import h2.config
    import h2.connection
    import h2.events
    h = {"host": "127.0.0.1:%d" % PORT}
    sign(method, path, h, hashlib.sha256(body).hexdigest())
    s = connect()
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    hdrs = [(":method", method), (":path", path), (":scheme", "http"), (":authority", h.pop("host"))] + list(h.items())
    if body:
        hdrs.append(("content-length", str(len(body))))
    c.send_headers(1, hdrs, end_stream=not body)
    s.sendall(c.data_to_send())
    sent, status, data, done = 0, None, b"", False
    while not done:
        while body and sent < len(body) and c.local_flow_control_window(1) > 0:
            n = min(len(body) - sent, c.local_flow_control_window(1), c.max_outbound_frame_size)
            c.send_data(1, body[sent:sent + n], end_stream=sent + n == len(body))
            sent += n
        s.sendall(c.data_to_send())
        d = s.recv(1 << 16)
        if not d:
            break
        for ev in c.receive_data(d):
            if isinstance(ev, h2.events.ResponseReceived):
                status = int(dict(ev.headers)[b":status"])
            elif isinstance(ev, h2.events.DataReceived):
                data += ev.data
                c.acknowledge_received_data(ev.flow_controlled_length, 1)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                done = True
        s.sendall(c.data_to_send())
    s.close()
    return status, data


@test
def http2_bodies_buffered_up_to_64mb():
    data = os.urandom(2 * MB)
    assert h2c("PUT", "/bkt/h2.bin", data)[0] == 200
    assert h2c("GET", "/bkt/h2.bin") == (200, data)
    assert request("GET", "/bkt/h2.bin")[2] == data


@test
def kill_9_during_a_streamed_1gb_put():
    root = os.path.join(TMP, "killroot")
    e = Edge(config(root))
    others.append(e)
    port = e.ports["store"]
    assert request("PUT", "/kbk", port=port)[0] == 200
    assert request("PUT", "/kbk/obj", b"the old one", port=port)[0] == 200
    s = connect(port)
    s.sendall(signed_head("PUT", "/kbk/obj", 1024 * MB, port=port))
    block = b"z" * MB
    for _ in range(300):  # 300 MB in: the store is writing its temporary file
        s.sendall(block)
    e.kill()
    s.close()
    e2 = Edge(config(root))
    others.append(e2)
    port = e2.ports["store"]
    st, _, body = request("GET", "/kbk/obj", port=port)
    assert st == 200 and body == b"the old one", (st, body[:100])
    e2.stop()


@test
def clean_shutdown():
    for e in others:
        e.kill()
    assert edge.stop() == 0
    edge.assert_clean()
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    try:
        run()
    finally:
        for e in others + [edge]:
            e.kill()
