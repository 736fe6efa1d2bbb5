"""End-to-end: range requests and conditionals answered from objects streamed from the disk tier (bodies too big for
memory). A Range is a 206 with exactly the requested bytes of the stored body (HTTP/1.1 and HTTP/2), an unsatisfiable one a 416
naming the length, a suffix or open range ends at the body's end, a range that crosses a 64 KB block boundary is whole;
If-None-Match is a 304. Every answer is proven a disk hit (the origin's request count unchanged, edgehook_disk_hits_total +1),
and a range past a damaged block is never answered with wrong bytes."""
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, curl, curl_status, run, test, wait_until  # noqa: E402
from origin import Origin, body  # noqa: E402

origin = Origin()
DISK = tempfile.mkdtemp(prefix="edgedisk-")
CONFIG = """
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
access_log: {path: "-", format: json}
origins:
  web: {type: http, url: "%s", read_timeout: 10s}
cache: {memory: 1MB, max_object_size: 128KB, disk: {path: %s, size: 64MB}}
behaviors:
  - {path: "*", origin: web}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: test-admin-token-ranges-4321
""" % (origin.url, DISK)

SIZE = 3000000  # memory holds 1MB: these live on disk only and are streamed from there
PATH = "/size/%d?cc=max-age=600" % SIZE
WANT = body(SIZE)
edge = Edge(CONFIG)


def disk(name):
    return edge.metric("edgehook_disk_" + name) or 0


def get(path, *args):
    return curl_status("-H", "Host: ranges.test", *(list(args) + [edge.url(path)]))


def fill(path, size):
    before = disk("writes_total")
    s, h, b = get(path)
    assert s == 200 and h["x-cache"] == "Miss from edgehook" and len(b) >= size, (path, s, h, len(b))
    wait_until(lambda: disk("writes_total") > before, what="the disk write of " + path)
    return b


def disk_hit(path, *args):
    """one request that must be a hit from disk, without a request to the origin"""
    hits, asked = disk("hits_total"), origin.count(path.split("?")[0])
    s, h, b = get(path, *args)
    assert disk("hits_total") == hits + 1, (path, args, h)
    assert origin.count(path.split("?")[0]) == asked, (path, args)
    assert h.get("x-cache") == "Hit from edgehook", (path, args, h)
    return s, h, b


@test
def ranges_are_206_from_the_disk_stream():
    assert fill(PATH, SIZE) == WANT
    cases = [
        ("bytes=0-99", 0, 99),                      # the first bytes
        ("bytes=65530-65545", 65530, 65545),        # across the first 64KB block boundary
        ("bytes=2000000-2300000", 2000000, 2300000),  # past the streaming window (1MB) of a reader at 0
        ("bytes=2999900-", 2999900, SIZE - 1),      # open: to the end
        ("bytes=-100", SIZE - 100, SIZE - 1),       # suffix: the last 100
        ("bytes=2999999-5000000", 2999999, SIZE - 1),  # the last byte; an end past the body is cut to it
    ]
    for rng, first, last in cases:
        s, h, b = disk_hit(PATH, "-H", "Range: " + rng)
        assert s == 206, (rng, s, h)
        assert h["content-range"] == "bytes %d-%d/%d" % (first, last, SIZE), (rng, h)
        assert int(h["content-length"]) == last - first + 1 and b == WANT[first:last + 1], (rng, len(b))
        assert "age" in h, (rng, h)  # a hit: Age is computed
    # the same over HTTP/2 (cleartext, prior knowledge)
    s, h, b = disk_hit(PATH, "--http2-prior-knowledge", "-H", "Range: bytes=1500000-1600000")
    assert s == 206 and b == WANT[1500000:1600001] and h["content-range"] == "bytes 1500000-1600000/%d" % SIZE, (s, h)
    # unsatisfiable: 416 naming the length (a hit all the same: answered from the stored object's length)
    hits = disk("hits_total")
    s, h, b = get(PATH, "-H", "Range: bytes=3000000-")
    assert s == 416 and h.get("content-range") == "bytes */%d" % SIZE, (s, h)
    assert origin.count("/size/%d" % SIZE) == 1 and disk("hits_total") <= hits + 1
    # no Range: the whole body, still from disk; read to its end, its blocks are checked once: the next whole read is not
    # checked again (edgehook_disk_verified_hits_total), and is the same bytes
    verified = disk("verified_hits_total")
    s, h, b = disk_hit(PATH)
    assert s == 200 and b == WANT
    s, h, b = disk_hit(PATH)
    assert s == 200 and b == WANT and disk("verified_hits_total") >= verified + 1
    edge.assert_clean()


@test
def conditionals_are_answered_from_the_disk_stream():
    path = "/count/cond?cc=max-age=600&etag=v1&size=%d" % SIZE
    whole = fill(path, SIZE)
    s, h, b = disk_hit(path, "-H", 'If-None-Match: "v1"')
    assert s == 304 and b == b"", (s, h, len(b))
    s, h, b = disk_hit(path, "-H", 'If-None-Match: "other"', "-H", "Range: bytes=10-19")
    assert s == 206 and b == whole[10:20], (s, h, b)
    # If-Range with the stored ETag: the range; with another: the whole body
    s, h, b = disk_hit(path, "-H", 'If-Range: "v1"', "-H", "Range: bytes=100-199")
    assert s == 206 and b == whole[100:200], (s, h)
    s, h, b = disk_hit(path, "-H", 'If-Range: "v0"', "-H", "Range: bytes=100-199")
    assert s == 200 and b == whole, (s, h, len(b))
    edge.assert_clean()


@test
def a_range_past_a_damaged_block_is_never_wrong_bytes():
    size = 2500000
    path = "/size/%d?cc=max-age=600" % size
    want = body(size)
    assert fill(path, size) == want
    # one byte of its block 15 flipped, in the page cache the running edge has mapped: its record is the one whose key holds
    # its path, and its body follows (the bodies of the other tests hold the same pattern)
    for p in sorted(glob.glob(os.path.join(DISK, "seg-*"))):
        with open(p, "rb") as f:
            data = f.read()
        k = data.find(b"/size/%d" % size)
        i = data.find(want, k) if k >= 0 else -1
        if i >= 0:
            break
    assert i >= 0, "the object is in no segment"
    with open(p, "r+b") as f:
        f.seek(i + 1000000)
        f.write(bytes([data[i + 1000000] ^ 0x55]))
    corrupt = disk("corrupt_total")
    s, h, b = get(path, "-H", "Range: bytes=2000000-2000999")
    rng = want[2000000:2001000]
    if h.get("x-cache") == "Hit from edgehook":
        # the 206 head went out before the damaged block was met: the answer is cut short (an error), never other bytes
        assert s == 206 and len(b) < 1000 and b == rng[:len(b)], (s, h, len(b))
    else:
        # the damage was met before this request's head: it is a miss, and the origin's answer is served
        assert h.get("x-cache") == "Miss from edgehook" and b in (want, rng), (s, h, len(b))
    wait_until(lambda: disk("corrupt_total") == corrupt + 1, what="the damaged record counted")
    # its entry is gone: the next request is not served from the damaged record
    s, h, b = get(path, "-H", "Range: bytes=2000000-2000999")
    assert b in (want, rng) and origin.count("/size/%d" % size) >= 2, (s, h, len(b))
    edge.assert_clean()
    assert edge.stop() == 0


if __name__ == "__main__":
    try:
        run()
    finally:
        origin.stop()
