"""End-to-end: Lambda's management API on the admin listener, driven by Debian's /usr/bin/aws (awscli v2) unmodified, by the AWS
JS SDK (@aws-sdk/client-lambda) and by raw sockets: list/get functions, update-function-code from a zip, publish-version with its
CodeSha256 check, versions, aliases with a weighted canary measured through the proxy, delete-function, SigV4 and bearer auth and
their refusals, and hostile paths, bodies and zips."""
import base64
import datetime
import hashlib
import hmac
import http.client
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import edgetest  # noqa: E402
from edgetest import SLOW, SRC, Edge, Skip, run, test  # noqa: E402
from origin import Origin  # noqa: E402

TOKEN = "lambda-api-test-token"
AK, SK = "AKLAMBDATEST", "lambda-test-secret-key"
TMP = tempfile.mkdtemp(prefix="e2e-lambda-")
origin = Origin()
AWS = "/usr/bin/aws"

HOOK = """-- a test hook: says which version answered
function handler(event, context)
    local response = event.Records[1].cf.response
    response.headers["x-version"] = {{key = "X-Version", value = "%s"}}
    return response
end
"""


def hook_text(tag):
    return (HOOK % tag).encode()


LIVE = os.path.join(TMP, "tag.lua")
with open(LIVE, "wb") as f:
    f.write(hook_text("1"))
SPARE = os.path.join(TMP, "spare.lua")
with open(SPARE, "wb") as f:
    f.write(hook_text("spare"))

CONFIG = """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
origins:
  web: {type: http, url: "%s"}
hooks:
  tag: {lua: %s}
  spare: {lua: %s}
behaviors:
  - {path: "/canary/*", origin: web, hooks: {viewer-response: tag@canary}}
  - {path: "*", origin: web, hooks: {viewer-response: tag}}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: %s
  credentials: {access_key: %s, secret_key: %s}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
""" % (origin.url, LIVE, SPARE, os.path.join(TMP, "store"), AK, SK, TOKEN)

edge = Edge(CONFIG)
ENDPOINT = "http://127.0.0.1:%d" % edge.ports["admin"]
# the CLI sees nothing of this machine's AWS setup: no config or credentials file, no pager, no proxy
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(BASE_ENV, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=os.path.join(TMP, "no-config"), AWS_SHARED_CREDENTIALS_FILE=os.path.join(TMP, "no-credentials"),
               AWS_PAGER="", AWS_MAX_ATTEMPTS="1")


def aws(*args, ok=True, env=None):
    """one `aws lambda ...` call: (exit status, parsed JSON stdout or None, stderr text)"""
    p = subprocess.run([AWS, "--endpoint-url", ENDPOINT, "--output", "json", "lambda"] + list(args), env=dict(AWS_ENV, **(env or {})),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120 * SLOW)
    out, err = p.stdout.decode(), p.stderr.decode()
    if ok:
        assert p.returncode == 0, (args, p.returncode, out, err)
    return p.returncode, (json.loads(out) if out.strip() else None), err


def aws_error(code, *args, env=None):
    """an `aws lambda ...` call that must fail with Lambda's error `code`; returns the message the CLI printed"""
    rc, out, err = aws(*args, ok=False, env=env)
    assert rc != 0 and "An error occurred (%s)" % code in err, (args, rc, out, err)
    return err


