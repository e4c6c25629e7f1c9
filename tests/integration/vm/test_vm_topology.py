# SPDX-License-Identifier: Apache-2.0
"""The VM tests' two-node cluster is what it claims (read back from the kernel, not from the
fixture): migration0 in each virt-handler pod is a bridge-mode macvlan on the node's eth1 with
an address of the NAD's whereabouts range, the pod network's eth0 holds the default route,
each launcher namespace holds only lo and its QEMU runs there, and the pod network is silent
while nobody sends (so its byte counters witness where a migration went).
"""
import ipaddress
import json
import os
import subprocess

from vm.topology import vm_cluster  # noqa: F401 (the fixture)


def ip_j(ns, *args):
    return json.loads(subprocess.run(["ip", "-n", ns, "-j", "-d", *args], check=True,
                                     capture_output=True, text=True).stdout)


def test_vm_cluster_topology(vm_cluster):
    c = vm_cluster
    rng = ipaddress.ip_network(c.config["ipam"]["range"])
    for n in "ab":
        link = ip_j(c.handler[n], "link", "show", "migration0")[0]
        assert link["linkinfo"]["info_kind"] == "macvlan"
        assert link["linkinfo"]["info_data"]["mode"] == "bridge"
        addrs = [a["local"] for a in ip_j(c.handler[n], "-4", "addr", "show", "migration0")[0]
                 ["addr_info"]]
        assert addrs == [c.mig_addr[n]] and ipaddress.ip_address(addrs[0]) in rng
        # the macvlan hangs off the node's eth1: same link-netns master
        eth1 = ip_j(c.nodes[n]["node"], "link", "show", "eth1")[0]
        assert link["link_index"] == eth1["ifindex"]
        default = [r for r in ip_j(c.handler[n], "-4", "route", "show") if r["dst"] == "default"]
        assert [r["dev"] for r in default] == ["eth0"]
        assert [l["ifname"] for l in ip_j(c.launcher[n], "link", "show")] == ["lo"]
    # migration0 carries traffic between the nodes
    subprocess.run(["ip", "netns", "exec", c.handler["a"], "ping", "-c", "1", "-W", "5",
                    "-I", "migration0", c.mig_addr["b"]], check=True, capture_output=True)


def test_vm_cluster_guest_in_launcher(vm_cluster):
    c = vm_cluster
    before = c.pod_network_counters()
    g = c.guest("a", "probe", mem="16M").start()
    g.wait_heartbeat(3)
    named = subprocess.run(["ip", "netns", "identify", str(g.proc.pid)], capture_output=True,
                           text=True).stdout.split()
    assert named == [c.launcher["a"]]
    # nothing spoke on the pod network meanwhile (no IPv6 chatter, no ARP)
    assert c.pod_network_counters() == before
    # ... and the witness does see traffic that takes the pod network
    subprocess.run(["ip", "netns", "exec", c.handler["a"], "ping", "-c", "1", "-W", "5",
                    c.nodes["b"]["pod_ip"]], check=True, capture_output=True)
    after = c.pod_network_counters()
    for key in (f"{c.handler['a']}/eth0", f"{c.handler['b']}/eth0"):
        assert after[key][0] > before[key][0] and after[key][1] > before[key][1], (key, after)


def test_vm_cluster_teardown_leaves_nothing():
    from vm.topology import VMCluster

    c = VMCluster().setup()
    g = c.guest("b", "gone", mem="8M").start()
    g.wait_heartbeat(1)
    names = list(c.netns)
    links = list(c.links)
    store = os.path.join(c.tmp, "whereabouts")
    assert os.path.isdir(store)
    c.teardown()
    assert not g.alive()
    ns_now = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [n for n in names if n in ns_now.split()]
    links_now = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not [l for l in links if f" {l}:" in links_now or f" {l}@" in links_now]
    assert not os.path.exists(c.tmp)
