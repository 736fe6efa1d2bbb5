# ctest-timeout: 900
"""End-to-end: the embedded store's event notifications (store/notify.c) through the durable queue into hooks
(proxy/lambdaasync.c), hooks writing back with edge.s3 (proxy/storeevents.c, store/direct.c), the loop guard, and the cache purge
of overwritten objects. Uploads with /usr/bin/aws s3 cp fire the hook once per object (counted at a real origin the hook
fetches); prefix/suffix filters; the configuration API with awscli and hostile XML (raw, signed); kill -9 after the upload's 200
and before the hook ran still runs it after the restart; a hook that fails lands its event in the on-failure bucket after exactly
three attempts; a hook that writes back into the bucket that notifies it stops at store.notify_max_generations; a full queue
refuses the upload with 503 SlowDown and writes nothing; an overwrite or delete is never followed by the old bytes through the
proxy (a writer and readers racing, checked after each 200); the config file's store.notifications.
"""
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import SLOW, SRC, Edge, retry_port_taken, run, test, wait_until  # noqa: E402
from origin import Origin  # noqa: E402

TH = os.path.join(SRC, "tests", "hooks")
PLUGINS = os.path.join(os.getcwd(), "tests", "hooks")  # built test plugins (ctest runs in the build dir)
AK, SK = "AKIDEVENTSTEST000001", "events-test-secret-key-000000000000000"
REGION = "us-east-1"
ACCOUNT = "000000000000"
origin = Origin()
started = []
TMP = tempfile.mkdtemp(prefix="store-events-")


def config(max_events=1000, extra_store="", max_gen=4):
    return """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
origins:
  web: {type: http, url: "%(origin)s"}
  site: {type: s3, endpoint: embedded, bucket: site}
hooks:
  probe:
    lua: %(th)s/store_event_probe.lua
    fetch_allow: ["127.0.0.1:%(port)d"]
    config: {origin: "%(origin)s"}
    async: {backoff: 100ms}
  gated:
    lua: %(th)s/store_event_probe.lua
    fetch_allow: ["127.0.0.1:%(port)d"]
    config: {origin: "%(origin)s", gate: "g"}
    async: {backoff: 100ms, concurrency: 1}
  failing:
    lua: %(th)s/store_event_probe.lua
    fetch_allow: ["127.0.0.1:%(port)d"]
    config: {origin: "%(origin)s", fail: true}
    async: {backoff: 100ms, on_failure: "arn:aws:s3:::failed"}
  held:
    lua: %(th)s/store_event_probe.lua
    fetch_allow: ["127.0.0.1:%(port)d"]
    config: {origin: "%(origin)s", gate: "h"}
    async: {backoff: 100ms, concurrency: 1}
  cplug: {native: %(plugins)s/libs3_plugin.so, async: {backoff: 100ms, retries: 0}}
  looper:
    lua: %(th)s/store_event_probe.lua
    fetch_allow: ["127.0.0.1:%(port)d"]
    config: {origin: "%(origin)s", write_back: true}
    async: {backoff: 100ms}
behaviors:
  - {path: "/site/*", origin: web, cache: off}
  - {path: "*", origin: site, cache: {default_ttl: 1h}}
async_queue: {max_events: %(max_events)d, threads: 2}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  credentials: {access_key: %(ak)s, secret_key: %(sk)s}
  notify_max_generations: %(max_gen)d
  notifications:
    - {bucket: cbucket, id: from-config, function: cplug, events: [s3:ObjectCreated:Put], prefix: cin/, exclude_hook_writes: true}
%(extra_store)s
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: events-admin-token-0123456789
""" % {"origin": origin.url, "port": origin.port, "th": TH, "ak": AK, "sk": SK, "max_events": max_events,
       "extra_store": extra_store, "max_gen": max_gen, "plugins": PLUGINS}


def start(workdir=None, state_dir=None, **kw):
    e = retry_port_taken(lambda: Edge(config(**kw), name="events", workdir=workdir, state_dir=state_dir))
    started.append(e)
    return e


