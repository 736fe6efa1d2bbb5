"""End-to-end: the photo gallery (examples/gallery/) as examples/configs/gallery.yaml runs it.

The shipped config itself is run (its ports made free ones, its upload limit 1 MB), from a folder that has its relative paths:
examples/ and build/ (this build, where the libvips example examples/hooks/c/image_resize.c is made; without it the test
skips).

- Without a browser: the upload form endpoint refuses what is not an image type; the form it gives is enforced by the store
  (POST Object checks the policy): another key, inside or outside photos/, another Content-Type, a changed signature and a
  file over the content-length-range are refused and leave nothing; the form as given is accepted (201).
- In a real browser (Debian's chromium, headless, driven by puppeteer-core from tests/package.json): the page is served by the
  edge from the store; a JPEG (made by the browser's own encoder, 1600x1200) goes in through the file input; the page posts
  it straight to the store (cross-origin: the bucket's CORS rules from store.seed), polls the list until the resize hook,
  run by the upload's event, has written the thumbnail, and shows it: its natural size is 320x240, it came through the edge
  cache (a second GET is a hit), and the full size opens at 1600x1200. Screenshots go to gallery-screenshots/ in the ctest
  working directory (the build folder).
"""
# ctest-labels: notsan
# notsan: libvips and its codecs (glib, libjpeg, libwebp: Debian's, uninstrumented) hand buffers between their own threads with futexes TSan cannot see, so every resize reports races inside them, and a resize takes over 30 s there; the gallery's own C (edge.s3.presign_post, store.seed cors) runs on the control and seed threads that test_store_events and test_default_site cover under TSan
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import edgetest  # noqa: E402
from edgetest import BUILD, SRC, Edge, Skip, curl_status, free_port, retry_port_taken, run, test  # noqa: E402

PLUGIN = os.path.join(BUILD, "examples", "hooks", "c", "libimage_resize.so")
MAX_SIZE = 1 << 20
TOKEN = "gallery-test-token-5c1d"
TMP = tempfile.mkdtemp(prefix="e2e-gallery-")
state = {}
PROBE = os.path.join(TMP, "probe.lua")
with open(PROBE, "w") as f:
    f.write("""-- edge.s3.presign_post with arguments it must refuse, and a prefix form
function viewer_request(event)
    local out = {}
    local function try(name, bucket, opts)
        local r, err = edge.s3.presign_post(bucket, opts)
        out[name] = r == nil and tostring(err) or "accepted"
    end
    try("no_bucket", "no-such-bucket", {key = "a"})
    try("bucket_type", 42, {})
    try("opts_type", "gallery", "x")
    try("size", "gallery", {max_size = -1})
    try("size_order", "gallery", {min_size = 10, max_size = 5})
    try("size_huge", "gallery", {max_size = math.huge})
    try("size_nan", "gallery", {max_size = 0 / 0})
    try("expires_nan", "gallery", {expires = 0 / 0})
    try("expires_text", "gallery", {expires = "soon"})
    try("expires_long", "gallery", {expires = 8 * 86400})
    try("expires_zero", "gallery", {expires = 0})
    try("fields_type", "gallery", {fields = "x"})
    try("conditions_type", "gallery", {conditions = "x"})
    try("conditions_huge", "gallery", {conditions = {string.rep("a", 20000)}})
    local form = edge.s3.presign_post("gallery", {key_prefix = "uploads/", content_type_prefix = "image/", max_size = 100,
                                                  conditions = {{"starts-with", "$x-amz-meta-note", ""}}})
    out.form = form
    return {status = "200", body = edge.json_encode(out)}
end
""")


def preload_env():
    """ASan builds: LeakSanitizer's tracer crashes at exit ("Tracer caught signal 11") once libvips and glib, dlopen'ed with the
    plugin, have run on edgehook's threads: it reads their dynamic TLS. Preloaded (libasan first, as ASan wants), their TLS is
    static and the exit check works. The binary, the plugin and what LSan reports are unchanged."""
    if not edgetest.SANITIZE or edgetest.TSAN:
        return {}

    def lib(binary, name):
        out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, text=True).stdout
        m = re.search(r"^\s*%s\S* => (\S+)" % re.escape(name), out, re.M)
        return m.group(1) if m else None
    asan, vips = lib(edgetest.BIN, "libasan.so"), lib(PLUGIN, "libvips.so")
    return {"LD_PRELOAD": "%s:%s" % (asan, vips)} if asan and vips else {}


