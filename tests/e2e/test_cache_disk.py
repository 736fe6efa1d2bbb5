"""End-to-end: the disk tier (cache.disk). Objects written through to disk are found again after they left memory, after a
clean restart and after kill -9; a corrupted or truncated record is a miss (never served) and the process stays up; purges
reach both tiers; a body too big for memory is streamed from disk. Every hit is proven by an origin whose next answer would
differ (its body carries a request count), by the origin's request count, and by the proxy's disk counters."""
import glob
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, curl, curl_status, run, test, wait_until  # noqa: E402
from origin import Origin, body  # noqa: E402

TOKEN = "test-admin-token-disk-5678"
origin = Origin()
DISK = tempfile.mkdtemp(prefix="edgedisk-")
STATE = tempfile.mkdtemp(prefix="edgestate-")
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
  token: %s
""" % (origin.url, DISK, TOKEN)

edge = None


def start():
    global edge
    edge = Edge(CONFIG, state_dir=STATE)
    return edge


def get(path):
    # one Host for every run: the cache key holds it, and each restart listens on another port
    return curl_status("-H", "Host: disk.test", edge.url(path))


def count_of(b):
    m = re.search(rb"count=(\d+)", b)
    return int(m.group(1)) if m else None


def disk(name):
    return edge.metric("edgehook_disk_" + name) or 0


def fill(path):
    """a miss that is then written to disk: waits until the disk tier counts one more write"""
    before = disk("writes_total")
    s, h, b = get(path)
    assert s == 200 and h["x-cache"] == "Miss from edgehook", (path, s, h)
    wait_until(lambda: disk("writes_total") > before, what="the disk write of " + path)
    return b


def assert_hit(path, count=1):
    hits = disk("hits_total")
    s, h, b = get(path)
    assert s == 200 and h["x-cache"] == "Hit from edgehook", (path, s, h)
    assert count_of(b) == count, (path, b[:60])
    return hits, b


@test
def evicted_from_memory_then_hit_from_disk():
    start()
    first = fill("/count/d1?cc=max-age=600&size=50000")
    assert count_of(first) == 1
    # memory holds 1MB: 40 objects of 60KB push d1 (seen once) out of it
    ev = edge.metric("edgehook_cache_evictions_total")
    for i in range(40):
        get("/count/filler%d?cc=max-age=600&size=60000" % i)
    assert edge.metric("edgehook_cache_evictions_total") > ev
    hits = disk("hits_total")
    s, h, b = get("/count/d1?cc=max-age=600&size=50000")
    assert s == 200 and h["x-cache"] == "Hit from edgehook", h
    assert b == first  # the very bytes the origin sent the first time
    assert disk("hits_total") == hits + 1
    assert origin.count("/count/d1") == 1
    # read back into memory: the next hit does not touch the disk
    s, h, b = get("/count/d1?cc=max-age=600&size=50000")
    assert h["x-cache"] == "Hit from edgehook" and b == first
    assert disk("hits_total") == hits + 1


@test
def clean_restart_keeps_the_disk_tier():
    assert edge.stop() == 0
    start()
    assert re.search(r"cache\.disk: .*: [1-9]\d* objects", edge.log()), edge.log()[-2000:]
    hits = disk("hits_total")
    s, h, b = get("/count/d1?cc=max-age=600&size=50000")
    assert s == 200 and h["x-cache"] == "Hit from edgehook" and count_of(b) == 1, h
    assert b[b.index(b"\n") + 1:] == body(50000, 1)
    assert disk("hits_total") == hits + 1
    assert origin.count("/count/d1") == 1
    assert edge.metric("edgehook_disk_index_load_seconds") is not None


@test
def kill9_keeps_it_and_damaged_records_are_misses():
    fill("/count/k1?cc=max-age=600&size=3000")
    fill("/count/c1?cc=max-age=600&size=30000")
    fill("/count/t1?cc=max-age=600&size=30000")  # the last record written: its segment is cut in the middle of it
    edge.kill()  # SIGKILL: no chance to sync anything
    segs = sorted(glob.glob(os.path.join(DISK, "seg-*")))

    def locate(marker):
        for p in segs:
            with open(p, "rb") as f:
                data = f.read()
            i = data.find(marker)
            if i >= 0:
                return p, i
        raise AssertionError("%r is in no segment" % marker)
    # one byte of c1's body flipped
    p, i = locate(b"path=/count/c1 count=1\n")
    with open(p, "r+b") as f:
        f.seek(i + 20000)
        c = f.read(1)
        f.seek(i + 20000)
        f.write(bytes([c[0] ^ 0x55]))
    # t1's record cut short
    p, i = locate(b"path=/count/t1 count=1\n")
    os.truncate(p, i + 100)
    start()
    assert_hit("/count/k1?cc=max-age=600&size=3000")
    assert origin.count("/count/k1") == 1
    corrupt = disk("corrupt_total")
    for path, name in (("/count/c1?cc=max-age=600&size=30000", "/count/c1"), ("/count/t1?cc=max-age=600&size=30000", "/count/t1")):
        s, h, b = get(path)
        assert s == 200 and h["x-cache"] == "Miss from edgehook", (path, h)
        assert count_of(b) == 2 and origin.count(name) == 2, b[:40]
        assert b[b.index(b"\n") + 1:] == body(30000, 2)
    assert disk("corrupt_total") == corrupt + 1  # c1 failed its CRC; t1's entry was dropped when the index was loaded
    assert edge.proc.poll() is None
    edge.assert_clean()


@test
def purges_reach_both_tiers():
    a = "/count/pu/a?cc=max-age=600&h=Surrogate-Key:grp9"
    b = "/count/pu/b?cc=max-age=600&h=Surrogate-Key:grp9"
    fill(a)
    fill(b)
    assert edge.stop() == 0
    start()
    assert_hit(a)  # a is in memory again, b only on disk
    st, ans = edge.admin("POST", "/purge", {"tag": "grp9"})
    assert st == 200 and ans["purged"] == 2, ans
    for p, name in ((a, "/count/pu/a"), (b, "/count/pu/b")):
        s, h, body_ = get(p)
        assert h["x-cache"] == "Miss from edgehook" and count_of(body_) == 2, (p, h)
    # the purge is in the journal: a restart does not bring the old copies back (the new ones are count 2)
    st, ans = edge.admin("POST", "/purge", {"url": "/count/d1?cc=max-age=600&size=50000"})
    assert st == 200 and ans["purged"] == 1, ans
    assert edge.stop() == 0
    start()
    s, h, b_ = get("/count/d1?cc=max-age=600&size=50000")
    assert h["x-cache"] == "Miss from edgehook" and count_of(b_) == 2, h
    # soft purge: the disk copy is not served as fresh
    fill("/count/soft?cc=max-age=600")
    assert edge.stop() == 0
    start()
    st, ans = edge.admin("POST", "/purge", {"prefix": "/count/soft*", "soft": True})
    assert st == 200 and ans["purged"] == 1, ans
    s, h, b_ = get("/count/soft?cc=max-age=600")
    assert h["x-cache"] != "Hit from edgehook" and count_of(b_) == 2, h


@test
def config_errors_name_file_and_line():
    bad = CONFIG.replace("disk: {path: %s, size: 64MB}" % DISK, "disk: {path: %s, size: 1MB}" % DISK)
    e = Edge(bad, name="bad", expect_fail=True)
    assert e.proc.wait(30) != 0
    assert re.search(r"bad\.yaml:\d+: cache\.disk\.size: .*64MB", e.log()), e.log()
    bad = CONFIG.replace("disk: {path: %s, size: 64MB}" % DISK, "disk: {size: 64MB, paht: x}")
    e = Edge(bad, name="bad2", expect_fail=True)
    assert e.proc.wait(30) != 0
    assert re.search(r"bad2\.yaml:\d+: cache\.disk.*paht", e.log()), e.log()


@test
def big_object_streams_from_disk():
    size = 3000000  # memory holds 1MB: this one lives on disk only
    path = "/size/%d?cc=max-age=600" % size
    before = disk("writes_total")
    s, h, b = get(path)
    assert s == 200 and len(b) == size
    wait_until(lambda: disk("writes_total") > before, what="the disk write of the big object")
    hits = disk("hits_total")
    s, h, b2 = get(path)
    assert s == 200 and h["x-cache"] == "Hit from edgehook" and b2 == b, h
    assert disk("hits_total") == hits + 1
    assert origin.count("/size/%d" % size) == 1
    edge.assert_clean()
    assert edge.stop() == 0


@test
def streamed_bodies_up_to_one_mb_are_the_origins_bytes():
    # bodies of up to 1 MB with a known length are kept in one block with their head in memory; one streamed from disk
    # (above max_object_size) is transient and must not get that block: the mapped read path appends the record's pages
    # after it, and readers served the block's untouched memory (zeros) instead of the body
    start()
    for size in (1 << 20, 700000, 128 * 1024 + 1):
        path = "/size/%d?cc=max-age=600" % size
        want = body(size)
        before = disk("writes_total")
        s, h, b = get(path)
        assert s == 200 and b == want, (size, s, len(b))
        wait_until(lambda: disk("writes_total") > before, what="the disk write of the %d-byte object" % size)
        for _ in range(2):  # the first hit checks the record's CRCs, the second is a verified one
            hits = disk("hits_total")
            s, h, b = get(path)
            assert s == 200 and h["x-cache"] == "Hit from edgehook" and len(b) == size, (size, s, h, len(b))
            assert b == want, "size %d: the hit from disk differs from the origin's body at byte %d" % (
                size, next(i for i in range(size) if b[i] != want[i]))
            assert disk("hits_total") == hits + 1
        assert origin.count("/size/%d" % size) == 1
    edge.assert_clean()
    assert edge.stop() == 0


@test
def damaged_block_of_a_streamed_body_is_never_served():
    # the 3MB object above lives on disk only; one byte flipped in its block 30 (past the first reads of the stream)
    size = 3000000
    path = "/size/%d?cc=max-age=600" % size
    want = body(size)
    for p in sorted(glob.glob(os.path.join(DISK, "seg-*"))):
        with open(p, "rb") as f:
            data = f.read()
        i = data.find(want)
        if i >= 0:
            break
    assert i >= 0, "the big object is in no segment"
    with open(p, "r+b") as f:
        f.seek(i + 2000000)
        c = f.read(1)
        f.seek(i + 2000000)
        f.write(bytes([c[0] ^ 0x55]))
    start()
    corrupt = disk("corrupt_total")
    rc, b, err = curl("-H", "Host: disk.test", edge.url(path))
    # cut off like an origin that disconnects: the client gets an error and a prefix of the true bytes, never the damaged one
    assert rc != 0 and len(b) <= 2000000 and b == want[:len(b)], (rc, len(b), err)
    wait_until(lambda: disk("corrupt_total") == corrupt + 1, what="the damaged record counted")
    # its entry is dropped: the next request goes to the origin and gets the whole body
    s, h, b = get(path)
    assert s == 200 and h["x-cache"] == "Miss from edgehook" and b == want, (s, h, len(b))
    assert origin.count("/size/%d" % size) == 2
    edge.assert_clean()
    assert edge.stop() == 0


def get_with(path, *headers):
    args = ["-H", "Host: disk.test"]
    for h in headers:
        args += ["-H", h]
    return curl_status(*(args + [edge.url(path)]))


def evict_memory(tag):
    """pushes what memory holds out of it: memory holds 1MB, 40 objects of 60KB go through it"""
    ev = edge.metric("edgehook_cache_evictions_total")
    for i in range(40):
        get("/count/%s-filler%d?cc=max-age=600&size=60000" % (tag, i))
    assert edge.metric("edgehook_cache_evictions_total") > ev


@test
def vary_variants_live_side_by_side_on_disk():
    # two variants under Vary: Accept-Encoding, two under Vary: Accept-Language (whose values are normalised in the key)
    start()
    enc = "/count/vary-enc?cc=max-age=600&h=Vary:Accept-Encoding&size=20000"
    lang = "/count/vary-lang?cc=max-age=600&h=Vary:Accept-Language&size=20000"
    cases = [(enc, "Accept-Encoding: gzip", "Accept-Encoding: gzip", 1),
             (enc, "Accept-Encoding: identity", "Accept-Encoding: identity", 2),
             (lang, "Accept-Language: en-US, fr;q=0.5", "Accept-Language: fr;q=0.5,EN-us", 1),
             (lang, "Accept-Language: de", "Accept-Language: DE", 2)]
    bodies = {}
    for path, h, _, n in cases:
        before = disk("writes_total")
        s, hd, b = get_with(path, h)
        assert s == 200 and hd["x-cache"] == "Miss from edgehook" and count_of(b) == n, (path, h, hd, b[:40])
        wait_until(lambda: disk("writes_total") > before, what="the disk write of %s for %s" % (path, h))
        bodies[(path, n)] = b
    assert origin.count("/count/vary-enc") == 2 and origin.count("/count/vary-lang") == 2

    def all_hits(from_disk):
        for path, _, h, n in cases:
            hits = disk("hits_total")
            s, hd, b = get_with(path, h)
            assert s == 200 and hd["x-cache"] == "Hit from edgehook", (path, h, hd)
            assert b == bodies[(path, n)], (path, h, b[:40])  # its own variant's bytes, never the other's
            assert disk("hits_total") == hits + 1 or not from_disk, (path, h)
        assert origin.count("/count/vary-enc") == 2 and origin.count("/count/vary-lang") == 2
    # after fillers, each variant is a hit with its own bytes, from disk where memory let go of it. "All four from disk" was
    # asserted here and failed about one run in ten under TSan (a variant still in memory after the fillers; memory is 16
    # shards with their own S3-FIFO queues, evicted in turn only until the tier fits - why that one stayed is not traced);
    # the restart below asserts it
    evict_memory("vary")
    all_hits(False)
    assert edge.stop() == 0
    start()
    all_hits(True)  # after a restart memory is empty: each variant is a hit from disk
    # a request whose values select no stored variant is a miss, not one of them
    s, hd, b = get_with(enc, "Accept-Encoding: br")
    assert hd["x-cache"] == "Miss from edgehook" and count_of(b) == 3, hd
    # a URL purge takes every variant, in both tiers and in the journal
    st, ans = edge.admin("POST", "/purge", {"url": enc})
    assert st == 200 and ans["purged"] == 3, ans
    assert edge.stop() == 0
    start()
    for h, n in (("Accept-Encoding: gzip", 4), ("Accept-Encoding: identity", 5)):
        s, hd, b = get_with(enc, h)
        assert hd["x-cache"] == "Miss from edgehook" and count_of(b) == n, (h, hd, b[:40])
    # a soft purge by prefix marks both Accept-Language variants stale on disk: neither is served as a hit
    st, ans = edge.admin("POST", "/purge", {"prefix": "/count/vary-lang*", "soft": True})
    assert st == 200 and ans["purged"] == 2, ans
    for _, _, h, _ in cases[2:]:
        s, hd, b = get_with(lang, h)
        assert hd["x-cache"] != "Hit from edgehook" and count_of(b) > 2, (h, hd, b[:40])
    assert origin.count("/count/vary-lang") == 4
    edge.assert_clean()
    assert edge.stop() == 0


if __name__ == "__main__":
    try:
        run()
    finally:
        if edge is not None:
            edge.kill()
        origin.stop()
        shutil.rmtree(DISK, ignore_errors=True)