AWS_BASE = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(AWS_BASE, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="", AWS_MAX_ATTEMPTS="1")


def aws(edge, *args, check=True):
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", "http://127.0.0.1:%d" % edge.ports["store"]] + list(args), env=AWS_ENV,
                       cwd=TMP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120 * SLOW)
    if check:
        assert p.returncode == 0, "aws %s: %d\n%s" % (" ".join(args), p.returncode, p.stderr.decode("utf-8", "replace"))
    return p


def count(bucket, event, key):
    return origin.count("/count/s3/%s/%s/%s" % (bucket, event, key))


def arn(fn):
    return "arn:aws:lambda:%s:%s:function:%s" % (REGION, ACCOUNT, fn)


def put_notification(edge, bucket, configs):
    doc = {"LambdaFunctionConfigurations": configs}
    return aws(edge, "s3api", "put-bucket-notification-configuration", "--bucket", bucket, "--notification-configuration",
               json.dumps(doc), check=False)


def get_notification(edge, bucket):
    p = aws(edge, "s3api", "get-bucket-notification-configuration", "--bucket", bucket)
    return json.loads(p.stdout or b"{}")


# ---- a small SigV4 client for raw XML --------------------------------------------------------------------------------------

def _q(b):
    return urllib.parse.quote(b, safe="-_.~")


def s3raw(edge, method, target, body=b"", headers=None):
    port = edge.ports["store"]
    h = {k.lower(): v for k, v in (headers or {}).items()}
    h["host"] = "127.0.0.1:%d" % port
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    h["x-amz-date"] = amz
    h["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    path, _, query = target.partition("?")
    cq = "&".join("%s=%s" % (_q(k), _q(v)) for k, v in sorted(urllib.parse.parse_qsl(query, keep_blank_values=True)))
    names = sorted(h)
    creq = "\n".join([method, "/".join(_q(urllib.parse.unquote(s)) for s in path.split("/")), cq] +
                     ["%s:%s" % (n, h[n]) for n in names] + ["", ";".join(names), h["x-amz-content-sha256"]])
    scope = "%s/%s/s3/aws4_request" % (amz[:8], REGION)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(creq.encode()).hexdigest())
    k = hmac.new(("AWS4" + SK).encode(), amz[:8].encode(), hashlib.sha256).digest()
    for part in (REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (AK, scope, ";".join(names), sig)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60 * SLOW)
    c.request(method, target, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def xml_code(data):
    root = ET.fromstring(data)
    for el in root.iter():
        if el.tag.split("}")[-1] == "Code":
            return el.text
    return None


def proxy_get(edge, path):
    c = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=60 * SLOW)
    c.request("GET", path)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


# ---- the tests -------------------------------------------------------------------------------------------------------------

edge = start()
for b in ("photos", "failed", "loop", "site", "full", "cbucket"):
    aws(edge, "s3", "mb", "s3://" + b)


@test
def configuration_api_with_awscli():
    p = put_notification(edge, "photos", [
        {"Id": "jpegs", "LambdaFunctionArn": arn("probe"), "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "up/"}, {"Name": "suffix", "Value": ".jpg"}]}}},
        {"Id": "gone", "LambdaFunctionArn": "probe", "Events": ["s3:ObjectRemoved:Delete"]},
    ])
    assert p.returncode == 0, p.stderr
    cfg = get_notification(edge, "photos")
    confs = {c["Id"]: c for c in cfg["LambdaFunctionConfigurations"]}
    assert confs["jpegs"]["LambdaFunctionArn"] == arn("probe") and confs["jpegs"]["Events"] == ["s3:ObjectCreated:*"], cfg
    rules = {r["Name"].lower(): r["Value"] for r in confs["jpegs"]["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "up/", "suffix": ".jpg"}, cfg
    assert confs["gone"]["Events"] == ["s3:ObjectRemoved:Delete"], cfg
    # a function that does not exist: S3's validation error
    p = put_notification(edge, "photos", [{"LambdaFunctionArn": arn("nosuch"), "Events": ["s3:ObjectCreated:*"]}])
    err = p.stderr.decode()
    assert p.returncode != 0 and "InvalidArgument" in err and "Unable to validate the following destination configurations" in err, err
    assert get_notification(edge, "photos")["LambdaFunctionConfigurations"][0]["Id"] in ("jpegs", "gone")  # unchanged
    # an unsupported event, overlapping rules
    p = put_notification(edge, "photos", [{"LambdaFunctionArn": arn("probe"), "Events": ["s3:ObjectRestore:Post"]}])
    assert p.returncode != 0 and "InvalidArgument" in p.stderr.decode(), p.stderr
    p = put_notification(edge, "photos", [{"LambdaFunctionArn": arn("probe"), "Events": ["s3:ObjectCreated:Put"]},
                                          {"LambdaFunctionArn": arn("failing"), "Events": ["s3:ObjectCreated:*"],
                                           "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a"}]}}}])
    assert p.returncode != 0 and "overlap" in p.stderr.decode(), p.stderr


