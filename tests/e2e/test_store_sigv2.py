# ctest-labels: notsan
# ctest-timeout: 900
# notsan: time budget: boto3, s3cmd, awscli and the JS SDK (the raw cases also run in test_store_protocol's ASan build)
"""End-to-end: AWS Signature Version 2 on the embedded store (issue 15 defect 3) and its keys (feature 8).

Each client's OWN V2 signing: Debian's boto3 (generate_presigned_url's default, and Config(signature_version='s3') for the
header form), s3cmd (signurl, and signature_v2 = True); SigV4 presigners keep working (awscli v2's `s3 presign`, the JS SDK's
@aws-sdk/s3-request-presigner, `rclone link`). Presigned URLs are fetched with curl and compared byte for byte; tampered, expired and
wrong-key URLs are refused. Raw requests check S3's error answers (RequestTimeTooSkewed, AccessDenied, SignatureDoesNotMatch
with the StringToSign). store.credentials as a list: a read-only key, a key limited to buckets, a secret read from a file.
"""
import base64
import email.utils
import hashlib
import hmac
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import edgetest  # noqa: E402
from edgetest import BIN, Edge, SLOW, SRC, curl_status, run, test  # noqa: E402

AK, SK = "SIGV2FULLKEY00000001", "sigv2fullsecret0000000000000000000000001"
RO_AK, RO_SK = "SIGV2READONLY0000002", "sigv2readonlysecret000000000000000000002"
TEAM_AK, TEAM_SK = "SIGV2TEAMKEY00000003", "sigv2teamsecret0000000000000000000000003"
TMP = tempfile.mkdtemp(prefix="e2e-store-sigv2-")
RO_FILE = os.path.join(TMP, "ro.secret")
with open(RO_FILE, "w") as f:
    f.write("\n  %s  \n" % RO_SK)
os.chmod(RO_FILE, 0o600)

CONFIG = """
threads: 2
listen:
  - {host: 127.0.0.1, port: 0}
origins:
  site: {type: s3, endpoint: embedded, bucket: v2site}
behaviors:
  - {path: "*", origin: site, cache: off}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  domain: s3.localhost
  credentials:
    - {access_key: %s, secret_key: %s}
    - {access_key: %s, secret_key_file: %s, read_only: true}
    - access_key: %s
      secret_key_env: SIGV2_TEAM_SECRET
      buckets: ["team-*", exact-one]
""" % (AK, SK, RO_AK, RO_FILE, TEAM_AK)
ENV = {"SIGV2_TEAM_SECRET": TEAM_SK}
edge = Edge(CONFIG, env=ENV)
PORT = edge.ports["store"]
HOST = "127.0.0.1:%d" % PORT
ENDPOINT = "http://" + HOST

BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_")) and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(BASE_ENV, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
DATA = os.urandom(3000) + b"end"
BIG = os.path.join(TMP, "big.bin")
with open(BIG, "wb") as f:
    f.write(os.urandom(6 * 1024 * 1024 + 17))


def sh(cmd, env=None, check=True, timeout=300):
    p = subprocess.run(cmd, env=env or BASE_ENV, cwd=TMP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout * SLOW)
    if check and p.returncode != 0:
        raise AssertionError("%s exited with %d\nstdout: %s\nstderr: %s" % (" ".join(cmd), p.returncode, p.stdout[-3000:],
                                                                             p.stderr[-3000:].decode("utf-8", "replace")))
    return p


# ---- a SigV2 signer of our own, for raw requests ------------------------------------------------------------------------------

def v2_sign(secret, sts):
    return base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()


def v2(method, path, headers=None, body=b"", ak=AK, sk=SK, date=None, sts_path=None):
    """a header-signed V2 request; returns (status, headers, body)"""
    h = {"Host": HOST}
    h.update(headers or {})
    if date is not False and "x-amz-date" not in h:
        h["Date"] = date or email.utils.formatdate(usegmt=True)
    amz = sorted((k.lower(), v.strip()) for k, v in h.items() if k.lower().startswith("x-amz-"))
    sts = "%s\n%s\n%s\n%s\n%s%s" % (method, h.get("Content-MD5", ""), h.get("Content-Type", ""),
                                    "" if "x-amz-date" in h else h.get("Date", ""),
                                    "".join("%s:%s\n" % kv for kv in amz), sts_path or path.split("?")[0])
    h["Authorization"] = "AWS %s:%s" % (ak, v2_sign(sk, sts))
    return raw(method, path, h, body)