def start():
    if "edge" in state:
        return state["edge"]
    if not os.path.exists(PLUGIN):
        raise Skip("examples/hooks/c/image_resize.c is not built (libvips-dev missing: scripts/deps.sh installs it)")
    for name, target in (("examples", os.path.join(SRC, "examples")), ("build", BUILD)):
        if not os.path.lexists(os.path.join(TMP, name)):
            os.symlink(target, os.path.join(TMP, name))
    with open(os.path.join(SRC, "examples", "configs", "gallery.yaml")) as f:
        shipped = f.read()

    def attempt():
        main, store, admin = free_port(), free_port(), free_port()
        config = shipped.replace("port: 8080}", "port: %d}" % main).replace("127.0.0.1:9000", "127.0.0.1:%d" % store) \
            .replace("port: 9000}", "port: %d}" % store).replace("port: 9901}", "port: %d}" % admin) \
            .replace("max_size: 20971520", "max_size: %d" % MAX_SIZE)
        for want in ('store_url: "http://127.0.0.1:%d"' % store, "port: %d}" % store, "port: %d}" % main, "port: %d}" % admin,
                     "max_size: %d" % MAX_SIZE):
            assert want in config, (want, config)
        # and one probe of edge.s3.presign_post's arguments, before the shipped behaviors
        config = config.replace("\nbehaviors:\n", "\n  probe: {lua: %s}\nbehaviors:\n  - {path: \"/probe\", origin: gallery, cache: off, "
                                "hooks: {viewer-request: probe}}\n" % PROBE, 1)
        return Edge(config, workdir=TMP, env=dict(preload_env(), EDGEHOOK_ADMIN_TOKEN=TOKEN), admin_token=TOKEN)

    edge = retry_port_taken(attempt)
    state["edge"] = edge
    return edge


def form(edge, name="x.jpg", ctype="image/jpeg"):
    st, h, body = curl_status(edge.url("/api/upload-form?name=%s&type=%s" % (name, ctype)))
    return st, h, json.loads(body)


def post(f, fields=None, data=b"\xff\xd8\xff\xe0 not much of a jpeg", ctype="image/jpeg", origin=None):
    """a multipart/form-data POST of the form to the store: (status, headers, body)"""
    path = os.path.join(TMP, "upload.bin")
    with open(path, "wb") as out:
        out.write(data)
    all_fields = dict(f["fields"], **(fields or {}))
    args = []
    for k, v in all_fields.items():
        args += ["--form-string", "%s=%s" % (k, v)]
    args += ["-F", "file=@%s;type=%s" % (path, ctype)]
    if origin:
        args += ["-H", "Origin: " + origin]
    return curl_status(f["url"], *args)


def s3_code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


JPEG_IN_BROWSER = """(async () => {
  const c = document.createElement('canvas');
  c.width = 1600; c.height = 1200;
  const g = c.getContext('2d');
  const sky = g.createLinearGradient(0, 0, 0, 1200);
  sky.addColorStop(0, '#1e3c72'); sky.addColorStop(0.6, '#f7b267'); sky.addColorStop(1, '#f4845f');
  g.fillStyle = sky; g.fillRect(0, 0, 1600, 1200);
  g.fillStyle = '#ffe8a3'; g.beginPath(); g.arc(1100, 700, 160, 0, 2 * Math.PI); g.fill();
  g.fillStyle = '#2d3047';
  g.beginPath(); g.moveTo(0, 1200); g.lineTo(0, 850); g.lineTo(450, 600); g.lineTo(900, 900); g.lineTo(1250, 700);
  g.lineTo(1600, 950); g.lineTo(1600, 1200); g.fill();
  const blob = await new Promise((ok) => c.toBlob(ok, 'image/jpeg', 0.9));
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return btoa(s);
})()"""


