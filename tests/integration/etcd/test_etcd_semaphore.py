# SPDX-License-Identifier: Apache-2.0
"""parallelMigrationsPerCluster: mignet send's etcd lease-based semaphore, in a throw-away
network namespace holding an etcd member, a veth pair (the migration interface) and a
receiver that accepts and never answers, so that senders stay in flight.

Two senders hold the two slots; a third with --cluster-wait 0 is refused; a sender killed
with SIGKILL loses its slot when its lease (2 s here) expires, and a waiting sender then
takes it. Slots are read back with etcdctl. Nothing asserts on time."""
import os
import secrets
import signal
import subprocess
import tempfile
import time

import pytest

from die_with_test import die_with_parent
from etcd_cluster import BUILD, EtcdCluster

MIGNET = os.path.join(BUILD, "migration", "mignet")
SLOTS = "/mignet/migrations/slots/"

pytestmark = pytest.mark.skipif(not os.path.exists(MIGNET), reason="mignet not built")


@pytest.fixture
def ns():
    """(sender netns with etcd, receiver netns), joined by the veth pair mig0 -- mig1."""
    tag = secrets.token_hex(3)
    names = ["mnsem" + tag, "mnsemr" + tag]
    for n in names:
        subprocess.run(["ip", "netns", "add", n], check=True)
    try:
        def ip(n, *a):
            subprocess.run(["ip", "-n", n, *a], check=True)
        for n in names:
            ip(n, "link", "set", "lo", "up")
        ip(names[0], "link", "add", "mig0", "type", "veth", "peer", "name", "mig1",
           "netns", names[1])
        ip(names[0], "addr", "add", "10.213.0.1/24", "dev", "mig0")
        ip(names[1], "addr", "add", "10.213.0.2/24", "dev", "mig1")
        ip(names[0], "link", "set", "mig0", "up")
        ip(names[1], "link", "set", "mig1", "up")
        yield names
    finally:
        for n in names:
            subprocess.run(["ip", "netns", "del", n])


def wait_for(pred, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


def test_cluster_wide_limit(ns):
    ns, rns = ns
    procs = []
    with EtcdCluster(1, netns=ns) as cl:
        # a receiver that accepts and stays silent: senders wait in their handshake
        silent = subprocess.Popen(
            ["ip", "netns", "exec", rns, "/usr/bin/python3", "-c",
             "import socket,time\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,"
             "socket.SO_REUSEADDR,1);s.bind(('10.213.0.2',7411));s.listen(64)\nc=[]\n"
             "while True: c.append(s.accept())"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent())
        procs.append(silent)
        assert wait_for(lambda: ":7411" in subprocess.run(
            ["ip", "netns", "exec", rns, "ss", "-ltn"], capture_output=True, text=True).stdout)

        def sender(*extra):
            # each sender is its own node: its own per-node limit directory
            lock_dir = tempfile.mkdtemp(prefix="mignet-sem-", dir=cl.dir)
            p = subprocess.Popen(
                ["ip", "netns", "exec", ns, MIGNET, "send", "--no-tls", "--target", "10.213.0.2:7411",
                 "--interface", "mig0", "--token", "t0ken", "--guest-memory", "1M",
                 "--progress-timeout", "120", "--etcd", cl.endpoints,
                 "--parallel-migrations-per-cluster", "2", "--cluster-lease-ttl", "2", "--lock-dir", lock_dir, *extra],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                preexec_fn=die_with_parent())
            procs.append(p)
            return p

        def slots():
            return cl.get_prefix(SLOTS)

        try:
            a = sender()
            assert wait_for(lambda: len(slots()) == 1 or a.poll() is not None)
            assert a.poll() is None, a.communicate()
            b = sender()
            assert wait_for(lambda: len(slots()) == 2)
            assert set(slots()) == {SLOTS + "0", SLOTS + "1"}
            assert a.poll() is None and b.poll() is None

            # the third is refused at once with --cluster-wait 0
            c = sender("--cluster-wait", "0")
            _, err = c.communicate(timeout=60)
            assert c.returncode != 0
            assert "cluster-wide migration slots are taken" in err

            # a waits nowhere: it crashes; its slot frees itself when the lease expires
            holder_a = [k for k, v in slots().items() if str(a.pid) in v]
            assert len(holder_a) == 1
            d = sender("--cluster-wait", "60")
            os.kill(a.pid, signal.SIGKILL)
            a.wait()
            assert wait_for(lambda: any(str(d.pid) in v for v in slots().values()), 60)
            assert holder_a[0] in slots()  # d took a's slot, b keeps its own
            assert any(str(b.pid) in v for v in slots().values())
            assert len(slots()) == 2
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        # killed senders' slots vanish with their leases: nothing leaks
        assert wait_for(lambda: slots() == {}, 30)
