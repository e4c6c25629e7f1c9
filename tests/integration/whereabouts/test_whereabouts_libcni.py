# SPDX-License-Identifier: Apache-2.0
"""Our whereabouts through libcni itself (tests/libcni, Debian's libcni 1.1.2), as Multus runs
a NetworkAttachmentDefinition: under the reference Go macvlan (Debian's
containernetworking-plugins) and under our macvlan, at cniVersion 0.3.1 with Multus's CNI_ARGS
(IgnoreUnknown=true;K8S_POD_NAMESPACE;K8S_POD_NAME;K8S_POD_INFRA_CONTAINER_ID;K8S_POD_UID),
which libcni passes from its RuntimeConf.Args (the client takes them from $CNI_ARGS).

libcni refuses CHECK below 0.4.0 by itself (the plugins are never called), so CHECK is also run
at 1.0.0, the newest version libcni 1.1.2 knows. The kernel state is read back with `ip -j`,
the store with whereabouts_helpers.allocations; after DEL both are empty.
"""
import os
import shutil
import tempfile

import pytest

from kernel_state import addrs, link, link_names, sh
from libcni import libcni_run
from paths import BUILD
from plugin_env import PREFIX
from whereabouts_helpers import WHEREABOUTS, allocations, multus_args

REF_MACVLAN = "/usr/lib/cni/macvlan"
OUR_MACVLAN = os.path.join(BUILD, "plugins", "macvlan", "macvlan")
MAINS = [pytest.param(REF_MACVLAN, id="reference-macvlan"),
         pytest.param(OUR_MACVLAN, id="our-macvlan")]


@pytest.fixture
def bin_dir_for():
    """bin_dir_for(main): a CNI_PATH holding @main as "macvlan" and our whereabouts."""
    dirs = []

    def make(main):
        for b in (main, WHEREABOUTS):
            if not os.access(b, os.X_OK):
                pytest.fail(f"{b} not built (ninja -C build plugins/whereabouts/whereabouts "
                            "plugins/macvlan/macvlan)")
        d = tempfile.mkdtemp(prefix=PREFIX + "-wblbin-")
        dirs.append(d)
        os.symlink(main, os.path.join(d, "macvlan"))
        os.symlink(WHEREABOUTS, os.path.join(d, "whereabouts"))
        return d

    try:
        yield make
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def nad_conflist(version, store):
    """The migration network's NetworkAttachmentDefinition, as a conflist."""
    return {"cniVersion": version, "name": "migration-network", "plugins": [
        {"type": "macvlan", "master": "eth1", "mode": "bridge",
         "ipam": {"type": "whereabouts", "range": "10.220.0.0/24", "exclude": ["10.220.0.1"],
                  "ipRanges": [{"range": "fd22::/64"}],
                  "network_name": "migration", "store_dir": store}}]}


class Runtime:
    """libcni-client run in the node's netns, as a runtime on that node would."""

    def __init__(self, exe, node, bin_dir, workdir):
        self.exe, self.node, self.bin_dir, self.workdir = exe, node, bin_dir, workdir

    def __call__(self, verb, conflist, pod, containerid, args, ifname="migration0"):
        rc, parsed, out, err = libcni_run(
            self.exe, self.node, verb, conflist, self.workdir, pod, ifname, containerid,
            {"CNI_PATH": self.bin_dir, "LIBCNI_CACHE_DIR": os.path.join(self.workdir, "cache"),
             "CNI_ARGS": args})
        return rc, parsed, out + err

    def ok(self, verb, *a, **kw):
        rc, res, text = self(verb, *a, **kw)
        assert rc == 0, f"libcni {verb} failed: {text}"
        return res