@test
def config_file_rules_and_the_c_abi():
    # the config file's rule: shown by GET, and the API may not replace it
    cfg = get_notification(edge, "cbucket")
    (c,) = cfg["LambdaFunctionConfigurations"]
    assert c["Id"] == "from-config" and c["LambdaFunctionArn"] == "cplug" and c["Events"] == ["s3:ObjectCreated:Put"], cfg
    p = put_notification(edge, "cbucket", [])
    assert p.returncode != 0 and "configuration file" in p.stderr.decode(), p.stderr
    # a native plugin (host->s3, ABI 1.5) reads the object and writes c-out/KEY back; its write matches no rule
    with open(os.path.join(TMP, "c.txt"), "wb") as f:
        f.write(b"hello")
    before = edge.metric("edgehook_async_successes_total") or 0
    aws(edge, "s3", "cp", os.path.join(TMP, "c.txt"), "s3://cbucket/cin/a.txt")
    wait_until(lambda: (edge.metric("edgehook_async_successes_total") or 0) > before, what="the plugin to succeed")
    aws(edge, "s3", "cp", "s3://cbucket/c-out/cin/a.txt", os.path.join(TMP, "c-out.txt"))
    with open(os.path.join(TMP, "c-out.txt"), "rb") as f:
        assert f.read() == b"from C: hello"
    head = json.loads(aws(edge, "s3api", "head-object", "--bucket", "cbucket", "--key", "c-out/cin/a.txt").stdout)
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"from": "c"}, head
    # edgehook -T prints the rule back
    p = subprocess.run([os.path.join(os.getcwd(), "edgehook"), "-T", "-c", edge.conf_path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, cwd=edge.dir, timeout=60 * SLOW)
    out = p.stdout.decode()
    assert p.returncode == 0 and "notifications:" in out and "exclude_hook_writes: true" in out and "from-config" in out, out


@test
def hostile_notification_xml():
    t = "/photos?notification"
    before = s3raw(edge, "GET", t)[2]
    bodies = [
        b"not xml at all",
        b"<NotificationConfiguration>",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><NotificationConfiguration>&a;</NotificationConfiguration>",
        b"<Wrong/>",
        b"<NotificationConfiguration><TopicConfiguration><Topic>arn:aws:sns:us-east-1:1:t</Topic><Event>s3:ObjectCreated:*</Event>"
        b"</TopicConfiguration></NotificationConfiguration>",
        b"<NotificationConfiguration><LambdaFunctionConfiguration><Event>s3:ObjectCreated:*</Event></LambdaFunctionConfiguration>"
        b"</NotificationConfiguration>",
        b"<NotificationConfiguration><LambdaFunctionConfiguration><CloudFunction>probe</CloudFunction><Event>s3:ObjectCreated:*"
        b"</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>a</Value></FilterRule><FilterRule><Name>prefix</Name>"
        b"<Value>b</Value></FilterRule></S3Key></Filter></LambdaFunctionConfiguration></NotificationConfiguration>",
        b"<NotificationConfiguration><LambdaFunctionConfiguration><CloudFunction>probe</CloudFunction><Event>s3:ObjectCreated:*"
        b"</Event><Filter><S3Key><FilterRule><Name>middle</Name><Value>b</Value></FilterRule></S3Key></Filter>"
        b"</LambdaFunctionConfiguration></NotificationConfiguration>",
        b"<NotificationConfiguration><LambdaFunctionConfiguration><CloudFunction>arn:aws:lambda:x</CloudFunction>"
        b"<Event>s3:ObjectCreated:*</Event></LambdaFunctionConfiguration></NotificationConfiguration>",
        b"<NotificationConfiguration><LambdaFunctionConfiguration><Id>" + b"i" * 300 + b"</Id><CloudFunction>probe</CloudFunction>"
        b"<Event>s3:ObjectCreated:*</Event></LambdaFunctionConfiguration></NotificationConfiguration>",
        b"<NotificationConfiguration>" + b"<a>" * 100 + b"</a>" * 100 + b"</NotificationConfiguration>",
        b"<NotificationConfiguration>" + b"<LambdaFunctionConfiguration><CloudFunction>probe</CloudFunction><Event>"
        b"s3:ObjectCreated:*</Event></LambdaFunctionConfiguration>" * 101 + b"</NotificationConfiguration>",
        b"\xff\xfe<NotificationConfiguration/>",
    ]
    for body in bodies:
        st, h, data = s3raw(edge, "PUT", t, body)
        assert st == 400, (body[:80], st, data)
        assert xml_code(data) in ("MalformedXML", "InvalidArgument"), (body[:80], data)
    assert s3raw(edge, "GET", t)[2] == before  # nothing changed
    # the legacy element, with the function's bare name and a qualifier: accepted, answered as given
    st, _, data = s3raw(edge, "PUT", "/full?notification",
                        b"<NotificationConfiguration><CloudFunctionConfiguration><Id>legacy</Id><CloudFunction>probe:$LATEST"
                        b"</CloudFunction><Event>s3:ObjectRemoved:*</Event></CloudFunctionConfiguration>"
                        b"</NotificationConfiguration>")
    assert st == 200, data
    st, _, data = s3raw(edge, "GET", "/full?notification")
    assert b"<CloudFunctionConfiguration><Id>legacy</Id><CloudFunction>probe:$LATEST</CloudFunction>" in data, data
    # an empty configuration removes it
    assert s3raw(edge, "PUT", "/full?notification", b"<NotificationConfiguration/>")[0] == 200
    assert b"Configuration>" not in s3raw(edge, "GET", "/full?notification")[2].replace(b"NotificationConfiguration>", b"")
    assert edge.proc.poll() is None


@test
def uploads_fire_the_hook_once_per_object_with_filters():
    src = os.path.join(TMP, "up")
    os.makedirs(src, exist_ok=True)
    names = ["a.jpg", "b c.jpg", "d.png", "e.jpg"]
    for n in names:
        with open(os.path.join(src, n), "wb") as f:
            f.write(n.encode() * 100)
    aws(edge, "s3", "cp", "--recursive", src, "s3://photos/up/")
    aws(edge, "s3", "cp", os.path.join(src, "a.jpg"), "s3://photos/other/a.jpg")  # outside the prefix
    wait_until(lambda: count("photos", "ObjectCreated:Put", "up/a.jpg") == 1 and count("photos", "ObjectCreated:Put", "up/b+c.jpg") == 1
               and count("photos", "ObjectCreated:Put", "up/e.jpg") == 1, what="one invocation per matching upload")
    wait_until(lambda: edge.metric("edgehook_async_queue_depth") == 0, what="the queue to drain")
    assert count("photos", "ObjectCreated:Put", "up/d.png") == 0  # the suffix
    assert count("photos", "ObjectCreated:Put", "other/a.jpg") == 0  # the prefix
    assert count("photos", "ObjectCreated:Put", "up/a.jpg") == 1  # exactly once
    # copy and delete: their own event names
    aws(edge, "s3", "cp", "s3://photos/up/a.jpg", "s3://photos/up/copy.jpg")
    wait_until(lambda: count("photos", "ObjectCreated:Copy", "up/copy.jpg") == 1, what="the Copy event")
    aws(edge, "s3", "rm", "s3://photos/up/e.jpg")
    wait_until(lambda: count("photos", "ObjectRemoved:Delete", "up/e.jpg") == 1, what="the Delete event")
    assert edge.metric("edgehook_async_source_enqueued_total", source="s3:photos") >= 5
    assert (edge.metric("edgehook_store_events_total") or 0) >= 5


@test
def the_event_record():
    # a probe that records: the async destination of `failing` receives the record whole; read it from the failed bucket
    p = put_notification(edge, "failed", [{"Id": "rec", "LambdaFunctionArn": arn("failing"), "Events": ["s3:ObjectCreated:Put"],
                                           "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}}}])
    assert p.returncode == 0, p.stderr
    with open(os.path.join(TMP, "f.txt"), "wb") as f:
        f.write(b"x" * 1234)
    before = edge.metric("edgehook_async_destination_deliveries_total") or 0
    aws(edge, "s3", "cp", os.path.join(TMP, "f.txt"), "s3://failed/in/some key=1.txt")
    wait_until(lambda: (edge.metric("edgehook_async_destination_deliveries_total") or 0) > before,
               what="the failed event in the on-failure bucket")
    # exactly three attempts (one try and two retries), then the record
    assert count("failed", "ObjectCreated:Put", "in/some+key%3D1.txt") == 3, origin.requests()[-5:]
    out = json.loads(aws(edge, "s3api", "list-objects-v2", "--bucket", "failed", "--prefix", "aws/lambda/async/failing/").stdout)
    (obj,) = out["Contents"]
    aws(edge, "s3", "cp", "s3://failed/" + obj["Key"], os.path.join(TMP, "rec.json"))
    with open(os.path.join(TMP, "rec.json")) as f:
        rec = json.load(f)
    assert rec["requestContext"]["condition"] == "RetriesExhausted" and rec["requestContext"]["approximateInvokeCount"] == 3, rec
    assert "fails on purpose" in json.dumps(rec["responsePayload"]), rec
    (r,) = rec["requestPayload"]["Records"]
    assert r["eventVersion"] == "2.1" and r["eventSource"] == "aws:s3" and r["awsRegion"] == REGION, r
    assert r["eventName"] == "ObjectCreated:Put" and r["eventTime"].endswith("Z"), r
    assert r["s3"]["s3SchemaVersion"] == "1.0" and r["s3"]["configurationId"] == "rec", r
    assert r["s3"]["bucket"]["name"] == "failed" and r["s3"]["bucket"]["arn"] == "arn:aws:s3:::failed", r
    assert r["s3"]["object"]["key"] == "in/some+key%3D1.txt", r
    assert urllib.parse.unquote_plus(r["s3"]["object"]["key"]) == "in/some key=1.txt"
    assert r["s3"]["object"]["size"] == 1234 and r["s3"]["object"]["eTag"] == hashlib.md5(b"x" * 1234).hexdigest(), r
    assert len(r["s3"]["object"]["sequencer"]) == 16, r
    assert r["requestParameters"]["sourceIPAddress"] == "127.0.0.1", r
    assert len(r["responseElements"]["x-amz-request-id"]) == 16, r
    assert r["userIdentity"]["principalId"] == "AWS:" + AK, r
    assert r["edgehook"]["generation"] == 0, r


@test
def sequencers_increase_per_key():
    p = put_notification(edge, "site", [{"Id": "all", "LambdaFunctionArn": arn("failing"), "Events": ["s3:ObjectCreated:*"],
                                         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "seq/"}]}}}])
    assert p.returncode == 0, p.stderr
    # the records themselves are only visible to the hook: use the failed bucket? simpler: the hook fails; the
    # destination is `failed`; count the records for seq/k
    before = edge.metric("edgehook_async_destination_deliveries_total") or 0
    for i in range(2):
        with open(os.path.join(TMP, "s.txt"), "wb") as f:
            f.write(b"v%d" % i)
        aws(edge, "s3", "cp", os.path.join(TMP, "s.txt"), "s3://site/seq/k")
    wait_until(lambda: (edge.metric("edgehook_async_destination_deliveries_total") or 0) >= before + 2, what="both records")
    out = json.loads(aws(edge, "s3api", "list-objects-v2", "--bucket", "failed", "--prefix", "aws/lambda/async/failing/").stdout)
    seqs = {}
    for o in out["Contents"]:
        aws(edge, "s3", "cp", "s3://failed/" + o["Key"], os.path.join(TMP, "r.json"))
        with open(os.path.join(TMP, "r.json")) as f:
            r = json.load(f)["requestPayload"]["Records"][0]
        if r["s3"]["object"]["key"] == "seq/k":
            seqs[r["s3"]["object"]["eTag"]] = r["s3"]["object"]["sequencer"]
    assert len(seqs) == 2, seqs
    assert seqs[hashlib.md5(b"v0").hexdigest()] < seqs[hashlib.md5(b"v1").hexdigest()], seqs
    assert put_notification(edge, "site", []).returncode == 0


