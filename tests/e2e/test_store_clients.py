# ctest-labels: notsan
# notsan: time budget: awscli, s3cmd, rclone and the JS SDK (test_store_threads covers the store's threads)
"""End-to-end: the embedded S3 store driven by real clients - awscli v2, s3cmd, rclone and the AWS JS SDK (S3.md section 6).

Needs /usr/bin/aws (Debian's awscli 2), s3cmd, rclone, node and npm (scripts/deps.sh test). The JS SDK is installed from
tests/package-lock.json with `npm ci` (once; reused while the lock file is unchanged).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import edgetest  # noqa: E402
from edgetest import Edge, SLOW, SRC, curl, curl_status, run, test  # noqa: E402

AK, SK = "CLIENTSTOREKEY000001", "clientstoresecret00000000000000000000001"
TMP = tempfile.mkdtemp(prefix="e2e-store-clients-")

edge = Edge("""
threads: 2
listen:
  - {host: 127.0.0.1, port: 0}
origins:
  web: {type: http, url: "http://127.0.0.1:9"}
behaviors:
  - {path: "*", origin: web, cache: off}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  domain: s3.localhost
  credentials: {access_key: %s, secret_key: %s}
""" % (AK, SK))
PORT = edge.ports["store"]
ENDPOINT = "http://127.0.0.1:%d" % PORT

SMALL = os.path.join(TMP, "s.bin")
BIG = os.path.join(TMP, "b.bin")
with open(SMALL, "wb") as f:
    f.write(os.urandom(1000))
with open(BIG, "wb") as f:
    f.write(os.urandom(20000000))

# a clean environment for every client: only what the test sets (no ~/.aws, no proxy, no CA bundle quirks of this image)
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_")) and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(BASE_ENV, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")


def sh(cmd, env=None, check=True, timeout=300, input=None, cwd=None):
    p = subprocess.run(cmd, env=env or BASE_ENV, cwd=cwd or TMP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout * SLOW,
                       input=input)
    if check and p.returncode != 0:
        raise AssertionError("%s exited with %d\nstdout: %s\nstderr: %s" % (" ".join(cmd), p.returncode, p.stdout[-3000:],
                                                                             p.stderr[-3000:].decode("utf-8", "replace")))
    return p


def aws(*args, check=True, env=None):
    # always Debian's awscli v2 by its absolute path (the `aws` first on PATH may be another version)
    return sh(["/usr/bin/aws", "--endpoint-url", ENDPOINT, "--no-cli-pager"] + list(args), env=env or AWS_ENV, check=check)


def same_file(a, b):
    with open(a, "rb") as x, open(b, "rb") as y:
        return hashlib.sha256(x.read()).digest() == hashlib.sha256(y.read()).digest()


@test
def awscli_create_list_put_get():
    aws("s3", "mb", "s3://acc1")
    assert b"acc1" in aws("s3", "ls").stdout
    aws("s3", "cp", SMALL, "s3://acc1/d/s.bin", "--only-show-errors")  # Content-MD5 and Expect: 100-continue
    out = aws("s3", "cp", "s3://acc1/d/s.bin", "-").stdout
    with open(SMALL, "rb") as f:
        assert out == f.read()


@test
def awscli_multipart_and_ranged_download():
    aws("s3", "cp", BIG, "s3://acc1/b.bin", "--only-show-errors")  # 8 MiB parts: 3 parts
    dl = os.path.join(TMP, "b.dl")
    aws("s3", "cp", "s3://acc1/b.bin", dl, "--only-show-errors")  # ranged GETs of 8 MiB
    assert same_file(BIG, dl)
    etag = json.loads(aws("s3api", "head-object", "--bucket", "acc1", "--key", "b.bin", "--query", "ETag").stdout)
    assert etag.endswith('-3"'), etag


@test
def awscli_range():
    out = aws("s3api", "get-object", "--bucket", "acc1", "--key", "d/s.bin", "--range", "bytes=0-9", os.path.join(TMP, "r.out"),
              "--query", "ContentRange").stdout
    assert json.loads(out) == "bytes 0-9/1000", out
    with open(SMALL, "rb") as a, open(os.path.join(TMP, "r.out"), "rb") as b:
        assert a.read()[:10] == b.read()
    p = aws("s3api", "get-object", "--bucket", "acc1", "--key", "d/s.bin", "--range", "bytes=5000-", os.path.join(TMP, "r2.out"),
            check=False)
    assert p.returncode != 0 and b"InvalidRange" in p.stderr, p.stderr


@test
def awscli_conditionals():
    etag = json.loads(aws("s3api", "head-object", "--bucket", "acc1", "--key", "d/s.bin", "--query", "ETag").stdout)
    p = aws("s3api", "get-object", "--bucket", "acc1", "--key", "d/s.bin", "--if-none-match", etag, os.path.join(TMP, "c.out"),
            check=False)
    assert p.returncode != 0 and b"304" in p.stderr, p.stderr
    p = aws("s3api", "get-object", "--bucket", "acc1", "--key", "d/s.bin", "--if-match", '"x"', os.path.join(TMP, "c.out"),
            check=False)
    assert p.returncode != 0 and b"PreconditionFailed" in p.stderr, p.stderr


@test
def awscli_v2_paging_and_url_encoding():
    aws("s3", "cp", SMALL, "s3://acc1/k/a b+c%.txt", "--only-show-errors")
    out = aws("s3", "ls", "s3://acc1/k/").stdout.decode()
    assert "a b+c%.txt" in out, out
    keys, token = [], None
    while True:
        args = ["s3api", "list-objects-v2", "--bucket", "acc1", "--max-keys", "1", "--no-paginate"]
        if token:
            args += ["--continuation-token", token]
        page = json.loads(aws(*args).stdout or b"{}")
        keys += [c["Key"] for c in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated"):
            break
        assert token
    assert keys == ["b.bin", "d/s.bin", "k/a b+c%.txt"], keys


@test
def awscli_errors():
    env = dict(AWS_ENV, AWS_SECRET_ACCESS_KEY="x")
    p = aws("s3", "ls", "s3://acc1", env=env, check=False)
    assert p.returncode != 0 and b"SignatureDoesNotMatch" in p.stderr and b"NoneType" not in p.stderr, p.stderr
    p = aws("s3api", "get-object", "--bucket", "acc1", "--key", "nope", os.path.join(TMP, "o"), check=False)
    assert b"NoSuchKey" in p.stderr, p.stderr
    p = aws("s3api", "get-object", "--bucket", "nobkt", "--key", "nope", os.path.join(TMP, "o"), check=False)
    assert b"NoSuchBucket" in p.stderr, p.stderr
    # anonymous access
    status, headers, body = curl_status("-s", ENDPOINT + "/acc1/d/s.bin")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body and headers.get("x-amz-request-id"), (status, headers, body)


@test
def awscli_presign():
    url = aws("s3", "presign", "s3://acc1/d/s.bin", "--expires-in", "60").stdout.decode().strip()
    rc, out, err = curl("-sf", url)
    with open(SMALL, "rb") as f:
        assert rc == 0 and out == f.read(), err
    i = url.index("X-Amz-Signature=") + 20
    bad = url[:i] + ("0" if url[i] != "0" else "1") + url[i + 1:]
    status, _, body = curl_status("-s", bad)
    assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body)


@test
def awscli_copy_and_delete():
    aws("s3", "cp", "s3://acc1/d/s.bin", "s3://acc1/d/c.bin", "--only-show-errors")  # CopyObject
    assert aws("s3", "cp", "s3://acc1/d/c.bin", "-").stdout == open(SMALL, "rb").read()
    aws("s3", "cp", "s3://acc1/b.bin", "s3://acc1/b2.bin", "--only-show-errors")  # copy of a multipart object
    dl = os.path.join(TMP, "b2.dl")
    aws("s3", "cp", "s3://acc1/b2.bin", dl, "--only-show-errors")
    assert same_file(BIG, dl)
    aws("s3", "rm", "--recursive", "s3://acc1", "--only-show-errors")
    aws("s3", "rb", "s3://acc1")
    assert b"acc1" not in aws("s3", "ls").stdout


@test
def s3cmd_round_trip():
    cfg = os.path.join(TMP, "s3cfg")
    with open(cfg, "w") as f:
        f.write("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = 127.0.0.1:%d\nhost_bucket = 127.0.0.1:%d\n"
                "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n" % (AK, SK, PORT, PORT))
    s3c = ["s3cmd", "-c", cfg, "--no-progress"]
    sh(s3c + ["mb", "s3://s3c"])
    sh(s3c + ["put", BIG, "s3://s3c/b.bin"])  # > 15 MiB: multipart in 15 MiB parts
    sh(s3c + ["put", SMALL, "s3://s3c/dir/s.bin"])
    out = sh(s3c + ["ls", "s3://s3c"]).stdout.decode()  # V1 listing with a delimiter
    assert "s3://s3c/b.bin" in out and "DIR" in out and "s3://s3c/dir/" in out, out
    dl = os.path.join(TMP, "b.s3cmd")
    sh(s3c + ["get", "--force", "s3://s3c/b.bin", dl])  # s3cmd checks the ETag against the MD5 when it has no '-'
    assert same_file(BIG, dl)
    sh(s3c + ["get", "--force", "s3://s3c/dir/s.bin", dl])
    assert same_file(SMALL, dl)
    out = sh(s3c + ["info", "s3://s3c/dir/s.bin"]).stdout.decode()  # asks ?policy, ?cors, ?acl
    assert "MD5 sum:   " + hashlib.md5(open(SMALL, "rb").read()).hexdigest() in out, out
    sh(s3c + ["info", "s3://s3c"])
    sh(s3c + ["del", "s3://s3c/dir/s.bin"])
    sh(s3c + ["rb", "--recursive", "--force", "s3://s3c"])  # DeleteObjects with Content-MD5
    assert "s3c" not in sh(s3c + ["ls"]).stdout.decode()


@test
def rclone_round_trip():
    up = os.path.join(TMP, "up")
    os.makedirs(up, exist_ok=True)
    shutil.copy(SMALL, up)
    shutil.copy(BIG, up)
    env = dict(BASE_ENV, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_S3T_TYPE="s3", RCLONE_CONFIG_S3T_PROVIDER="Other",
               RCLONE_CONFIG_S3T_ENDPOINT=ENDPOINT, RCLONE_CONFIG_S3T_ACCESS_KEY_ID=AK, RCLONE_CONFIG_S3T_SECRET_ACCESS_KEY=SK)
    env.pop("AWS_CA_BUNDLE", None)  # this image sets one that rclone cannot load; a fresh Debian has none
    rc = ["rclone", "--retries", "1"]
    # UNSIGNED-PAYLOAD with Content-MD5; 5 MiB multipart with Expect: 100-Continue
    sh(rc + ["copy", up, "s3t:rcl/up", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"], env=env)
    sh(rc + ["check", up, "s3t:rcl/up"], env=env)
    out = sh(rc + ["cat", "s3t:rcl/up/s.bin", "--offset", "10", "--count", "5"], env=env).stdout
    assert out == open(SMALL, "rb").read()[10:15], out
    out = sh(rc + ["lsl", "s3t:rcl"], env=env).stdout.decode()
    assert "20000000" in out and "up/s.bin" in out, out
    sh(rc + ["purge", "s3t:rcl"], env=env)


def npm_ready():
    return edgetest.npm_ready("@aws-sdk/client-s3")


@test
def js_sdk_default_settings():
    npm_ready()
    script = os.path.join(SRC, "tests", "e2e", "lib", "store_js_sdk.mjs")
    p = sh(["node", script, str(PORT), "s3.localhost", AK, SK, SMALL, BIG], env=dict(BASE_ENV, NODE_NO_WARNINGS="1"), timeout=300)
    res = json.loads(p.stdout.decode().strip().splitlines()[-1])
    assert "error" not in res, res
    for style in ("path", "virtual"):
        r = res[style]
        # a stream body is STREAMING-UNSIGNED-PAYLOAD-TRAILER: read back byte-identical (1000, not 1043 bytes)
        assert r["stream_len"] == 1000 and r["stream_same"], (style, r)
        assert r["head_type"] == "text/plain" and r["head_meta"] == {"color": "blue"} and r["head_len"] == 12, (style, r)
        assert r["big_same"] and r["range_same"] and r["upload_etag"].endswith('-4"'), (style, r)
        assert r["list_keys"] == ["big.bin", "stream.bin"] and r["list_prefixes"] == ["dir/"], (style, r)
        assert r["deleted"] == 3, (style, r)


@test
def clean_shutdown():
    assert edge.stop() == 0
    edge.assert_clean()


if __name__ == "__main__":
    try:
        run()
    finally:
        edge.kill()
        shutil.rmtree(TMP, ignore_errors=True)
