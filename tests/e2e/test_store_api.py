# ctest-labels: notsan
# notsan: time budget: protocol rules one request at a time, with awscli and boto3 (test_store_threads covers the threads)
# ctest-timeout: 900
"""End-to-end: the embedded store's S3 protocol details (issue 15 item 4) and APIs (item 7): listing edge cases, 304 headers,
ListBuckets pagination, bucket location, UploadPartCopy ranges, exact Content-Encoding, conditional writes, repeated
CompleteMultipartUpload, object tagging, GetObjectAttributes, and purging the edge cache by the tags of store objects.

Driven by Debian's awscli v2 (/usr/bin/aws), Debian's boto3 (python3-boto3) and, where no client can express a case, raw SigV4
requests (lib/s3wire.py).
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, SLOW, run, test  # noqa: E402
from s3wire import S3Wire, xml_text  # noqa: E402

AK, SK = "PROTOSTOREKEY0000001", "protostoresecret000000000000000000000001"
TOKEN = "proto-admin-token-0123456789"
TMP = tempfile.mkdtemp(prefix="e2e-store-api-")


def config():
    return """
threads: 2
listen:
  - {host: 127.0.0.1, port: 0}
origins:
  web: {type: http, url: "http://127.0.0.1:9"}
  media: {type: s3, endpoint: embedded, bucket: tagcache, region: us-east-1}
behaviors:
  - {path: "/m/*", origin: media}
  - {path: "*", origin: web, cache: off}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  credentials: {access_key: %s, secret_key: %s}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
