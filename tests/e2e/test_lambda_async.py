"""End-to-end: `Event` invocations (Lambda's asynchronous invoke) on the durable queue (proxy/lambdaasync.c, queue/): 202 and the
hook runs in the background; a hook that always fails runs exactly 3 times (counted at a real origin) and its invocation record
lands in the embedded store's bucket (read back with /usr/bin/aws s3); kill -9 right after the 202 still runs it after the restart
(an event taken but unfinished is run again, one never started runs); a version or alias that does not exist is refused with
404 before anything is enqueued; a full queue refuses with 429 TooManyRequestsException
and drops nothing; PutFunctionEventInvokeConfig (MaximumRetryAttempts 0, an S3 OnFailure) changes what happens, survives a
restart, and Get/Update/Delete answer as Lambda's.
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import SLOW, SRC, Edge, retry_port_taken, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TH = os.path.join(SRC, "tests", "hooks")
TOKEN = "async-admin-token-0123456789"
AK, SK = "AKIDASYNCTEST0000001", "async-test-secret-key-0000000000000000"
origin = Origin()
started = []


def config(max_events=1000):
    return """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
origins:
  web: {type: http, url: "%(origin)s"}
hooks:
  probe:
    lua: %(th)s/async_probe.lua
    fetch_allow: ["127.0.0.1:%(port)d"]
    config: {origin: "%(origin)s"}
    async: {backoff: 100ms, on_failure: "arn:aws:s3:::failed"}
  serial:
    lua: %(th)s/async_probe.lua
    fetch_allow: ["127.0.0.1:%(port)d"]
    config: {origin: "%(origin)s"}
    async: {backoff: 100ms, concurrency: 1}
  chained:
    lua: %(th)s/async_probe.lua
    fetch_allow: ["127.0.0.1:%(port)d"]
    config: {origin: "%(origin)s"}
    async: {retries: 1, backoff: 100ms, on_failure: "arn:aws:lambda:us-east-1:000000000000:function:recorder"}
  recorder:
    lua: %(th)s/async_probe.lua
    fetch_allow: ["127.0.0.1:%(port)d"]
    config: {origin: "%(origin)s"}
behaviors:
  - {path: "*", origin: web, cache: off}
