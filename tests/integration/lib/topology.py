# SPDX-License-Identifier: Apache-2.0
"""Throw-away topologies: network namespaces, the per-run bridge (the switch), nodes (a netns
whose eth1 is plugged into the bridge) and pods; the fixtures that remove them whatever happens,
and the sweep of what a crashed earlier run left behind (only names carrying its marker)."""
import os
import re

import pytest

from kernel_state import ip_json, link, link_names, sh
from plugin_env import MARKER_DIR, PREFIX

_counter = [0]


def unique(kind):
    _counter[0] += 1
    return f"{PREFIX}-{kind}{_counter[0]}"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _sweep_stale():
    """Remove leftovers of crashed earlier runs: only prefixes that have a marker file whose
    pid is dead, and only names matching that exact prefix."""
    if not os.path.isdir(MARKER_DIR):
        return
    for pfx in os.listdir(MARKER_DIR):
        if not re.fullmatch(r"mn[0-9a-f]{5}", pfx):
            continue
        try:
            pid = int(open(os.path.join(MARKER_DIR, pfx)).read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if _pid_alive(pid):
            continue
        for ns in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
            if ns.startswith(pfx + "-"):
                sh("ip", "netns", "del", ns, check=False)
        for l in ip_json(None, "link", "show"):
            if l["ifname"].startswith(pfx):
                sh("ip", "link", "del", l["ifname"], check=False)
        os.unlink(os.path.join(MARKER_DIR, pfx))


@pytest.fixture(scope="session")
def run_prefix():
    """The per-run unique prefix; writes the marker, sweeps dead runs, removes marker at end."""
    if os.geteuid() != 0:
        pytest.fail("the macvlan tests need root (network namespaces)")
    _sweep_stale()
    os.makedirs(MARKER_DIR, exist_ok=True)
    marker = os.path.join(MARKER_DIR, PREFIX)
    with open(marker, "w") as f:
        f.write(f"{os.getpid()}\n")
    yield PREFIX
    try:
        os.unlink(marker)
    except OSError:
        pass


class Netns:
    """Creates network namespaces; delete_all() removes every one of them."""

    def __init__(self):
        self.names = []

    def create(self, kind="ns"):
        name = unique(kind)
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def delete(self, name):
        sh("ip", "netns", "del", name, check=False)
        if name in self.names:
            self.names.remove(name)

    def delete_all(self):
        for name in reversed(self.names):
            sh("ip", "netns", "del", name, check=False)
        self.names.clear()


@pytest.fixture
def netns(run_prefix):
    """Factory of network namespaces, all deleted in teardown whatever happened."""
    n = Netns()
    try:
        yield n
    finally:
        n.delete_all()


@pytest.fixture(scope="session")
def bridge(run_prefix):
    """The switch: bridge <prefix>br in the root netns, one per run."""
    br = run_prefix + "br"
    try:
        sh("ip", "link", "add", br, "type", "bridge")
        sh("ip", "link", "set", br, "up")
        yield br
    finally:
        sh("ip", "link", "del", br, check=False)


class Node:
    def __init__(self, ns, veth_root):
        self.ns = ns
        self.veth_root = veth_root
        self.master = "eth1"

    def links(self):
        return link_names(self.ns)


class Topology:
    """Nodes (netns with eth1 on the bridge) and pods (empty netns)."""

    def __init__(self, netns, bridge):
        self.netns = netns
        self.bridge = bridge
        self.nodes = []
        self.veths = []

    def node(self, mtu=None):
        ns = self.netns.create("n")
        num = ns.rsplit("n", 1)[1]
        root_end = f"{PREFIX}v{num}"
        tmp_end = f"{PREFIX}e{num}"
        self.veths.append(root_end)
        sh("ip", "link", "add", root_end, "type", "veth", "peer", "name", tmp_end, "netns", ns)
        sh("ip", "link", "set", root_end, "master", self.bridge, "up")
        sh("ip", "-n", ns, "link", "set", tmp_end, "name", "eth1")
        if mtu:
            sh("ip", "link", "set", root_end, "mtu", mtu)
            sh("ip", "-n", ns, "link", "set", "eth1", "mtu", mtu)
        sh("ip", "-n", ns, "link", "set", "eth1", "up")
        n = Node(ns, root_end)
        self.nodes.append(n)
        return n

    def pod(self):
        return self.netns.create("p")

    def cleanup(self):
        self.netns.delete_all()  # deleting a node netns deletes its veth pair
        for v in self.veths:
            if link(None, v) is not None:
                sh("ip", "link", "del", v, check=False)


@pytest.fixture
def topo(netns, bridge):
    t = Topology(netns, bridge)
    try:
        yield t
    finally:
        t.cleanup()


@pytest.fixture
def node(topo):
    return topo.node()


@pytest.fixture
def pod(topo):
    return topo.pod()
