"""End-to-end: the embedded store's blocking work runs on its own threads (store.threads), not on the event loops.

A store job is made to block for as long as the test wants: the data file of an object is replaced by a FIFO, so a CopyObject
of that object blocks its store thread in open() until someone opens the FIFO for writing. The test sees the thread waiting
there (/proc/PID/task/TID/wchan is wait_for_partner), then checks that the single worker thread still answers cache hits (the
cache-hit counter grows) and other store requests (the second store thread), while the copy has no answer. Nothing here
depends on timing: each step waits for something it can observe.
"""
import hashlib
import hmac
import http.client
import json
import os
import select
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
    conn = http.client.HTTPConnection("127.0.0.1", edge.ports["admin"], timeout=10 * SLOW)
    conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + TOKEN})
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.startswith("edgehook_cache_hits_total "):
            return int(line.split()[1])
    raise AssertionError("no edgehook_cache_hits_total in /metrics")


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


def fifo_object(key):
    """stores key in bucket thr, then replaces its data file with a FIFO; returns the FIFO's path"""
    assert s3("PUT", "/thr/" + key, body=b"x" * 1000)[0] == 200
    h = hashlib.sha256(key.encode()).hexdigest()
    d = os.path.join(ROOT, "thr", h[:2])
    data = [n for n in os.listdir(d) if n.startswith(h + ".") and not n.endswith((".meta", ".tmp", ".parts"))]
    assert len(data) == 1, data
    path = os.path.join(d, data[0])
    os.unlink(path)
    os.mkfifo(path)
    return path


def release(fifo):
    """lets the blocked open() go on: open the FIFO for writing (the reader is waiting, so this does not block) and close it"""
    os.close(os.open(fifo, os.O_WRONLY))


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
def clean_exit():
    assert edge.stop() == 0
    edge.assert_clean()
    assert "store: internal error" not in edge.log(), edge.log()[-3000:]


try:
    run()
finally:
    edge.kill()
    origin.kill()
