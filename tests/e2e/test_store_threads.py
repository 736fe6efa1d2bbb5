"""End-to-end: the embedded store runs on threads of its own, not on the workers that serve cache hits: its blocking work on
the store threads (store.threads), and h2o's side of S3 requests (parsing, request bodies, GET bodies) on the store loop
(store.io_threads, thread store-io0), which alone accepts the store listener.

A store job is made to block for as long as the test wants: the data file of an object is replaced by a FIFO, so a CopyObject
of that object blocks its store thread in open() until someone opens the FIFO for writing. The test sees the thread waiting
there (/proc/PID/task/TID/wchan is wait_for_partner), then checks that the single worker thread still answers cache hits (the
cache-hit counter grows) and other store requests (the second store thread), while the copy has no answer; and that SIGTERM's
drain waits for it. Which loop serves a connection is read from the kernel: each event loop has its own epoll instance, and
/proc/PID/fdinfo of an epoll fd lists the inodes of the sockets it watches. Nothing here depends on timing: each step waits for
something it can observe.
"""
import hashlib
import hmac
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, SLOW, curl_status, run, test, wait_until  # noqa: E402

AK, SK = "THREADSTOREKEY000001", "threadstoresecret00000000000000000000001"
TOKEN = "store-threads-admin-token"

origin = subprocess.Popen(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "lib", "origin.py")],
                          stdout=subprocess.PIPE)
ORIGIN_PORT = int(origin.stdout.readline())

edge = Edge("""
threads: 1
listen:
  - {host: 127.0.0.1, port: 0}
origins:
  web: {type: http, url: "http://127.0.0.1:%d"}
behaviors:
  - {path: "*", origin: web}
store:
  listen: {host: 127.0.0.1, port: 0}
  root: ./data
  threads: 2
  credentials: {access_key: %s, secret_key: %s}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: %s
""" % (ORIGIN_PORT, AK, SK, TOKEN))
STORE = edge.ports["store"]
ROOT = os.path.join(edge.dir, "data")
HIT_URL = edge.url("/size/1024?cc=max-age%3D3600")