""" % (AK, SK, TOKEN)


edge = Edge(config())
W = S3Wire(edge.ports["store"], AK, SK)
s3, ok, error = W.s3, W.ok, W.error

BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOTO_")) and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(BASE_ENV, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")


def endpoint():
    return "http://127.0.0.1:%d" % W.port


def aws(*args, check=True):
    """Debian's awscli v2 (by its absolute path); returns (returncode, parsed JSON or None, stderr)"""
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", endpoint(), "--no-cli-pager", "--output", "json"] + list(args),
                       env=AWS_ENV, cwd=TMP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300 * SLOW)
    if check and p.returncode != 0:
        raise AssertionError("aws %s: %d\n%s\n%s" % (" ".join(args), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    out = p.stdout.strip()
    return p.returncode, (json.loads(out) if out else None), p.stderr.decode("utf-8", "replace")


def boto():
    """Debian's boto3, path-style, talking to the store (run by /usr/bin/python3: this file is)"""
    import boto3
    import botocore.config
    return boto3.client("s3", endpoint_url=endpoint(), aws_access_key_id=AK, aws_secret_access_key=SK, region_name="us-east-1",
                        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def client_error(fn, *args, **kw):
    import botocore.exceptions
    try:
        fn(*args, **kw)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    raise AssertionError("no error from %s" % fn.__name__)


def md5_b64(b):
    return base64.b64encode(hashlib.md5(b).digest()).decode()


ok(s3("PUT", "/api"))


# ---- listings ----------------------------------------------------------------------------------------------------------------

@test
def list_max_keys_zero_and_empty_token():
    for k in ("bar", "baz", "foo", "quxx"):
        ok(s3("PUT", "/api/lst/" + k, b"x"))
    # max-keys=0: nothing, and not truncated (S3; ceph/s3-tests test_bucket_list[v2]_maxkeys_zero)
    for target in ("/api?prefix=lst/&max-keys=0", "/api?list-type=2&prefix=lst/&max-keys=0"):
        r = ok(s3("GET", target))
        assert r.text("IsTruncated") == "false" and r.texts("Key") == [], r.body
        assert r.text("NextContinuationToken") is None and r.text("NextMarker") is None, r.body
    c = boto()
    r = c.list_objects(Bucket="api", Prefix="lst/", MaxKeys=0)
    assert r["IsTruncated"] is False and "Contents" not in r
    # an empty continuation-token is no token: the whole listing, and the empty token echoed
    r = c.list_objects_v2(Bucket="api", Prefix="lst/", ContinuationToken="")
    assert r["ContinuationToken"] == "" and r["IsTruncated"] is False
    assert [o["Key"] for o in r["Contents"]] == ["lst/bar", "lst/baz", "lst/foo", "lst/quxx"]
    r = ok(s3("GET", "/api?list-type=2&prefix=lst/&continuation-token="))
    assert r.texts("Key") == ["lst/bar", "lst/baz", "lst/foo", "lst/quxx"] and r.text("ContinuationToken") == ""
    # a real token still pages
    r = c.list_objects_v2(Bucket="api", Prefix="lst/", MaxKeys=1)
    r2 = c.list_objects_v2(Bucket="api", Prefix="lst/", ContinuationToken=r["NextContinuationToken"])
    assert [o["Key"] for o in r2["Contents"]] == ["lst/baz", "lst/foo", "lst/quxx"]


@test
def list_v1_prefix_not_encoded():
    ok(s3("PUT", "/api/p%20x%2Bq/k", b"x"))
    # V1: Prefix is never url-encoded (the SDKs send encoding-type=url and do not decode it); keys and Marker are
    r = ok(s3("GET", "/api?prefix=p%20x%2Bq/&encoding-type=url&marker=p%20x%2Bq/a"))
    assert r.text("Prefix") == "p x+q/", r.body
    assert r.text("Key") == "p%20x%2Bq/k" and r.text("Marker") == "p%20x%2Bq/a", r.body
    r = ok(s3("GET", "/api?prefix=p%20x%2Bq/"))
    assert r.text("Prefix") == "p x+q/" and r.text("Key") == "p x+q/k", r.body
    # V2 encodes Prefix with encoding-type=url (and botocore decodes it)
    r = ok(s3("GET", "/api?list-type=2&prefix=p%20x%2Bq/&encoding-type=url"))
    assert r.text("Prefix") == "p%20x%2Bq/", r.body
    # boto3 (encoding-type=url added by botocore) sees the prefix as given
    r = boto().list_objects(Bucket="api", Prefix="p x+q/")
    assert r["Prefix"] == "p x+q/" and [o["Key"] for o in r["Contents"]] == ["p x+q/k"]


# ---- GET: 304 ----------------------------------------------------------------------------------------------------------------

@test
def not_modified_carries_validators():
    r = ok(s3("PUT", "/api/cond.txt", b"conditional", headers={"cache-control": "max-age=60", "expires": "Thu, 01 Dec 2050 16:00:00 GMT"}))
    etag = r.headers["etag"]
    g = ok(s3("GET", "/api/cond.txt"))
    for hdrs in ({"if-none-match": etag}, {"if-modified-since": g.headers["last-modified"]}):
        r = s3("GET", "/api/cond.txt", headers=hdrs)
        assert r.status == 304 and r.body == b"", (r.status, r.body)
        assert r.headers.get("etag") == etag, r.headers
        assert r.headers.get("last-modified") == g.headers["last-modified"], r.headers
        assert r.headers.get("cache-control") == "max-age=60" and r.headers.get("expires") == "Thu, 01 Dec 2050 16:00:00 GMT"
        assert "content-length" not in r.headers or r.headers["content-length"] == "0"
        r = s3("HEAD", "/api/cond.txt", headers=hdrs)
        assert r.status == 304 and r.headers.get("etag") == etag, (r.status, r.headers)


# ---- buckets -----------------------------------------------------------------------------------------------------------------

@test
def list_buckets_paginated():
    for b in ("pgb-1", "pgb-2", "pgb-3"):
        ok(s3("PUT", "/" + b))
    names = []
    token = None
    pages = 0
    while True:
        r = ok(s3("GET", "/?max-buckets=1&prefix=pgb-" + ("&continuation-token=" + token.replace("=", "%3D").replace("+", "%2B")
                                                          .replace("/", "%2F") if token else "")))
        names += r.texts("Name")
        assert len(r.texts("Name")) == 1, r.body
        assert r.text("Prefix") == "pgb-" and r.text("BucketRegion") == "us-east-1", r.body
        token = r.text("ContinuationToken")
        pages += 1
        if token is None:
            break
        assert pages < 10
    assert names == ["pgb-1", "pgb-2", "pgb-3"] and pages == 3
    # without max-buckets: every bucket, no token
    r = ok(s3("GET", "/"))
    assert {"api", "pgb-1", "pgb-2", "pgb-3"} <= set(r.texts("Name")) and r.text("ContinuationToken") is None
    r = ok(s3("GET", "/?max-buckets=2&prefix=pgb-"))
    assert r.texts("Name") == ["pgb-1", "pgb-2"] and r.text("ContinuationToken")
    for bad in ("0", "10001", "x", ""):
        error(s3("GET", "/?max-buckets=" + bad), 400, "InvalidArgument")
    error(s3("GET", "/?continuation-token=%21%21"), 400, "InvalidArgument")
    # awscli still lists (no pagination parameters)
    _, out, _ = aws("s3api", "list-buckets")
    assert {"api", "pgb-1"} <= {b["Name"] for b in out["Buckets"]}


@test
def bucket_location_and_recreate():
    body = b"<CreateBucketConfiguration><LocationConstraint>eu-central-1</LocationConstraint></CreateBucketConfiguration>"
    ok(s3("PUT", "/loc-eu", body))
    _, out, _ = aws("s3api", "get-bucket-location", "--bucket", "loc-eu")
    assert out["LocationConstraint"] == "eu-central-1", out
    r = ok(s3("HEAD", "/loc-eu"))
    assert r.headers["x-amz-bucket-region"] == "eu-central-1"
    # re-creating your own bucket: 200 in us-east-1 (S3's legacy rule), BucketAlreadyOwnedByYou elsewhere
    ok(s3("PUT", "/api"))
    rc, _, _ = aws("s3api", "create-bucket", "--bucket", "api")
    assert rc == 0
    error(s3("PUT", "/loc-eu", body), 409, "BucketAlreadyOwnedByYou")
    rc, _, err = aws("s3api", "create-bucket", "--bucket", "loc-eu", "--create-bucket-configuration",
                     "LocationConstraint=eu-central-1", check=False)
    assert rc != 0 and "BucketAlreadyOwnedByYou" in err, err
    # us-east-1 buckets: an empty LocationConstraint
    _, out, _ = aws("s3api", "get-bucket-location", "--bucket", "api")
    assert out["LocationConstraint"] is None, out
    error(s3("PUT", "/loc-bad", b"<CreateBucketConfiguration><LocationConstraint>eu west</LocationConstraint>"
                                b"</CreateBucketConfiguration>"), 400, "InvalidLocationConstraint")
    error(s3("GET", "/loc-bad"), 404, "NoSuchBucket")


# ---- writes ------------------------------------------------------------------------------------------------------------------

@test
def upload_part_copy_range_past_end():
    ok(s3("PUT", "/api/five", b"12345"))
    c = boto()
    uid = c.create_multipart_upload(Bucket="api", Key="dest")["UploadId"]
    src = {"Bucket": "api", "Key": "five"}
    st, code = client_error(c.upload_part_copy, Bucket="api", Key="dest", UploadId=uid, CopySource=src,
                            CopySourceRange="bytes=0-21", PartNumber=1)
    assert st in (400, 416) and code == "InvalidRange", (st, code)
    st, code = client_error(c.upload_part_copy, Bucket="api", Key="dest", UploadId=uid, CopySource=src,
                            CopySourceRange="bytes=2-1", PartNumber=1)
    assert (st, code) == (400, "InvalidArgument")
    r = c.upload_part_copy(Bucket="api", Key="dest", UploadId=uid, CopySource=src, CopySourceRange="bytes=1-3", PartNumber=1)
    c.complete_multipart_upload(Bucket="api", Key="dest", UploadId=uid,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    assert c.get_object(Bucket="api", Key="dest")["Body"].read() == b"234"


@test
def content_encoding_byte_exact():
    ok(s3("PUT", "/api/enc", b"x", headers={"content-encoding": "deflate, gzip"}))
    assert ok(s3("GET", "/api/enc")).headers["content-encoding"] == "deflate, gzip"
    ok(s3("PUT", "/api/enc2", b"x", headers={"content-encoding": "gzip,  br"}))
    assert ok(s3("GET", "/api/enc2")).headers["content-encoding"] == "gzip,  br"
    # aws-chunked (the framing of a streamed body) is not the object's encoding: it goes, the rest stays as sent
    for sent, kept in (("aws-chunked, deflate, gzip", "deflate, gzip"), ("deflate, aws-chunked, gzip", "deflate, gzip"),
                       ("deflate, gzip,aws-chunked", "deflate, gzip"), ("aws-chunked", None)):
        ok(s3("PUT", "/api/enc3", b"x", headers={"content-encoding": sent}))
        assert ok(s3("GET", "/api/enc3")).headers.get("content-encoding") == kept, sent
    # boto3 sends it as given too
    c = boto()
    c.put_object(Bucket="api", Key="enc4", Body=b"x", ContentEncoding="deflate, gzip")
    assert c.head_object(Bucket="api", Key="enc4")["ContentEncoding"] == "deflate, gzip"


@test
def conditional_writes():
    # PUT
    r = ok(s3("PUT", "/api/cw", b"one", headers={"if-none-match": "*"}))
    e1 = r.headers["etag"]
    error(s3("PUT", "/api/cw", b"two", headers={"if-none-match": "*"}), 412, "PreconditionFailed")
    error(s3("PUT", "/api/cw", b"two", headers={"if-none-match": e1}), 412, "PreconditionFailed")
    ok(s3("PUT", "/api/cw", b"two", headers={"if-none-match": '"0123456789abcdef0123456789abcdef"'}))
    error(s3("PUT", "/api/cw", b"three", headers={"if-match": e1}), 412, "PreconditionFailed")
    e2 = '"%s"' % hashlib.md5(b"two").hexdigest()
    ok(s3("PUT", "/api/cw", b"three", headers={"if-match": e2}))
    error(s3("PUT", "/api/cw-none", b"x", headers={"if-match": "*"}), 404, "NoSuchKey")
    assert ok(s3("GET", "/api/cw")).body == b"three"
    # CopyObject: If-Match / If-None-Match are about the destination
    ok(s3("PUT", "/api/cw-src", b"source"))
    error(s3("PUT", "/api/cw", headers={"x-amz-copy-source": "/api/cw-src", "if-none-match": "*"}), 412, "PreconditionFailed")
    error(s3("PUT", "/api/cw", headers={"x-amz-copy-source": "/api/cw-src", "if-match": e1}), 412, "PreconditionFailed")
    error(s3("PUT", "/api/cw-new", headers={"x-amz-copy-source": "/api/cw-src", "if-match": "*"}), 404, "NoSuchKey")
    assert ok(s3("GET", "/api/cw")).body == b"three"
    ok(s3("PUT", "/api/cw-new", headers={"x-amz-copy-source": "/api/cw-src", "if-none-match": "*"}))
    e3 = '"%s"' % hashlib.md5(b"three").hexdigest()
    ok(s3("PUT", "/api/cw", headers={"x-amz-copy-source": "/api/cw-src", "if-match": e3}))
    assert ok(s3("GET", "/api/cw")).body == b"source"
    # racing writers of one key with If-None-Match: * - exactly one wins, whatever the interleaving
    for rnd in range(3):
        key = "/api/race-%d" % rnd
        results = []

        def put(i):
            results.append((s3("PUT", key, b"writer %d" % i, headers={"if-none-match": "*"}).status, i))
        ts = [threading.Thread(target=put, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        winners = [i for st, i in results if st == 200]
        assert len(winners) == 1 and sorted(st for st, _ in results) == [200] + [412] * 7, results
        assert ok(s3("GET", key)).body == b"writer %d" % winners[0]


def mpu(key, parts, headers=None):
    """creates an upload of key with the given part bodies; returns (upload id, [(number, etag)])"""
    r = ok(s3("POST", "/api/%s?uploads" % key, headers=headers))
    uid = r.text("UploadId")
    out = []
    for i, body in enumerate(parts, 1):
        out.append((i, ok(s3("PUT", "/api/%s?partNumber=%d&uploadId=%s" % (key, i, uid), body)).headers["etag"]))
    return uid, out


def complete_body(parts):
    return ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
        "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % p for p in parts)).encode()


@test
def complete_duplicate_part_number():
    uid, parts = mpu("dup", [b"a" * (5 << 20), b"b"])
    body = complete_body([parts[0], parts[0], parts[1]])
    error(s3("POST", "/api/dup?uploadId=" + uid, body), 400, "InvalidPartOrder")
    # the upload is intact: completing it properly works
    ok(s3("POST", "/api/dup?uploadId=" + uid, complete_body(parts)))
    assert len(ok(s3("GET", "/api/dup")).body) == (5 << 20) + 1


@test
def repeated_complete_answers_success():
    uid, parts = mpu("again", [b"a" * (5 << 20), b"tail"])
    body = complete_body(parts)
    first = ok(s3("POST", "/api/again?uploadId=" + uid, body))
    for _ in range(2):  # a client retrying after a lost answer gets the same success again
        r = ok(s3("POST", "/api/again?uploadId=" + uid, body))
        for tag in ("Location", "Bucket", "Key", "ETag"):
            assert r.text(tag) == first.text(tag), (tag, r.body, first.body)
    # the record belongs to that bucket and key
    error(s3("POST", "/api/other?uploadId=" + uid, body), 404, "NoSuchUpload")
    # ListParts and Abort of a completed upload: NoSuchUpload, as in S3
    error(s3("GET", "/api/again?uploadId=" + uid), 404, "NoSuchUpload")
    # concurrent Completes of one upload: every one succeeds with the same ETag
    uid, parts = mpu("again2", [b"b" * (5 << 20), b"tail"])
    body = complete_body(parts)
    results = []
    ts = [threading.Thread(target=lambda: results.append(s3("POST", "/api/again2?uploadId=" + uid, body))) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert [r.status for r in results] == [200] * 4, [(r.status, r.body) for r in results]
    assert len({r.text("ETag") for r in results}) == 1
    # boto3 completing twice (its retry)
    c = boto()
    uid = c.create_multipart_upload(Bucket="api", Key="again3")["UploadId"]
    e = c.upload_part(Bucket="api", Key="again3", UploadId=uid, PartNumber=1, Body=b"x")["ETag"]
    mp = {"Parts": [{"PartNumber": 1, "ETag": e}]}
    a = c.complete_multipart_upload(Bucket="api", Key="again3", UploadId=uid, MultipartUpload=mp)
    b = c.complete_multipart_upload(Bucket="api", Key="again3", UploadId=uid, MultipartUpload=mp)
    assert a["ETag"] == b["ETag"] and b["Key"] == "again3"
    # once the key is overwritten (or deleted) the record no longer answers
    ok(s3("PUT", "/api/again3", b"new"))
    assert client_error(c.complete_multipart_upload, Bucket="api", Key="again3", UploadId=uid, MultipartUpload=mp) == \
        (404, "NoSuchUpload")
    # an aborted upload is not completed
    uid, parts = mpu("aborted", [b"x"])
    ok(s3("DELETE", "/api/aborted?uploadId=" + uid), 204)
    error(s3("POST", "/api/aborted?uploadId=" + uid, complete_body(parts)), 404, "NoSuchUpload")


@test
def conditional_complete():
    ok(s3("PUT", "/api/ccw", b"existing"))
    e0 = '"%s"' % hashlib.md5(b"existing").hexdigest()
    uid, parts = mpu("ccw", [b"p" * 10])
    body = complete_body(parts)
    error(s3("POST", "/api/ccw?uploadId=" + uid, body, headers={"if-none-match": "*"}), 412, "PreconditionFailed")
    error(s3("POST", "/api/ccw?uploadId=" + uid, body, headers={"if-match": '"0123456789abcdef0123456789abcdef"'}), 412,
          "PreconditionFailed")
    assert ok(s3("GET", "/api/ccw")).body == b"existing"
    # a refused Complete leaves the upload as it was: completing it with a condition that holds works
    ok(s3("GET", "/api/ccw?uploadId=" + uid))
    ok(s3("POST", "/api/ccw?uploadId=" + uid, body, headers={"if-match": e0}))
    assert ok(s3("GET", "/api/ccw")).body == b"p" * 10
    uid, parts = mpu("ccw-new", [b"q"])
    error(s3("POST", "/api/ccw-new?uploadId=" + uid, complete_body(parts), headers={"if-match": "*"}), 404, "NoSuchKey")
    ok(s3("POST", "/api/ccw-new?uploadId=" + uid, complete_body(parts), headers={"if-none-match": "*"}))
    # racing Completes of two uploads of one key, both If-None-Match: * - one wins
    ups = [mpu("ccw-race", [b"r%d" % i]) for i in range(2)]
    results = []
    ts = [threading.Thread(target=lambda u=u: results.append(s3("POST", "/api/ccw-race?uploadId=" + u[0], complete_body(u[1]),
                                                                 headers={"if-none-match": "*"}).status)) for u in ups]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(results) == [200, 412], results


@test
def delete_objects_needs_checksum():
    ok(s3("PUT", "/api/del1", b"x"))
    body = b"<Delete><Object><Key>del1</Key></Object></Delete>"
    error(s3("POST", "/api?delete", body), 400, "InvalidRequest")
    assert ok(s3("GET", "/api/del1")).body == b"x"
    # awscli v2 and boto3 send a checksum of their own
    aws("s3api", "delete-objects", "--bucket", "api", "--delete", '{"Objects":[{"Key":"del1"}]}')
    error(s3("GET", "/api/del1"), 404, "NoSuchKey")
    ok(s3("PUT", "/api/del2", b"x"))
    r = boto().delete_objects(Bucket="api", Delete={"Objects": [{"Key": "del2"}]})
    assert [d["Key"] for d in r["Deleted"]] == ["del2"]
    error(s3("GET", "/api/del2"), 404, "NoSuchKey")


# ---- tagging ----------------------------------------------------------------------------------------------------------------

def tagset(r):
    return [(t["Key"], t["Value"]) for t in r["TagSet"]]


@test
def object_tagging():
    c = boto()
    r = c.put_object(Bucket="api", Key="tagged", Body=b"tagged body", Tagging="foo=bar&bar")
    etag = r["ETag"]
    assert tagset(c.get_object_tagging(Bucket="api", Key="tagged")) == [("bar", ""), ("foo", "bar")]  # sorted by key, as S3
    h = c.head_object(Bucket="api", Key="tagged")["ResponseMetadata"]["HTTPHeaders"]
    assert h["x-amz-tagging-count"] == "2" and "x-amz-tagging" not in h, h
    g = ok(s3("GET", "/api/tagged"))
    assert g.headers["x-amz-tagging-count"] == "2" and "x-amz-tagging" not in g.headers and g.body == b"tagged body"
    lm = g.headers["last-modified"]
    # PutObjectTagging replaces the set; the data, ETag and Last-Modified stay
    tags = [{"Key": str(i), "Value": "v%d" % i} for i in range(10)]
    c.put_object_tagging(Bucket="api", Key="tagged", Tagging={"TagSet": tags})
    assert tagset(c.get_object_tagging(Bucket="api", Key="tagged")) == [(str(i), "v%d" % i) for i in range(10)]
    g = ok(s3("GET", "/api/tagged"))
    assert g.body == b"tagged body" and g.headers["etag"] == etag and g.headers["last-modified"] == lm
    assert g.headers["x-amz-tagging-count"] == "10"
    # S3's limits: InvalidTag, and the tags stay as they were
    bad = [[{"Key": str(i), "Value": "x"} for i in range(11)],
           [{"Key": "k" * 129, "Value": "x"}],
           [{"Key": "k", "Value": "v" * 257}],
           [{"Key": "k#", "Value": "x"}],
           [{"Key": "k", "Value": "x"}, {"Key": "k", "Value": "y"}],
           [{"Key": "aws:k", "Value": "x"}]]
    for t in bad:
        assert client_error(c.put_object_tagging, Bucket="api", Key="tagged", Tagging={"TagSet": t}) == (400, "InvalidTag"), t
    error(s3("PUT", "/api/tagged?tagging", b"<Tagging><TagSet><Tag><Key></Key><Value>x</Value></Tag></TagSet></Tagging>"), 400,
          "InvalidTag")
    assert len(c.get_object_tagging(Bucket="api", Key="tagged")["TagSet"]) == 10
    # the largest allowed: 10 tags of 128-character keys and 256-character values (multi-byte characters count as one)
    big = [{"Key": ("é%02d" % i) + "k" * 125, "Value": "ü" * 256} for i in range(10)]
    c.put_object_tagging(Bucket="api", Key="tagged", Tagging={"TagSet": big})
    assert tagset(c.get_object_tagging(Bucket="api", Key="tagged")) == [(t["Key"], t["Value"]) for t in big]
    # special characters survive the round trip
    c.put_object_tagging(Bucket="api", Key="tagged", Tagging={"TagSet": [{"Key": "a b+c=d", "Value": "x/y:z@w.q_r-s"}]})
    assert tagset(c.get_object_tagging(Bucket="api", Key="tagged")) == [("a b+c=d", "x/y:z@w.q_r-s")]
    # DeleteObjectTagging
    assert c.delete_object_tagging(Bucket="api", Key="tagged")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert c.get_object_tagging(Bucket="api", Key="tagged")["TagSet"] == []
    assert "x-amz-tagging-count" not in ok(s3("HEAD", "/api/tagged")).headers
    assert ok(s3("GET", "/api/tagged")).body == b"tagged body"
    # x-amz-tagging on PUT is validated too; a missing key
    error(s3("PUT", "/api/tagged2", b"x", headers={"x-amz-tagging": "a=%23"}), 400, "InvalidTag")
    error(s3("GET", "/api/tagged2"), 404, "NoSuchKey")
    error(s3("GET", "/api/tagged2?tagging"), 404, "NoSuchKey")
    error(s3("PUT", "/api/tagged2?tagging", b"<Tagging><TagSet></TagSet></Tagging>"), 404, "NoSuchKey")
    error(s3("PUT", "/api/tagged?tagging", b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"), 400, "MalformedXML")
    # an overwrite replaces the tags with the object's
    c.put_object(Bucket="api", Key="tagged", Body=b"v1", Tagging="a=1")
    c.put_object(Bucket="api", Key="tagged", Body=b"v2")
    assert c.get_object_tagging(Bucket="api", Key="tagged")["TagSet"] == []
    # awscli v2
    aws("s3api", "put-object-tagging", "--bucket", "api", "--key", "tagged", "--tagging", "TagSet=[{Key=cli,Value=yes}]")
    _, out, _ = aws("s3api", "get-object-tagging", "--bucket", "api", "--key", "tagged")
    assert out["TagSet"] == [{"Key": "cli", "Value": "yes"}], out


@test
def tagging_on_copy_and_multipart():
    c = boto()
    c.put_object(Bucket="api", Key="tsrc", Body=b"source", Tagging="team=a&k=v")
    # CopyObject: the source's tags by default (x-amz-tagging-directive COPY), the request's with REPLACE
    c.copy_object(Bucket="api", Key="tcopy1", CopySource={"Bucket": "api", "Key": "tsrc"})
    assert tagset(c.get_object_tagging(Bucket="api", Key="tcopy1")) == [("k", "v"), ("team", "a")]
    c.copy_object(Bucket="api", Key="tcopy2", CopySource={"Bucket": "api", "Key": "tsrc"}, TaggingDirective="REPLACE",
                  Tagging="team=b")
    assert tagset(c.get_object_tagging(Bucket="api", Key="tcopy2")) == [("team", "b")]
    c.copy_object(Bucket="api", Key="tcopy3", CopySource={"Bucket": "api", "Key": "tsrc"}, TaggingDirective="REPLACE")
    assert tagset(c.get_object_tagging(Bucket="api", Key="tcopy3")) == []
    c.copy_object(Bucket="api", Key="tcopy4", CopySource={"Bucket": "api", "Key": "tsrc"}, MetadataDirective="REPLACE",
                  ContentType="text/x-new")
    assert tagset(c.get_object_tagging(Bucket="api", Key="tcopy4")) == [("k", "v"), ("team", "a")]
    error(s3("PUT", "/api/tcopy5", headers={"x-amz-copy-source": "/api/tsrc", "x-amz-tagging-directive": "MERGE"}), 400,
          "InvalidArgument")
    # CreateMultipartUpload with tags: the completed object has them; tagging a multipart object keeps its parts
    uid = c.create_multipart_upload(Bucket="api", Key="tmpu", Tagging="Hello=World&foo=bar")["UploadId"]
    p1 = os.urandom(5 << 20)
    e1 = c.upload_part(Bucket="api", Key="tmpu", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = c.upload_part(Bucket="api", Key="tmpu", UploadId=uid, PartNumber=2, Body=b"end")["ETag"]
    c.complete_multipart_upload(Bucket="api", Key="tmpu", UploadId=uid,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert tagset(c.get_object_tagging(Bucket="api", Key="tmpu")) == [("Hello", "World"), ("foo", "bar")]
    c.put_object_tagging(Bucket="api", Key="tmpu", Tagging={"TagSet": [{"Key": "x", "Value": "y"}]})
    assert c.get_object(Bucket="api", Key="tmpu")["Body"].read() == p1 + b"end"
    assert ok(s3("GET", "/api/tmpu?partNumber=2"), 206).body == b"end"


@test
def tagging_races_writes():
    # PutObjectTagging and PUTs of one key at once: every GET sees one PUT's body, whole; the tags never land on another body
    c = boto()
    c.put_object(Bucket="api", Key="trace", Body=b"start")
    stop = []

    def writer():
        for i in range(30):
            ok(s3("PUT", "/api/trace", b"body %d" % i * 1000))
        stop.append(1)

    def tagger():
        i = 0
        while not stop:
            r = s3("PUT", "/api/trace?tagging", b"<Tagging><TagSet><Tag><Key>n</Key><Value>%d</Value></Tag></TagSet></Tagging>" % i)
            assert r.status == 200, r.body
            i += 1
    ts = [threading.Thread(target=writer), threading.Thread(target=tagger)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert ok(s3("GET", "/api/trace")).body == b"body 29" * 1000
    # the objects left on disk are the bucket's own: no stray hard link (every data file is named by a record)
    ok(s3("PUT", "/api/trace?tagging", b"<Tagging><TagSet><Tag><Key>n</Key><Value>last</Value></Tag></TagSet></Tagging>"))
    assert tagset(c.get_object_tagging(Bucket="api", Key="trace")) == [("n", "last")]


# ---- GetObjectAttributes ------------------------------------------------------------------------------------------------------

@test
def object_attributes():
    c = boto()
    etag = c.put_object(Bucket="api", Key="attr", Body=b"foo")["ETag"]
    attrs = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
    r = c.get_object_attributes(Bucket="api", Key="attr", ObjectAttributes=attrs)
    assert r["ObjectSize"] == 3 and r["ETag"] == etag.strip('"') and r["StorageClass"] == "STANDARD", r
    assert "ObjectParts" not in r and "DeleteMarker" not in r and "VersionId" not in r and "LastModified" in r
    r = c.get_object_attributes(Bucket="api", Key="attr", ObjectAttributes=["ObjectSize"])
    assert r["ObjectSize"] == 3 and "ETag" not in r
    # a multipart object: its parts, paged
    part = 5 << 20
    uid = c.create_multipart_upload(Bucket="api", Key="attr-mp")["UploadId"]
    parts = []
    for i in range(1, 5):
        e = c.upload_part(Bucket="api", Key="attr-mp", UploadId=uid, PartNumber=i, Body=b"%d" % i * (part if i < 4 else 10))["ETag"]
        parts.append({"PartNumber": i, "ETag": e})
    etag = c.complete_multipart_upload(Bucket="api", Key="attr-mp", UploadId=uid, MultipartUpload={"Parts": parts})["ETag"]
    r = c.get_object_attributes(Bucket="api", Key="attr-mp", ObjectAttributes=attrs)
    assert r["ObjectSize"] == 3 * part + 10 and r["ETag"] == etag.strip('"')
    op = r["ObjectParts"]
    assert op["TotalPartsCount"] == 4 and op["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(1, part), (2, part), (3, part), (4, 10)]
    r = c.get_object_attributes(Bucket="api", Key="attr-mp", ObjectAttributes=attrs, MaxParts=1, PartNumberMarker=2)
    op = r["ObjectParts"]
    assert op["MaxParts"] == 1 and op["PartNumberMarker"] == 2 and op["IsTruncated"] is True and op["NextPartNumberMarker"] == 3
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(3, part)]
    # errors: no attributes, an unknown one, a missing key
    error(s3("GET", "/api/attr?attributes"), 400, "InvalidArgument")
    error(s3("GET", "/api/attr?attributes", headers={"x-amz-object-attributes": "ETag,Colour"}), 400, "InvalidArgument")
    error(s3("GET", "/api/none?attributes", headers={"x-amz-object-attributes": "ETag"}), 404, "NoSuchKey")
    # awscli v2
    _, out, _ = aws("s3api", "get-object-attributes", "--bucket", "api", "--key", "attr", "--object-attributes", "ObjectSize",
                    "StorageClass")
    assert out["ObjectSize"] == 3 and out["StorageClass"] == "STANDARD", out


# ---- the edge cache purged by the tags of store objects --------------------------------------------------------------------

def via_edge(path):
    import urllib.request
    r = urllib.request.urlopen(urllib.request.Request(edge.url(path)), timeout=60 * SLOW)
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


@test
def purge_cache_by_store_tags():
    ok(s3("PUT", "/tagcache"))
    objs = {"a": "team=a&kind=img", "b": "team=a", "c": "team=b"}
    for name, tags in objs.items():
        ok(s3("PUT", "/tagcache/m/%s.txt" % name, b"v1 " + name.encode(), headers={"x-amz-tagging": tags, "cache-control": "max-age=600"}))
    # the store gives the tags as Surrogate-Key only to edgehook's S3 origin (which asks with x-edgehook-cache-tags)
    r = ok(s3("GET", "/tagcache/m/a.txt", headers={"x-edgehook-cache-tags": "1"}))
    assert r.headers["surrogate-key"] == "kind=img team=a", r.headers
    assert "surrogate-key" not in ok(s3("GET", "/tagcache/m/a.txt")).headers
    for name in objs:
        st, h, body = via_edge("/m/%s.txt" % name)
        assert st == 200 and body == b"v1 " + name.encode() and h["x-cache"] == "Miss from edgehook", (name, h)
        st, h, body = via_edge("/m/%s.txt" % name)
        assert h["x-cache"] == "Hit from edgehook", (name, h)
        assert "surrogate-key" not in h and "cache-tag" not in h, h  # the cache's own, never shown to viewers
    # an overwrite in the store purges the key's cached copies by itself (purge on write): the next viewer gets v2
    for name in objs:
        ok(s3("PUT", "/tagcache/m/%s.txt" % name, b"v2 " + name.encode(), headers={"x-amz-tagging": objs[name],
                                                                                    "cache-control": "max-age=600"}))
    for name in objs:
        st, h, body = via_edge("/m/%s.txt" % name)
        assert body == b"v2 " + name.encode() and h["x-cache"] == "Miss from edgehook", (name, body, h["x-cache"])
        assert via_edge("/m/%s.txt" % name)[1]["x-cache"] == "Hit from edgehook"
    # a purge by the tag team=a (no write) drops a and b, not c
    st, body = edge.admin("POST", "/purge", {"tag": "team=a"})
    assert st == 200 and body["purged"] == 2, body
    for name, want, cache in (("a", b"v2 a", "Miss"), ("b", b"v2 b", "Miss"), ("c", b"v2 c", "Hit")):
        st, h, body = via_edge("/m/%s.txt" % name)
        assert body == want and h["x-cache"] == cache + " from edgehook", (name, body, h["x-cache"])
    # tags changed by PutObjectTagging count from the next fill
    ok(s3("PUT", "/tagcache/m/c.txt?tagging", b"<Tagging><TagSet><Tag><Key>team</Key><Value>a</Value></Tag></TagSet></Tagging>"))
    st, body = edge.admin("POST", "/purge", {"tag": "team=b"})
    assert st == 200 and body["purged"] == 1, body
    assert via_edge("/m/c.txt")[1]["x-cache"] == "Miss from edgehook"
    st, body = edge.admin("POST", "/purge", {"tag": "team=a"})
    assert st == 200 and body["purged"] == 3, body
    # a tag with characters outside a token: percent-encoded as in the stored form
    ok(s3("PUT", "/tagcache/m/d.txt", b"d", headers={"x-amz-tagging": "my%20team=a%2Fb", "cache-control": "max-age=600"}))
    via_edge("/m/d.txt")
    st, body = edge.admin("POST", "/purge", {"tag": "my%20team=a%2Fb"})
    assert st == 200 and body["purged"] == 1, body


@test
def location_and_completion_survive_restart():
    global edge
    ok(s3("PUT", "/loc-ap", b"<CreateBucketConfiguration><LocationConstraint>ap-south-1</LocationConstraint>"
                            b"</CreateBucketConfiguration>"))
    uid, parts = mpu("durable", [b"d"])
    first = ok(s3("POST", "/api/durable?uploadId=" + uid, complete_body(parts)))
    ok(s3("PUT", "/api/durable-tags", b"t", headers={"x-amz-tagging": "keep=me"}))
    ok(s3("PUT", "/api/durable?tagging", b"<Tagging><TagSet><Tag><Key>mp</Key><Value>1</Value></Tag></TagSet></Tagging>"))
    edge.stop()
    edge = Edge(config(), name="edge2", workdir=edge.dir)
    W.port = edge.ports["store"]
    _, out, _ = aws("s3api", "get-bucket-location", "--bucket", "loc-ap")
    assert out["LocationConstraint"] == "ap-south-1", out
    assert ok(s3("HEAD", "/loc-ap")).headers["x-amz-bucket-region"] == "ap-south-1"
    # the completion record is durable
    r = ok(s3("POST", "/api/durable?uploadId=" + uid, complete_body(parts)))
    assert r.text("ETag") == first.text("ETag")
    # tags are part of the object's record
    r = ok(s3("GET", "/api/durable-tags?tagging"))
    assert r.texts("Key") == ["keep"] and r.texts("Value") == ["me"]
    assert ok(s3("GET", "/api/durable?tagging")).texts("Key") == ["mp"]
    assert ok(s3("GET", "/api/durable")).body == b"d"


if __name__ == "__main__":
    try:
        run()
    finally:
        edge.stop()