def b64sha(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def make_zip(entries, path=None):
    """a zip of {name: bytes}, written to a file (for fileb://) when path is given; returns its bytes"""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    data = buf.getvalue()
    if path:
        with open(path, "wb") as f:
            f.write(data)
    return data


def zip_file(name, entries):
    path = os.path.join(TMP, name)
    make_zip(entries, path)
    return "fileb://" + path


def version_of(path, headers=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30 * SLOW)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    r.read()
    if conn is None:
        c.close()
    return r.getheader("x-version")


# ---- SigV4, as the CLI signs (for the raw requests) ------------------------------------------------------------------------------

def signed_headers(method, path, body=b"", secret=SK, when=None, service="lambda", region="us-east-1", access_key=AK):
    t = when or datetime.datetime.now(datetime.timezone.utc)
    amz = t.strftime("%Y%m%dT%H%M%SZ")
    host = "127.0.0.1:%d" % edge.ports["admin"]
    path, _, query = path.partition("?")
    pairs = sorted((urllib.parse.quote(urllib.parse.unquote(k), safe="-_.~"), urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~"))
                   for k, _, v in (p.partition("=") for p in query.split("&") if p))
    creq = "\n".join([method, path.replace("%", "%25"), "&".join("%s=%s" % kv for kv in pairs),
                      "host:%s\nx-amz-date:%s\n" % (host, amz), "host;x-amz-date", hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (amz[:8], region, service)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (amz[:8], region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    return {"Host": host, "X-Amz-Date": amz,
            "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=host;x-amz-date, Signature=%s" % (access_key, scope, sig)}


def raw(method, path, headers=None, body=None):
    """one request on a fresh connection: (status, headers dict (lowercase), body bytes)"""
    c = http.client.HTTPConnection("127.0.0.1", edge.ports["admin"], timeout=60 * SLOW)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def lambda_error(status, headers, body):
    """(x-amzn-ErrorType, message) of a Lambda error answer"""
    doc = json.loads(body)
    assert doc.get("Type") == "User" and "message" in doc, (status, body)
    return headers.get("x-amzn-errortype"), doc["message"]


def api(method, path, body=None):
    """one SigV4-signed request, as the CLI makes it, without the CLI's seconds of start: (status, x-amzn-ErrorType, JSON)"""
    data = json.dumps(body).encode() if body is not None else b""
    st, h, b = raw(method, path, signed_headers(method, path, data), data if body is not None else None)
    return st, h.get("x-amzn-errortype"), (json.loads(b) if b else None)


F = "/2015-03-31/functions/"

CONFIG_KEYS = {"FunctionName", "FunctionArn", "Runtime", "Role", "Handler", "CodeSize", "Description", "Timeout", "MemorySize",
               "LastModified", "CodeSha256", "Version", "State", "LastUpdateStatus", "PackageType", "Architectures"}


# ---- reads ----------------------------------------------------------------------------------------------------------------------

@test
def list_and_get_functions():
    _, out, _ = aws("list-functions")
    fs = {f["FunctionName"]: f for f in out["Functions"]}
    assert set(fs) == {"tag", "spare"}, fs
    f = fs["tag"]
    assert CONFIG_KEYS <= set(f), set(f) ^ CONFIG_KEYS
    assert f["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:tag", f
    assert f["Runtime"] == "lua5.1" and f["Version"] == "$LATEST" and f["State"] == "Active", f
    assert f["CodeSha256"] == b64sha(hook_text("1")) and f["CodeSize"] == len(hook_text("1")), f
    assert f["PackageType"] == "Zip" and f["Architectures"] == ["x86_64"] and f["LastUpdateStatus"] == "Successful", f
    _, c, _ = aws("get-function-configuration", "--function-name", "tag")
    assert c["CodeSha256"] == f["CodeSha256"] and c["Version"] == "$LATEST", c
    _, g, _ = aws("get-function", "--function-name", "arn:aws:lambda:us-east-1:000000000000:function:tag")
    assert g["Configuration"]["FunctionName"] == "tag" and "Location" in g["Code"], g
    # a version and an alias as qualifier (the config made version 1 and `live`)
    _, v1, _ = aws("get-function-configuration", "--function-name", "tag", "--qualifier", "1")
    assert v1["Version"] == "1" and v1["FunctionArn"].endswith("function:tag:1"), v1
    st, _, live = api("GET", F + "tag%3Alive/configuration")
    assert st == 200 and live["Version"] == "1" and live["FunctionArn"].endswith("function:tag:live"), live
    # pages: one function a page (MaxItems, NextMarker), and the CLI following NextMarker
    st, _, page = api("GET", F + "?MaxItems=1")
    assert st == 200 and len(page["Functions"]) == 1 and page.get("NextMarker"), page
    st, _, rest = api("GET", F + "?MaxItems=1&Marker=" + page["NextMarker"])
    assert len(rest["Functions"]) == 1 and rest["Functions"][0]["FunctionName"] != page["Functions"][0]["FunctionName"], rest
    assert "NextMarker" not in rest, rest
    _, paged, _ = aws("list-functions", "--page-size", "1")
    assert sorted(x["FunctionName"] for x in paged["Functions"]) == ["spare", "tag"], paged


@test
def unknown_functions_and_qualifiers():
    msg = aws_error("ResourceNotFoundException", "get-function", "--function-name", "nope")
    assert "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope" in msg, msg
    for method, path in (("GET", F + "tag/configuration?Qualifier=99"), ("GET", F + "tag/aliases/nosuch"),
                         ("GET", F + "nope/versions"), ("GET", F + "nope/aliases"), ("POST", F + "nope/versions")):
        st, typ, doc = api(method, path, {} if method == "POST" else None)
        assert st == 404 and typ == "ResourceNotFoundException", (path, st, typ, doc)


# ---- auth ------------------------------------------------------------------------------------------------------------------------

@test
def sigv4_refusals_with_the_cli():
    msg = aws_error("InvalidSignatureException", "list-functions", env={"AWS_SECRET_ACCESS_KEY": "wrong-secret"})
    assert "signature we calculated does not match" in msg, msg
    aws_error("UnrecognizedClientException", "list-functions", env={"AWS_ACCESS_KEY_ID": "AKUNKNOWN"})
    assert "refused" in edge.log()


@test
def sigv4_and_bearer_with_raw_requests():
    path = "/2015-03-31/functions/tag/configuration"
    st, h, b = raw("GET", path, signed_headers("GET", path))
    assert st == 200 and json.loads(b)["FunctionName"] == "tag", (st, b)
    st, h, b = raw("GET", path, {"Authorization": "Bearer " + TOKEN})
    assert st == 200 and json.loads(b)["FunctionName"] == "tag", (st, b)
    st, h, b = raw("GET", path)
    assert st == 403 and lambda_error(st, h, b)[0] == "MissingAuthenticationTokenException", (st, h, b)
    st, h, b = raw("GET", path, {"Authorization": "Bearer not-the-token"})
    assert st == 403 and lambda_error(st, h, b)[0] == "UnrecognizedClientException", (st, h, b)
    # a tampered signature: one hex digit changed
    hs = signed_headers("GET", path)
    a = hs["Authorization"]
    hs["Authorization"] = a[:-1] + ("0" if a[-1] != "0" else "1")
    st, h, b = raw("GET", path, hs)
    assert st == 403 and lambda_error(st, h, b)[0] == "InvalidSignatureException", (st, h, b)
    # signed for another path
    st, h, b = raw("GET", "/2015-03-31/functions/spare/configuration", signed_headers("GET", path))
    assert st == 403 and lambda_error(st, h, b)[0] == "InvalidSignatureException", (st, h, b)
    # a body other than the one signed
    body = json.dumps({"Description": "x"}).encode()
    hs = signed_headers("POST", "/2015-03-31/functions/spare/versions", body=b"{}")
    st, h, b = raw("POST", "/2015-03-31/functions/spare/versions", hs, body)
    assert st == 403 and lambda_error(st, h, b)[0] == "InvalidSignatureException", (st, h, b)
    # dated 20 minutes ago: outside the 15-minute window
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    st, h, b = raw("GET", path, signed_headers("GET", path, when=old))
    assert st == 403 and lambda_error(st, h, b)[0] == "InvalidSignatureException", (st, h, b)
    assert "15 minutes" in lambda_error(st, h, b)[1], b
    # scoped to another service, or another region
    st, h, b = raw("GET", path, signed_headers("GET", path, service="s3"))
    assert st == 403 and lambda_error(st, h, b)[0] == "IncompleteSignatureException", (st, h, b)
    st, h, b = raw("GET", path, signed_headers("GET", path, region="eu-west-3"))
    assert st == 403 and lambda_error(st, h, b)[0] == "IncompleteSignatureException", (st, h, b)
    # a garbled Authorization
    st, h, b = raw("GET", path, {"Authorization": "AWS4-HMAC-SHA256 Credential=, Signature=zz"})
    assert st == 403 and lambda_error(st, h, b)[0] == "IncompleteSignatureException", (st, h, b)
    # the other admin routes keep the bearer token alone
    st, h, b = raw("GET", "/hooks", signed_headers("GET", "/hooks"))
    assert st == 401, (st, b)


# ---- code, versions -------------------------------------------------------------------------------------------------------------

def zips_available():
    st, h, b = raw("PUT", "/2015-03-31/functions/spare/code", {"Authorization": "Bearer " + TOKEN},
                   json.dumps({"ZipFile": base64.b64encode(b"not a zip").decode()}))
    if st == 400 and b"built without libzip" in b:
        raise Skip("this edgehook was built without libzip (libzip-dev): --zip-file is refused")


@test
def update_code_publish_and_list_versions():
    zips_available()
    v2 = hook_text("2")
    _, c, _ = aws("update-function-code", "--function-name", "tag", "--zip-file", zip_file("v2.zip", {"tag.lua": v2}))
    assert c["Version"] == "$LATEST" and c["CodeSha256"] == b64sha(v2) and c["CodeSize"] == len(v2), c
    st, _, c = api("GET", F + "tag/configuration")
    assert c["CodeSha256"] == b64sha(v2), c
    # live still serves version 1: $LATEST is not what behaviors use
    assert version_of("/count/a") == "1"
    msg = aws_error("PreconditionFailedException", "publish-version", "--function-name", "tag", "--code-sha256", b64sha(b"other"))
    _, p, _ = aws("publish-version", "--function-name", "tag", "--code-sha256", b64sha(v2), "--description", "second")
    assert p["Version"] == "2" and p["Description"] == "second" and p["FunctionArn"].endswith(":tag:2"), p
    # the same code and settings again: the same version, as Lambda does
    st, _, again = api("POST", F + "tag/versions", {})
    assert st == 201 and again["Version"] == "2", again
    _, vs, _ = aws("list-versions-by-function", "--function-name", "tag")
    assert [v["Version"] for v in vs["Versions"]] == ["$LATEST", "1", "2"], vs
    assert vs["Versions"][2]["CodeSha256"] == b64sha(v2) and vs["Versions"][1]["CodeSha256"] == b64sha(hook_text("1")), vs
    st, _, page = api("GET", F + "tag/versions?MaxItems=2")
    assert [v["Version"] for v in page["Versions"]] == ["$LATEST", "1"] and page.get("NextMarker"), page
    # update-function-code --publish: the code and a version in one call
    v3 = hook_text("3")
    _, c, _ = aws("update-function-code", "--function-name", "spare", "--zip-file", zip_file("s.zip", {"d/spare.lua": v3}), "--publish")
    assert c["Version"] == "2" and c["CodeSha256"] == b64sha(v3), c
    assert msg


@test
def bad_zips_are_refused():
    zips_available()
    # with the CLI (each call takes seconds: the CLI's start), then the rest raw
    cases = {
        "nohook.zip": {"readme.txt": b"hello"},
        "two.zip": {"a.lua": hook_text("a"), "b.lua": hook_text("b")},
        "traversal.zip": {"../evil.lua": hook_text("e")},
        "bomb.zip": {"big.lua": b"-- " + b"a" * (64 << 20)},
    }
    for name, entries in cases.items():
        msg = aws_error("InvalidParameterValueException", "update-function-code", "--function-name", "spare", "--zip-file",
                        zip_file(name, entries))
        assert "Traceback" not in msg, (name, msg)
    for entries in ({"/etc/evil.lua": hook_text("e")}, {"..\\evil.lua": hook_text("e")}, {"a/../../evil.lua": hook_text("e")},
                    {"bad.lua": b"function handler(event\n"}, {"x.so": b"not an ELF"}, {}):
        body = json.dumps({"ZipFile": base64.b64encode(make_zip(entries)).decode()}).encode()
        path = "/2015-03-31/functions/spare/code"
        st, h, b = raw("PUT", path, signed_headers("PUT", path, body), body)
        assert st == 400 and lambda_error(st, h, b)[0] == "InvalidParameterValueException", (entries.keys(), st, b)
    # a zip whose headers say 100 bytes for 20 MB of code: stopped while inflating
    data = bytearray(make_zip({"liar.lua": b"-- " + b"x" * (20 << 20)}))
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = data.find(sig)
        data[i + off:i + off + 4] = struct.pack("<I", 100)
    with open(os.path.join(TMP, "liar.zip"), "wb") as f:
        f.write(data)
    aws_error("InvalidParameterValueException", "update-function-code", "--function-name", "spare", "--zip-file",
              "fileb://" + os.path.join(TMP, "liar.zip"))
    # not a zip at all (the CLI refuses such a file itself: sent raw) and not base64
    for z in (base64.b64encode(b"PK\x03\x04" + os.urandom(4096)).decode(), "%%%"):
        st, h, b = raw("PUT", "/2015-03-31/functions/spare/code", {"Authorization": "Bearer " + TOKEN}, json.dumps({"ZipFile": z}))
        assert st == 400 and lambda_error(st, h, b)[0] == "InvalidParameterValueException", (st, b)
    aws_error("InvalidParameterValueException", "update-function-code", "--function-name", "spare", "--s3-bucket", "bucket",
              "--s3-key", "k.zip")
    # nothing changed, and the process is fine
    st, _, c = api("GET", F + "spare/configuration")
    assert c["CodeSha256"] in (b64sha(hook_text("spare")), b64sha(hook_text("3"))), c
    edge.assert_clean()


# ---- aliases and the canary -----------------------------------------------------------------------------------------------------

@test
def aliases_and_the_weighted_canary_over_2000_viewers():
    zips_available()  # version 2 comes from update_code_publish_and_list_versions
    _, a, _ = aws("create-alias", "--function-name", "tag", "--name", "beta", "--function-version", "1", "--description", "b")
    assert a["Name"] == "beta" and a["FunctionVersion"] == "1" and a["AliasArn"].endswith("function:tag:beta"), a
    assert a["Description"] == "b" and a.get("RevisionId"), a
    st, typ, _ = api("POST", F + "tag/aliases", {"Name": "beta", "FunctionVersion": "1"})
    assert st == 409 and typ == "ResourceConflictException", (st, typ)
    st, typ, _ = api("POST", F + "tag/aliases", {"Name": "gamma", "FunctionVersion": "9"})
    assert st == 404 and typ == "ResourceNotFoundException", (st, typ)
    _, g, _ = aws("get-alias", "--function-name", "tag", "--name", "beta")
    assert g == a, (g, a)
    # the canary alias: sticky by a header (an edgehook extra the Lambda API keeps), then the split set with the CLI
    st, res = edge.admin("PUT", "/hooks/tag/aliases/canary", {"versions": {"1": 1}, "key": "header:x-viewer"})
    assert st == 200, (st, res)
    _, u, _ = aws("update-alias", "--function-name", "tag", "--name", "canary", "--function-version", "1", "--routing-config",
                  "AdditionalVersionWeights={2=0.1}", "--description", "ten percent")
    assert u["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}} and u["FunctionVersion"] == "1", u
    assert u["Description"] == "ten percent" and u["RevisionId"] != a["RevisionId"], u
    st, reg = edge.admin("GET", "/hooks")
    assert reg["hooks"]["tag"]["aliases"]["canary"]["key"] == "header:x-viewer", reg
    conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30 * SLOW)
    n = 2000
    got = [version_of("/canary/count/c?cc=max-age=600", {"x-viewer": "viewer-%d" % i}, conn) for i in range(n)]
    conn.close()
    assert set(got) == {"1", "2"}, set(got)
    share = got.count("2") / n
    print("  canary share over %d viewers: %.2f %% (target 10 +- 3)" % (n, 100 * share))
    assert 0.07 <= share <= 0.13, share  # 10 % +- 3 %: 4.5 standard deviations of a binomial(2000, 0.1)
    # sticky: the same viewer, the same version
    assert all(version_of("/canary/count/c?cc=max-age=600", {"x-viewer": "viewer-%d" % i}) == got[i] for i in range(20))
    _, ls, _ = aws("list-aliases", "--function-name", "tag")
    assert sorted(x["Name"] for x in ls["Aliases"]) == ["beta", "canary", "live"], ls
    st, _, ls2 = api("GET", F + "tag/aliases?FunctionVersion=2")
    assert [x["Name"] for x in ls2["Aliases"]] == ["canary"], ls2
    # the whole canary: routing config cleared, FunctionVersion 2
    _, u, _ = aws("update-alias", "--function-name", "tag", "--name", "canary", "--function-version", "2", "--routing-config",
                  "AdditionalVersionWeights={}")
    assert "RoutingConfig" not in u or not u["RoutingConfig"].get("AdditionalVersionWeights"), u
    assert version_of("/canary/count/c", {"x-viewer": "viewer-1"}) == "2"
    st, typ, _ = api("PUT", F + "tag/aliases/canary", {"RoutingConfig": {"AdditionalVersionWeights": {"1": 1.5}}})
    assert st == 400 and typ == "InvalidParameterValueException", (st, typ)
    aws("delete-alias", "--function-name", "tag", "--name", "beta")
    st, typ, _ = api("GET", F + "tag/aliases/beta")
    assert st == 404 and typ == "ResourceNotFoundException", (st, typ)
    st, typ, _ = api("DELETE", F + "tag/aliases/live")
    assert st == 409 and typ == "ResourceConflictException", (st, typ)


@test
def delete_function():
    msg = aws_error("ResourceConflictException", "delete-function", "--function-name", "tag")
    assert "behavior" in msg, msg
    aws("delete-function", "--function-name", "spare")
    st, typ, _ = api("GET", F + "spare")
    assert st == 404 and typ == "ResourceNotFoundException", (st, typ)
    st, _, out = api("GET", F)
    assert [f["FunctionName"] for f in out["Functions"]] == ["tag"], out
    st, typ, _ = api("DELETE", F + "spare")
    assert st == 404 and typ == "ResourceNotFoundException", (st, typ)


# ---- the JS SDK -------------------------------------------------------------------------------------------------------------------

@test
def js_sdk_publish_version():
    edgetest.npm_ready("@aws-sdk/client-lambda")
    script = os.path.join(SRC, "tests", "e2e", "lib", "lambda_js_sdk.mjs")
    p = subprocess.run(["node", script, ENDPOINT, AK, SK, "tag", b64sha(b"wrong")], env=dict(BASE_ENV, NODE_NO_WARNINGS="1"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120 * SLOW)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    res = json.loads(p.stdout.decode().strip().splitlines()[-1])
    assert res["wrong_sha"] == "PreconditionFailedException", res
    st, _, latest = api("GET", F + "tag/configuration")
    assert res["published"]["CodeSha256"] == latest["CodeSha256"] and res["published"]["Version"].isdigit(), res
    assert res["missing"] == "ResourceNotFoundException" and res["bad_secret"] == "InvalidSignatureException", res
    assert res["listed"] >= 2, res


# ---- the route parser, raw ------------------------------------------------------------------------------------------------------

def raw_socket(data, read=True):
    s = socket.create_connection(("127.0.0.1", edge.ports["admin"]), timeout=30 * SLOW)
    try:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while b"\r\n\r\n" not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


@test
def hostile_paths_and_bodies():
    auth = {"Authorization": "Bearer " + TOKEN}
    for path, want in [("/2015-03-31/functions/%00", 400), ("/2015-03-31/functions/a%2Fb", 400),
                       ("/2015-03-31/functions/" + "a" * 5000, 400), ("/2015-03-31/functions/tag/aliases/x/y/z", 404),
                       ("/2015-03-31/functions/tag/nothing", 404), ("/2015-03-31/functions/..%2F..%2Fetc", 400),
                       ("/2015-03-31/functions/tag?MaxItems=%ff%00", 400), ("/2015-03-31/functions/?MaxItems=0", 400),
                       ("/2015-03-31/functions/?Marker=zz", 400), ("/2015-03-31/functions/arn:aws:lambda:x:y:function:", 400),
                       ("/2015-03-31/functions/a:b:c:d:e:f:g:h:i:j", 400), ("/2019-09-25/functions/tag/nothing", 404)]:
        st, h, b = raw("GET", path, auth)
        assert st == want and h.get("x-amzn-errortype"), (path, st, b)
    st, h, b = raw("PATCH", "/2015-03-31/functions/tag", auth)
    assert st == 404 and h["x-amzn-errortype"] == "UnknownOperationException", (st, b)
    for body in (b"{", b"[1,2]", b"\"x\"", b"{\"Name\": 5, \"FunctionVersion\": \"1\"}", b"\xff\xfe",
                 b"{\"Name\":\"x\",\"FunctionVersion\":\"1\",\"RoutingConfig\":{\"AdditionalVersionWeights\":{\"a\":0.1}}}",
                 b"{\"Name\":\"x\",\"FunctionVersion\":\"$LATEST\"}", b"[" * 100000):
        st, h, b = raw("POST", "/2015-03-31/functions/tag/aliases", dict(auth, **{"Content-Type": "application/json"}), body)
        assert st == 400 and h.get("x-amzn-errortype") in ("InvalidRequestContentException", "InvalidParameterValueException"), \
            (body[:40], st, b)
    # a body over the API's 12 MB: refused whole (413), and the listener goes on
    big = b"{\"ZipFile\":\"" + b"A" * (13 << 20) + b"\"}"
    st, h, b = raw("PUT", "/2015-03-31/functions/tag/code", auth, big)
    assert st == 413, (st, b[:200])
    # a raw request whose path has bytes a client would never send, and a truncated one
    out = raw_socket(b"GET /2015-03-31/functions/\x01\x7f HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
                     b"\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 4"), out[:200]
    raw_socket(b"PUT /2015-03-31/functions/tag/code HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"ZipF", read=False)
    st, h, b = raw("GET", "/2015-03-31/functions/", auth)
    assert st == 200, (st, b)
    edge.assert_clean()


@test
def clean_exit():
    assert edge.stop() == 0, edge.log()[-3000:]
    edge.assert_clean()
    origin.stop()


if __name__ == "__main__":
    run()
