"""tests/e2e/lib/etcdcluster.py - a real etcd cluster for the fleet tests: N members of Debian's etcd-server on 127.0.0.1, each
with its own client and peer port and data dir, started by the test and killed at its end."""
import json
import os
import shutil
import subprocess
import urllib.request

from edgetest import free_port, wait_until

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def available():
    return os.path.exists(ETCD)


class Etcd:
    def __init__(self, workdir, n=3):
        self.client = [free_port() for _ in range(n)]
        self.peer = [free_port() for _ in range(n)]
        cluster = ",".join("m%d=http://127.0.0.1:%d" % (i, self.peer[i]) for i in range(n))
        self.procs, self.logs = [], []
        for i in range(n):
            log = open(os.path.join(workdir, "etcd%d.log" % i), "wb")
            self.logs.append(log)
            self.procs.append(subprocess.Popen([
                ETCD, "--name", "m%d" % i, "--data-dir", os.path.join(workdir, "etcd%d" % i),
                "--listen-client-urls", "http://127.0.0.1:%d" % self.client[i],
                "--advertise-client-urls", "http://127.0.0.1:%d" % self.client[i],
                "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer[i],
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer[i],
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", "t%d-%d" % (os.getpid(), self.client[0]),
                "--heartbeat-interval", "100", "--election-timeout", "1000"], stdout=log, stderr=log))
        wait_until(lambda: all(self.healthy(i) for i in range(n)), 60, "the etcd cluster to elect a leader")

    def healthy(self, i):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.client[i], timeout=2) as r:
                return json.loads(r.read()).get("health") == "true"
        except Exception:
            return False

    def endpoints(self):
        return ["http://127.0.0.1:%d" % p for p in self.client]

    def kill(self, i):
        self.procs[i].kill()
        self.procs[i].wait()

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
