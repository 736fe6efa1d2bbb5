#!/usr/bin/python3
"""bench/disk_restart.py - restart time of edgehook with a disk tier of N objects: from the process start to the first hit
served from disk (X-Cache: Hit, the origin never asked), and the index load time edgehook reports.

    cmake --build build --target disk_bench && build/disk_bench /tmp/dbench/d1m 1000000 1024   # once: fills the tier
    /usr/bin/python3 bench/disk_restart.py build/edgehook /tmp/dbench/d1m 1000000 [runs]

The objects disk_bench writes have the keys of GET http://bench.test/obj/I on edgehook's first behavior; the origin here is a
closed port, so anything but a disk hit fails.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import http.client

binary, disk, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


size_gb = max(1, (os.path.getsize(disk) if os.path.isfile(disk) else sum(
    os.path.getsize(os.path.join(disk, f)) for f in os.listdir(disk))) * 2 // (1 << 30) + 1)
work = tempfile.mkdtemp(prefix="disk-restart-")
results = []
for run in range(runs):
    port, admin, dead = free_port(), free_port(), free_port()
    conf = os.path.join(work, "edge.yaml")
    with open(conf, "w") as f:
        f.write("""threads: 2
listen: [{host: 127.0.0.1, port: %d}]
access_log: {path: "/dev/null"}
origins:
  web: {type: http, url: "http://127.0.0.1:%d", connect_timeout: 1s}
cache: {memory: 256MB, disk: {path: %s, size: %dGB}}
behaviors:
  - {path: "*", origin: web}
admin: {listen: {host: 127.0.0.1, port: %d}, token: bench-token-123456789}
state_dir: %s
""" % (port, dead, disk, size_gb, admin, os.path.join(work, "state")))
    log = open(os.path.join(work, "edge.log"), "wb")
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=log)
    hit_at = None
    path = "/obj/%d" % (n // 2 + run)
    while time.monotonic() - t0 < 60:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path, headers={"Host": "bench.test"})
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status == 200 and r.getheader("X-Cache", "").startswith("Hit"):
                hit_at = time.monotonic() - t0
                break
            print("answer %d %s (%d bytes)" % (r.status, r.getheader("X-Cache"), len(body)), file=sys.stderr)
            break
        except OSError:
            time.sleep(0.01)
    t_stop = time.monotonic()
    p.terminate()
    p.wait()
    stop = time.monotonic() - t_stop
    log.close()
    text = open(os.path.join(work, "edge.log"), errors="replace").read()
    m = re.search(r"cache\.disk: .*: (\d+) objects, (\d+) bytes; index loaded in ([\d.]+) ms", text)
    results.append((hit_at, m.group(1) if m else "?", m.group(3) if m else "?"))
    print("run %d: first disk hit %.2f s after the process started; index: %s objects loaded in %s ms; stop (SIGTERM to exit) %.2f s" % (
        run + 1, hit_at if hit_at is not None else float("nan"), results[-1][1], results[-1][2], stop), flush=True)
with open("/proc/loadavg") as f:
    print("load average during the runs: " + f.read().split()[0])
