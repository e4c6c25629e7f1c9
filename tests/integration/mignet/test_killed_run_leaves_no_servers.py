# SPDX-License-Identifier: Apache-2.0
"""A test run killed from outside (a timeout, a cancelled CI job) runs no teardown: the
servers its tests started must still die with it, or they keep their ports and data dirs and
poison the next run. Here an inner pytest run starts a 3-member etcd cluster (EtcdCluster, as
the etcd fixtures do) and a process through MigNet.popen (how receivers, doctor --serve and
fake servers are started), and is SIGKILLed while they run; none of them may remain.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from paths import LIB  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(shutil.which("etcd") or "/usr/bin/etcd"),
                                reason="etcd-server is not installed")

INNER = r'''
import os, sys, time
sys.path.insert(0, os.environ["HELPERS"])
from etcd_cluster import EtcdCluster
from mignet_net import MigNet


def test_holds_servers():
    with EtcdCluster(3) as cl:
        n = MigNet()  # no setup(): popen() only wraps the command in ip netns exec
        n.cmd = lambda node, *args: list(args)
        p = n.popen("a", "sleep", "300")
        pids = [m.pid for m in cl.procs] + [p.pid]
        with open(os.environ["PIDS"] + ".tmp", "w") as f:
            f.write(" ".join(map(str, pids)) + "\n" + cl.dir + "\n")
        os.rename(os.environ["PIDS"] + ".tmp", os.environ["PIDS"])
        time.sleep(300)
'''


def alive(pid):
    """Running (not a zombie waiting for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cmdline_has(pid, text):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


def test_sigkilled_run_leaves_no_servers():
    tmp = tempfile.mkdtemp(prefix="mignet-killed-run-")
    pids, data_dir, run = [], None, None
    try:
        inner = os.path.join(tmp, "test_inner.py")
        with open(inner, "w") as f:
            f.write(INNER)
        env = dict(os.environ, HELPERS=LIB, PIDS=os.path.join(tmp, "pids"))
        run = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                                "--rootdir", tmp, inner], cwd=tmp, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(600):  # a guard against a hang only: the cluster is up well before
            if os.path.exists(env["PIDS"]) or run.poll() is not None:
                break
            time.sleep(0.1)
        assert os.path.exists(env["PIDS"]), run.communicate(timeout=30)[0]
        with open(env["PIDS"]) as f:
            first, data_dir = f.read().split("\n")[:2]
        pids = [int(x) for x in first.split()]
        assert len(pids) == 4 and all(alive(p) for p in pids), pids
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        for _ in range(100):  # the kernel signals them at once; let them exit
            if not any(alive(p) for p in pids):
                break
            time.sleep(0.1)
        left = [p for p in pids if alive(p)]
        assert not left, f"still running after the run was killed: {left}"
        of_run = [int(p) for p in os.listdir("/proc")
                  if p.isdigit() and alive(int(p)) and cmdline_has(p, data_dir)]
        assert not of_run, f"etcd of the killed run still running: {of_run}"
    finally:
        if run and run.poll() is None:
            run.kill()
            run.wait()
        for p in pids:  # whatever survived a failure
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
        if data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
