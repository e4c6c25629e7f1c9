# SPDX-License-Identifier: Apache-2.0
"""Two "nodes" for the mignet tests and benchmark, in throw-away network namespaces.

    root netns:     bridge <t>m (the migration VLAN switch)   bridge <t>p (the pod network)
                        |                                          |
    node netns <t>-na:  eth1 (veth)                                 |
                        | macvlan, bridge mode, moved into the pod  |
    pod netns <t>-a:    migration0                     eth0 (veth, default route)
    (same for b)

As under Multus, migration0 is created on the node's NIC and lives in the (virt-handler)
pod's namespace, where mignet runs; the node's eth1 has no address.

Every name starts with a random prefix "mgt<hex>", and teardown() removes the namespaces,
the bridges and the veth ends whatever state a failed test left them in. Processes started
through popen() and run() die with the test process (die_with_test.py), also when a killed
run never reaches teardown.
"""
import contextlib
import hashlib
import hmac
import os
import secrets
import struct
import subprocess

import die_with_test
from die_with_test import die_with_parent

MIG_NET = "10.77.0"
POD_NET = "172.30.0"
MIG6_NET = "fd77::"


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


class MigNet:
    def __init__(self, ipv6=False, ipv4=True):
        self.tag = "mgt" + secrets.token_hex(3)
        self.ns = {"a": self.tag + "-a", "b": self.tag + "-b"}
        self.node_ns = {"a": self.tag + "-na", "b": self.tag + "-nb"}
        self.br_mig = self.tag + "m"
        self.br_pod = self.tag + "p"
        self.ipv6 = ipv6
        self.ipv4 = ipv4
        self.procs = []
        self.mig_addr = {"a": MIG_NET + ".1", "b": MIG_NET + ".2"}
        self.mig6_addr = {"a": MIG6_NET + "1", "b": MIG6_NET + "2"}
        self.pod_addr = {"a": POD_NET + ".1", "b": POD_NET + ".2"}

    # --- setup / teardown ---
    def setup(self):
        try:
            self._setup()
        except BaseException:
            self.teardown()
            raise
        return self

    def _setup(self):
        for br in (self.br_mig, self.br_pod):
            sh("ip", "link", "add", br, "type", "bridge")
            sh("ip", "link", "set", br, "up")
        for node in ("a", "b"):
            ns, nns = self.ns[node], self.node_ns[node]
            sh("ip", "netns", "add", nns)
            sh("ip", "netns", "add", ns)
            self.ip(node, "link", "set", "lo", "up")
            for leg, br, inner, where in (("m", self.br_mig, "eth1", nns),
                                          ("p", self.br_pod, "eth0", ns)):
                outer = f"{self.tag}{node}{leg}"
                sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner,
                   "netns", where)
                sh("ip", "link", "set", outer, "master", br, "up")
                sh("ip", "-n", where, "link", "set", inner, "up")
            sh("ip", "-n", nns, "link", "add", "migration0", "link", "eth1", "type", "macvlan",
               "mode", "bridge")
            sh("ip", "-n", nns, "link", "set", "migration0", "netns", ns)
            if self.ipv4:
                self.ip(node, "addr", "add", self.mig_addr[node] + "/24", "dev", "migration0")
            if self.ipv6:
                self.ip(node, "addr", "add", self.mig6_addr[node] + "/64", "dev", "migration0",
                        "nodad")
            self.ip(node, "link", "set", "migration0", "up")
            self.ip(node, "addr", "add", self.pod_addr[node] + "/24", "dev", "eth0")
            self.ip(node, "route", "add", "default", "via", POD_NET + ".254", "dev", "eth0")

    def teardown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=10)
            except Exception:
                pass
        self.procs = []
        for ns in list(self.ns.values()) + list(self.node_ns.values()):
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)
        for node in ("a", "b"):
            for leg in ("m", "p"):
                sh("ip", "link", "del", f"{self.tag}{node}{leg}", check=False)
        for br in (self.br_mig, self.br_pod):
            sh("ip", "link", "del", br, check=False)

    # --- helpers ---
    def ip(self, node, *args):
        return sh("ip", "-n", self.ns[node], *args)

    def cmd(self, node, *args):
        return ["ip", "netns", "exec", self.ns[node], *args]

    def popen(self, node, *args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        p = die_with_test.popen(self.cmd(node, *args), **kw)
        self.procs.append(p)
        return p

    def run(self, node, *args, timeout=60, **kw):
        kw["preexec_fn"] = die_with_parent(then=kw.get("preexec_fn"))
        return subprocess.run(self.cmd(node, *args), capture_output=True, text=True,
                              timeout=timeout, **kw)


# --- the wire format (docs/migration.md), for hostile test clients ---------------------------

M64 = (1 << 64) - 1


def mix64(x):
    x &= M64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & M64
    x ^= x >> 31
    return x


def sum64(buf):
    """mig_sum64: eight interleaved Fletcher lanes over little-endian words, then mixed."""
    a, b = [0] * 8, [0] * 8
    data = buf + b"\0" * ((-len(buf)) % 64)
    for off in range(0, len(data), 64):
        words = struct.unpack_from("<8Q", data, off)
        for j in range(8):
            a[j] = (a[j] + words[j]) & M64
            b[j] = (b[j] + a[j]) & M64
    h = mix64(len(buf))
    for j in range(8):
        h = (mix64(h ^ a[j]) + mix64((b[j] + j) & M64)) & M64
    return h


def recv_exact(s, n):
    """@n bytes from socket @s, or fewer when the peer closes first."""
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def frame(ftype, payload=b"", flags=0, rnd=0, offset=0, length=None, checksum=None):
    length = len(payload) if length is None else length
    checksum = sum64(payload) if checksum is None else checksum
    return struct.pack(">IBBHIIQQQ", 0x4D474E46, 1, ftype, flags, rnd, length, offset, checksum,
                       0) + payload


def hello(memory, nonce, token=None, streams=1, index=0, session=0x1234, flags=0):
    """A HELLO frame answering the receiver's challenge @nonce, with the token's HMAC
    (@flags: more of them, e.g. 2 for a QEMU migration's connection)."""
    head = struct.pack(">QIIQII", session, index, streams, memory, 4096,
                       (1 if token else 0) | flags)
    mac = b"\0" * 32
    if token:
        mac = hmac.new(token.encode(), b"mignet hello v1" + nonce + head, hashlib.sha256).digest()
    return frame(1, head + mac)


@contextlib.contextmanager
def mignet_up(**kw):
    """The one way tests get a MigNet: set up on entry, torn down on leaving whatever happened
    (the fixtures `net` and `mignet_pair` of tests/integration/mignet/conftest.py and
    test_vm_guest.py use it)."""
    n = MigNet(**kw).setup()
    try:
        yield n
    finally:
        n.teardown()
