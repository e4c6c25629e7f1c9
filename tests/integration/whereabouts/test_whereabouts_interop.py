# SPDX-License-Identifier: Apache-2.0
"""whereabouts as the IPAM of a main plugin, in throw-away namespaces: the reference Go macvlan
(Debian's containernetworking-plugins) delegates to our whereabouts by exec, at cniVersion
0.3.1 with Multus's CNI_ARGS, as a NetworkAttachmentDefinition would have it; and the same with
our macvlan when it is built. The address is read back from the kernel with `ip -j`."""
import os

import pytest

from cni_run import run_plugin
from kernel_state import addrs
from paths import BUILD
from whereabouts_helpers import WHEREABOUTS, allocations, multus_args

REF_MACVLAN = "/usr/lib/cni/macvlan"
OUR_MACVLAN = os.path.join(BUILD, "plugins", "macvlan", "macvlan")


@pytest.fixture
def bin_dir(tmp_path):
    if not os.access(WHEREABOUTS, os.X_OK):
        pytest.fail(f"{WHEREABOUTS} not built (ninja -C build plugins/whereabouts/whereabouts)")
    d = tmp_path / "bin"
    d.mkdir()
    os.symlink(WHEREABOUTS, d / "whereabouts")
    return str(d)


def nad_conf(store, version="0.3.1"):
    """The migration network's NAD config (examples/), with a test store_dir."""
    return {"cniVersion": version, "name": "migration-network", "type": "macvlan",
            "master": "eth1", "mode": "bridge",
            "ipam": {"type": "whereabouts", "range": "10.200.0.0/24", "exclude": ["10.200.0.1"],
                     "network_name": "migration", "store_dir": store}}


MAINS = [pytest.param(REF_MACVLAN, id="reference-macvlan"),
         pytest.param(OUR_MACVLAN, id="our-macvlan")]


def run_sandbox(main, command, pod, i, c, bin_dir, node):
    """@command for sandbox @i, with Multus's CNI_ARGS for pod virt-handler-@i."""
    return run_plugin(main, command, pod, "migration0", c, containerid=f"sandbox{i}",
                      args=multus_args(ns="openshift-cnv", pod=f"virt-handler-{i}",
                                       infra=f"sandbox{i}"),
                      cni_path=bin_dir, node=node.ns)


@pytest.mark.parametrize("main", MAINS)
def test_macvlan_with_whereabouts(topo, bin_dir, tmp_path, main):
    if not os.access(main, os.X_OK):
        pytest.skip(f"{main} not built")
    node = topo.node()
    pods = [topo.pod(), topo.pod()]
    store = os.path.join(str(tmp_path), "store")
    c = nad_conf(store)
    got = []
    for i, pod in enumerate(pods):
        rc, res, out, err = run_sandbox(main, "ADD", pod, i, c, bin_dir, node)
        assert rc == 0, f"{out} {err}"
        assert res["cniVersion"] == "0.3.1"
        got.append(res["ips"][0]["address"])
        # the kernel holds what the result says
        assert addrs(pod, "migration0", 4) == {got[-1]}
    assert got == ["10.200.0.2/24", "10.200.0.3/24"]
    recs = allocations(store)
    assert {(k[0], k[1], k[2]): r["podref"] for k, r in recs.items()} == {
        ("migration", "10.200.0.0_24", "10.200.0.2"): "openshift-cnv/virt-handler-0",
        ("migration", "10.200.0.0_24", "10.200.0.3"): "openshift-cnv/virt-handler-1"}
    for i, pod in enumerate(pods):
        rc, res, out, err = run_sandbox(main, "DEL", pod, i, c, bin_dir, node)
        assert rc == 0, f"{out} {err}"
    assert allocations(store) == {}


def test_reference_macvlan_gets_whereabouts_error(topo, bin_dir, tmp_path):
    """An IPAM error reaches the runtime through the main plugin with its code and message.
    (The reference macvlan 1.1.1 leaves its link in the pod when IPAM fails; not ours to test.)"""
    node = topo.node()
    pod = topo.pod()
    c = nad_conf(os.path.join(str(tmp_path), "store"))
    c["ipam"]["range"] = "10.200.0.0/32"
    rc, res, out, err = run_plugin(REF_MACVLAN, "ADD", pod, "migration0", c, containerid="s",
                                   args=multus_args(), cni_path=bin_dir, node=node.ns)
    assert rc != 0 and res["code"] == 7 and "ipam.range" in res["msg"], out
