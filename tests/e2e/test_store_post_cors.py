# ctest-labels: notsan
# notsan: time budget: boto3, curl, awscli and the JS SDK against the store (test_store_threads covers the store's threads)
# ctest-timeout: 1800
"""End-to-end: browser uploads into the embedded S3 store - POST Object (form uploads signed with a POST policy) and bucket CORS.

POST policies are made by Debian's boto3 (generate_presigned_post, SigV2 and SigV4) and the JS SDK (@aws-sdk/s3-presigned-post),
posted with curl -F and with fetch + FormData; each policy condition is violated in turn and must be refused with S3's error,
storing nothing. Crafted multipart bodies (signed here with hmac) test the form parser's limits at the wire level. CORS rules are
set with /usr/bin/aws (put/get/delete-bucket-cors) and checked with curl preflights and actual requests, directly and through
the caching proxy (Vary: Origin must keep one viewer's Access-Control-Allow-Origin from another).
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import edgetest  # noqa: E402
from edgetest import Edge, SLOW, curl_status, run, test  # noqa: E402

AK, SK = "POSTCORSSTOREKEY0001", "postcorsstoresecret000000000000000000001"
TMP = tempfile.mkdtemp(prefix="e2e-store-post-cors-")
CONFIG = """
threads: 2
listen:
  - {host: 127.0.0.1, port: 0}
origins:
  web: {type: http, url: "http://127.0.0.1:9"}
  media: {type: s3, endpoint: embedded, bucket: corsproxied, region: us-east-1}
behaviors:
  - {path: "/fwd/*", origin: media, origin_request: {headers: [origin]}}
  - {path: "/plain/*", origin: media}
  - {path: "*", origin: web, cache: off}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  domain: s3.localhost
  max_put_size: 4MB
  credentials: {access_key: %s, secret_key: %s}