def raw(method, path, headers, body=b""):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60 * SLOW)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out


def code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


def boto(ak=AK, sk=SK, token=None, **config):
    import boto3
    from botocore.config import Config
    return boto3.session.Session().client("s3", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=ak,
                                          aws_secret_access_key=sk, aws_session_token=token,
                                          config=Config(s3={"addressing_style": "path"}, **config))


def fetch(url):
    status, headers, body = curl_status("-s", url)
    return status, body


# ---- boto3 ----------------------------------------------------------------------------------------------------------------------

@test
def boto3_header_form_v2():
    """Config(signature_version='s3'): every call signed `AWS AKID:sig` - buckets, objects, sub-resources, multipart, copy"""
    import botocore
    c = boto(signature_version="s3")
    seen = []
    c.meta.events.register("before-send.s3", lambda request, **kw: seen.append(request.headers.get("Authorization", b"")))
    c.create_bucket(Bucket="v2b")
    c.create_bucket(Bucket="v2site")
    c.put_object(Bucket="v2b", Key="dir/a b+c=&.txt", Body=DATA, ContentType="text/x-test", Metadata={"color": "blue"},
                 ACL="private")
    o = c.get_object(Bucket="v2b", Key="dir/a b+c=&.txt", ResponseContentDisposition='attachment; filename="x.txt"')
    assert o["Body"].read() == DATA and o["ContentType"] == "text/x-test" and o["Metadata"] == {"color": "blue"}, o
    assert o["ContentDisposition"] == 'attachment; filename="x.txt"', o
    keys = [x["Key"] for x in c.list_objects_v2(Bucket="v2b")["Contents"]]
    assert keys == ["dir/a b+c=&.txt"], keys
    c.get_bucket_location(Bucket="v2b")  # ?location
    c.get_object_acl(Bucket="v2b", Key="dir/a b+c=&.txt")  # ?acl
    c.copy_object(Bucket="v2b", Key="copy.txt", CopySource={"Bucket": "v2b", "Key": "dir/a b+c=&.txt"})
    assert c.get_object(Bucket="v2b", Key="copy.txt")["Body"].read() == DATA
    # multipart: ?uploads, ?partNumber&uploadId, ?uploadId
    from boto3.s3.transfer import TransferConfig
    c.upload_file(BIG, "v2b", "big.bin", Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    head = c.head_object(Bucket="v2b", Key="big.bin")
    assert head["ETag"].endswith('-2"') and head["ContentLength"] == os.path.getsize(BIG), head
    got = c.get_object(Bucket="v2b", Key="big.bin")["Body"].read()
    assert got == open(BIG, "rb").read()
    c.put_object(Bucket="v2site", Key="index.html", Body=b"<p>v2 site</p>")
    c.delete_object(Bucket="v2b", Key="copy.txt")
    assert all(a.startswith(b"AWS " + AK.encode() + b":") for a in seen) and len(seen) >= 12, seen[:3]
    # a wrong secret and an unknown key are refused as S3 refuses them
    for ak, sk, want in ((AK, "x" * 40, "SignatureDoesNotMatch"), ("NOSUCHKEY00000000000", SK, "InvalidAccessKeyId")):
        try:
            boto(ak, sk, signature_version="s3").get_object(Bucket="v2b", Key="dir/a b+c=&.txt")
            raise AssertionError("accepted")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == want, e.response


@test
def boto3_presigned_default():
    """generate_presigned_url with boto3's defaults: which signature version it uses is recorded, and the URL works"""
    c = boto()
    url = c.generate_presigned_url("get_object", Params={"Bucket": "v2b", "Key": "dir/a b+c=&.txt"}, ExpiresIn=300)
    print("boto3 %s default presigned URL: %s" % (__import__("boto3").__version__, "SigV2" if "AWSAccessKeyId=" in url else "SigV4"))
    status, body = fetch(url)
    assert status == 200 and body == DATA, (status, body[:300])
    # explicitly V2, with a response override (a signed sub-resource) and a session token (botocore puts it in the query)
    for cl in (boto(signature_version="s3"), boto(token="FQoGZXIvYXdzE+/tok=", signature_version="s3")):
        url = cl.generate_presigned_url("get_object", Params={"Bucket": "v2b", "Key": "dir/a b+c=&.txt",
                                                              "ResponseContentType": "application/x-v2"}, ExpiresIn=300)
        assert "AWSAccessKeyId=" in url and "Signature=" in url and "Expires=" in url, url
        status, headers, body = curl_status("-s", url)
        assert status == 200 and body == DATA and headers.get("content-type") == "application/x-v2", (status, headers, body[:300])
    # tampered: the key, the expiry, the signature, the path
    q = urllib.parse.urlsplit(url)
    params = urllib.parse.parse_qs(q.query)
    sig = params["Signature"][0]
    bad_sig = url.replace(urllib.parse.quote(sig, safe=""), urllib.parse.quote(("A" if sig[0] != "A" else "B") + sig[1:], safe=""))
    assert bad_sig != url
    for bad in (bad_sig, url.replace("Expires=", "Expires=1"), url.replace("a%20b", "a%20c"),
                url.replace("application%2Fx-v2", "text%2Fhtml")):
        status, body = fetch(bad)
        assert status in (403, 404) and code(body) in ("SignatureDoesNotMatch", "AccessDenied"), (bad, status, body[:400])
    status, body = fetch(bad_sig)
    assert status == 403 and code(body) == "SignatureDoesNotMatch" and b"<StringToSign>GET\n\n\n" in body, body
    # expired: a URL whose Expires is in the past
    url = boto(signature_version="s3").generate_presigned_url("get_object", Params={"Bucket": "v2b", "Key": "dir/a b+c=&.txt"},
                                                              ExpiresIn=-60)
    status, body = fetch(url)
    assert status == 403 and code(body) == "AccessDenied" and b"Request has expired" in body and b"<Expires>" in body, body
    # a wrong secret
    url = boto(AK, "y" * 40, signature_version="s3").generate_presigned_url("get_object",
                                                                            Params={"Bucket": "v2b", "Key": "dir/a b+c=&.txt"})
    status, body = fetch(url)
    assert status == 403 and code(body) == "SignatureDoesNotMatch", body
    # a presigned PUT (header form Content-Type signed in the query by botocore)
    url = boto(signature_version="s3").generate_presigned_url("put_object", Params={"Bucket": "v2b", "Key": "up.txt"})
    status, _, body = curl_status("-s", "-X", "PUT", "--data-binary", "uploaded", "-H", "Content-Type:", url)
    assert status == 200, (status, body)
    assert boto().get_object(Bucket="v2b", Key="up.txt")["Body"].read() == b"uploaded"


# ---- s3cmd ----------------------------------------------------------------------------------------------------------------------

def s3cmd_cfg(ak=AK, sk=SK, v2=True):
    cfg = os.path.join(TMP, "s3cfg-%s-%d" % (ak, v2))
    with open(cfg, "w") as f:
        f.write("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = False\n"
                "signature_v2 = %s\nbucket_location = us-east-1\n" % (ak, sk, HOST, HOST, v2))
    return ["s3cmd", "-c", cfg, "--no-progress"]


@test
def s3cmd_signature_v2():
    s3c = s3cmd_cfg()
    sh(s3c + ["mb", "s3://s3c2"])
    sh(s3c + ["put", "--multipart-chunk-size-mb=5", BIG, "s3://s3c2/big.bin"])  # multipart, V2
    src = os.path.join(TMP, "small.txt")
    with open(src, "wb") as f:
        f.write(DATA)
    sh(s3c + ["put", src, "s3://s3c2/d/small file.txt"])
    out = sh(s3c + ["ls", "-r", "s3://s3c2"]).stdout.decode()
    assert "s3://s3c2/big.bin" in out and "s3://s3c2/d/small file.txt" in out, out
    dl = os.path.join(TMP, "dl.bin")
    sh(s3c + ["get", "--force", "s3://s3c2/big.bin", dl])
    assert open(dl, "rb").read() == open(BIG, "rb").read()
    out = sh(s3c + ["info", "s3://s3c2/d/small file.txt"]).stdout.decode()  # ?acl, ?policy, ?cors
    assert hashlib.md5(DATA).hexdigest() in out, out
    # s3cmd signurl: a V2 presigned URL
    url = sh(s3c + ["signurl", "s3://s3c2/d/small file.txt", "+300"]).stdout.decode().strip()
    assert "AWSAccessKeyId=" in url and "Signature=" in url, url
    status, body = fetch(url)
    assert status == 200 and body == DATA, (url, status, body[:300])
    status, body = fetch(url.replace("small%20file", "smal%20file"))
    assert status == 403 and code(body) == "SignatureDoesNotMatch", body
    # expired (an absolute epoch in the past)
    url = sh(s3c + ["signurl", "s3://s3c2/d/small file.txt", str(int(time.time()) - 30)]).stdout.decode().strip()
    status, body = fetch(url)
    assert status == 403 and b"Request has expired" in body, body
    sh(s3c + ["del", "s3://s3c2/d/small file.txt"])
    sh(s3c + ["rb", "--recursive", "--force", "s3://s3c2"])  # DeleteObjects (?delete) with Content-MD5
    assert "s3c2" not in sh(s3c + ["ls"]).stdout.decode()
    # a wrong secret
    p = sh(s3cmd_cfg(AK, "z" * 40) + ["ls"], check=False)
    assert p.returncode != 0 and b"SignatureDoesNotMatch" in p.stderr + p.stdout, p.stderr


# ---- SigV4 presigners keep working ----------------------------------------------------------------------------------------------

@test
def sigv4_presigners_still_work():
    url = sh(["/usr/bin/aws", "--endpoint-url", ENDPOINT, "s3", "presign", "s3://v2b/dir/a b+c=&.txt", "--expires-in", "60"],
             env=AWS_ENV).stdout.decode().strip()
    assert "X-Amz-Signature=" in url, url
    status, body = fetch(url)
    assert status == 200 and body == DATA, (status, body[:300])
    url = boto(signature_version="s3v4").generate_presigned_url("get_object", Params={"Bucket": "v2b", "Key": "dir/a b+c=&.txt"})
    assert "X-Amz-Signature=" in url
    assert fetch(url) == (200, DATA)
    edgetest.npm_ready("@aws-sdk/client-s3", "@aws-sdk/s3-request-presigner")
    script = os.path.join(TMP, "presign.mjs")
    with open(script, "w") as f:
        f.write("""
import { createRequire } from "module";
const require = createRequire(%s);
const { S3Client, GetObjectCommand } = require("@aws-sdk/client-s3");
const { getSignedUrl } = require("@aws-sdk/s3-request-presigner");
const c = new S3Client({ endpoint: %s, region: "us-east-1", forcePathStyle: true,
                         credentials: { accessKeyId: %s, secretAccessKey: %s } });
console.log(await getSignedUrl(c, new GetObjectCommand({ Bucket: "v2b", Key: "dir/a b+c=&.txt" }), { expiresIn: 60 }));
""" % (json.dumps(os.path.join(SRC, "tests", "package.json")), json.dumps(ENDPOINT), json.dumps(AK), json.dumps(SK)))
    url = sh(["node", script], env=dict(BASE_ENV, NODE_NO_WARNINGS="1")).stdout.decode().strip().splitlines()[-1]
    assert "X-Amz-Signature=" in url, url
    status, body = fetch(url)
    assert status == 200 and body == DATA, (url, status, body[:300])
    # rclone's own presign command (`rclone link`, SigV4)
    env = dict(BASE_ENV, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_S3T_TYPE="s3", RCLONE_CONFIG_S3T_PROVIDER="Other",
               RCLONE_CONFIG_S3T_ENDPOINT=ENDPOINT, RCLONE_CONFIG_S3T_ACCESS_KEY_ID=AK, RCLONE_CONFIG_S3T_SECRET_ACCESS_KEY=SK)
    env.pop("AWS_CA_BUNDLE", None)
    url = sh(["rclone", "--retries", "1", "link", "--expire", "1h", "s3t:v2b/dir/a b+c=&.txt"], env=env).stdout.decode().strip()
    assert "X-Amz-Signature=" in url, url
    status, body = fetch(url)
    assert status == 200 and body == DATA, (url, status, body[:300])
    sig = url.split("X-Amz-Signature=")[1][:64]
    status, _ = fetch(url.replace(sig, sig[:-1] + ("0" if sig[-1] != "0" else "1")))  # one hex digit changed
    assert status == 403, status


# ---- raw requests: S3's answers -------------------------------------------------------------------------------------------------

@test
def raw_v2_errors():
    status, _, body = v2("GET", "/v2b/dir/a%20b%2Bc%3D%26.txt")
    assert status == 200 and body == DATA, (status, body[:300])
    # x-amz-date instead of Date, with s3cmd's numeric zone
    now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    status, _, body = v2("GET", "/v2b/dir/a%20b%2Bc%3D%26.txt", {"x-amz-date": now}, date=False)
    assert status == 200 and body == DATA, (status, body[:300])
    # more than 15 minutes off, either way
    for off in (-16 * 60, 16 * 60):
        status, _, body = v2("GET", "/v2b", date=email.utils.formatdate(time.time() + off, usegmt=True))
        assert status == 403 and code(body) == "RequestTimeTooSkewed" and b"<ServerTime>" in body, body
    # no date at all, an unreadable one
    status, _, body = v2("GET", "/v2b", date=False)
    assert status == 403 and code(body) == "AccessDenied" and b"valid Date or x-amz-date" in body, body
    status, _, body = v2("GET", "/v2b", date="yesterday")
    assert status == 403 and code(body) == "AccessDenied", body
    # a malformed header, both mechanisms at once
    status, _, body = raw("GET", "/v2b", {"Authorization": "AWS " + AK, "Date": email.utils.formatdate(usegmt=True)})
    assert status == 400 and code(body) == "InvalidArgument" and b"AwsAccessKeyId:signature" in body, body
    status, _, body = raw("GET", "/v2b?AWSAccessKeyId=%s&Expires=9999999999&Signature=x" % AK, {"Authorization": "AWS a:b"})
    assert status == 400 and code(body) == "InvalidArgument", body
    # presigned without Expires; with a non-numeric one
    status, _, body = raw("GET", "/v2b?AWSAccessKeyId=%s&Signature=abc" % AK, {})
    assert status == 403 and code(body) == "AccessDenied" and b"Signature, Expires and AWSAccessKeyId" in body, body
    status, _, body = raw("GET", "/v2b?AWSAccessKeyId=%s&Signature=abc&Expires=soon" % AK, {})
    assert status == 403 and code(body) == "AccessDenied", body
    # a wrong signature: S3's details (the string to sign as text and bytes)
    status, _, body = v2("GET", "/v2b", sk="w" * 40)
    assert status == 403 and code(body) == "SignatureDoesNotMatch", body
    assert b"<StringToSign>GET\n\n\n" in body and b"<StringToSignBytes>47 45 54 0a" in body and b"<SignatureProvided>" in body, body
    # a signed header changed in transit
    h = {"x-amz-meta-a": "1"}
    status, _, body = v2("PUT", "/v2b/t.txt", h, body=b"x")
    assert status == 200, body
    sts = "PUT\n\n\n%s\nx-amz-meta-a:1\n/v2b/t.txt" % email.utils.formatdate(usegmt=True)
    status, _, body = raw("PUT", "/v2b/t.txt", {"Host": HOST, "Date": sts.split("\n")[3], "x-amz-meta-a": "2",
                                                 "Authorization": "AWS %s:%s" % (AK, v2_sign(SK, sts))}, b"x")
    assert status == 403 and code(body) == "SignatureDoesNotMatch", body
    # Content-MD5 is signed, and checked against the body
    md5 = base64.b64encode(hashlib.md5(b"hello").digest()).decode()
    status, _, body = v2("PUT", "/v2b/md5.txt", {"Content-MD5": md5}, body=b"hellO")
    assert status == 400 and code(body) == "BadDigest", body
    status, _, body = v2("PUT", "/v2b/md5.txt", {"Content-MD5": md5}, body=b"hello")
    assert status == 200, body
    # virtual-hosted: the bucket is part of the canonical resource
    status, _, body = v2("GET", "/dir/a%20b%2Bc%3D%26.txt", {"Host": "v2b.s3.localhost:%d" % PORT},
                         sts_path="/v2b/dir/a%20b%2Bc%3D%26.txt")
    assert status == 200 and body == DATA, (status, body[:300])


# ---- several keys -----------------------------------------------------------------------------------------------------------------

@test
def read_only_key():
    c = boto(RO_AK, RO_SK)
    assert c.get_object(Bucket="v2b", Key="dir/a b+c=&.txt")["Body"].read() == DATA
    assert {"v2b", "v2site"} <= {b["Name"] for b in c.list_buckets()["Buckets"]}
    import botocore
    for call in (lambda: c.put_object(Bucket="v2b", Key="ro.txt", Body=b"x"),
                 lambda: c.delete_object(Bucket="v2b", Key="dir/a b+c=&.txt"),
                 lambda: c.create_multipart_upload(Bucket="v2b", Key="ro.bin"),
                 lambda: c.create_bucket(Bucket="ro-new"),
                 lambda: c.delete_bucket(Bucket="v2b"),
                 lambda: c.copy_object(Bucket="v2b", Key="ro2.txt", CopySource="v2b/dir/a b+c=&.txt"),
                 lambda: c.delete_objects(Bucket="v2b", Delete={"Objects": [{"Key": "dir/a b+c=&.txt"}]}),
                 lambda: boto(RO_AK, RO_SK, signature_version="s3").put_object(Bucket="v2b", Key="ro.txt", Body=b"x")):
        try:
            call()
            raise AssertionError("a read-only key wrote")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied", e.response
    # a presigned PUT made with it is refused too; the object is still there
    url = boto(RO_AK, RO_SK, signature_version="s3").generate_presigned_url("put_object", Params={"Bucket": "v2b", "Key": "ro.txt"})
    status, _, body = curl_status("-s", "-X", "PUT", "--data-binary", "x", "-H", "Content-Type:", url)
    assert status == 403 and code(body) == "AccessDenied" and b"read-only" in body, (status, body)
    assert boto().get_object(Bucket="v2b", Key="dir/a b+c=&.txt")["Body"].read() == DATA
    assert "Contents" not in boto().list_objects_v2(Bucket="v2b", Prefix="ro")


@test
def bucket_limited_key():
    import botocore
    c = boto(TEAM_AK, TEAM_SK)
    c.create_bucket(Bucket="team-a")
    c.create_bucket(Bucket="exact-one")
    c.put_object(Bucket="team-a", Key="k", Body=b"team")
    assert c.get_object(Bucket="team-a", Key="k")["Body"].read() == b"team"
    names = sorted(b["Name"] for b in c.list_buckets()["Buckets"])
    assert names == ["exact-one", "team-a"], names
    assert {"team-a", "v2b"} <= {b["Name"] for b in boto().list_buckets()["Buckets"]}
    for call in (lambda: c.get_object(Bucket="v2b", Key="dir/a b+c=&.txt"),
                 lambda: c.list_objects_v2(Bucket="v2b"),
                 lambda: c.create_bucket(Bucket="other-team"),
                 lambda: c.create_bucket(Bucket="exact-one-more"),
                 lambda: c.copy_object(Bucket="team-a", Key="stolen", CopySource={"Bucket": "v2b", "Key": "dir/a b+c=&.txt"})):
        try:
            call()
            raise AssertionError("a key limited to buckets reached another")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied", e.response
    url = boto(TEAM_AK, TEAM_SK, signature_version="s3").generate_presigned_url(
        "get_object", Params={"Bucket": "v2b", "Key": "dir/a b+c=&.txt"})
    status, body = fetch(url)
    assert status == 403 and code(body) == "AccessDenied", body
    c.delete_object(Bucket="team-a", Key="k")
    c.delete_bucket(Bucket="team-a")


@test
def embedded_origin_and_dump():
    """the process's own requests (an embedded S3 origin) sign with the full key; -T names the secret's file, never a secret"""
    status, _, body = curl_status("-s", edge.url("/index.html"))
    assert status == 200 and body == b"<p>v2 site</p>", (status, body)
    p = subprocess.run([BIN, "-T", "-c", edge.conf_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=edge.dir,
                       env=dict(os.environ, **ENV), timeout=60)
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr
    for secret in (SK, RO_SK, TEAM_SK):
        assert secret not in out, out
    assert "secret_key_file: \"%s\"" % RO_FILE in out and "secret_key_env: \"SIGV2_TEAM_SECRET\"" in out, out
    assert "read_only: true" in out and 'buckets: ["team-*", "exact-one"]' in out, out
    # the dump loads again (with the redacted secret replaced: -T never prints it)
    dumped = os.path.join(TMP, "dumped.yaml")
    with open(dumped, "w") as f:
        f.write(out.replace('secret_key: "%s"' % "<redacted>", "secret_key: %s" % SK))
    m = re.search(r'secret_key: "([^"]*)"\s+# given in the file', out)
    assert m, out
    with open(dumped, "w") as f:
        f.write(out.replace('"%s"' % m.group(1), SK, 1))
    p = subprocess.run([BIN, "-t", "-c", dumped], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=edge.dir,
                       env=dict(os.environ, **ENV), timeout=60)
    assert p.returncode == 0, p.stderr


@test
def config_errors():
    cases = [
        ("[]", "store.credentials: an empty list"),
        ("[{access_key: A1, secret_key: s}, {access_key: A1, secret_key: t}]", "the access key A1 is already given"),
        ("[{access_key: A1}]", "needs access_key (or access_key_env) and one of secret_key"),
        ("[{access_key: A1, secret_key: s, buckets: [Upper]}]", "is neither a bucket name nor a glob"),
        ("[{access_key: A1, secret_key: s, buckets: []}]", "an empty list would allow no bucket"),
        ("[{access_key: 'A:1', secret_key: s}]", "has a character an Authorization header cannot carry"),
        ("[{access_key: A1, secret_key_file: /nonexistent/x}]", "cannot read \"/nonexistent/x\""),
        ("[{access_key: A1, secret_key: s, secret_key_file: %s}]" % RO_FILE, "give one of secret_key, secret_key_env and"),
        ("[{access_key: A1, secret_key: s, read_only: maybe}]", "read_only"),
        ("{access_key: A1, secret_key: s, session_token: t}", "unknown key"),
    ]
    for value, msg in cases:
        path = os.path.join(TMP, "bad.yaml")
        with open(path, "w") as f:
            f.write("listen: [{host: 127.0.0.1, port: 0}]\norigins: {w: {type: http, url: \"http://127.0.0.1:9\"}}\n"
                    "behaviors: [{path: \"*\", origin: w}]\nstore:\n  listen: {host: 127.0.0.1, port: 0}\n"
                    "  credentials: %s\n" % value)
        p = subprocess.run([BIN, "-t", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        err = p.stderr.decode()
        assert p.returncode != 0 and msg in err and re.search(r"bad\.yaml:\d+: store\.credentials", err), (value, err)


@test
def clean_shutdown():
    edge.stop()
    edge.assert_clean()


if __name__ == "__main__":
    run()