@test
def browser_uploads_a_photo_and_shows_its_thumbnail():
    edge = start()
    import browser
    browser.ARTIFACTS = os.path.abspath("gallery-screenshots")
    b = browser.Browser()
    try:
        print("browser: %s; screenshots in %s" % (b.version, browser.ARTIFACTS), flush=True)
        assert b.goto(edge.url("/")) == 200
        assert b.eval("document.title") == "Gallery — edgehook"
        b.wait("document.querySelector('#grid') && document.readyState === 'complete'")
        before = len(b.eval("Array.from(document.querySelectorAll('#grid figure')).map((f) => f.dataset.key)"))

        # a JPEG made by the browser's own encoder, chosen in the file input as a user would
        jpeg = base64.b64decode(b.eval(JPEG_IN_BROWSER))
        assert jpeg[:3] == b"\xff\xd8\xff" and len(jpeg) < MAX_SIZE, len(jpeg)
        path = os.path.join(TMP, "sunset.jpg")
        with open(path, "wb") as f:
            f.write(jpeg)
        events_before = edge.metric("edgehook_store_events_total") or 0
        t0 = time.time()
        b.upload("#file", path)

        # the page posts it to the store, polls the list until the hook wrote the thumbnail, then shows it
        key = b.wait("document.querySelector('#status').dataset.readyKey || "
                     "(document.querySelector('#status').classList.contains('error') && "
                     "'error: ' + document.querySelector('#status').textContent)", timeout=180)
        assert key.startswith("photos/") and key.endswith("-sunset.jpg"), key
        size = b.wait("""(() => {
            const i = document.querySelector('figure[data-key="%s"] img.thumb');
            return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight, i.currentSrc] : null;
        })()""" % key, timeout=120)
        assert size[:2] == [320, 240], size
        print("upload to thumbnail shown: %.1f s" % (time.time() - t0), flush=True)  # a figure for the notes, not a check
        thumb = size[2]
        assert thumb.startswith(edge.url("/thumbs/")), (thumb, edge.url("/"))  # through the edge, not the store
        b.screenshot("01-uploaded.png")
        assert (edge.metric("edgehook_store_events_total") or 0) >= events_before + 1

        # the thumbnail came through the cache: the browser's GET filled it, the next one is a hit
        st, h, body = curl_status(thumb)
        assert st == 200 and h.get("x-cache") == "Hit from edgehook", (st, h)
        assert body[:4] == b"RIFF" and body[8:12] == b"WEBP" and h["content-type"] == "image/webp", (h, body[:16])
        assert b.eval("document.querySelectorAll('#grid figure').length") == before + 1

        # the full size opens from the thumbnail
        b.click('figure[data-key="%s"] a' % key)
        full = b.wait("""(() => {
            const i = document.querySelector('#viewer[open] #full');
            return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight] : null;
        })()""")
        assert full == [1600, 1200], full
        b.screenshot("02-full-size.png")
        assert b.problems() == [], b.problems()
    finally:
        b.close()