@test
def a_hook_writing_back_stops_at_the_loop_guard():
    p = put_notification(edge, "loop", [{"Id": "self", "LambdaFunctionArn": arn("looper"), "Events": ["s3:ObjectCreated:*"]}])
    assert p.returncode == 0, p.stderr
    stopped = edge.metric("edgehook_store_events_loop_stopped_total") or 0
    with open(os.path.join(TMP, "l.txt"), "wb") as f:
        f.write(b"seed")
    aws(edge, "s3", "cp", os.path.join(TMP, "l.txt"), "s3://loop/k")
    # generations 0..3 run the hook (notify_max_generations: 4); the hook's write at generation 4 makes no event
    wait_until(lambda: (edge.metric("edgehook_store_events_loop_stopped_total") or 0) > stopped, what="the loop guard to stop it")
    wait_until(lambda: edge.metric("edgehook_async_queue_depth") == 0, what="the queue to drain")
    for i, key in enumerate(["k", "kx", "kxx", "kxxx"]):
        assert count("loop", "ObjectCreated:Put", key) == 1, (key, origin.requests()[-10:])
    assert count("loop", "ObjectCreated:Put", "kxxxx") == 0
    listing = aws(edge, "s3", "ls", "s3://loop/").stdout.decode()
    assert "kxxxx" in listing and "kxxxxx" not in listing, listing
    aws(edge, "s3", "cp", "s3://loop/kxxxx", os.path.join(TMP, "g.txt"))
    with open(os.path.join(TMP, "g.txt"), "rb") as f:
        assert f.read() == b"written by a hook at generation 3"
    assert "store.notify_max_generations" in edge.log()


