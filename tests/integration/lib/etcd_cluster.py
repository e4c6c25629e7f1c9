# SPDX-License-Identifier: Apache-2.0
"""A real etcd cluster (Debian's etcd-server) on loopback, for the etcd tests.

    with EtcdCluster(3) as cl:          # or the fixtures etcd1 / etcd3 / etcd_tls
        cl.endpoints                    # "http://127.0.0.1:P1,http://127.0.0.1:P2,..."
        cl.kill(1); cl.start(1)         # SIGKILL a member, bring it back on its data dir
        cl.get_prefix("/mignet/")       # {key: value} through etcdctl

Ports are picked free per run (bind to port 0), data dirs live in a temporary directory, and
every member process is killed (by the pid we started) and the directory removed in
teardown, also when a test fails; a run killed from outside (no teardown) takes its members
with it (PR_SET_PDEATHSIG, die_with_test.py). Elections are tuned fast (heartbeat 50 ms, election 500 ms)
so that a killed leader is replaced quickly; nothing asserts on time.

TLS: EtcdCluster(3, tls=True) makes a throw-away CA, a server certificate for 127.0.0.1 and a
client certificate with openssl, and requires client certificates (--client-cert-auth).
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

import pytest

import die_with_test

from paths import ROOT  # noqa: E402
BUILD = os.environ.get("MIGNET_BUILD", os.path.join(ROOT, "build"))
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"
START_TIMEOUT = 30  # seconds; a guard against a hang only


def free_ports(n):
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def make_test_pki(d):
    """A CA, a server cert (SAN 127.0.0.1, localhost) and a client cert, in directory d."""
    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mignet-test-ca",
         "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt")
    ext = f"{d}/ext.cnf"
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    for name in ("server", "client"):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=mignet-{name}",
             "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr")
        ossl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"{d}/{name}.crt")
    return {"ca": f"{d}/ca.crt", "cert": f"{d}/client.crt", "key": f"{d}/client.key",
            "server_cert": f"{d}/server.crt", "server_key": f"{d}/server.key"}


class EtcdCluster:
    def __init__(self, size=3, tls=False, netns=None, extra_args=()):
        self.size = size
        self.extra_args = list(extra_args)  # more etcd flags, e.g. a --quota-backend-bytes
        self.tls = tls
        self.netns = netns  # run the members (and our probes) inside this network namespace
        self.nsexec = ["ip", "netns", "exec", netns] if netns else []
        self.dir = tempfile.mkdtemp(prefix="mignet-etcd-")
        self.pki = make_test_pki(self.dir) if tls else None
        ports = free_ports(2 * size)
        self.client_ports = ports[:size]
        self.peer_ports = ports[size:]
        self.names = [f"m{i}" for i in range(size)]
        self.procs = [None] * size
        self.token = "mignet-test-" + os.path.basename(self.dir)
        scheme = "https" if tls else "http"
        self.urls = [f"{scheme}://127.0.0.1:{p}" for p in self.client_ports]
        self.endpoints = ",".join(self.urls)

    # ------------------------------------------------------------------ lifecycle
    def _cmd(self, i):
        scheme = "https" if self.tls else "http"
        cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer_ports))
        cmd = self.nsexec + [ETCD, "--name", self.names[i], "--data-dir", f"{self.dir}/{self.names[i]}",
               "--listen-client-urls", f"{scheme}://127.0.0.1:{self.client_ports[i]}",
               "--advertise-client-urls", f"{scheme}://127.0.0.1:{self.client_ports[i]}",
               "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
               "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
               "--initial-cluster", cluster, "--initial-cluster-state", "new",
               "--initial-cluster-token", self.token,
               "--heartbeat-interval", "50", "--election-timeout", "500",
               "--log-level", "warn", "--logger", "zap"] + self.extra_args
        if self.tls:
            cmd += ["--cert-file", self.pki["server_cert"], "--key-file", self.pki["server_key"],
                    "--trusted-ca-file", self.pki["ca"], "--client-cert-auth"]
        return cmd

    def start(self, i):
        if self.procs[i] and self.procs[i].poll() is None:
            return
        log = open(f"{self.dir}/{self.names[i]}.log", "ab")
        self.procs[i] = die_with_test.popen(self._cmd(i), stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def start_all(self):
        for i in range(self.size):
            self.start(i)
        self.wait_healthy()

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs[i]
        if p and p.poll() is None:
            os.kill(p.pid, sig)
            if sig == signal.SIGKILL:
                p.wait(timeout=10)

    def stop(self, i):
        self.kill(i, signal.SIGKILL)

    def teardown(self):
        for i, p in enumerate(self.procs):
            if p and p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            self.start_all()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc):
        self.teardown()

    # ------------------------------------------------------------------ access
    def _ssl(self):
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=self.pki["ca"])
        ctx.load_cert_chain(self.pki["cert"], self.pki["key"])
        return ctx

    def healthy(self, i):
        if self.netns:
            r = subprocess.run(self.nsexec + ["curl", "-s", "-m", "2", self.urls[i] + "/health"],
                               capture_output=True, text=True)
            return '"health":"true"' in r.stdout
        try:
            with urllib.request.urlopen(self.urls[i] + "/health", timeout=2,
                                        context=self._ssl()) as r:
                return json.load(r).get("health") in ("true", True)
        except Exception:
            return False

    def wait_healthy(self, members=None, timeout=START_TIMEOUT):
        members = range(self.size) if members is None else members
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(self.healthy(i) for i in members):
                return
            for i in members:
                p = self.procs[i]
                if p and p.poll() is not None:
                    raise RuntimeError(f"etcd {self.names[i]} exited: " + self.log(i))
            time.sleep(0.1)
        raise RuntimeError("etcd cluster not healthy in time: " + self.log(0))

    def log(self, i):
        try:
            with open(f"{self.dir}/{self.names[i]}.log", errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def live_endpoints(self):
        return ",".join(u for u, p in zip(self.urls, self.procs) if p and p.poll() is None)

    def etcdctl(self, *args, check=True, endpoints=None):
        cmd = self.nsexec + [ETCDCTL, "--endpoints", endpoints or self.live_endpoints(),
               "--command-timeout", "10s"]
        if self.tls:
            cmd += ["--cacert", self.pki["ca"], "--cert", self.pki["cert"], "--key", self.pki["key"]]
        env = dict(os.environ, ETCDCTL_API="3")
        return subprocess.run(cmd + list(args), env=env, capture_output=True, text=True,
                              check=check, timeout=60)

    def get_prefix(self, prefix):
        """{key: value} of every key under prefix (values as text)."""
        out = self.etcdctl("get", "--prefix", prefix, "-w", "json").stdout
        import base64
        kvs = json.loads(out).get("kvs", [])
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
                for kv in kvs}


@pytest.fixture
def etcd1():
    with EtcdCluster(1) as cl:
        yield cl


@pytest.fixture
def etcd3():
    with EtcdCluster(3) as cl:
        yield cl


@pytest.fixture
def etcd_tls():
    with EtcdCluster(3, tls=True) as cl:
        yield cl
