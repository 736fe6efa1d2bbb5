"""End-to-end: Lambda's Invoke on the admin listener with Debian's AWS CLI v2 (`aws lambda invoke`, SigV4 with the store's
credentials) and the bearer token: results, --log-type Tail (START/END/REPORT, the hook's lines, Max Memory Used), --qualifier
versions and aliases, function errors (throw, timeout), DryRun, 404/400/413, a Lambda@Edge event, a C plugin's on_invoke, and
the AWS JS SDK (@aws-sdk/client-lambda) when it is installed."""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import edgetest  # noqa: E402
from edgetest import SLOW, SRC, Edge, Skip, notsan, run, test  # noqa: E402

TOKEN = "invoke-test-token"
AK, SK = "AKIDINVOKETEST", "invoke-test-secret-key"
TMP = tempfile.mkdtemp(prefix="e2e-lambda-invoke-")
PLUGINS = os.path.join(os.getcwd(), "tests", "hooks")


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


GEN = write("gen.lua", """-- a generic hook: any JSON in, any JSON out
function handler(event, context)
    print("hello from " .. context.functionName)
    if event.throw then
        error("boom: " .. tostring(event.throw))
    end
    if event.loop then
        while true do end
    end
    local keep = {}
    for i = 1, (event.alloc or 0) do
        keep[i] = string.rep("x", 1000) .. i -- about 1 KB each
    end
    return {answer = (event.x or 0) * 2, version = "%s", kept = #keep}
end
""" % "v1")
GEN2 = write("gen_v2.lua", open(GEN).read().replace('"v1"', '"v2"'))
EDGEHOOK = write("tagger.lua", """-- a Lambda@Edge viewer-request hook
function handler(event, context)
    local request = event.Records[1].cf.request
    edge.log("tagging " .. request.uri)
    request.headers["x-tagged"] = {{key = "X-Tagged", value = "yes"}}
    request.uri = request.uri .. "index.html"
    return request
end
""")

