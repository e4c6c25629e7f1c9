# SPDX-License-Identifier: Apache-2.0
"""The demo topology: two pods on two "nodes", each pod with a macvlan (bridge mode) on its
node's eth1; the nodes' eth1 are joined by the run's bridge. The pods ping each other over
their macvlans, by IPv4 and IPv6, with addresses from static and host-local IPAM.
"""
import json
import time

import pytest

from cni_run import Cni, conf, host_local
from fake_ipam import fake_ipam
from kernel_state import global_addrs, link_names, sh
from plugin_env import IS_REFERENCE, VERB_VERSIONS, versions_param


def ping(ns, addr, count=2):
    fam = "-6" if ":" in addr else "-4"
    return sh("ip", "netns", "exec", ns, "ping", fam, "-c", str(count), "-i", "0.2", "-W", "5",
              addr, check=False, timeout=30)


def settle_dad(ns, ifname, bound=10.0):
    """The reference 1.1.1 returns with IPv6 addresses still tentative; wait for them then
    (ours must already be settled on return: checked here, and in test_add_returns_after_dad)."""
    deadline = time.monotonic() + bound
    while True:
        out = json.loads(sh("ip", "-n", ns, "-j", "-6", "addr", "show", "dev", ifname).stdout)
        tentative = [a for a in out[0]["addr_info"]
                     if a.get("tentative") and a.get("scope") == "global"]
        if not tentative:
            return
        assert IS_REFERENCE, f"ADD returned with tentative addresses: {tentative}"
        assert time.monotonic() < deadline, f"DAD never finished: {tentative}"
        time.sleep(0.1)


@pytest.fixture
def two_pods(macvlan_bin, topo, cni_bin_dir):
    a = Cni(macvlan_bin, topo.node(), topo.pod(), cni_bin_dir)
    b = Cni(macvlan_bin, topo.node(), topo.pod(), cni_bin_dir)
    return a, b


def ipam_for(version, addr, gw=None):
    addr_list = [addr] if isinstance(addr, str) else addr
    if version == "1.1.0":  # the reference static IPAM knows no 1.1.0
        return fake_ipam(ips=addr_list)
    return {"type": "static", "addresses": [{"address": a} for a in addr_list]}


@pytest.mark.parametrize("version", versions_param(VERB_VERSIONS))
def test_two_pods_ping(two_pods, version):
    a, b = two_pods
    ca = conf(version, ipam=ipam_for(version, ["10.77.0.1/24", "fd77::1/64"]))
    cb = conf(version, ipam=ipam_for(version, ["10.77.0.2/24", "fd77::2/64"]))
    a.ok("ADD", ca, ifname="migration0", containerid="ctr-a")
    b.ok("ADD", cb, ifname="migration0", containerid="ctr-b")
    assert global_addrs(a.pod, "migration0") == {"10.77.0.1/24", "fd77::1/64"}
    assert global_addrs(b.pod, "migration0") == {"10.77.0.2/24", "fd77::2/64"}
    settle_dad(a.pod, "migration0")
    settle_dad(b.pod, "migration0")
    for src, dst in ((a.pod, "10.77.0.2"), (b.pod, "10.77.0.1"), (a.pod, "fd77::2"),
                     (b.pod, "fd77::1")):
        r = ping(src, dst)
        assert r.returncode == 0, f"ping {dst} from {src}: {r.stdout} {r.stderr}"
    a.ok("DEL", ca, ifname="migration0", containerid="ctr-a")
    b.ok("DEL", cb, ifname="migration0", containerid="ctr-b")
    assert link_names(a.pod) == ["lo"] and link_names(b.pod) == ["lo"]
    r = ping(a.pod, "10.77.0.2", count=1)
    assert r.returncode != 0


def test_two_pods_same_node_bridge_mode(macvlan_bin, topo, cni_bin_dir, tmp_path):
    """Bridge mode also switches between two macvlans of one master (host-local addresses)."""
    node = topo.node()
    a = Cni(macvlan_bin, node, topo.pod(), cni_bin_dir)
    b = Cni(macvlan_bin, node, topo.pod(), cni_bin_dir)
    c = conf("1.0.0", ipam=host_local(str(tmp_path), "10.78.0.0/24"))
    ra = a.ok("ADD", c, containerid="ctr-a")
    rb = b.ok("ADD", c, containerid="ctr-b")
    ipa = ra["ips"][0]["address"].split("/")[0]
    ipb = rb["ips"][0]["address"].split("/")[0]
    assert ipa != ipb
    r = ping(a.pod, ipb)
    assert r.returncode == 0, r.stdout + r.stderr
    r = ping(b.pod, ipa)
    assert r.returncode == 0, r.stdout + r.stderr


def test_private_mode_isolates_same_node(macvlan_bin, topo, cni_bin_dir):
    """Counter-check that the ping tests prove something: private mode on one master does not
    forward between its macvlans."""
    node = topo.node()
    a = Cni(macvlan_bin, node, topo.pod(), cni_bin_dir)
    b = Cni(macvlan_bin, node, topo.pod(), cni_bin_dir)
    a.ok("ADD", conf("1.0.0", mode="private",
                     ipam={"type": "static", "addresses": [{"address": "10.79.0.1/24"}]}))
    b.ok("ADD", conf("1.0.0", mode="private",
                     ipam={"type": "static", "addresses": [{"address": "10.79.0.2/24"}]}))
    r = ping(a.pod, "10.79.0.2", count=1)
    assert r.returncode != 0, "private-mode macvlans on one master reached each other"
