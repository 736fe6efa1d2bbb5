# ctest-labels: notsan
# notsan: time budget: sandbox and admin rules, one request at a time
"""End-to-end: smaller hardening items - the Lua sandbox (string.dump), the cap on the heads hooks return, where the admin API may
load hook files from, and the store's DeleteObjects checksum requirement and reserved bucket names.

Standard library only; real clients (curl, /usr/bin/aws) where they matter; raw SigV4-signed requests where every header counts.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BUILD, SLOW, SRC, Edge, curl_status, run, test, metric, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TOKEN = "hardening-misc-token"
AK, SK = "HARDENINGSTOREKEY001", "hardeningstoresecret000000000000000000001"
REGION = "us-east-1"
TMP = tempfile.mkdtemp(prefix="e2e-hardening-misc-")
PLUGINS = os.path.join(BUILD, "tests", "hooks")
for d in ("plugins", "other", "hooks"):
    os.makedirs(os.path.join(TMP, d))
shutil.copy(os.path.join(SRC, "tests", "hooks", "escape.lua"), os.path.join(TMP, "hooks", "escape.lua"))

origin = Origin()
edge = Edge("""
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: combined}
origins:
  web: {type: http, url: "%(origin)s"}
hooks:
  escape: {lua: %(tmp)s/hooks/escape.lua}
  big: {lua: %(src)s/tests/hooks/big_headers.lua}
  cbig: {native: %(plugins)s/libbig_headers.so}