edge = Edge("""
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
origins:
  web: {type: http, url: "http://127.0.0.1:9"}
hooks:
  gen: {lua: %s, timeout: 2s}
  tagger: {lua: %s}
  plug: {native: %s}
behaviors:
  - {path: "/t/*", origin: web, hooks: {viewer-request: tagger}}
  - {path: "*", origin: web}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  credentials: {access_key: %s, secret_key: %s}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
""" % (GEN, EDGEHOOK, os.path.join(PLUGINS, "libinvoke_plugin.so"), AK, SK, TOKEN))
ENDPOINT = edge.url("", kind="admin")
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(BASE_ENV, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
REPORT = re.compile(r"^REPORT RequestId: ([0-9a-f-]{36})\tDuration: ([\d.]+) ms\tBilled Duration: (\d+) ms\tMemory Size: (\d+) MB\t"
                    r"Max Memory Used: (\d+) MB(\tInit Duration: ([\d.]+) ms)?$", re.M)


def sigv4_accepted():
    """the admin listener takes SigV4 for the Lambda routes (lapi's admin_authorize): an unsigned call is refused as Lambda
    refuses it (403), not with the bearer-only admin API's 401"""
    req = urllib.request.Request(ENDPOINT + "/2015-03-31/functions/gen/invocations", method="POST", data=b"{}")
    try:
        urllib.request.urlopen(req, timeout=60 * SLOW)
    except urllib.error.HTTPError as e:
        return e.code != 401
    return True


SIGV4 = sigv4_accepted()


def aws(*args, check=True, env=None):
    if not SIGV4:
        raise Skip("the admin listener does not take SigV4 yet (lapi's admin_authorize is not in this tree)")
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", ENDPOINT, "--no-cli-pager"] + list(args), env=env or AWS_ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120 * SLOW)
    if check and p.returncode != 0:
        raise AssertionError("aws %s: %d\n%s\n%s" % (" ".join(args), p.returncode, p.stdout.decode(), p.stderr.decode()))
    return p


class Raw:
    """what a failed invoke_raw leaves, shaped as the CLI's process (returncode, stderr)"""
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


def invoke_raw(name, payload, *extra):
    """the CLI's Invoke made by hand with the bearer token (while the admin listener takes no SigV4): same results"""
    opts = dict(zip(extra[0::2], extra[1::2]))
    headers = {}
    if "--log-type" in opts:
        headers["X-Amz-Log-Type"] = opts["--log-type"]
    if "--invocation-type" in opts:
        headers["X-Amz-Invocation-Type"] = opts["--invocation-type"]
    path = "/2015-03-31/functions/%s/invocations" % urllib.parse.quote(name, safe="")
    if "--qualifier" in opts:
        path += "?Qualifier=" + urllib.parse.quote(opts["--qualifier"], safe="")
    data = payload.encode() if payload is not None else b""
    if payload is not None and payload.startswith("fileb://"):
        data = open(payload[8:], "rb").read()
    status, h, body = admin("POST", path, data, headers)
    if status >= 300:
        msg = json.loads(body)["message"]
        return None, None, None, Raw(254, ("An error occurred (%s) when calling the Invoke operation: %s" %
                                          (h.get("x-amzn-ErrorType"), msg)).encode())
    meta = {"StatusCode": status, "ExecutedVersion": h["X-Amz-Executed-Version"]}
    if "X-Amz-Function-Error" in h:
        meta["FunctionError"] = h["X-Amz-Function-Error"]
    if "X-Amz-Log-Result" in h:
        meta["LogResult"] = h["X-Amz-Log-Result"]
    log = base64.b64decode(meta["LogResult"]).decode() if "LogResult" in meta else None
    return meta, body, log, Raw(0, b"")


def invoke(name, payload, *extra, check=True):
    """aws lambda invoke: (the CLI's JSON output, the response file's bytes, the decoded log or None, the process)"""
    if not SIGV4:
        return invoke_raw(name, payload, *extra)
    out = os.path.join(TMP, "out.json")
    if os.path.exists(out):
        os.unlink(out)
    args = ["lambda", "invoke", "--function-name", name, "--cli-binary-format", "raw-in-base64-out", out] + list(extra)
    if payload is not None:
        args[4:4] = ["--payload", payload]
    p = aws(*args, check=check)
    if p.returncode != 0:
        return None, None, None, p
    meta = json.loads(p.stdout)
    body = open(out, "rb").read() if os.path.exists(out) else b""
    log = base64.b64decode(meta["LogResult"]).decode() if "LogResult" in meta else None
    return meta, body, log, p


def admin(method, path, body=None, headers=None):
    req = urllib.request.Request(ENDPOINT + path, method=method, data=body,
                                 headers=dict({"Authorization": "Bearer " + TOKEN}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@test
def invoke_returns_the_result():
    meta, body, log, _ = invoke("gen", '{"x": 21}')
    assert meta["StatusCode"] == 200 and meta["ExecutedVersion"] == "$LATEST" and "FunctionError" not in meta, meta
    assert json.loads(body) == {"answer": 42, "version": "v1", "kept": 0}, body
    assert log is None  # no --log-type Tail: no log


@test
def log_type_tail_has_start_end_report_and_the_hooks_line():
    meta, body, log, _ = invoke("gen", '{"x": 1}', "--log-type", "Tail")
    lines = log.splitlines()
    m = REPORT.search(log)
    assert m, log
    rid = m.group(1)
    assert lines[0] == "START RequestId: %s Version: $LATEST" % rid, lines
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t%s\tINFO\thello from gen$" % rid, lines[1]), lines
    assert lines[-2] == "END RequestId: " + rid and lines[-1] == m.group(0), lines
    duration, billed, size, used = float(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))
    assert 0 < duration <= billed <= duration + 1 and size == 64 and 1 <= used <= 64, m.group(0)
    # the hook's line went to the error log too, with the invocation's id
    assert "[%s]: hello from gen" % rid in edge.log(), edge.log()[-2000:]


@test
def max_memory_used_grows_with_what_the_hook_allocates():
    _, body, small, _ = invoke("gen", '{"alloc": 0}', "--log-type", "Tail")
    _, body2, big, _ = invoke("gen", '{"alloc": 20000}', "--log-type", "Tail")
    assert json.loads(body2)["kept"] == 20000, body2
    used_small, used_big = int(REPORT.search(small).group(5)), int(REPORT.search(big).group(5))
    assert used_small <= 5 and used_big >= 20 and used_big <= 64, (used_small, used_big)


@test
def log_tail_is_the_last_4k():
    # 300 lines of ~100 bytes: more than 4 KB; the tail keeps the end (END, REPORT) and at most 4096 bytes
    hook = write("chatty.lua", """function handler(event, context)
    for i = 1, 300 do print(string.format("line %04d ", i) .. string.rep("\u00e9", 40)) end
    return "done"
end
""")
    status, _, _ = admin("POST", "/hooks/gen/versions", json.dumps({"path": hook}).encode())
    assert status == 201, status
    number = json.loads(admin("GET", "/hooks")[2])["hooks"]["gen"]["versions"][-1]["version"]
    meta, body, log, _ = invoke("gen", "{}", "--log-type", "Tail", "--qualifier", str(number))
    raw = base64.b64decode(meta["LogResult"])
    assert len(raw) <= 4096 and len(raw) > 3900, len(raw)
    assert "line 0300" in log and "line 0001" not in log and log.endswith(REPORT.search(log).group(0) + "\n"), log[-300:]
    assert json.loads(body) == "done"


@test
def qualifier_picks_a_version_and_an_alias():
    status, _, out = admin("POST", "/hooks/gen/versions", json.dumps({"path": GEN2}).encode())
    assert status == 201, (status, out)
    v2 = json.loads(out)["version"]
    meta, body, log, _ = invoke("gen", "{}", "--qualifier", str(v2), "--log-type", "Tail")
    assert meta["ExecutedVersion"] == str(v2) and json.loads(body)["version"] == "v2", (meta, body)
    # a version no alias holds is loaded for the call: a cold start, with its Init Duration
    assert REPORT.search(log).group(7) is not None, log
    assert "START RequestId: %s Version: %d" % (REPORT.search(log).group(1), v2) in log, log
    meta, body, _, _ = invoke("gen:1", "{}")
    assert meta["ExecutedVersion"] == "1" and json.loads(body)["version"] == "v1", (meta, body)
    meta, body, _, _ = invoke("arn:aws:lambda:us-east-1:000000000000:function:gen", "{}", "--qualifier", "1")
    assert meta["ExecutedVersion"] == "1", meta
    # an alias of one version, then a weighted one: each invocation picks by the weights
    assert admin("PUT", "/hooks/gen/aliases/prod", json.dumps({"versions": {"1": 1}}).encode())[0] == 200
    meta, body, _, _ = invoke("gen", "{}", "--qualifier", "prod")
    assert meta["ExecutedVersion"] == "1", meta
    assert admin("PUT", "/hooks/gen/aliases/canary", json.dumps({"versions": {"1": 0.5, str(v2): 0.5}}).encode())[0] == 200
    meta, body, _, _ = invoke("gen", "{}", "--qualifier", "canary")
    assert meta["ExecutedVersion"] in ("1", str(v2)), meta
    # the split, over 40 calls (raw HTTP with the bearer token: the CLI takes seconds to start on a loaded machine)
    seen = {}
    for _ in range(40):
        status, headers, body = admin("POST", "/2015-03-31/functions/gen/invocations?Qualifier=canary", b"{}")
        executed = headers["X-Amz-Executed-Version"]
        seen[executed] = seen.get(executed, 0) + 1
        assert status == 200 and json.loads(body)["version"] == ("v2" if executed == str(v2) else "v1"), (headers, body)
    assert set(seen) == {"1", str(v2)}, seen  # 40 fair coin flips all alike: 2 in a trillion


@test
def a_throwing_hook_is_an_unhandled_function_error():
    meta, body, log, _ = invoke("gen", '{"throw": "bad input"}', "--log-type", "Tail")
    assert meta["StatusCode"] == 200 and meta["FunctionError"] == "Unhandled", meta
    err = json.loads(body)
    assert set(err) == {"errorMessage", "errorType", "stackTrace"}, err
    assert err["errorMessage"].endswith("boom: bad input") and err["errorType"] == "Error", err
    assert any("in function 'handler'" in line for line in err["stackTrace"]), err
    assert "\tERROR\tInvoke Error \t{" in log and REPORT.search(log), log


@test
@notsan("a compiled loop is stopped by the watchdog's signal, which ThreadSanitizer holds back until the thread enters one of "
        "its interceptors (never, in this loop)")
def a_looping_hook_times_out_and_the_process_stays_up():
    meta, body, log, _ = invoke("gen", '{"loop": true}', "--log-type", "Tail")
    err = json.loads(body)
    assert meta["FunctionError"] == "Unhandled" and err["errorType"] == "Sandbox.Timedout", (meta, err)
    assert "timed out after 2000 ms" in err["errorMessage"], err
    assert float(REPORT.search(log).group(2)) >= 2000, log
    assert edge.proc.poll() is None
    meta, body, _, _ = invoke("gen", '{"x": 2}')
    assert json.loads(body)["answer"] == 4 and "FunctionError" not in meta, (meta, body)


@test
def dry_run_checks_the_function_and_the_qualifier():
    meta, body, _, _ = invoke("gen", "{}", "--invocation-type", "DryRun")
    assert meta["StatusCode"] == 204, meta
    _, _, _, p = invoke("gen", "{}", "--invocation-type", "DryRun", "--qualifier", "99", check=False)
    assert p.returncode != 0 and b"ResourceNotFoundException" in p.stderr, p.stderr
    # the caller must be authorised: a wrong secret is refused before anything runs
    if not SIGV4:
        assert admin("POST", "/2015-03-31/functions/gen/invocations", b"{}", {"Authorization": "Bearer wrong-token"})[0] in (401, 403)
        return
    env = dict(AWS_ENV, AWS_SECRET_ACCESS_KEY="wrong")
    p = aws("lambda", "invoke", "--function-name", "gen", "--invocation-type", "DryRun", os.path.join(TMP, "o"), env=env, check=False)
    assert p.returncode != 0 and b"InvalidSignatureException" in p.stderr, p.stderr


@test
def errors_of_the_caller():
    for name, extra, code in (("nope", [], "ResourceNotFoundException"), ("gen", ["--qualifier", "nosuchalias"], "ResourceNotFoundException"),
                              ("gen", ["--qualifier", "77"], "ResourceNotFoundException")):
        _, _, _, p = invoke(name, "{}", *extra, check=False)
        assert p.returncode != 0 and code.encode() in p.stderr and b"Invoke operation" in p.stderr, (name, extra, p.stderr)
    _, _, _, p = invoke("gen", '{"x": ', check=False)
    assert p.returncode != 0 and b"InvalidRequestContentException" in p.stderr, p.stderr
    big = os.path.join(TMP, "big.json")
    with open(big, "w") as f:
        f.write('{"pad": "%s"}' % ("x" * (6 * 1024 * 1024 + 10)))
    _, _, _, p = invoke("gen", "fileb://" + big, check=False)
    assert p.returncode != 0 and b"RequestTooLargeException" in p.stderr, p.stderr
    # the same with the bearer token, raw: Lambda's error shape
    status, headers, body = admin("POST", "/2015-03-31/functions/nope/invocations", b"{}")
    assert status == 404 and headers.get("x-amzn-ErrorType") == "ResourceNotFoundException", (status, headers)
    assert json.loads(body)["Type"] == "User" and "nope" in json.loads(body)["message"], body
    assert edge.proc.poll() is None


@test
def a_lambda_at_edge_event_runs_its_trigger():
    event = open(os.path.join(SRC, "examples", "hooks", "events", "viewer-request.json")).read()
    meta, body, log, _ = invoke("tagger", event, "--log-type", "Tail")
    req = json.loads(body)
    assert "FunctionError" not in meta and req["uri"] == "/docs/index.html", (meta, body)
    assert req["headers"]["x-tagged"] == [{"key": "X-Tagged", "value": "yes"}], req["headers"]
    assert req["headers"]["host"][0]["value"] == "d111111abcdef8.cloudfront.net", req
    assert "\tINFO\ttagging /docs/" in log, log


@test
def a_c_plugin_answers_a_generic_invocation():
    meta, body, log, _ = invoke("plug", '{"records": [1, 2, 3]}', "--log-type", "Tail")
    res = json.loads(body)
    assert "FunctionError" not in meta and res["payload"] == {"records": [1, 2, 3]} and res["bytes"] == 22, (meta, body)
    assert "\tINFO\tinvoke_plugin got 22 bytes" in log, log
    meta, body, log, _ = invoke("plug", '{"alloc": 1}', "--log-type", "Tail")
    assert int(REPORT.search(log).group(5)) >= 3, log  # a plugin's Max Memory Used: what it took from host->alloc
    meta, body, _, _ = invoke("plug", '{"fail": 1}')
    assert meta["FunctionError"] == "Unhandled" and json.loads(body)["errorMessage"] == "the payload asked to fail", body


@test
def js_sdk_invoke():
    if not SIGV4 or not hasattr(edgetest, "npm_ready"):
        raise Skip("the admin listener does not take SigV4 yet, or edgetest.npm_ready is missing (both lapi's)")
    edgetest.npm_ready("@aws-sdk/client-lambda")
    script = os.path.join(SRC, "tests", "e2e", "lib", "lambda_invoke_js_sdk.mjs")
    p = subprocess.run(["node", script, ENDPOINT, AK, SK], env=dict(BASE_ENV, NODE_NO_WARNINGS="1"), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, (p.stdout.decode(), p.stderr.decode())
    res = json.loads(p.stdout)
    assert res["StatusCode"] == 200 and res["ExecutedVersion"] == "$LATEST" and json.loads(res["Payload"])["answer"] == 14, res
    assert "hello from gen" in res["Log"] and "REPORT RequestId: " in res["Log"], res
    assert res["Error"]["FunctionError"] == "Unhandled" and "boom" in json.loads(res["Error"]["Payload"])["errorMessage"], res


if __name__ == "__main__":
    try:
        run()
    finally:
        rc = edge.stop()
        edge.assert_clean()
        if rc != 0:
            sys.exit(1)