async_queue: {max_events: %(max_events)d, threads: 2}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  credentials: {access_key: %(ak)s, secret_key: %(sk)s}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %(token)s
""" % {"origin": origin.url, "port": origin.port, "th": TH, "token": TOKEN, "ak": AK, "sk": SK, "max_events": max_events}


def start(workdir=None, max_events=1000, state_dir=None):
    e = retry_port_taken(lambda: Edge(config(max_events), name="async", workdir=workdir, state_dir=state_dir))
    started.append(e)
    return e


def call(edge, method, path, body=None, headers=None):
    h = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
    h.update(headers or {})
    c = http.client.HTTPConnection("127.0.0.1", edge.ports["admin"], timeout=30 * SLOW)
    try:
        c.request(method, path, body=json.dumps(body) if isinstance(body, (dict, list)) else body, headers=h)
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def invoke_event(edge, function, payload):
    return call(edge, "POST", "/2015-03-31/functions/%s/invocations" % function, payload, {"X-Amz-Invocation-Type": "Event"})


def attempts(id_):
    return origin.count("/count/async/%s" % id_)


AWS_BASE = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(AWS_BASE, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="", AWS_MAX_ATTEMPTS="1")


def aws(edge, *args):
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", "http://127.0.0.1:%d" % edge.ports["store"]] + list(args), env=AWS_ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120 * SLOW)
    assert p.returncode == 0, "aws %s: %d\n%s" % (" ".join(args), p.returncode, p.stderr.decode("utf-8", "replace"))
    return p.stdout.decode("utf-8", "replace")


def lambda_cli(edge, *args):
    """/usr/bin/aws lambda against the admin listener (SigV4 with the store's credentials), in a temp dir; its JSON output"""
    tmp = tempfile.mkdtemp(prefix="async-cli-")
    try:
        p = subprocess.run(["/usr/bin/aws", "--endpoint-url", "http://127.0.0.1:%d" % edge.ports["admin"], "--output", "json",
                            "lambda"] + list(args), env=AWS_ENV, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120 * SLOW)
        assert p.returncode == 0, "aws lambda %s: %d\n%s" % (" ".join(args), p.returncode, p.stderr.decode("utf-8", "replace"))
        return json.loads(p.stdout or b"{}")
    finally:
        shutil.rmtree(tmp)


def deliveries():
    return edge.metric("edgehook_async_destination_deliveries_total") or 0


def wait_delivery(before, what):
    """waits until one more invocation record was delivered than `before` (the metric: cheaper to poll than the bucket)"""
    wait_until(lambda: deliveries() > before, what=what)


def records(edge, bucket):
    """the invocation records in a bucket: {key: parsed JSON}"""
    out = json.loads(aws(edge, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "aws/lambda/async/") or "{}")
    recs = {}
    for o in out.get("Contents", []):
        tmp = tempfile.mktemp()
        aws(edge, "s3", "cp", "s3://%s/%s" % (bucket, o["Key"]), tmp)
        with open(tmp) as f:
            recs[o["Key"]] = json.load(f)
        os.unlink(tmp)
    return recs


edge = start()
aws(edge, "s3", "mb", "s3://failed")
aws(edge, "s3", "mb", "s3://failed2")


@test
def event_is_accepted_and_runs():
    st, h, body = invoke_event(edge, "probe", {"id": "ok1"})
    assert st == 202, (st, body)
    assert re.match(r"^[0-9a-f-]{36}$", h.get("x-amzn-requestid", "")), h
    wait_until(lambda: attempts("ok1") == 1, what="the Event invocation to run")
    wait_until(lambda: (edge.metric("edgehook_async_successes_total") or 0) >= 1, what="the success in the metrics")
    assert edge.metric("edgehook_async_enqueued_total") >= 1
    # an unknown function is refused at once, as Lambda does
    st, h, body = invoke_event(edge, "nosuch", {"id": "x"})
    assert st == 404 and h.get("x-amzn-errortype") == "ResourceNotFoundException", (st, h, body)


@test
def unknown_qualifier_is_refused_before_enqueueing():
    wait_until(lambda: edge.metric("edgehook_async_queue_depth") == 0, what="the queue to be empty")
    enqueued = edge.metric("edgehook_async_enqueued_total")
    for qualifier in ("99", "nosuchalias"):
        st, h, body = call(edge, "POST", "/2015-03-31/functions/probe/invocations?Qualifier=" + qualifier, {"id": "q404"},
                           {"X-Amz-Invocation-Type": "Event"})
        assert st == 404 and h.get("x-amzn-errortype") == "ResourceNotFoundException", (qualifier, st, h, body)
        assert json.loads(body)["Type"] == "User", body
    st, h, body = call(edge, "POST", "/2015-03-31/functions/probe:99/invocations", {"id": "q404"}, {"X-Amz-Invocation-Type": "Event"})
    assert st == 404 and h.get("x-amzn-errortype") == "ResourceNotFoundException", (st, h, body)
    # nothing was enqueued: the queue stays empty and the hook never ran
    assert edge.metric("edgehook_async_queue_depth") == 0
    assert edge.metric("edgehook_async_enqueued_total") == enqueued
    assert attempts("q404") == 0
    # a qualifier that exists still goes through
    st, h, body = call(edge, "POST", "/2015-03-31/functions/probe/invocations?Qualifier=$LATEST", {"id": "qok"},
                       {"X-Amz-Invocation-Type": "Event"})
    assert st == 202, (st, body)
    wait_until(lambda: attempts("qok") == 1, what="the $LATEST Event invocation to run")


@test
def aws_cli_invoke_event():
    out = lambda_cli(edge, "invoke", "--function-name", "probe", "--invocation-type", "Event", "--cli-binary-format",
                     "raw-in-base64-out", "--payload", '{"id": "cli1"}', "out.json")
    assert out.get("StatusCode") == 202, out
    wait_until(lambda: attempts("cli1") == 1, what="the CLI's Event invocation to run")


@test
def aws_cli_event_invoke_config_changes_behaviour():
    out = lambda_cli(edge, "put-function-event-invoke-config", "--function-name", "chained", "--maximum-retry-attempts", "0",
                     "--destination-config", '{"OnFailure":{"Destination":"arn:aws:s3:::failed3"}}')
    assert out["MaximumRetryAttempts"] == 0 and out["DestinationConfig"]["OnFailure"]["Destination"] == "arn:aws:s3:::failed3", out
    aws(edge, "s3", "mb", "s3://failed3")
    out = lambda_cli(edge, "get-function-event-invoke-config", "--function-name", "chained")
    assert out["MaximumRetryAttempts"] == 0 and out["FunctionArn"].endswith(":function:chained:$LATEST"), out
    before = deliveries()
    lambda_cli(edge, "invoke", "--function-name", "chained", "--invocation-type", "Event", "--cli-binary-format",
               "raw-in-base64-out", "--payload", '{"id": "cli0", "fail": true}', "out.json")
    wait_delivery(before, "the record in the CLI's destination")
    assert len(records(edge, "failed3")) == 1
    assert attempts("cli0") == 1, attempts("cli0")  # no retry (the config's retries: 1 is overridden)
    out = lambda_cli(edge, "update-function-event-invoke-config", "--function-name", "chained", "--maximum-event-age-in-seconds",
                     "120")
    assert out["MaximumEventAgeInSeconds"] == 120 and out["MaximumRetryAttempts"] == 0, out
    lambda_cli(edge, "delete-function-event-invoke-config", "--function-name", "chained")


@test
def failing_hook_runs_three_times_then_lands_in_the_bucket():
    before = deliveries()
    st, h, body = invoke_event(edge, "probe", {"id": "bad1", "fail": True})
    assert st == 202, (st, body)
    rid = h["x-amzn-requestid"]
    wait_delivery(before, "the invocation record in the bucket")
    assert attempts("bad1") == 3, attempts("bad1")  # the record is written after the last attempt: exactly 3
    (key, rec), = records(edge, "failed").items()
    assert re.match(r"^aws/lambda/async/probe/\d{4}/\d\d/\d\d/\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d-[0-9a-f-]{36}$", key), key
    assert rec["version"] == "1.0" and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", rec["timestamp"]), rec
    ctx = rec["requestContext"]
    assert ctx["requestId"] == rid and ctx["condition"] == "RetriesExhausted" and ctx["approximateInvokeCount"] == 3, ctx
    assert ctx["functionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:probe:$LATEST", ctx
    assert rec["requestPayload"] == {"id": "bad1", "fail": True}, rec
    assert rec["responseContext"]["statusCode"] == 200 and rec["responseContext"]["functionError"] == "Unhandled", rec
    assert "fails on purpose" in json.dumps(rec["responsePayload"]), rec
    m = edge.metrics()
    assert m["edgehook_async_retries_total"] >= 2 and m["edgehook_async_failures_total"] >= 1, m
    assert m["edgehook_async_destination_deliveries_total"] >= 1, m


@test
def a_function_destination_gets_the_record():
    st, h, body = invoke_event(edge, "chained", {"id": "chain1", "fail": True})
    assert st == 202, (st, body)
    # retries 1: two attempts, then `recorder` is invoked asynchronously with the record (its event's id is absent: "nil")
    wait_until(lambda: attempts("nil") >= 1, what="the on-failure function to run")
    assert attempts("chain1") == 2, attempts("chain1")


@test
def event_invoke_config_api():
    path = "/2019-09-25/functions/serial/event-invoke-config"
    st, h, body = call(edge, "GET", path)
    assert st == 404 and h.get("x-amzn-errortype") == "ResourceNotFoundException", (st, body)
    st, h, body = call(edge, "PUT", path, {"MaximumRetryAttempts": 0, "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::failed2"}}})
    assert st == 200, (st, body)
    cfg = json.loads(body)
    assert cfg["MaximumRetryAttempts"] == 0 and cfg["MaximumEventAgeInSeconds"] == 21600, cfg
    assert cfg["DestinationConfig"]["OnFailure"]["Destination"] == "arn:aws:s3:::failed2", cfg
    assert cfg["FunctionArn"].endswith(":function:serial:$LATEST"), cfg
    st, _, body = call(edge, "PUT", path, {"MaximumRetryAttempts": 3})
    assert st == 400, (st, body)
    st, _, body = call(edge, "PUT", path, {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:1:q"}}})
    assert st == 400, (st, body)
    # the API's setting wins over the config's (serial has 2 retries in the config): one attempt, then the record
    before = deliveries()
    st, h, body = invoke_event(edge, "serial", {"id": "api0", "fail": True})
    assert st == 202, (st, body)
    wait_delivery(before, "the record in the API's destination")
    assert attempts("api0") == 1, attempts("api0")
    (rec,) = records(edge, "failed2").values()
    assert rec["requestContext"]["approximateInvokeCount"] == 1, rec
    # Update merges; Get shows it
    st, _, body = call(edge, "POST", path, {"MaximumEventAgeInSeconds": 600})
    assert st == 200 and json.loads(body)["MaximumRetryAttempts"] == 0 and json.loads(body)["MaximumEventAgeInSeconds"] == 600, body
    st, _, body = call(edge, "GET", path)
    assert st == 200 and json.loads(body)["MaximumEventAgeInSeconds"] == 600, body
    st, _, body = call(edge, "PUT", "/2019-09-25/functions/nosuch/event-invoke-config", {})
    assert st == 404, (st, body)
    st, _, body = call(edge, "DELETE", path)
    assert st == 204, (st, body)
    st, _, body = call(edge, "GET", path)
    assert st == 404, (st, body)
    # kept for the restart below
    st, _, body = call(edge, "PUT", "/2019-09-25/functions/recorder/event-invoke-config", {"MaximumEventAgeInSeconds": 600})
    assert st == 200, (st, body)


@test
def kill_9_after_the_202_still_runs_after_restart():
    global edge
    # serial runs one at a time: the first attempt is held at the origin's gate, the second event waits in the queue
    st, h, _ = invoke_event(edge, "serial", {"id": "k1", "gate": "k1"})
    assert st == 202
    wait_until(lambda: attempts("k1") == 1, what="the first attempt to reach the origin")
    st, h, _ = invoke_event(edge, "serial", {"id": "k2"})
    assert st == 202  # acknowledged: on disk
    assert attempts("k2") == 0
    edge.kill()
    origin.release("k1")
    edge = start(workdir=edge.dir, state_dir=edge.state_dir)  # the queue is STATE_DIR/queue
    assert "queued invocations" in edge.log(), edge.log()
    wait_until(lambda: attempts("k2") == 1, what="the queued event to run after the restart")
    wait_until(lambda: attempts("k1") == 2, what="the interrupted attempt to run again")
    # the API's config survived too
    st, _, body = call(edge, "GET", "/2019-09-25/functions/recorder/event-invoke-config")
    assert st == 200 and json.loads(body)["MaximumEventAgeInSeconds"] == 600, (st, body)


@test
def a_full_queue_refuses_and_drops_nothing():
    global edge
    edge.stop()
    small = start(workdir=edge.dir, max_events=2, state_dir=edge.state_dir)
    # hold the consumers: serial's first attempt waits at the gate, so the queue fills
    ids = []
    st, _, _ = invoke_event(small, "serial", {"id": "full0", "gate": "full"})
    assert st == 202
    wait_until(lambda: attempts("full0") == 1, what="the first attempt to start")
    st, _, _ = invoke_event(small, "serial", {"id": "full1"})
    assert st == 202
    st, h, body = invoke_event(small, "serial", {"id": "full2"})
    assert st == 429 and h.get("x-amzn-errortype") == "TooManyRequestsException", (st, h, body)
    assert json.loads(body)["Type"] == "User" and "full" in json.loads(body)["message"], body
    assert small.metric("edgehook_async_refused_total") == 1
    assert small.metric("edgehook_async_queue_depth") == 2
    origin.release("full")
    wait_until(lambda: attempts("full1") == 1, what="the queued events to run")
    assert attempts("full2") == 0
    wait_until(lambda: small.metric("edgehook_async_queue_depth") == 0, what="the queue to drain")
    st, _, _ = invoke_event(small, "serial", {"id": "full3"})
    assert st == 202
    wait_until(lambda: attempts("full3") == 1, what="the queue to take events again")
    edge = small


try:
    run()
finally:
    for e in started:
        e.kill()
        e.assert_clean()
    origin.stop()