@test
def overwrite_and_delete_purge_the_cache():
    def put(body):
        with open(os.path.join(TMP, "o.bin"), "wb") as f:
            f.write(body)
        aws(edge, "s3", "cp", os.path.join(TMP, "o.bin"), "s3://site/page.html")
    put(b"version one")
    assert proxy_get(edge, "/page.html") == (200, b"version one")
    assert proxy_get(edge, "/page.html") == (200, b"version one")  # a hit now
    put(b"version two")
    assert proxy_get(edge, "/page.html") == (200, b"version two")
    aws(edge, "s3", "rm", "s3://site/page.html")
    assert proxy_get(edge, "/page.html")[0] == 404
    put(b"version three")
    assert proxy_get(edge, "/page.html") == (200, b"version three")
    # a hook's write purges too (the looper writes page.htmlx)
    assert proxy_get(edge, "/pagex.html")[0] == 404


@test
def racing_readers_never_see_the_old_body_after_the_200():
    """a writer overwrites one key (raw signed PUTs); readers GET it through the proxy in a loop. A GET that starts after a
    PUT's 200 must return that PUT's body or a later one (the versions carry increasing numbers)."""
    state = {"acked": -1, "stale": 0, "checks": 0, "stop": False}
    lock = threading.Lock()

    def reader():
        c = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=60 * SLOW)
        while not state["stop"]:
            with lock:
                floor = state["acked"]
            c.request("GET", "/race.txt")
            r = c.getresponse()
            data = r.read()
            if r.status == 200:
                v = int(data.split(b" ")[1])
                with lock:
                    state["checks"] += 1
                    if v < floor:
                        state["stale"] += 1
        c.close()

    st, _, _ = s3raw(edge, "PUT", "/site/race.txt", b"version 0 " + b"p" * 1000)
    assert st == 200
    state["acked"] = 0
    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    n = int(os.environ.get("EDGE_RACE_WRITES", "200"))
    for i in range(1, n + 1):
        st, _, data = s3raw(edge, "PUT", "/site/race.txt", b"version %d " % i + b"p" * 1000)
        assert st == 200, data
        with lock:
            state["acked"] = i
    state["stop"] = True
    for t in readers:
        t.join()
    print("race: %d writes, %d checks, %d stale" % (n, state["checks"], state["stale"]))
    assert state["stale"] == 0, state
    assert state["checks"] > n, state


