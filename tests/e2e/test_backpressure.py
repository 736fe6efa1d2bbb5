"""End-to-end: a slow client must not make the proxy buffer the whole object (libh2o 2.2.5's own proxy did), over HTTP/1.1 and HTTP/2."""
# ctest-labels: noasan;notsan
# notsan: measures RSS, which TSan's shadow memory inflates
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from edgetest import SLOW, Edge, run, test  # noqa: E402
from origin import Origin  # noqa: E402

origin = Origin()
edge = Edge("""
threads: 2
listen: [{host: 127.0.0.1, port: 0}]
# send_timeout is test_adversarial's: here the driver reads its aborting clients one after another, and on a starved machine a
# client waited 55 s for its turn (the default 30 s then cut it off, rightly: it took nothing)
limits: {send_timeout: 300s}
origins:
  web: {type: http, url: "%s"}
behaviors:
  - {path: "*", origin: web}
admin:
  listen: {host: 127.0.0.1, port: 0}
  token: backpressure-token
""" % origin.url)


def slow_read(args, taken_mb=16):
    # 200 MB object read at 1 MB/s: the origin could send it all in a second; the proxy must hold back. The client reads until it
    # has taken `taken_mb` MB (counted in bytes, not seconds: on a loaded machine the same reading takes longer, never less)
    warm = subprocess.run(["curl", "-s", "-o", "/dev/null", edge.url("/size/1000")])
    assert warm.returncode == 0
    base = edge.rss_kb()
    timeouts = edge.metric("edgehook_send_timeouts_total") or 0.0
    out = os.path.join(edge.dir, "slow-read.out")
    deadline = time.time() + 300 * SLOW  # a hang guard only: the loop ends on bytes taken
    p = subprocess.Popen(["curl", "-s", "-S", "-o", out, "--limit-rate", "1M"] + args + [edge.url("/size/209715200")],
                         stderr=subprocess.PIPE)
    peak = base
    try:
        while not os.path.exists(out) or os.path.getsize(out) < taken_mb << 20:
            assert time.time() < deadline, "the client took only %d bytes" % (os.path.getsize(out) if os.path.exists(out) else 0)
            time.sleep(0.25)
            peak = max(peak, edge.rss_kb())
            assert p.poll() is None, "the download ended early: %s\n%s" % (p.stderr.read().decode(), edge.log()[-3000:])
    finally:
        p.kill()
        p.wait()
    os.unlink(out)
    growth_mb = (peak - base) / 1024.0
    print("  rss base %.1f MB, peak %.1f MB, growth %.1f MB" % (base / 1024.0, peak / 1024.0, growth_mb))
    assert growth_mb < 32, (growth_mb, edge.log()[-3000:])
    # a client that reads steadily is never taken for a stalled one (limits.send_timeout, max_unsent_per_connection)
    assert (edge.metric("edgehook_send_timeouts_total") or 0.0) == timeouts, edge.log()[-3000:]


@test
def slow_client_http1():
    slow_read([])


@test
def slow_client_http2():
    slow_read(["--http2-prior-knowledge"])


@test
def proxy_still_serves_after_aborted_downloads():
    # eight clients on each protocol leave in the middle of a 50 MB body: each reads 200 KB of it and closes its end (curl then
    # fails writing: exit 23). Counted in bytes, not in seconds, so it is mid-body however loaded the machine is
    for proto in ((), ("--http2-prior-knowledge",)):
        procs = [subprocess.Popen(["curl", "-s", "-S"] + list(proto) + [edge.url("/size/50000000?abort=%d&p=%d" % (i, len(proto)))],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(8)]
        got = []
        for p in procs:
            got.append(len(p.stdout.read(200000)))
            p.stdout.close()
        codes = [p.wait(60) for p in procs]
        assert got == [200000] * 8, got
        assert codes == [23] * 8, (codes, [p.stderr.read() for p in procs])  # 23: write error, i.e. it left mid-body
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