""" % (AK, SK)

edge = Edge(CONFIG)
PORT = edge.ports["store"]
ENDPOINT = "http://127.0.0.1:%d" % PORT
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(BASE_ENV, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")

import boto3  # noqa: E402  (Debian's python3-boto3)
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402


def client(sig="s3v4", port=None):
    return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % (port or PORT), aws_access_key_id=AK, aws_secret_access_key=SK,
                        region_name="us-east-1", config=Config(signature_version=sig, s3={"addressing_style": "path"}))


S3 = client()


def aws(*args, check=True):
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", ENDPOINT] + list(args), env=AWS_ENV, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120 * SLOW)
    if check and p.returncode != 0:
        raise AssertionError("aws %s: %d %s" % (" ".join(args), p.returncode, p.stderr.decode()))
    return p


def signed(method, path, body=b"", headers=None):
    """a SigV4-signed request (botocore's signer) sent with http.client: every header is the test's"""
    req = AWSRequest(method=method, url=ENDPOINT + path, data=body, headers=dict(headers or {}))
    req.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60 * SLOW)
    c.request(method, path, body=body, headers=dict(req.headers.items()))
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def error_code(body):
    return ET.fromstring(body).find("Code").text


def keys(bucket, prefix=""):
    return sorted(o["Key"] for o in S3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def curl_form(url, fields, file_path=None, file_name=None, extra=()):
    args = []
    for k, v in fields.items():
        args += ["--form-string", "%s=%s" % (k, v)]
    args += list(extra)
    if file_path is not None:
        args += ["-F", "file=@%s%s" % (file_path, ";filename=%s" % file_name if file_name else "")]
    return curl_status(*args, url)


def write(name, data):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


S3.create_bucket(Bucket="uploads")


# ---- POST Object with real clients ----------------------------------------------------------------------------------------

@test
def boto3_presigned_post_with_curl_sigv2_and_sigv4():
    for sig in ("s3", "s3v4"):  # boto3 1.26's default for us-east-1 is SigV2 (AWSAccessKeyId, signature)
        c = client(sig)
        p = c.generate_presigned_post("uploads", "in/%s/${filename}" % sig, Fields={"Content-Type": "text/plain",
                                                                                    "x-amz-meta-who": "boto3"},
                                      Conditions=[["starts-with", "$key", "in/%s/" % sig], ["content-length-range", 1, 1000],
                                                  {"Content-Type": "text/plain"}, {"x-amz-meta-who": "boto3"}], ExpiresIn=600)
        assert ("x-amz-signature" in p["fields"]) == (sig == "s3v4"), p
        path = write("hello-%s.txt" % sig, b"hello from a form, " + sig.encode())
        status, h, body = curl_form(p["url"], p["fields"], path)
        assert status == 204, (sig, status, body)
        assert h["etag"] == '"%s"' % hashlib.md5(b"hello from a form, " + sig.encode()).hexdigest(), h
        key = "in/%s/hello-%s.txt" % (sig, sig)
        assert h["location"].endswith("/uploads/" + key), h
        o = S3.get_object(Bucket="uploads", Key=key)
        assert o["Body"].read() == b"hello from a form, " + sig.encode()
        assert o["ContentType"] == "text/plain" and o["Metadata"] == {"who": "boto3"}, o


@test
def js_sdk_create_presigned_post_with_fetch_formdata():
    tests = edgetest.npm_ready("@aws-sdk/s3-presigned-post", "@aws-sdk/client-s3")
    script = os.path.join(os.path.dirname(__file__), "lib", "store_presigned_post.mjs")
    p = subprocess.run(["node", script, str(PORT), AK, SK, "uploads", "js/${filename}", "note.txt", "from the JS SDK"],
                       cwd=tests, env=dict(BASE_ENV, NODE_NO_WARNINGS="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120 * SLOW)
    assert p.returncode == 0, p.stderr.decode()
    r = json.loads(p.stdout)
    assert r["fields"]["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256", r["fields"]
    assert r["status"] == 201, r
    doc = ET.fromstring(r["body"])
    assert doc.tag == "PostResponse" and doc.find("Key").text == "js/note.txt" and doc.find("Bucket").text == "uploads", r
    assert doc.find("ETag").text == '"%s"' % hashlib.md5(b"from the JS SDK").hexdigest(), r
    assert S3.get_object(Bucket="uploads", Key="js/note.txt")["Body"].read() == b"from the JS SDK"


# ---- every condition violated in turn: refused, nothing stored ------------------------------------------------------------

def v4_post(key="cond/${filename}", conditions=None, fields=None, expires=600):
    conds = [["starts-with", "$key", "cond/"], ["content-length-range", 10, 100]] if conditions is None else conditions
    return S3.generate_presigned_post("uploads", key, Fields=fields, Conditions=conds, ExpiresIn=expires)


@test
def each_violated_condition_is_refused_and_nothing_is_stored():
    ok = write("ok.txt", b"x" * 50)
    small = write("small.txt", b"x" * 9)
    big = write("big.txt", b"x" * 101)
    # the baseline works
    p = v4_post()
    status, _, body = curl_form(p["url"], p["fields"], ok)
    assert status == 204, body
    assert keys("uploads", "cond/") == ["cond/ok.txt"]

    def refused(fields, path, want_status, want_code, want_msg=None, url=None):
        status, _, body = curl_form(url or p["url"], fields, path)
        assert status == want_status and error_code(body) == want_code, (fields, status, body)
        if want_msg:
            assert want_msg in ET.fromstring(body).find("Message").text, body
        assert keys("uploads", "cond/") == ["cond/ok.txt"], keys("uploads", "cond/")
        assert keys("uploads", "other/") == []

    # the key outside the starts-with prefix
    refused(dict(p["fields"], key="other/${filename}"), ok, 403, "AccessDenied", "Policy Condition failed")
    # content-length-range: one byte over, one byte under
    refused(p["fields"], big, 400, "EntityTooLarge")
    refused(p["fields"], small, 400, "EntityTooSmall")
    # an expired policy
    pe = v4_post(expires=-60)
    refused(pe["fields"], ok, 403, "AccessDenied", "Policy expired")
    # a field no condition covers
    refused(dict(p["fields"], **{"x-amz-meta-extra": "1"}), ok, 403, "AccessDenied", "Extra input fields: x-amz-meta-extra")
    # a bad signature, and a policy changed under a good one
    sig = p["fields"]["x-amz-signature"]
    refused(dict(p["fields"], **{"x-amz-signature": ("0" if sig[0] != "0" else "1") + sig[1:]}), ok, 403, "SignatureDoesNotMatch")
    doc = json.loads(base64.b64decode(p["fields"]["policy"]))
    doc["conditions"][0] = ["starts-with", "$key", ""]
    refused(dict(p["fields"], policy=base64.b64encode(json.dumps(doc).encode()).decode(), key="other/x"), ok, 403,
            "SignatureDoesNotMatch")
    # an eq condition: Content-Type must be exactly text/plain
    pq = v4_post(conditions=[["starts-with", "$key", "cond/"], {"Content-Type": "text/plain"}], fields={"Content-Type": "text/plain"})
    refused(dict(pq["fields"], **{"Content-Type": "text/html"}), ok, 403, "AccessDenied", "Policy Condition failed")
    # the bucket condition: a policy for another bucket
    pb = S3.generate_presigned_post("otherbucket", "cond/${filename}", ExpiresIn=600)
    refused(pb["fields"], ok, 403, "AccessDenied", '"bucket"')
    # unsigned, anonymous form: refused (the store has no public buckets)
    refused({"key": "cond/anon.txt"}, ok, 403, "AccessDenied")
    # a wrong access key
    cred = p["fields"]["x-amz-credential"].split("/")
    refused(dict(p["fields"], **{"x-amz-credential": "/".join(["NOSUCHKEY"] + cred[1:])}), ok, 403, "InvalidAccessKeyId")
    # no key field, no file
    f = dict(p["fields"])
    del f["key"]
    refused(f, ok, 400, "InvalidArgument", "field named 'key'")
    refused(p["fields"], None, 400, "InvalidArgument", "exactly one file")
    # not a form at all
    status, _, body = signed("POST", "/uploads", b"x", {"Content-Type": "text/plain"})
    assert status == 412 and error_code(body) == "PreconditionFailed", body
    # a missing bucket
    refused(p["fields"], ok, 404, "NoSuchBucket", url=ENDPOINT + "/nosuchbucket")


@test
def starts_with_empty_prefix_redirect_and_status_201():
    p = v4_post(key="any/${filename}", conditions=[["starts-with", "$key", ""], ["starts-with", "$success_action_redirect", ""],
                                                   ["starts-with", "$Content-Type", ""]],
                fields={"success_action_redirect": "https://app.example/done?x=1"})
    path = write("photo one.png", b"\x89PNG....")
    # the file part's own type is kept when no Content-Type field is given
    status, h, body = curl_form(p["url"], p["fields"], path, extra=("-F", "x-ignore-anything=1"))
    assert status == 303, (status, body)
    loc = h["location"]
    assert loc.startswith("https://app.example/done?x=1&bucket=uploads&key=any%2Fphoto%20one.png&etag=%22"), loc
    o = S3.head_object(Bucket="uploads", Key="any/photo one.png")
    assert o["ContentType"] == "image/png", o
    p2 = v4_post(key="any/s201.txt", conditions=[{"key": "any/s201.txt"}, {"success_action_status": "201"}],
                 fields={"success_action_status": "201"})
    status, h, body = curl_form(p2["url"], p2["fields"], write("s201.txt", b"created"))
    assert status == 201 and ET.fromstring(body).find("Key").text == "any/s201.txt", body
    p3 = v4_post(key="any/s200.txt", conditions=[{"key": "any/s200.txt"}, ["eq", "$success_action_status", "200"]],
                 fields={"success_action_status": "200"})
    status, h, body = curl_form(p3["url"], p3["fields"], write("s200.txt", b"ok"))
    assert status == 200 and body == b"", (status, body)


# ---- the form parser at the wire level ------------------------------------------------------------------------------------

def policy_fields(key_prefix="raw/", extra_conditions=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    date, amz_date = now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")
    cred = "%s/%s/us-east-1/s3/aws4_request" % (AK, date)
    exp = (now + datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    doc = {"expiration": exp, "conditions": [{"bucket": "uploads"}, ["starts-with", "$key", key_prefix],
                                             {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": cred},
                                             {"x-amz-date": amz_date}] + list(extra_conditions)}
    policy = base64.b64encode(json.dumps(doc).encode()).decode()
    k = hmac.new(("AWS4" + SK).encode(), date.encode(), hashlib.sha256).digest()
    for part in ("us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, policy.encode(), hashlib.sha256).hexdigest()
    return [("key", "raw/${filename}"), ("x-amz-algorithm", "AWS4-HMAC-SHA256"), ("x-amz-credential", cred),
            ("x-amz-date", amz_date), ("policy", policy), ("x-amz-signature", sig)]


def form_body(boundary, fields, filename="f.bin", data=b"data", close=True, preamble=b"", after_file=()):
    out = [preamble]
    for k, v in fields:
        out.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary, k.encode(), v.encode()))
    out.append(b"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\nContent-Type: application/x-test\r\n"
               b"\r\n" % (boundary, filename.encode()))
    out.append(data)
    for k, v in after_file:
        out.append(b"\r\n--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s" % (boundary, k.encode(), v.encode()))
    if close:
        out.append(b"\r\n--%s--\r\n" % boundary)
    return b"".join(out)


def raw_post(body, boundary, path="/uploads", content_type=None):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=60 * SLOW)
    ct = content_type or "multipart/form-data; boundary=%s" % boundary.decode()
    s.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
              % (path.encode(), ct.encode(), len(body)) + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), rest


@test
def form_parser_limits_and_framing_at_the_wire():
    b = b"----edgehookBoundary7MA4YWxkTrZu0gW"
    # a body whose data holds near-delimiters (CR, CRLF--, the boundary without its CRLF) arrives intact
    tricky = b"\r\r\n\r\n-\r\n--\r\n--" + b[:-1] + b"\r\n--" + b[:10] + b"x" + b"--" + b + b"\rend"
    status, body = raw_post(form_body(b, policy_fields(), "tricky.bin", tricky, preamble=b"ignored preamble\r\n"), b)
    assert status == 204, body
    assert S3.get_object(Bucket="uploads", Key="raw/tricky.bin")["Body"].read() == tricky
    # fields after the file are ignored (as S3 does), transport padding after a delimiter is allowed
    body_ = form_body(b, policy_fields(), "after.bin", b"A", after_file=[("x-amz-meta-late", "1")])
    body_ = body_.replace(b"--" + b + b"\r\nContent-Disposition: form-data; name=\"key\"", b"--" + b + b"  \t\r\nContent-Disposition: "
                          b"form-data; name=\"key\"")
    status, body = raw_post(body_, b)
    assert status == 204, body
    assert S3.head_object(Bucket="uploads", Key="raw/after.bin")["Metadata"] == {}
    # a 70-character boundary is the longest allowed; 71 is refused
    b70 = b"b" * 70
    status, body = raw_post(form_body(b70, policy_fields(), "b70.bin", b"70"), b70)
    assert status == 204, body
    b71 = b"b" * 71
    status, body = raw_post(form_body(b71, policy_fields(), "b71.bin", b"71"), b71)
    assert status == 400 and error_code(body) == "MalformedPOSTRequest", body
    # refused, storing nothing: a truncated body (no closing delimiter), a header block over 8 KB, a part without a name,
    # bare LF line ends, fields over 64 KB, a NUL in a field, a duplicate field
    cases = [
        (form_body(b, policy_fields(), "trunc.bin", b"x" * 1000, close=False), 400, "MalformedPOSTRequest"),
        (form_body(b, policy_fields(), "h" * 9000 + ".bin"), 400, "MalformedPOSTRequest"),
        (form_body(b, policy_fields()).replace(b'form-data; name="key"', b"form-data"), 400, "MalformedPOSTRequest"),
        (form_body(b, policy_fields()).replace(b"\r\n", b"\n"), 400, "MalformedPOSTRequest"),
        (form_body(b, policy_fields() + [("x-ignore-pad", "p" * 70000)]), 400, "MaxPostPreDataLengthExceeded"),
        (form_body(b, policy_fields() + [("x-ignore-nul", "a\0b")]), 400, "InvalidArgument"),
        (form_body(b, policy_fields() + [("key", "raw/twice")]), 400, "InvalidArgument"),
        (form_body(b, [("x-ignore-%d" % i, "") for i in range(201)]), 400, "MaxPostPreDataLengthExceeded"),
        (b"no delimiter at all", 400, "MalformedPOSTRequest"),
        (b"", 400, "MalformedPOSTRequest"),
    ]
    for data, want_status, want_code in cases:
        status, body = raw_post(data, b)
        assert status == want_status and error_code(body) == want_code, (data[:200], status, body)
    for ct in ("multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\"a\"b\"",
               "multipart/form-data; boundary=a; boundary=b", "multipart/form-data; boundary=\"ends in space \""):
        status, body = raw_post(form_body(b, policy_fields()), b, content_type=ct)
        assert status == 400 and error_code(body) == "MalformedPOSTRequest", (ct, status, body)
    # a quoted boundary with RFC 2046's other characters, and the body split by the test (the server sees several reads)
    bq = b"a'()+_,-./:=? z"
    status, body = raw_post(form_body(bq, policy_fields(), "quoted.bin", b"q"), bq,
                            content_type='multipart/form-data; charset=utf-8; boundary="%s"' % bq.decode())
    assert status == 204, body
    assert keys("uploads", "raw/") == ["raw/after.bin", "raw/b70.bin", "raw/quoted.bin", "raw/tricky.bin"], keys("uploads", "raw/")


@test
def form_upload_size_limits():
    b = b"sizeboundary"
    # content-length-range applies to the file's bytes; store.max_put_size (4 MB here) caps any policy
    fields = policy_fields(extra_conditions=[["content-length-range", 0, 10 * 1024 * 1024]])
    data = os.urandom(4 * 1024 * 1024)
    status, body = raw_post(form_body(b, fields, "max.bin", data), b)
    assert status == 204, body
    status, body = raw_post(form_body(b, fields, "over.bin", data + b"x"), b)
    assert status == 400 and error_code(body) == "EntityTooLarge", body
    assert S3.get_object(Bucket="uploads", Key="raw/max.bin")["Body"].read() == data
    assert "raw/over.bin" not in keys("uploads", "raw/")


# ---- CORS -----------------------------------------------------------------------------------------------------------------

RULES = {"CORSRules": [
    {"ID": "app", "AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT", "POST"],
     "AllowedHeaders": ["x-amz-*", "Content-Type"], "ExposeHeaders": ["ETag", "x-amz-request-id"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]}


def preflight(path, origin, method, headers=None, port=None):
    args = ["-X", "OPTIONS", "-H", "Origin: " + origin, "-H", "Access-Control-Request-Method: " + method]
    if headers:
        args += ["-H", "Access-Control-Request-Headers: " + headers]
    return curl_status(*args, "http://127.0.0.1:%d%s" % (port or PORT, path))


@test
def cors_put_get_delete_with_awscli():
    S3.create_bucket(Bucket="corsb")
    p = aws("s3api", "get-bucket-cors", "--bucket", "corsb", check=False)
    assert p.returncode != 0 and b"NoSuchCORSConfiguration" in p.stderr, p.stderr
    path = write("cors.json", json.dumps(RULES).encode())
    aws("s3api", "put-bucket-cors", "--bucket", "corsb", "--cors-configuration", "file://" + path)
    got = json.loads(aws("s3api", "get-bucket-cors", "--bucket", "corsb").stdout)
    assert got["CORSRules"] == RULES["CORSRules"], got
    # refused: an unsupported method, two wildcards, more than 100 rules, no rules, unknown elements, a missing AllowedOrigin
    bad = [
        ({"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}, "InvalidRequest"),
        ({"CORSRules": [{"AllowedOrigins": ["https://*.*.example"], "AllowedMethods": ["GET"]}]}, "InvalidRequest"),
        ({"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}]}, "InvalidRequest"),
        ({"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101}, "InvalidRequest"),
    ]
    for doc, code in bad:
        path = write("bad.json", json.dumps(doc).encode())
        p = aws("s3api", "put-bucket-cors", "--bucket", "corsb", "--cors-configuration", "file://" + path, check=False)
        assert p.returncode != 0 and code.encode() in p.stderr, (doc, p.stderr)
    # at the wire: Content-MD5 (or a checksum) is required, malformed documents and size
    xml = (b'<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>'
           b'</CORSConfiguration>')
    md5 = base64.b64encode(hashlib.md5(xml).digest()).decode()
    status, _, body = signed("PUT", "/corsb?cors", xml)
    assert status == 400 and b"Content-MD5" in body, body
    for doc in (b"<CORSConfiguration/>", b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"
                b"</CORSConfiguration>", b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
                b"</AllowedMethod><Bogus/></CORSRule></CORSConfiguration>", b"<Other/>", b"<CORSConfiguration>"):
        status, _, body = signed("PUT", "/corsb?cors", doc, {"Content-MD5": base64.b64encode(hashlib.md5(doc).digest()).decode()})
        assert status == 400 and error_code(body) == "MalformedXML", (doc, body)
    rule = b"<CORSRule><AllowedOrigin>https://" + b"o" * 1000 + b"</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>"
    big = b"<CORSConfiguration>" + rule * 70 + b"</CORSConfiguration>"
    assert len(big) > 65536
    status, _, body = signed("PUT", "/corsb?cors", big, {"Content-MD5": base64.b64encode(hashlib.md5(big).digest()).decode()})
    assert status == 400 and error_code(body) == "InvalidRequest", body
    status, _, body = signed("PUT", "/corsb?cors", xml, {"Content-MD5": base64.b64encode(hashlib.md5(b"x").digest()).decode()})
    assert status == 400 and error_code(body) == "BadDigest", body
    # none of the refusals changed the rules
    got = json.loads(aws("s3api", "get-bucket-cors", "--bucket", "corsb").stdout)
    assert got["CORSRules"] == RULES["CORSRules"], got
    status, _, body = signed("PUT", "/corsb?cors", xml, {"Content-MD5": md5})
    assert status == 200, body
    assert json.loads(aws("s3api", "get-bucket-cors", "--bucket", "corsb").stdout)["CORSRules"] == [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]
    aws("s3api", "delete-bucket-cors", "--bucket", "corsb")
    p = aws("s3api", "get-bucket-cors", "--bucket", "corsb", check=False)
    assert p.returncode != 0 and b"NoSuchCORSConfiguration" in p.stderr, p.stderr
    status, h, body = preflight("/corsb/x", "https://a.example.com", "GET")
    assert status == 403 and b"CORS is not enabled" in body, body


@test
def cors_preflight_and_actual_requests_with_curl():
    S3.create_bucket(Bucket="corsc")
    aws("s3api", "put-bucket-cors", "--bucket", "corsc", "--cors-configuration", "file://" + write("c.json", json.dumps(RULES).encode()))
    S3.put_object(Bucket="corsc", Key="obj.txt", Body=b"cors object")
    # allowed: origin by wildcard, method, headers (case-insensitive, by wildcard)
    status, h, body = preflight("/corsc/obj.txt", "https://app.example.com", "PUT", "X-Amz-Date, content-type, x-amz-meta-a")
    assert status == 200, body
    assert h["access-control-allow-origin"] == "https://app.example.com", h
    assert h["access-control-allow-methods"] == "GET, PUT, POST", h
    assert h["access-control-allow-headers"] == "X-Amz-Date, content-type, x-amz-meta-a", h
    assert h["access-control-max-age"] == "600" and h["access-control-allow-credentials"] == "true", h
    assert h["access-control-expose-headers"] == "ETag, x-amz-request-id" and "Origin" in h["vary"], h
    # the second rule: any origin, GET only, answered with '*' and no credentials
    status, h, body = preflight("/corsc/obj.txt", "https://other.org", "GET")
    assert status == 200 and h["access-control-allow-origin"] == "*" and "access-control-allow-credentials" not in h, h
    # denied: origin, method, header
    for origin, method, headers in (("https://other.org", "PUT", None), ("https://app.example.com", "DELETE", None),
                                    ("https://app.example.com", "PUT", "authorization"), ("http://app.example.com", "PUT", None)):
        status, h, body = preflight("/corsc/obj.txt", origin, method, headers)
        assert status == 403 and error_code(body) == "AccessForbidden" and b"This CORS request is not allowed" in body, \
            (origin, method, headers, body)
        assert "access-control-allow-origin" not in h, h
    # incomplete preflights
    status, h, body = curl_status("-X", "OPTIONS", "-H", "Access-Control-Request-Method: GET", ENDPOINT + "/corsc/obj.txt")
    assert status == 400, body
    status, h, body = curl_status("-X", "OPTIONS", "-H", "Origin: https://a.example.com", ENDPOINT + "/corsc/obj.txt")
    assert status == 400, body
    status, h, body = preflight("/nosuchbucket/x", "https://a.example.com", "GET")
    assert status == 403, body
    # actual requests (signed as usual) get the matching rule's headers; Vary: Origin is always there for caches
    for origin, want in (("https://app.example.com", "https://app.example.com"), ("https://x.org", "*"), (None, None)):
        status, h, body = signed("GET", "/corsc/obj.txt", headers={"Origin": origin} if origin else {})
        assert status == 200 and body == b"cors object", body
        assert "Origin" in h.get("vary", ""), h
        assert h.get("access-control-allow-origin") == want, (origin, h)
        if want == "https://app.example.com":
            assert h["access-control-expose-headers"] == "ETag, x-amz-request-id", h
    # a method no rule allows for that origin: no Access-Control-*
    status, h, body = signed("DELETE", "/corsc/nothing.txt", headers={"Origin": "https://x.org"})
    assert status == 204 and "access-control-allow-origin" not in h, h
    # a bucket without rules: no Vary, no Access-Control-*
    status, h, body = signed("GET", "/uploads?list-type=2", headers={"Origin": "https://app.example.com"})
    assert status == 200 and "access-control-allow-origin" not in h and "vary" not in h, h


@test
def cors_rules_survive_a_restart():
    global edge, PORT, ENDPOINT, S3
    S3.create_bucket(Bucket="corsd")
    aws("s3api", "put-bucket-cors", "--bucket", "corsd", "--cors-configuration", "file://" + write("d.json", json.dumps(RULES).encode()))
    edge.stop()
    edge = Edge(CONFIG, workdir=edge.dir)
    PORT = edge.ports["store"]
    ENDPOINT = "http://127.0.0.1:%d" % PORT
    S3 = client()
    assert json.loads(aws("s3api", "get-bucket-cors", "--bucket", "corsd").stdout)["CORSRules"] == RULES["CORSRules"]
    status, h, _ = preflight("/corsd/k", "https://a.example.com", "POST", "x-amz-date")
    assert status == 200 and h["access-control-allow-origin"] == "https://a.example.com", h
    assert S3.get_object(Bucket="uploads", Key="js/note.txt")["Body"].read() == b"from the JS SDK"


@test
def cors_through_the_caching_proxy_honours_vary_origin():
    S3.create_bucket(Bucket="corsproxied")
    aws("s3api", "put-bucket-cors", "--bucket", "corsproxied", "--cors-configuration",
        "file://" + write("p.json", json.dumps(RULES).encode()))
    for k in ("fwd/a.txt", "plain/a.txt"):
        S3.put_object(Bucket="corsproxied", Key=k, Body=b"proxied " + k.encode(), CacheControl="max-age=600")

    def get(path, origin=None):
        args = ["-H", "Origin: " + origin] if origin else []
        return curl_status(*args, edge.url(path))
    # a behavior that forwards Origin: each viewer origin gets its own variant, never another's Allow-Origin
    s1, h1, b1 = get("/fwd/a.txt", "https://app.example.com")
    assert s1 == 200 and b1 == b"proxied fwd/a.txt" and h1["access-control-allow-origin"] == "https://app.example.com", h1
    assert "Origin" in h1["vary"], h1
    s2, h2, _ = get("/fwd/a.txt", "https://app.example.com")
    assert h2["x-cache"] == "Hit from edgehook" and h2["access-control-allow-origin"] == "https://app.example.com", h2
    s3, h3, _ = get("/fwd/a.txt", "https://other.org")
    assert h3["x-cache"] == "Miss from edgehook" and h3["access-control-allow-origin"] == "*", h3
    s4, h4, _ = get("/fwd/a.txt")
    assert h4["x-cache"] == "Miss from edgehook" and "access-control-allow-origin" not in h4, h4
    s5, h5, _ = get("/fwd/a.txt", "https://other.org")
    assert h5["x-cache"] == "Hit from edgehook" and h5["access-control-allow-origin"] == "*", h5
    s6, h6, _ = get("/fwd/a.txt", "https://app.example.com")
    assert h6["x-cache"] == "Hit from edgehook" and h6["access-control-allow-origin"] == "https://app.example.com", h6
    # a behavior that does not forward Origin: the store never sees it, so no viewer gets Access-Control-* (configure
    # origin_request.headers: [origin] to serve a bucket's CORS through the edge)
    s7, h7, b7 = get("/plain/a.txt", "https://app.example.com")
    assert s7 == 200 and b7 == b"proxied plain/a.txt" and "access-control-allow-origin" not in h7, h7


# ---- a real browser --------------------------------------------------------------------------------------------------------

@test
def chromium_uploads_from_a_page_of_another_origin():
    """Debian's chromium (puppeteer-core, tests/e2e/lib/browser.py) on a page served from another origin: a plain form submit
    with success_action_redirect lands back on the page; fetch + FormData can read the answer only once a CORS rule allows the
    page's origin (the upload itself is a simple request: no preflight); a header outside the rule is refused at the preflight"""
    import http.server
    import threading
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
    from browser import Browser
    S3.create_bucket(Bucket="gallery")
    pages = {}

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path.split("?")[0], b"not found")
            self.send_response(200 if self.path.split("?")[0] in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    page_origin = "http://127.0.0.1:%d" % srv.server_address[1]
    post = S3.generate_presigned_post(
        "gallery", "photos/${filename}", Fields={"success_action_redirect": page_origin + "/done"},
        Conditions=[["starts-with", "$key", "photos/"], ["content-length-range", 1, 100000],
                    ["starts-with", "$success_action_redirect", ""], ["starts-with", "$success_action_status", ""]],
        ExpiresIn=600)
    inputs = "".join('<input type="hidden" name="%s" value="%s">' % (k, v) for k, v in post["fields"].items())
    pages["/"] = ('<!doctype html><html><body><form id="f" action="%s" method="post" enctype="multipart/form-data">%s'
                  '<input type="file" name="file" id="file"></form><script>const FIELDS = %s; const URL_ = %s;</script>'
                  '</body></html>' % (post["url"], inputs, json.dumps(post["fields"]), json.dumps(post["url"]))).encode()
    pages["/done"] = b"<!doctype html><html><body>done</body></html>"
    b = Browser()
    try:
        b.goto(page_origin + "/")
        # 1. a form submit (navigation): the store answers 303 to the page's /done with bucket, key and etag
        b.eval("""(() => { const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array([137, 80, 78, 71, 1, 2, 3])], 'cat.png', {type: 'image/png'}));
            document.getElementById('file').files = dt.files; document.getElementById('f').submit(); return 1; })()""")
        loc = b.wait("location.pathname === '/done' && location.search")
        assert "bucket=gallery" in loc and "key=photos%2Fcat.png" in loc and "etag=" in loc, loc
        o = S3.get_object(Bucket="gallery", Key="photos/cat.png")
        assert o["Body"].read() == bytes([137, 80, 78, 71, 1, 2, 3]) and o["ContentType"] == "image/png", o
        b.goto(page_origin + "/")
        upload = """(async () => {
            const fd = new FormData();
            for (const [k, v] of Object.entries(FIELDS)) fd.append(k, k === 'success_action_redirect' ? '' : v);
            fd.set('success_action_status', '201');
            fd.delete('success_action_redirect');
            fd.append('file', new File(['%s'], '%s', {type: 'image/gif'}));
            try { const r = await fetch(URL_, {method: 'POST', body: fd%s});
                  return JSON.stringify({status: r.status, etag: r.headers.get('etag'), body: await r.text()}); }
            catch (e) { return 'failed: ' + e; } })()"""
        # 2. fetch without CORS rules: the browser hides the answer, but the simple request was sent and stored
        r = b.eval(upload % ("GIF89a-one", "one.gif", ""))
        assert r.startswith("failed: TypeError"), r
        assert S3.get_object(Bucket="gallery", Key="photos/one.gif")["Body"].read() == b"GIF89a-one"
        # 3. with a rule for the page's origin: the answer (201 PostResponse) and the exposed ETag are readable
        aws("s3api", "put-bucket-cors", "--bucket", "gallery", "--cors-configuration", "file://" + write("g.json", json.dumps(
            {"CORSRules": [{"AllowedOrigins": [page_origin], "AllowedMethods": ["POST", "GET"], "AllowedHeaders": ["x-upload-*"],
                            "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 5}]}).encode()))
        r = json.loads(b.eval(upload % ("GIF89a-two", "two.gif", "")))
        assert r["status"] == 201 and r["etag"] == '"%s"' % hashlib.md5(b"GIF89a-two").hexdigest(), r
        assert ET.fromstring(r["body"]).find("Key").text == "photos/two.gif", r
        # 4. a custom header makes it preflighted: allowed by AllowedHeader x-upload-*, refused otherwise (nothing sent)
        r = json.loads(b.eval(upload % ("GIF89a-three", "three.gif", ", headers: {'X-Upload-Id': '7'}")))
        assert r["status"] == 201, r
        r = b.eval(upload % ("GIF89a-four", "four.gif", ", headers: {'X-Other': '7'}"))
        assert r.startswith("failed: TypeError"), r
        assert "photos/four.gif" not in keys("gallery", "photos/"), keys("gallery", "photos/")
        # 5. the page reads the object back with a presigned GET (cross-origin, allowed by the rule)
        url = S3.generate_presigned_url("get_object", Params={"Bucket": "gallery", "Key": "photos/two.gif"}, ExpiresIn=600)
        got = b.eval("fetch(%s).then(r => r.text()).catch(e => 'failed: ' + e)" % json.dumps(url))
        assert got == "GIF89a-two", got
    finally:
        b.close()
        srv.shutdown()


if __name__ == "__main__":
    try:
        run()
    finally:
        edge.stop()
        shutil.rmtree(TMP, ignore_errors=True)
