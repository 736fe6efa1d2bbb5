"""End-to-end: a slow client must not make the proxy buffer the whole object (libh2o 2.2.5's own proxy did), over HTTP/1.1 and HTTP/2."""
# ctest-labels: noasan
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import Edge, run, test  # noqa: E402
from origin import Origin  # noqa: E402

origin = Origin()
edge = Edge("""
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
origins:
  web: {type: http, url: "%s"}
behaviors:
  - {path: "*", origin: web}
""" % origin.url)


def slow_read(args, seconds=12):
    # 200 MB object read at 1 MB/s: the origin could send it all in a second; the proxy must hold back
    warm = subprocess.run(["curl", "-s", "-o", "/dev/null", edge.url("/size/1000")])
    assert warm.returncode == 0
    time.sleep(0.5)
    base = edge.rss_kb()
    p = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "--limit-rate", "1M"] + args + [edge.url("/size/209715200")])
    peak = base
    t0 = time.time()
    while time.time() - t0 < seconds:
        time.sleep(0.25)
        peak = max(peak, edge.rss_kb())
        assert p.poll() is None, "the download ended early"
    p.kill()
    p.wait()
    growth_mb = (peak - base) / 1024.0
    print("  rss base %.1f MB, peak %.1f MB, growth %.1f MB" % (base / 1024.0, peak / 1024.0, growth_mb))
    assert growth_mb < 32, growth_mb


@test
def slow_client_http1():
    slow_read([])


@test
def slow_client_http2():
    slow_read(["--http2-prior-knowledge"])


@test
def proxy_still_serves_after_aborted_downloads():
    # eight clients on each protocol give up in the middle of a 50 MB body (read at 100 KB/s, they leave after a second)
    for proto in ((), ("--http2-prior-knowledge",)):
        procs = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "--limit-rate", "100k", "-m", "1"] + list(proto) +
                                  [edge.url("/size/50000000?abort=%d&p=%d" % (i, len(proto)))]) for i in range(8)]
        codes = [p.wait(60) for p in procs]
        assert codes == [28] * 8, codes  # 28: curl's own timeout, i.e. it left mid-body
    assert edge.proc.poll() is None, "edgehook died"
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", edge.url("/size/5000000")],
                       stdout=subprocess.PIPE)
    assert r.stdout == b"200 5000000", r.stdout
    # HTTP/2 on the same connection after aborted streams of its own
    r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                        edge.url("/size/5000000")], stdout=subprocess.PIPE)
    assert r.stdout == b"200 5000000", r.stdout


if __name__ == "__main__":
    try:
        run()
    finally:
        assert edge.stop() == 0
        edge.assert_clean()
        origin.stop()