@test
def kill_9_after_the_200_still_runs_the_hook_after_restart():
    global edge
    p = put_notification(edge, "full", [{"Id": "g", "LambdaFunctionArn": arn("gated"), "Events": ["s3:ObjectCreated:*"]}])
    assert p.returncode == 0, p.stderr
    with open(os.path.join(TMP, "k.txt"), "wb") as f:
        f.write(b"k")
    # gated runs one at a time and its first attempt waits at the origin's gate: the second upload's event waits in the queue
    aws(edge, "s3", "cp", os.path.join(TMP, "k.txt"), "s3://full/k1")
    wait_until(lambda: count("full", "ObjectCreated:Put", "k1") == 1, what="the first hook to reach the origin")
    aws(edge, "s3", "cp", os.path.join(TMP, "k.txt"), "s3://full/k2")  # answered 200: its event is on disk
    assert count("full", "ObjectCreated:Put", "k2") == 0
    edge.kill()
    origin.release("g")
    edge = start(workdir=edge.dir, state_dir=edge.state_dir)
    wait_until(lambda: count("full", "ObjectCreated:Put", "k2") == 1, what="the queued event to run after the restart")
    wait_until(lambda: count("full", "ObjectCreated:Put", "k1") == 2, what="the interrupted one to run again")
    # the configuration survived too
    assert get_notification(edge, "full")["LambdaFunctionConfigurations"][0]["Id"] == "g"


