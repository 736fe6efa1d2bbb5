# ctest-labels: notsan
# notsan: time budget: external S3 clients against the embedded store (test_store_threads covers the store's threads)
"""End-to-end: the default configuration conf/edgehook.yaml on a fresh machine - the demo site seeded into the embedded store
(store.seed) is served through the cache with its two Lua hooks, and what a user uploads with awscli is served and survives.

The configuration is the repository's file with only the three ports set to 0 (the tests run in parallel); it runs in a temp
directory that links conf/ and examples/, as scripts/run.sh runs it from the repository root.
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, SLOW, SRC, curl_status, run, test  # noqa: E402

WORK = tempfile.mkdtemp(prefix="e2e-default-site-")
for d in ("conf", "examples"):
    os.symlink(os.path.join(SRC, d), os.path.join(WORK, d))
SITE = os.path.join(SRC, "examples", "site")
with open(os.path.join(SRC, "conf", "edgehook.yaml")) as f:
    DEFAULT = f.read()
CONFIG, n = re.subn(r"port: (8080|9000|9901)\b", "port: 0", DEFAULT)
assert n == 3, "conf/edgehook.yaml no longer has the ports 8080, 9000 and 9901"
ENV = {"EDGEHOOK_ADMIN_TOKEN": "default-site-test-token"}
started = []


def start(name):
    e = Edge(CONFIG, name=name, workdir=WORK, env=ENV)
    started.append(e)
    return e


edge = start("first")
# the key pair generated on first start, as printed for the user
m = re.search(r"export AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", edge.log())
assert m, edge.log()
AK, SK = m.group(1), m.group(2)
TMP = os.path.join(WORK, "tmp")
os.makedirs(TMP)
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("http_proxy", "https_proxy")}
AWS_ENV = dict(BASE_ENV, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")


def aws(*args, check=True):
    # Debian's awscli v2 by its absolute path (the `aws` first on PATH may be another version)
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", "http://127.0.0.1:%d" % edge.ports["store"]] + list(args), env=AWS_ENV,
                       cwd=TMP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120 * SLOW)
    if check and p.returncode != 0:
        raise AssertionError("aws %s: %d\n%s" % (" ".join(args), p.returncode, p.stderr.decode("utf-8", "replace")))
    return p


def site_file(rel):
    with open(os.path.join(SITE, rel), "rb") as f:
        return f.read()


def get(path, *args):
    return curl_status("-s", *args, edge.url(path))


SECURITY = {"strict-transport-security": "max-age=63072000", "content-security-policy": "default-src 'none'",
            "x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "same-origin"}


@test
def first_start_seeds_the_site():
    log = edge.log()
    n = sum(len(files) for _, _, files in os.walk(SITE))
    assert "store: seeded bucket site from examples/site: %d objects" % n in log, log
    assert os.path.isfile(os.path.join(WORK, "data", ".credentials"))
    assert not os.path.exists(os.path.join(WORK, "data", ".seeding-site"))
    # the bucket lists like uploaded objects, with MD5 ETags
    out = aws("s3api", "list-objects-v2", "--bucket", "site", "--query", "Contents[].[Key,Size,ETag]", "--output", "text").stdout
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in out.decode().splitlines()}
    assert rows["index.html"] == [str(len(site_file("index.html"))), '"%s"' % hashlib.md5(site_file("index.html")).hexdigest()], rows
    assert "about/index.html" in rows and "photos/dawn.svg" in rows and "style.css" in rows, rows
    assert len(rows) == n, rows


@test
def root_is_the_seeded_index_miss_then_hit():
    want = site_file("index.html")
    status, h, body = get("/")
    assert status == 200 and body == want, (status, h, body[:200])
    assert h.get("x-cache") == "Miss from edgehook", h
    assert h.get("content-type") == "text/html; charset=utf-8", h
    assert h.get("etag") == '"%s"' % hashlib.md5(want).hexdigest(), h
    assert h.get("last-modified"), h
    status, h, body = get("/")
    assert status == 200 and body == want and h.get("x-cache") == "Hit from edgehook", (status, h)
    # viewer-response hook: on the hit as on the miss
    for k, v in SECURITY.items():
        assert v in h.get(k, ""), (k, h)


@test
def pretty_urls_and_pages():
    about = site_file("about/index.html")
    for path in ("/about/", "/about", "/about/index.html"):
        status, h, body = get(path)
        assert status == 200 and body == about, (path, status, body[:100])
        for k, v in SECURITY.items():
            assert v in h.get(k, ""), (path, k, h)
    status, h, body = get("/gallery/")
    assert status == 200 and body == site_file("gallery/index.html"), status
    for ref in re.findall(rb'(?:src|href)="(/[^"]*)"', body):  # every link of the gallery resolves
        s, _, _ = get(ref.decode())
        assert s == 200, (ref, s)
    status, h, body = get("/photos/dawn.svg")
    assert status == 200 and body == site_file("photos/dawn.svg") and h.get("content-type") == "image/svg+xml", (status, h)
    status, h, body = get("/style.css")
    assert status == 200 and h.get("content-type") == "text/css; charset=utf-8", (status, h)
    status, h, body = get("/no-such-page.html")
    assert status == 404 and b"NoSuchKey" in body, (status, body)


@test
def awscli_upload_is_served():
    page = b"<!DOCTYPE html><title>hello</title><h1>uploaded \xe2\x9c\x93</h1>\n"
    with open(os.path.join(TMP, "hello.html"), "wb") as f:
        f.write(page)
    blob = os.urandom(300000)
    with open(os.path.join(TMP, "blob.bin"), "wb") as f:
        f.write(blob)
    aws("s3", "cp", "hello.html", "s3://site/hello.html", "--only-show-errors")
    aws("s3", "cp", "blob.bin", "s3://site/files/blob.bin", "--only-show-errors")
    status, h, body = get("/hello.html")
    assert status == 200 and body == page and h.get("x-cache") == "Miss from edgehook", (status, h, body)
    assert h.get("content-type") == "text/html", h  # what awscli sent
    status, h, body = get("/hello.html")
    assert status == 200 and body == page and h.get("x-cache") == "Hit from edgehook", (status, h)
    status, h, body = get("/files/blob.bin")
    assert status == 200 and body == blob, (status, len(body))
    # a user's change of a seeded object: overwritten, then served once the cached copy is purged
    with open(os.path.join(TMP, "index.html"), "wb") as f:
        f.write(b"<h1>my own home page</h1>\n")
    aws("s3", "cp", "index.html", "s3://site/index.html", "--only-show-errors")
    status, _, body = curl_status("-s", "-X", "POST", "-H", "Authorization: Bearer " + ENV["EDGEHOOK_ADMIN_TOKEN"], "-d",
                                  '{"all": true}', edge.url("/purge", kind="admin"))
    assert status == 200 and b"purged" in body, (status, body)
    status, h, body = get("/")
    assert status == 200 and body == b"<h1>my own home page</h1>\n", (status, body)


@test
def restart_keeps_the_users_bucket():
    global edge
    assert edge.stop() == 0
    edge.assert_clean()
    edge = start("second")
    log = edge.log()
    assert "store: bucket site exists: not seeded from examples/site" in log, log
    assert SK not in log  # the key pair is printed only once
    assert get("/")[2] == b"<h1>my own home page</h1>\n"
    assert get("/hello.html")[2].startswith(b"<!DOCTYPE html><title>hello</title>")
    assert get("/about/")[2] == site_file("about/index.html")


@test
def clean_shutdown():
    assert edge.stop() == 0
    edge.assert_clean()


if __name__ == "__main__":
    try:
        run()
    finally:
        for e in started:
            e.kill()
        shutil.rmtree(WORK, ignore_errors=True)
