#!/usr/bin/python3
"""bench/disk_hits.py - hits from disk: edgehook with a 1 MB memory tier and cache.disk against nginx proxy_cache (on disk,
sendfile), both warmed with the same objects, read at random by wrk. Prints requests/s and the server's CPU time per request.

    /usr/bin/python3 bench/disk_hits.py build/edgehook [seconds]

- 1 KB: 5000 distinct objects (5 MB; edgehook's memory holds a few hundred of them: most hits are reads from disk, each
  read back object then being kept in memory for its next hit - promotion - as it would be in production);
- 1 MB: 64 distinct objects (64 MB), above edgehook's max_object_size: every hit is streamed from disk.
Both servers run one worker thread/process; wrk runs with 16 connections (8 for 1 MB).
"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1]
secs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
work = tempfile.mkdtemp(prefix="disk-hits-")
procs = []
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port):
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d not up" % port)


def tree_cpu(pid):
    """CPU seconds of pid and its children (nginx workers)"""
    total = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(p) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def nginx(conf_body, name):
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "tmp"))
    port = free_port()
    conf = """daemon off;
master_process on;
user root;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    server_tokens off;
    client_body_temp_path %s/tmp/body;
    proxy_temp_path %s/tmp/proxy;
    fastcgi_temp_path %s/tmp/fastcgi;
    uwsgi_temp_path %s/tmp/uwsgi;
    scgi_temp_path %s/tmp/scgi;
    %s
}
""" % (d, d, d, d, d, d, d, conf_body.replace("PORT", str(port)).replace("DIR", d))
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    p = subprocess.Popen(["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    wait_port(port)
    return p, port


def warm(port, paths):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for p in paths:
        for _ in range(2):  # the second makes nginx's copy complete on disk, and edgehook's a known one
            c.request("GET", p)
            c.getresponse().read()
    c.close()


def check(port, paths, want_file):
    """a figure of wrong bytes is no figure: hits (from disk) must be the origin's body"""
    with open(want_file, "rb") as f:
        want = f.read()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for p in paths:
        c.request("GET", p)
        b = c.getresponse().read()
        if b != want:
            raise RuntimeError("%s: the hit's body (%d bytes) differs from the origin's" % (p, len(b)))
    c.close()


def wrk(port, prefix, n, conns):
    script = os.path.join(work, "rand.lua")
    with open(script, "w") as f:
        f.write('math.randomseed(42)\nrequest = function() return wrk.format("GET", "%s" .. math.random(0, %d)) end\n' % (prefix, n - 1))
    out = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % secs, "-s", script, "http://127.0.0.1:%d/" % port],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1]), out
    raise RuntimeError(out)


def edge_disk_hits(admin):
    c = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
    c.request("GET", "/metrics", headers={"Authorization": "Bearer bench-token-123456789"})
    text = c.getresponse().read().decode()
    c.close()
    for line in text.splitlines():
        if line.startswith("edgehook_disk_hits_total "):
            return float(line.split()[1])
    return 0


try:
    root = os.path.join(work, "root")
    os.makedirs(root)
    with open(os.path.join(root, "1k"), "wb") as f:
        f.write(b"x" * 1024)
    with open(os.path.join(root, "1m"), "wb") as f:
        f.write(os.urandom(1 << 20))
    _, origin = nginx("""server { listen 127.0.0.1:PORT; root %s;
        location /k/ { add_header Cache-Control "max-age=3600"; try_files /1k =404; }
        location /M/ { add_header Cache-Control "max-age=3600"; try_files /1m =404; } }""" % root, "origin")
    ng, ngport = nginx("""proxy_cache_path DIR/cache levels=1:2 keys_zone=edge:128m max_size=4g inactive=1d use_temp_path=off;
    upstream origin { server 127.0.0.1:%d; keepalive 64; }
    server { listen 127.0.0.1:PORT;
        location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
                     proxy_cache edge; proxy_cache_lock on; add_header X-Cache $upstream_cache_status; } }""" % origin, "nginx")
    eport, admin = free_port(), free_port()
    with open(os.path.join(work, "edge.yaml"), "w") as f:
        f.write("""threads: 1
listen: [{host: 127.0.0.1, port: %d}]
access_log: {path: "/dev/null"}
origins: {web: {type: http, url: "http://127.0.0.1:%d"}}
cache: {memory: 1MB, max_object_size: 128KB, disk: {path: %s/edge-disk, size: 2GB}}
behaviors: [{path: "*", origin: web}]
admin: {listen: {host: 127.0.0.1, port: %d}, token: bench-token-123456789}
state_dir: %s/edge-state
""" % (eport, origin, work, admin, work))
    ep = subprocess.Popen([binary, "-c", os.path.join(work, "edge.yaml")], stdout=subprocess.DEVNULL,
                          stderr=open(os.path.join(work, "edge.log"), "wb"))
    procs.append(ep)
    wait_port(eport)
    rows = []
    for label, prefix, n, conns in (("1 KB", "/k/", 5000, 16), ("1 MB", "/M/", 64, 8)):
        paths = ["%s%d" % (prefix, i) for i in range(n)]
        warm(ngport, paths)
        warm(eport, paths)
        time.sleep(1)  # edgehook's writer finishes
        check(eport, paths[:4], os.path.join(root, "1k" if label == "1 KB" else "1m"))
        for name, proc, port in (("edgehook", ep, eport), ("nginx", ng, ngport)):
            c0 = tree_cpu(proc.pid)
            h0 = edge_disk_hits(admin) if name == "edgehook" else 0
            rps, out = wrk(port, prefix, n, conns)
            cpu = tree_cpu(proc.pid) - c0
            extra = ""
            if name == "edgehook":
                extra = " (%.0f%% of hits read from disk)" % (100 * (edge_disk_hits(admin) - h0) / (rps * secs))
            rows.append((label, name, rps, cpu / (rps * secs) * 1e6, extra))
            print("%-5s %-9s %10.0f req/s  %7.1f us CPU/request%s" % rows[-1], flush=True)
    with open("/proc/loadavg") as f:
        print("load average: " + f.read().split()[0])
finally:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    shutil.rmtree(work, ignore_errors=True)