@test
def a_full_queue_refuses_the_upload_and_writes_nothing():
    global edge
    edge.stop()
    small = start(workdir=edge.dir, state_dir=edge.state_dir, max_events=1)
    edge = small
    p = put_notification(edge, "full", [{"Id": "h", "LambdaFunctionArn": arn("held"), "Events": ["s3:ObjectCreated:*"]}])
    assert p.returncode == 0, p.stderr
    # the first event is held at the gate (held, concurrency 1): the queue (1 event) is full
    st, _, _ = s3raw(edge, "PUT", "/full/q1", b"q")
    assert st == 200
    wait_until(lambda: count("full", "ObjectCreated:Put", "q1") == 1, what="the first hook to reach the origin")
    st, h, data = s3raw(edge, "PUT", "/full/q2", b"must not be written")
    assert st == 503 and xml_code(data) == "SlowDown", (st, data)
    st, _, _ = s3raw(edge, "HEAD", "/full/q2")
    assert st == 404  # not written
    assert edge.metric("edgehook_store_events_refused_total") >= 1
    # a write no rule matches is not refused
    st, _, _ = s3raw(edge, "PUT", "/photos/unmatched.txt", b"fine")
    assert st == 200
    # once the held event ran, uploads go through again
    origin.release("h")
    wait_until(lambda: edge.metric("edgehook_async_queue_depth") == 0, what="the queue to drain")
    st, _, _ = s3raw(edge, "PUT", "/full/q3", b"q")
    assert st == 200
    wait_until(lambda: count("full", "ObjectCreated:Put", "q3") == 1, what="the next upload's hook")


try:
    run()
finally:
    for e in started:
        e.kill()
        e.assert_clean()
    origin.stop()
