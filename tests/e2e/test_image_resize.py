# ctest-labels: notsan
# notsan: libvips and GLib are not built with -fsanitize=thread and hand images between libvips' worker threads through GLib's futex-based locks, which ThreadSanitizer cannot see: every resize is reported as a race inside libvips (its frees against its workers' reads). The offload path the test takes is edgehook's moved-call path, which test_hooks runs under TSan with Lua calls
"""End-to-end: the libvips example plugin examples/hooks/c/image_resize.c in one edgehook process with the embedded store.
Uploads with /usr/bin/aws to photos/ fire it once per object (a bucket notification, the async queue): its thumbnails
thumbs/NAME-320.webp, -320.jpg, -1280.webp, -1280.jpg are written through host->s3 and are valid images of the right size
(vipsheader); a decompression bomb (a header over max_pixels) and a truncated JPEG fail only their own invocation (three
attempts, then the on-failure bucket), and the next good upload still works. In origin-response (ABI 1.7: the origin's body
read for the hook, origin_body; host->offload), ?w=320 through the proxy gives a 320 px JPEG, or WebP for an Accept that admits
it, with Vary: Accept; the second request is a hit (X-Cache, the cache and hook counters, no store GET); a w outside `widths`
gets the original bytes; a bomb and a truncated JPEG get 422 with the reason, and the process stays up. Test images are made
with the `vips` CLI.
Skips (saying why) when the plugin was not built (no libvips) or the vips tools are missing.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

import boto3
import botocore.config

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import BIN, SANITIZE, SLOW, TSAN, Edge, Skip, metric, retry_port_taken, run, test, wait_until  # noqa: E402

PLUGIN = os.path.join(os.getcwd(), "examples", "hooks", "c", "libimage_resize.so")
AK, SK = "AKIDIMAGETEST0000001", "image-test-secret-key-0000000000000000"
TMP = tempfile.mkdtemp(prefix="image-resize-")
MISSING = None
if not os.path.exists(PLUGIN):
    MISSING = "the image_resize plugin was not built (libvips not found at build time: Debian libvips-dev)"
elif shutil.which("vips") is None or shutil.which("vipsheader") is None:
    MISSING = "the vips and vipsheader tools are missing (Debian libvips-tools)"

CONFIG = """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
origins:
  gallery: {type: s3, endpoint: embedded, bucket: gallery}
hooks:
  image:
    native: %(plugin)s
    config: {thumb_widths: [320, 1280], widths: [160, 320, 640], max_pixels: 20000000}
    origin_body: 16MB
    async: {backoff: 100ms, on_failure: "arn:aws:s3:::failed"}
behaviors:
  - {path: "/photos/*", origin: gallery, cache: {default_ttl: 1h, key: {query: [w]}}, hooks: {origin-response: image}}
  - {path: "*", origin: gallery, cache: {default_ttl: 1h}}
async_queue: {threads: 2}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  credentials: {access_key: %(ak)s, secret_key: %(sk)s}
  notifications:
    - {bucket: gallery, id: thumbs, function: image, events: ["s3:ObjectCreated:*"], prefix: photos/}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: image-admin-token-0123456789