behaviors:
  - {path: "/escape/*", origin: web, cache: off, hooks: {viewer-request: escape}}
  - {path: "/big/*", origin: web, cache: off, hooks: {viewer-response: big}}
  - {path: "/cbig/*", origin: web, cache: off, hooks: {viewer-response: cbig}}
  - {path: "*", origin: web, cache: off}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %(token)s
  plugin_dirs: [%(tmp)s/plugins]
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  credentials: {access_key: %(ak)s, secret_key: %(sk)s}
""" % {"origin": origin.url, "tmp": TMP, "src": SRC, "plugins": PLUGINS, "token": TOKEN, "ak": AK, "sk": SK})
STORE = edge.ports["store"]


def log_says(*parts):
    return lambda: any(all(p in line for p in parts) for line in edge.log().splitlines())


def alive():
    assert edge.proc.poll() is None, "edgehook exited:\n" + edge.log()[-4000:]
    st, _, body = curl_status(edge.url("/status/200"))
    assert st == 200, (st, body)


# ---- 1. the Lua sandbox ----------------------------------------------------------------------------------------------------

@test
def lua_string_dump_is_503_and_the_log_says_why():
    for name, why in (("dump", "attempt to call field 'dump' (a nil value)"),
                      ("string_mt_dump", "attempt to call field 'dump' (a nil value)"),
                      ("string_mt_index", "attempt to index a boolean value"),
                      ("loadstring", "attempt to call global 'loadstring' (a nil value)"),
                      ("require_ffi", "module 'ffi' is not available to hooks")):
        st, _, body = curl_status("-H", "X-Escape: " + name, edge.url("/escape/" + name))
        assert st == 503, (name, st, body)
        # the error log names the hook version, the trigger, the status and the reason
        wait_until(log_says("hook escape@1", "viewer-request: 503 execution error", why), what="the log line for " + name)
    # a try that harmlessly does nothing goes through
    st, hdrs, _ = curl_status("-H", "X-Escape: collectgarbage", edge.url("/escape/gc"))
    assert st != 503, st
    alive()


# ---- 3. the heads hooks return -------------------------------------------------------------------------------------------------

@test
def viewer_response_adding_5mb_of_headers_is_502_and_the_process_stays_up():
    st, _, body = curl_status("-H", "X-Big: bytes:%d" % (5 << 20), edge.url("/big/status/200"))
    assert st == 502, (st, body[:200])
    wait_until(log_says("hook big@1", "viewer-response: 502 invalid output", "limits.max_response_header_size"),
               what="the 502's log line")
    # thousands of small ones: over the 200 fields
    st, _, _ = curl_status("-H", "X-Big: count:1000", edge.url("/big/status/200"))
    assert st == 502, st
    wait_until(log_says("hook big@1", "header fields, over the limit of 200"), what="the count's log line")
    # a C plugin is held to the same cap
    st, _, _ = curl_status("-H", "X-Big-Count: 5000", "-H", "X-Big-Size: 1000", edge.url("/cbig/status/200"))
    assert st == 502, st
    # a hook within the cap still works, and so does everything else
    st, hdrs, _ = curl_status("-H", "X-Big: bytes:1000", edge.url("/big/status/200"))
    assert st == 200 and len(hdrs.get("x-big-value", "")) == 1000, (st, hdrs)
    alive()
    # counted as invalid output, per hook version
    def counted():
        st, text = edge.admin("GET", "/metrics")
        return st == 200 and metric(text, "edgehook_hook_errors_total", hook="big@1", status="502") == 2 and \
            metric(text, "edgehook_hook_errors_total", hook="cbig@1", status="502") == 1
    wait_until(counted, what="the 502s in edgehook_hook_errors_total")


# ---- 5. where the admin API may load hooks from ---------------------------------------------------------------------------------

@test
def admin_loads_plugins_only_from_the_allowed_directories():
    outside = os.path.join(TMP, "other", "libexercise_copy.so")
    inside = os.path.join(TMP, "plugins", "libexercise_copy.so")
    shutil.copy(os.path.join(PLUGINS, "libexercise.so"), outside)
    shutil.copy(os.path.join(PLUGINS, "libexercise.so"), inside)
    link = os.path.join(TMP, "plugins", "liblink.so")
    os.symlink(outside, link)
    # outside every allowed directory, or a link from inside to outside: 403 with a JSON reason, and nothing is loaded
    for path in (outside, link, os.path.join(TMP, "plugins", "..", "other", "libexercise_copy.so"), "/etc/passwd",
                 os.path.join(TMP, "plugins", "notes.txt")):
        st, res = edge.admin("POST", "/hooks/cbig/versions", {"path": path})
        assert st == 403 and isinstance(res, dict) and path in res["error"], (path, st, res)
    wait_until(log_says("admin: POST /hooks/cbig/versions refused", outside), what="the refusal in the log")
    st, reg = edge.admin("GET", "/hooks")
    assert [v["version"] for v in reg["hooks"]["cbig"]["versions"]] == [1], reg
    # admin.plugin_dirs, and the directory of the config's native hooks: 201
    st, res = edge.admin("POST", "/hooks/cbig/versions", {"path": inside})
    assert st == 201 and res["version"] == 2, (st, res)
    st, res = edge.admin("POST", "/hooks/cbig/versions", {"path": os.path.join(PLUGINS, "libgarbage.so")})
    assert st == 201 and res["version"] == 3, (st, res)
    # the version from plugin_dirs loads and serves once live points at it
    st, res = edge.admin("PUT", "/hooks/cbig/aliases/live", {"versions": {"2": 1}})
    assert st == 200, (st, res)
    v2 = [v for v in res["hooks"]["cbig"]["versions"] if v["version"] == 2][0]
    assert v2["loaded"] is True and v2["source"] == inside, v2
    st, _, _ = curl_status(edge.url("/cbig/status/200"))
    assert st == 200, st
    assert edge.admin("PUT", "/hooks/cbig/aliases/live", {"versions": {"1": 1}})[0] == 200
    # a missing file in an allowed directory is a plain 422
    st, res = edge.admin("POST", "/hooks/cbig/versions", {"path": os.path.join(TMP, "plugins", "libnone.so")})
    assert st == 422, (st, res)
    # Lua files: the config's Lua hook directories, plugin_dirs, the config file's directory; not elsewhere
    lua_out = os.path.join(TMP, "other", "escape.lua")
    shutil.copy(os.path.join(SRC, "tests", "hooks", "escape.lua"), lua_out)
    st, res = edge.admin("POST", "/hooks/escape/versions", {"path": lua_out})
    assert st == 403, (st, res)
    lua_in = os.path.join(TMP, "hooks", "escape_v2.lua")
    with open(lua_in, "w") as f:
        f.write(open(lua_out).read() + "\n-- v2\n")
    st, res = edge.admin("POST", "/hooks/escape/versions", {"path": lua_in})
    assert st == 201 and res["version"] == 2, (st, res)
    alive()


@test
def admin_token_is_checked_whole():
    for bad in (TOKEN[:-1], TOKEN + "x", TOKEN.upper(), ""):
        st, _ = edge.admin("GET", "/hooks", token=bad)
        assert st == 401, (bad, st)
    assert edge.admin("GET", "/hooks")[0] == 200


# ---- 6. the store -----------------------------------------------------------------------------------------------------------

def signing_key(date):
    k = hmac.new(("AWS4" + SK).encode(), date.encode(), hashlib.sha256).digest()
    for part in (REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def s3(method, target, body=b"", headers=None):
    """a request signed with SigV4 (header), every header given signed too; returns (status, headers, body)"""
    h = {k.lower(): v for k, v in (headers or {}).items()}
    h["host"] = "127.0.0.1:%d" % STORE
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    h["x-amz-date"] = amz
    h["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    path, _, query = target.partition("?")
    cq = "&".join(sorted("%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                         for k, _, v in (p.partition("=") for p in query.split("&") if p)))
    names = sorted(h)
    creq = "\n".join([method, path, cq] + ["%s:%s" % (n, h[n].strip()) for n in names] + ["", ";".join(names),
                                                                                          h["x-amz-content-sha256"]])
    scope = "%s/%s/s3/aws4_request" % (amz[:8], REGION)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(creq.encode()).hexdigest())
    sig = hmac.new(signing_key(amz[:8]), sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (AK, scope, ";".join(names), sig)
    c = http.client.HTTPConnection("127.0.0.1", STORE, timeout=30 * SLOW)
    c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    for k, v in h.items():
        c.putheader(k, v)
    c.putheader("content-length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out


def code_of(body):
    for el in ET.fromstring(body).iter():
        if el.tag.split("}")[-1] == "Code":
            return el.text
    return None


def crc64nvme(data):
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x9A6C9329AC4BC9B5 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def b64(raw):
    return base64.b64encode(raw).decode()


@test
def delete_objects_needs_a_checksum_and_verifies_it():
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888
    assert s3("PUT", "/hard")[0] == 200
    for k in ("a", "b", "c", "d", "e", "f", "g"):
        assert s3("PUT", "/hard/" + k, b"x")[0] == 200

    def delete(*keys):
        return ("<Delete>" + "".join("<Object><Key>%s</Key></Object>" % k for k in keys) + "</Delete>").encode()

    body = delete("a")
    st, _, res = s3("POST", "/hard?delete", body)
    assert st == 400 and code_of(res) == "InvalidRequest" and b"Missing required header for this request: Content-MD5" in res, res
    assert s3("HEAD", "/hard/a")[0] == 200  # nothing was deleted
    # Content-MD5 (awscli v2 2.9, s3cmd, rclone): 200, and a wrong one is BadDigest
    st, _, res = s3("POST", "/hard?delete", body, {"content-md5": b64(hashlib.md5(body).digest())})
    assert st == 200 and b"<Key>a</Key>" in res, (st, res)
    body = delete("b")
    st, _, res = s3("POST", "/hard?delete", body, {"content-md5": b64(hashlib.md5(b"other").digest())})
    assert st == 400 and code_of(res) == "BadDigest", res
    # the flexible checksums of the newer SDKs (the JS SDK and boto3 send CRC32; the C++ SDK CRC64NVME), each verified
    def digests(data):
        return {"crc32": zlib.crc32(data).to_bytes(4, "big"), "crc64nvme": crc64nvme(data).to_bytes(8, "big"),
                "sha1": hashlib.sha1(data).digest(), "sha256": hashlib.sha256(data).digest()}

    for alg, digest in digests(body).items():
        wrong = b64(bytes(x ^ 1 for x in digest))
        st, _, res = s3("POST", "/hard?delete", body, {"x-amz-checksum-" + alg: wrong, "x-amz-sdk-checksum-algorithm": alg.upper()})
        assert st == 400 and code_of(res) == "BadDigest", (alg, res)
    for key, alg in zip("cdef", ("crc32", "crc64nvme", "sha1", "sha256")):
        body = delete(key)
        right = b64(digests(body)[alg])
        st, _, res = s3("POST", "/hard?delete", body, {"x-amz-checksum-" + alg: right, "x-amz-sdk-checksum-algorithm": alg.upper()})
        assert st == 200 and ("<Key>%s</Key>" % key).encode() in res, (alg, st, res)
    st, _, res = s3("POST", "/hard?delete", body, {"x-amz-checksum-sha256": "not base64"})
    assert st == 400 and code_of(res) == "InvalidRequest", res
    # a real client: awscli v2's delete-objects
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", "http://127.0.0.1:%d" % STORE, "s3api", "delete-objects",
                        "--bucket", "hard", "--delete", '{"Objects": [{"Key": "b"}, {"Key": "g"}]}'], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120 * SLOW)
    assert p.returncode == 0, p.stderr.decode()
    assert sorted(d["Key"] for d in json.loads(p.stdout)["Deleted"]) == ["b", "g"], p.stdout
    st, _, res = s3("GET", "/hard?list-type=2")
    assert st == 200 and b"<Key>" not in res, res


@test
def reserved_bucket_names_are_invalid():
    for name in ("xn--abc", "sthree-abc", "amzn-s3-demo-abc", "abc-s3alias", "abc--ol-s3", "abc.mrap", "abc--x-s3",
                 "abc--table-s3"):
        st, _, res = s3("PUT", "/" + name)
        assert st == 400 and code_of(res) == "InvalidBucketName", (name, st, res)
    for name in ("xn-abc", "abc-xn--x", "s3alias-abc", "ol-s3abc"):
        st, _, res = s3("PUT", "/" + name)
        assert st == 200, (name, st, res)
        assert s3("DELETE", "/" + name)[0] == 204
    # store.seed refuses them at load, with the key and the line
    conf = os.path.join(TMP, "seed.yaml")
    with open(conf, "w") as f:
        f.write("""
listen: [{host: 127.0.0.1, port: 0}]
origins: {web: {type: http, url: "http://127.0.0.1:9"}}
behaviors: [{path: "*", origin: web}]
store:
  listen: {host: 127.0.0.1, port: 0}
  root: %s/seedroot
  seed: {bucket: xn--site, dir: %s}
""" % (TMP, TMP))
    p = subprocess.run([edge.proc.args[0], "-t", "-c", conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    err = (p.stdout + p.stderr).decode()
    assert p.returncode != 0 and "store.seed.bucket" in err and "xn--site" in err, (p.returncode, err)


@test
def clean_shutdown():
    assert edge.stop() == 0
    edge.assert_clean()
    origin.stop()


if __name__ == "__main__":
    run()