@test
def presigned_form_is_enforced_by_the_store():
    edge = start()
    # the endpoint: image types only, a key it chooses under photos/, the policy's limits in the answer
    for bad in ("text/html", "image/svg%2Bxml", "image/gif", "application/octet-stream"):
        st, h, doc = form(edge, ctype=bad)
        assert st == 400 and "type must be" in doc["error"], (bad, st, doc)
        assert h["cache-control"] == "no-store"
    st, h, f = form(edge, name="../../site/evil%00.jpg")
    assert st == 200 and h["cache-control"] == "no-store", (st, f)
    assert re.fullmatch(r"photos/\d+-[0-9a-f]{8}-[A-Za-z0-9_-]+\.jpg", f["key"]), f["key"]
    assert f["fields"]["key"] == f["key"] and f["fields"]["Content-Type"] == "image/jpeg" and f["max_size"] == MAX_SIZE
    policy = json.loads(base64.b64decode(f["fields"]["policy"]))
    assert ["content-length-range", 1, MAX_SIZE] in policy["conditions"], policy
    assert ["eq", "$key", f["key"]] in policy["conditions"], policy
    assert f["url"].endswith("/gallery") and ":%d/" % edge.port not in f["url"], f["url"]

    # what the policy does not allow, the store refuses (and stores nothing)
    refused = [({"key": "site/evil.jpg"}, {}, 403, "AccessDenied"),
               ({"key": "photos/someone-else.jpg"}, {}, 403, "AccessDenied"),
               ({"Content-Type": "text/html"}, {"ctype": "text/html"}, 403, "AccessDenied"),
               ({"x-amz-signature": ("0" if f["fields"]["x-amz-signature"][0] != "0" else "1") + f["fields"]["x-amz-signature"][1:]},
                {}, 403, "SignatureDoesNotMatch"),
               ({}, {"data": b"\xff" * (MAX_SIZE + 1)}, 400, "EntityTooLarge"),
               ({}, {"data": b""}, 400, "EntityTooSmall")]
    for fields, kw, want_status, want_code in refused:
        st, h, body = post(f, fields, **kw)
        assert st == want_status and s3_code(body) == want_code, (fields, st, body[:300])
    for key in ("site/evil.jpg", "photos/someone-else.jpg", f["key"]):
        st, _, _ = curl_status(edge.url("/" + key))
        assert st in (403, 404), (key, st)  # nothing was written
    st, _, body = curl_status(edge.url("/api/photos"))
    assert st == 200 and f["key"] not in body.decode(), body

    # the form as given: stored (201, S3's PostResponse), with the page's origin allowed by the bucket's CORS rules
    origin = "http://127.0.0.1:%d" % edge.port
    st, h, body = post(f, origin=origin)
    assert st == 201 and b"<Key>%s</Key>" % f["key"].encode() in body, (st, body)
    assert h.get("access-control-allow-origin") == origin, h
    st, h, body = post(f, origin="http://evil.example")
    assert "access-control-allow-origin" not in h, h  # another site's page may not read the answer
    st, _, body = curl_status(edge.url("/api/photos"))
    assert f["key"] in [p["key"] for p in json.loads(body)["photos"]], body



@test
def presign_post_refuses_bad_arguments_and_signs_prefix_forms():
    edge = start()
    st, _, body = curl_status(edge.url("/probe"))
    assert st == 200, (st, body)
    out = json.loads(body)
    want = {"no_bucket": "NoSuchBucket", "bucket_type": "must be strings", "opts_type": "opts must be a table",
            "size": "whole numbers", "size_order": "whole numbers", "size_huge": "whole numbers", "size_nan": "whole numbers",
            "expires_nan": "1 second to 7 days", "expires_text": "1 second to 7 days", "expires_long": "1 second to 7 days",
            "expires_zero": "1 second to 7 days", "fields_type": "fields must be a table",
            "conditions_type": "conditions must be a list", "conditions_huge": "at most 16 KB"}
    for name, text in want.items():
        assert text in out[name], (name, out[name])
    f = {"url": edge.url("/gallery").replace(":%d/" % edge.port, ":%d/" % edge.ports["store"]), "fields": out["form"]["fields"]}
    assert "key" not in f["fields"] and "Content-Type" not in f["fields"], f  # the form fills them, within the policy
    ok = {"key": "uploads/any-name.png", "Content-Type": "image/png", "x-amz-meta-note": "hi"}
    st, _, body = post(f, ok, data=b"x" * 100, ctype="image/png")
    assert st == 204, (st, body)  # no success_action_status: S3's default
    for fields, kw in (({"key": "photos/any-name.png"}, {}), ({"Content-Type": "text/plain"}, {}),
                       ({"x-amz-meta-other": "x"}, {}), ({}, {"data": b"x" * 101})):
        st, _, body = post(f, dict(ok, **fields), **kw)
        assert st in (400, 403) and s3_code(body) in ("AccessDenied", "EntityTooLarge"), (fields, st, body[:300])


@test
def stops_cleanly():
    if "edge" not in state:
        raise Skip("edgehook did not start")
    edge = state.pop("edge")
    assert edge.stop() == 0, edge.log()[-3000:]
    edge.assert_clean()


if __name__ == "__main__":
    try:
        run()
    finally:
        if "edge" in state:
            state["edge"].stop()