"""

AWS_BASE = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(AWS_BASE, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
edge = None
s3 = None  # boto3, to read what the hook wrote (fast; uploads go through the aws CLI)


def aws(*args, check=True):
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", "http://127.0.0.1:%d" % edge.ports["store"]] + list(args), env=AWS_ENV,
                       cwd=TMP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120 * SLOW)
    if check:
        assert p.returncode == 0, "aws %s: %d\n%s" % (" ".join(args), p.returncode, p.stderr.decode("utf-8", "replace"))
    return p


def vips(*args):
    subprocess.run(["vips"] + list(args), check=True, cwd=TMP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60 * SLOW)


def header(path):
    """(width, height, loader) of an image file, as vipsheader reads it"""
    out = {}
    for field in ("width", "height", "vips-loader"):
        p = subprocess.run(["vipsheader", "-f", field, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert p.returncode == 0, "vipsheader %s: %s" % (path, p.stderr.decode("utf-8", "replace"))
        out[field] = p.stdout.decode().strip()
    return int(out["width"]), int(out["height"]), out["vips-loader"]


def photo(name, w, h):
    """a w x h JPEG of noise (it does not compress away) in TMP"""
    path = os.path.join(TMP, name)
    vips("gaussnoise", path + "[Q=85]", str(w), str(h))
    return path


def keys(bucket, prefix):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def fetch(bucket, key, local):
    """the object into TMP/local; its Content-Type"""
    r = s3.get_object(Bucket=bucket, Key=key)
    with open(os.path.join(TMP, local), "wb") as f:
        f.write(r["Body"].read())
    return r["ContentType"]


def wrote_lines(key):
    """how many times the hook wrote this thumbnail (its log line per write)"""
    with open(edge.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace").count("wrote gallery/%s " % key)


def thumbs_of(name):
    return ["thumbs/%s-%d.%s" % (name, w, ext) for w in (320, 1280) for ext in ("webp", "jpg")]


def preload_env():
    """ASan builds: LeakSanitizer's tracer crashes at exit ("Tracer caught signal 11") once libvips and GLib, dlopen'ed with the
    plugin, have run on edgehook's threads (it reads their dynamic TLS). Preloaded (libasan first, as ASan wants), their TLS is
    static and the exit check works; the binary, the plugin and what LSan reports are unchanged. (As test_gallery does.)"""
    if not SANITIZE or TSAN:
        return {}

    def lib(binary, name):
        out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, text=True).stdout
        m = re.search(r"^\s*%s\S* => (\S+)" % re.escape(name), out, re.M)
        return m.group(1) if m else None
    asan, vips = lib(BIN, "libasan.so"), lib(PLUGIN, "libvips.so")
    return {"LD_PRELOAD": "%s:%s" % (asan, vips)} if asan and vips else {}


def setup():
    global edge, s3
    if MISSING:
        return
    edge = retry_port_taken(lambda: Edge(CONFIG % {"plugin": PLUGIN, "ak": AK, "sk": SK}, name="image",
                                              env=preload_env()))
    s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % edge.ports["store"], aws_access_key_id=AK, aws_secret_access_key=SK,
                      region_name="us-east-1", config=botocore.config.Config(s3={"addressing_style": "path"},
                                                                             retries={"max_attempts": 1}))
    aws("s3", "mb", "s3://gallery")
    aws("s3", "mb", "s3://failed")


def need():
    if MISSING:
        raise Skip(MISSING)
    assert edge.proc.poll() is None, "edgehook exited"


@test
def thumbnails_on_upload():
    need()
    # a landscape photo, a portrait one and one smaller than the smaller thumbnail (never enlarged)
    shots = {"a": (1600, 1200), "tall": (900, 1600), "small": (200, 150)}
    up = os.path.join(TMP, "up1")
    os.mkdir(up)
    for name, (w, h) in shots.items():
        shutil.move(photo(name + ".jpg", w, h), up)
    aws("s3", "cp", "--recursive", up, "s3://gallery/photos/")  # one aws run, three PUTs
    want = sorted(k for name in shots for k in thumbs_of(name))
    wait_until(lambda: keys("gallery", "thumbs/") == want, timeout=60, what="the thumbnails of three uploads")
    for name, (w, h) in shots.items():
        for k in thumbs_of(name):
            local = os.path.join(TMP, k.replace("/", "_"))
            ctype = fetch("gallery", k, local)
            tw, th, loader = header(local)
            width = int(k.rsplit("-", 1)[1].split(".")[0])
            ew = min(width, w)
            eh = max(1, round(h * ew / w))
            assert tw == ew and abs(th - eh) <= 1, (k, tw, th, ew, eh)
            assert loader == ("webpload" if k.endswith(".webp") else "jpegload"), (k, loader)
            assert ctype == ("image/webp" if k.endswith(".webp") else "image/jpeg"), (k, ctype)
            # once per object: each thumbnail written exactly once (the hook's writes to thumbs/ notify nothing)
            assert wrote_lines(k) == 1, (k, wrote_lines(k))
    assert edge.metric("edgehook_async_invocations_total") == 3, edge.metric("edgehook_async_invocations_total")
    assert edge.metric("edgehook_async_failures_total") == 0


@test
def hostile_images_fail_alone():
    need()
    failures = edge.metric("edgehook_async_failures_total")
    # a decompression bomb: 8000x8000 (64 MP) of black is a few hundred KB of JPEG; max_pixels is 20 MP
    vips("black", os.path.join(TMP, "bomb.jpg"), "8000", "8000")
    # a truncated JPEG: the header is whole, the scan data stops half way
    good = photo("whole.jpg", 1600, 1200)
    with open(good, "rb") as f:
        data = f.read()
    with open(os.path.join(TMP, "trunc.jpg"), "wb") as f:
        f.write(data[: len(data) // 2])
    with open(os.path.join(TMP, "junk.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0" + os.urandom(3000))
    up = os.path.join(TMP, "up2")
    os.mkdir(up)
    for name in ("bomb", "trunc", "junk"):
        shutil.move(os.path.join(TMP, name + ".jpg"), up)
    aws("s3", "cp", "--recursive", up, "s3://gallery/photos/")
    wait_until(lambda: len(keys("failed", "aws/lambda/async/image/")) == 3, timeout=90, what="three events in the on-failure bucket")
    reasons = {}
    for k in keys("failed", "aws/lambda/async/image/"):
        rec = json.loads(s3.get_object(Bucket="failed", Key=k)["Body"].read())
        assert rec["requestContext"]["approximateInvokeCount"] == 3, rec["requestContext"]
        (r,) = rec["requestPayload"]["Records"]
        reasons[r["s3"]["object"]["key"]] = json.dumps(rec["responsePayload"])
    assert "decompression bomb" in reasons["photos/bomb.jpg"] and "8000x8000" in reasons["photos/bomb.jpg"], reasons
    assert "cannot decode" in reasons["photos/trunc.jpg"], reasons
    assert "photos/junk.jpg" in reasons, reasons
    assert edge.metric("edgehook_async_failures_total") == failures + 3
    assert not any(k.startswith("thumbs/bomb") or k.startswith("thumbs/trunc") or k.startswith("thumbs/junk")
                   for k in keys("gallery", "thumbs/"))
    # the process is up and the next good upload still gets its thumbnails
    assert edge.proc.poll() is None
    aws("s3", "cp", good, "s3://gallery/photos/after.jpg")
    wait_until(lambda: all(k in keys("gallery", "thumbs/after") for k in thumbs_of("after")), timeout=60,
               what="the thumbnails of the upload after the hostile ones")
    fetch("gallery", "thumbs/after-320.webp", "after.webp")
    assert header(os.path.join(TMP, "after.webp"))[:2] == (320, 240)


def get(path, accept=None):
    """(status, headers, body) of a GET through the proxy"""
    req = urllib.request.Request(edge.url(path), headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def image_of(body, name):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(body)
    return header(path)


def counters():
    """the cache's hits, the GETs the store answered, and the origin-response calls of the hook (all its versions: the config's
    alias serves the proxy, $LATEST the store events) and those of them that moved to an offload thread"""
    m = edge.metrics_text()

    def total(name, **labels):
        n = 0.0
        for line in m.splitlines():
            mm = re.match(r"(\w+)\{(.*)\} (\S+)$", line)
            if mm and mm.group(1) == name and all('%s="%s' % kv in mm.group(2) for kv in labels.items()):
                n += float(mm.group(3))
        return n
    return {"hits": metric(m, "edgehook_cache_hits_total") or 0, "hook": total("edgehook_hook_invocations_total", hook="image@1"),
            "gets": total("edgehook_store_requests_total", op="GetObject", status_class="2xx"),
            "moved": total("edgehook_hook_moved_total", hook="image@1")}


@test
def resize_on_the_fly():
    need()
    src = photo("fly.jpg", 1600, 1200)
    aws("s3", "cp", src, "s3://gallery/photos/fly.jpg")
    with open(src, "rb") as f:
        original = f.read()
    # the upload's thumbnails first: their reads of the store must not mix with the counts below
    wait_until(lambda: all(k in keys("gallery", "thumbs/fly") for k in thumbs_of("fly")), timeout=60, what="fly's thumbnails")
    before = counters()
    st, h, body = get("/photos/fly.jpg?w=320", accept="image/jpeg")
    assert st == 200 and h["Content-Type"] == "image/jpeg" and h["Vary"] == "Accept", (st, dict(h), body[:200])
    assert "Miss" in h.get("X-Cache", ""), dict(h)
    assert image_of(body, "fly320.jpg") == (320, 240, "jpegload")
    after = counters()
    assert after["hook"] == before["hook"] + 1 and after["gets"] == before["gets"] + 1, (before, after)
    # the decoding went off the event loop (host->offload)
    assert after["moved"] == before["moved"] + 1, (before, after)
    # the same again: a hit (the cache's counter, X-Cache, and neither the hook nor the store ran)
    st, h, again = get("/photos/fly.jpg?w=320", accept="image/jpeg")
    assert st == 200 and again == body and "Hit" in h.get("X-Cache", ""), dict(h)
    hit = counters()
    assert hit["hits"] == after["hits"] + 1 and hit["hook"] == after["hook"] and hit["gets"] == after["gets"], (after, hit)
    # a viewer that takes WebP gets WebP (another variant under Vary: Accept)
    st, h, wbody = get("/photos/fly.jpg?w=320", accept="image/avif,image/webp,*/*")
    assert st == 200 and h["Content-Type"] == "image/webp" and h["Vary"] == "Accept", dict(h)
    assert image_of(wbody, "fly320.webp") == (320, 240, "webpload")
    st, h, wbody2 = get("/photos/fly.jpg?w=320", accept="image/avif,image/webp,*/*")
    assert wbody2 == wbody and "Hit" in h.get("X-Cache", ""), dict(h)
    # w is in the key: 160 is another object
    st, h, small = get("/photos/fly.jpg?w=160", accept="image/jpeg")
    assert st == 200 and image_of(small, "fly160.jpg")[:2] == (160, 120)
    # a w not in `widths`, and no w: the original bytes
    for path in ("/photos/fly.jpg?w=333", "/photos/fly.jpg"):
        st, h, orig = get(path, accept="image/webp")
        assert st == 200 and orig == original and h["Content-Type"] == "image/jpeg", (path, st, dict(h))
    assert edge.proc.poll() is None


@test
def hostile_images_on_the_fly():
    need()
    vips("black", os.path.join(TMP, "bomb2.jpg"), "8000", "8000")
    with open(photo("whole2.jpg", 1600, 1200), "rb") as f:
        data = f.read()
    with open(os.path.join(TMP, "trunc2.jpg"), "wb") as f:
        f.write(data[: len(data) // 2])
    for name in ("bomb2", "trunc2"):
        s3.put_object(Bucket="gallery", Key="photos/hostile/%s.jpg" % name, Body=open(os.path.join(TMP, name + ".jpg"), "rb").read())
    st, h, body = get("/photos/hostile/bomb2.jpg?w=320", accept="image/webp")
    assert st == 422 and b"decompression bomb" in body and h["Cache-Control"] == "no-store", (st, dict(h), body)
    st, h, body = get("/photos/hostile/trunc2.jpg?w=320", accept="image/webp")
    assert st == 422 and b"cannot decode" in body, (st, dict(h), body)
    # still up, and a good one still resizes
    assert edge.proc.poll() is None
    st, h, body = get("/photos/fly.jpg?w=640", accept="image/webp")
    assert st == 200 and image_of(body, "fly640.webp")[:2] == (640, 480)


if __name__ == "__main__":
    setup()
    try:
        run()
    finally:
        if edge is not None:
            rc = edge.stop()
            edge.assert_clean()
            if rc != 0:
                sys.exit(1)