@pytest.mark.parametrize("version", ["0.3.1", "1.0.0"])
@pytest.mark.parametrize("main", MAINS)
def test_whereabouts_through_libcni(libcni_client, topo, bin_dir_for,
                                    tmp_path, main, version):
    node = topo.node()
    pods = [topo.pod(), topo.pod()]
    store = os.path.join(str(tmp_path), "store")
    rt = Runtime(libcni_client, node.ns, bin_dir_for(main), str(tmp_path))
    cl = nad_conflist(version, store)
    sandboxes = [(pod, f"sandbox{i}", multus_args(ns="openshift-cnv", pod=f"virt-handler-{i}",
                                                  infra=f"sandbox{i}", uid=f"uid-{i}"))
                 for i, pod in enumerate(pods)]

    for i, (pod, sandbox, args) in enumerate(sandboxes):
        res = rt.ok("add", cl, pod, sandbox, args)
        assert res["cniVersion"] == version
        want = {f"10.220.0.{i + 2}/24", f"fd22::{i + 1}/64"}
        assert {ip["address"] for ip in res["ips"]} == want
        if version == "0.3.1":
            assert sorted(ip["version"] for ip in res["ips"]) == ["4", "6"]
        # the kernel holds what the result says, on the main plugin's macvlan
        assert addrs(pod, "migration0", 4) | addrs(pod, "migration0", 6) >= want
        li = link(pod, "migration0")
        assert li["linkinfo"]["info_kind"] == "macvlan"
        assert li["address"] == res["interfaces"][0]["mac"]

    # the store: the pod identity from Multus's K8S_* args, the netns libcni passed
    recs = allocations(store)
    assert {(k[1], k[2]): (r["podref"], r["id"], r["ifname"], r.get("netns"))
            for k, r in recs.items()} == {
        (pool, addr): (f"openshift-cnv/virt-handler-{i}", f"sandbox{i}", "migration0",
                       f"/run/netns/{pods[i]}")
        for i in range(2)
        for pool, addr in (("10.220.0.0_24", f"10.220.0.{i + 2}"), ("fd22::_64", f"fd22::{i + 1}"))}

    for pod, sandbox, args in sandboxes:
        if version == "0.3.1":
            rc, res, text = rt("check", cl, pod, sandbox, args)
            assert rc != 0 and "does not support the CHECK command" in text, text
        else:
            rt.ok("check", cl, pod, sandbox, args)

    for pod, sandbox, args in sandboxes:
        rt.ok("del", cl, pod, sandbox, args)
        assert link_names(pod) == ["lo"]
    assert allocations(store) == {}
    # a second DEL (a runtime retrying) succeeds and changes nothing
    rt.ok("del", cl, pods[0], "sandbox0", sandboxes[0][2])
    assert allocations(store) == {}


@pytest.mark.parametrize("main", MAINS)
def test_recreated_sandbox_keeps_address_through_libcni(libcni_client, topo, bin_dir_for,
                                                        tmp_path, main):
    """The pod's sandbox died (its link is gone) and Multus runs ADD for the same pod in a new
    sandbox before the old sandbox's DEL: whereabouts keys the pod, so the address stays, and
    the late DEL of the old sandbox does not take it away from the new one."""
    node = topo.node()
    old_pod, new_pod = topo.pod(), topo.pod()
    store = os.path.join(str(tmp_path), "store")
    rt = Runtime(libcni_client, node.ns, bin_dir_for(main), str(tmp_path))
    cl = nad_conflist("0.3.1", store)
    args_old = multus_args(ns="openshift-cnv", pod="virt-handler-x", infra="old", uid="u1")
    args_new = multus_args(ns="openshift-cnv", pod="virt-handler-x", infra="new", uid="u1")
    a = rt.ok("add", cl, old_pod, "old", args_old)
    sh("ip", "-n", old_pod, "link", "del", "migration0")
    b = rt.ok("add", cl, new_pod, "new", args_new)
    assert [ip["address"] for ip in a["ips"]] == [ip["address"] for ip in b["ips"]]
    rt.ok("del", cl, old_pod, "old", args_old)
    assert {r["id"] for r in allocations(store).values()} == {"new"}
    assert addrs(new_pod, "migration0", 4) == {"10.220.0.2/24"}
    rt.ok("del", cl, new_pod, "new", args_new)
    assert allocations(store) == {}