def signed(method, path, headers=None):
    """the request head of a SigV4-signed request with an unsigned payload (path: plain ASCII, no query)"""
    h = {"host": "127.0.0.1:%d" % STORE, "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
         "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())}
    h.update(headers or {})
    date = h["x-amz-date"][:8]
    names = sorted(h)
    creq = "\n".join([method, path, ""] + ["%s:%s" % (n, h[n]) for n in names] + ["", ";".join(names), "UNSIGNED-PAYLOAD"])
    scope = "%s/us-east-1/s3/aws4_request" % date
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (h["x-amz-date"], scope, hashlib.sha256(creq.encode()).hexdigest())
    k = ("AWS4" + SK).encode()
    for part in (date, "us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        AK, scope, ";".join(names), hmac.new(k, sts.encode(), hashlib.sha256).hexdigest())
    return h


def s3(method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", STORE, timeout=30 * SLOW)
    conn.request(method, path, body=body, headers=signed(method, path, headers))
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def raw_request(method, path, headers=None):
    """sends a signed request without a body on a socket of its own and returns the socket, unread"""
    h = signed(method, path, headers)
    h["content-length"] = "0"
    s = socket.create_connection(("127.0.0.1", STORE))
    s.sendall(("%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode())
    return s


def read_status(s):
    s.settimeout(30 * SLOW)
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def answered(s):
    """1 if the server has sent something (or closed) on s: a check of what has arrived, it waits for nothing"""
    return bool(select.select([s], [], [], 0)[0])


def hits():
    return int(edge.metric("edgehook_cache_hits_total"))


def store_loop_requests():
    return int(edge.metric("edgehook_store_loop_requests_total", thread="store-io0"))


def tcp_inodes(port, state, remote_port=None):
    """the inodes of the IPv4 TCP sockets bound to local `port` in `state` ("0A" listening, "01" established)"""
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if (int(cols[1].split(":")[1], 16) == port and cols[3] == state and
                    (remote_port is None or int(cols[2].split(":")[1], 16) == remote_port)):
                out.add(int(cols[9]))
    return out


def epolls():
    """the socket inodes each epoll instance of edgehook watches (one epoll per event loop), as a list of sets"""
    out = []
    pid = edge.proc.pid
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != "anon_inode:[eventpoll]":
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                out.append({int(m.group(1), 16) for m in re.finditer(r"^tfd:.*\bino:([0-9a-f]+)", f.read(), re.M)})
        except OSError:
            pass
    return out


def loops_watching(inodes):
    """the epolls (event loops) that watch any of these socket inodes"""
    return [e for e in epolls() if e & inodes]


def threads_named(name):
    """the thread ids of edgehook's threads with this kernel name (base/worker gives its names to the kernel)"""
    out = []
    for tid in os.listdir("/proc/%d/task" % edge.proc.pid):
        try:
            with open("/proc/%d/task/%s/comm" % (edge.proc.pid, tid)) as f:
                if f.read().strip() == name:
                    out.append(tid)
        except OSError:
            pass
    return out


def nice_of(tid):
    with open("/proc/%d/task/%s/stat" % (edge.proc.pid, tid)) as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def store_threads_in_fifo_open():
    """the edgehook threads blocked opening a FIFO (nobody has it open for writing yet)"""
    out = []
    for tid in os.listdir("/proc/%d/task" % edge.proc.pid):
        try:
            with open("/proc/%d/task/%s/wchan" % (edge.proc.pid, tid)) as f:
                if f.read().strip() == "wait_for_partner":
                    out.append(tid)
        except OSError:
            pass
    return out


def data_file(key):
    """the data file of object key of bucket thr"""
    h = hashlib.sha256(key.encode()).hexdigest()
    d = os.path.join(ROOT, "thr", h[:2])
    data = [n for n in os.listdir(d) if n.startswith(h + ".") and not n.endswith((".meta", ".tmp", ".parts"))]
    assert len(data) == 1, data
    return os.path.join(d, data[0])


def fifo_object(key):
    """stores key in bucket thr, then replaces its data file with a FIFO; returns the FIFO's path"""
    assert s3("PUT", "/thr/" + key, body=b"x" * 1000)[0] == 200
    path = data_file(key)
    os.unlink(path)
    os.mkfifo(path)
    return path


def release(fifo):
    """lets the blocked open() go on: open the FIFO for writing and close it (the reader is waiting; without one, this fails with
    ENXIO instead of blocking)"""
    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@test
def setup():
    r = s3("PUT", "/thr")
    assert r[0] == 200, r
    status, headers, _ = curl_status(HIT_URL)
    assert status == 200
    wait_until(lambda: curl_status(HIT_URL)[1].get("x-cache", "").startswith("Hit"), what="the 1 KB object to be a cache hit")


@test
def hits_and_store_requests_answered_while_a_store_job_is_stuck():
    fifo = fifo_object("stuck-src")
    copy = raw_request("PUT", "/thr/stuck-dst", {"x-amz-copy-source": "/thr/stuck-src"})
    try:
        wait_until(lambda: len(store_threads_in_fifo_open()) == 1, timeout=10, what="a store thread to block on the FIFO")
        h0 = hits()
        for _ in range(20):
            status, headers, body = curl_status(HIT_URL)
            assert status == 200 and headers.get("x-cache", "").startswith("Hit"), headers
            assert len(body) == 1024
        assert hits() == h0 + 20
        # the other store thread answers meanwhile (a listing and a small PUT: disk writes, fsync, rename)
        status, body = s3("GET", "/thr")
        assert status == 200 and b"stuck-src" in body, body
        assert s3("PUT", "/thr/meanwhile", body=b"y" * 100)[0] == 200
        # and the copy is still where it was: unanswered, its thread in open()
        assert len(store_threads_in_fifo_open()) == 1
        assert not answered(copy)
        release(fifo)
        # copy_file_range and pread refuse a FIFO: the copy fails cleanly, and is answered
        assert read_status(copy) == 500
    finally:
        copy.close()
    assert s3("GET", "/thr/meanwhile")[1] == b"y" * 100


@test
def an_answer_for_a_client_that_left_is_dropped():
    fifo = fifo_object("gone-src")
    copy = raw_request("PUT", "/thr/gone-dst", {"x-amz-copy-source": "/thr/gone-src"})
    wait_until(lambda: len(store_threads_in_fifo_open()) == 1, timeout=10, what="a store thread to block on the FIFO")
    copy.close()  # the request ends on the loop while its job is blocked
    # the worker sees the connection close: a hit on it is answered after that
    status, headers, _ = curl_status(HIT_URL)
    assert status == 200 and headers.get("x-cache", "").startswith("Hit")
    release(fifo)
    wait_until(lambda: not store_threads_in_fifo_open(), what="the job to go on")
    # the store goes on serving on both threads; the dropped answer left nothing behind (ASan checks at exit)
    for i in range(4):
        assert s3("PUT", "/thr/after-%d" % i, body=b"z")[0] == 200
    assert s3("GET", "/thr/after-3")[1] == b"z"


@test
def s3_requests_are_served_by_the_store_loop():
    n0 = store_loop_requests()
    for i in range(5):
        assert s3("PUT", "/thr/loop-%d" % i, body=b"l%d" % i)[0] == 200
    assert s3("GET", "/thr/loop-4") == (200, b"l4")
    # every one of them on the store loop: a request accepted by a worker would not count there
    assert store_loop_requests() == n0 + 6
    # the kernel's view: the store listener is watched by one loop, which watches neither the main nor the admin listener
    store_l = tcp_inodes(STORE, "0A")
    others = tcp_inodes(edge.ports["main"], "0A") | tcp_inodes(edge.ports["admin"], "0A")
    assert len(store_l) == 1 and len(others) == 2
    watching = loops_watching(store_l)
    assert len(watching) == 1 and not watching[0] & others, (watching, others)
    assert len(loops_watching(others)) == 1  # the one worker (threads: 1)
    # its thread is store-io0, at the store threads' priority: 10 nice levels below the process (the main thread)
    (tid,) = threads_named("store-io0")
    assert nice_of(tid) == min(19, nice_of(str(edge.proc.pid)) + 10)
    assert [nice_of(t) for t in threads_named("t0")] == [nice_of(str(edge.proc.pid))]
    # a GET's body is read by the store loop: a data file cut short is seen there, and its log lines say so
    assert s3("PUT", "/thr/cut", body=b"c" * 5000)[0] == 200
    os.truncate(data_file("cut"), 0)
    s = raw_request("GET", "/thr/cut")
    try:
        wait_until(lambda: "[store-io0] store: cannot read" in edge.log(), what="the store loop to log the short read")
    finally:
        s.close()


@test
def hits_are_answered_while_an_upload_body_arrives_slowly():
    chunk = hashlib.sha256(b"slow").digest() * (1 << 15)  # 1 MB
    body_len = 8 * len(chunk)
    h = signed("PUT", "/thr/slow")
    h["content-length"] = str(body_len)
    up = socket.create_connection(("127.0.0.1", STORE))
    try:
        up.sendall(("PUT /thr/slow HTTP/1.1\r\n" + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode())
        up.sendall(chunk)
        # the connection is served by the store loop: the loop that watches it watches the store listener, not the main one
        conn = set()
        wait_until(lambda: conn.update(tcp_inodes(STORE, "01", up.getsockname()[1])) or (conn and loops_watching(conn)),
                   what="the upload's connection to be watched by an event loop")
        (loop,) = loops_watching(conn)
        assert loop & tcp_inodes(STORE, "0A") and not loop & tcp_inodes(edge.ports["main"], "0A")
        h0 = hits()
        for _ in range(7):
            # the body is not complete: hits are answered meanwhile, the upload is not
            for _ in range(3):
                status, headers, body = curl_status(HIT_URL)
                assert status == 200 and headers.get("x-cache", "").startswith("Hit") and len(body) == 1024, headers
            assert not answered(up)
            up.sendall(chunk)
        assert hits() == h0 + 21
        assert read_status(up) == 200
    finally:
        up.close()
    status, data = s3("GET", "/thr/slow")
    assert status == 200 and data == chunk * 8


@test
def sigterm_waits_for_a_store_request_in_flight():
    fifo = fifo_object("drain-src")
    copy = raw_request("PUT", "/thr/drain-dst", {"x-amz-copy-source": "/thr/drain-src"})
    try:
        wait_until(lambda: len(store_threads_in_fifo_open()) == 1, timeout=10, what="a store thread to block on the FIFO")
        edge.signal(signal.SIGTERM)
        wait_until(lambda: "shutting down" in edge.log(), what="the shutdown to begin")
        # the store loop still has the copy's job out: the process waits for it
        assert edge.proc.poll() is None and not answered(copy)
        release(fifo)
        # the answer comes back through the store loop, which sends it before it stops
        assert read_status(copy) == 500
    finally:
        copy.close()
    assert edge.proc.wait(30 * SLOW) == 0
    assert "grace period over" not in edge.log(), edge.log()[-3000:]


@test
def clean_exit():
    assert edge.stop() == 0
    edge.assert_clean()
    assert "store: internal error" not in edge.log(), edge.log()[-3000:]


try:
    run()
finally:
    edge.kill()
    origin.kill()
