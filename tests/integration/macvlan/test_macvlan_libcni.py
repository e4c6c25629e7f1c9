# SPDX-License-Identifier: Apache-2.0
"""macvlan driven through libcni itself (tests/libcni, built from Debian's libcni 1.1.2 source)
and interoperating with the reference plugins: host-local and static IPAM, tuning chained after
our macvlan. libcni 1.1.2 knows CNI up to 1.0.0: these run at 1.0.0 and 0.4.0.

libcni keeps its result cache (needed by CHECK/DEL) in a per-test dir, never /var/lib/cni.
"""
import json
import os
import subprocess

import pytest

from cni_run import conf, host_local, hostlocal_allocations
from kernel_state import global_addrs, link, link_names, macvlan_mode, sh
from libcni import libcni_run

LIBCNI_VERSIONS = ["1.0.0", "0.4.0"]


class Libcni:
    def __init__(self, exe, cni, workdir):
        self.exe, self.cni, self.workdir = exe, cni, workdir
        self.cache = os.path.join(workdir, "libcni-cache")

    def __call__(self, verb, conflist, ifname="net1", containerid="ctr-libcni", env=None,
                 pod=None):
        e = {"CNI_PATH": self.cni.cni_path, "LIBCNI_CACHE_DIR": self.cache}
        e.update(env or {})
        return libcni_run(self.exe, self.cni.node.ns, verb, conflist, self.workdir,
                          pod or self.cni.pod, ifname, containerid, e)

    def ok(self, verb, conflist, **kw):
        rc, res, out, err = self(verb, conflist, **kw)
        assert rc == 0, f"libcni {verb} failed: {out} {err}"
        return res


@pytest.fixture
def libcni(libcni_client, cni, tmp_path):
    return Libcni(libcni_client, cni, str(tmp_path))


def conflist(version, *plugins):
    return {"cniVersion": version, "name": "mig-libcni", "plugins": list(plugins)}


def macvlan_plugin(ipam=None, **kw):
    c = conf(None, ipam=ipam, **kw)
    c.pop("name")
    return c


@pytest.mark.parametrize("version", LIBCNI_VERSIONS)
def test_libcni_hostlocal(libcni, cni, tmp_path, version):
    data = os.path.join(str(tmp_path), "hl")
    cl = conflist(version, macvlan_plugin(ipam=host_local(data, "10.60.0.0/24", "fd60::/64",
                                                          routes=[{"dst": "10.61.0.0/16",
                                                                   "gw": "10.60.0.1"}])))
    res = libcni.ok("add", cl)
    assert res["cniVersion"] == version
    got = {ip["address"] for ip in res["ips"]}
    assert global_addrs(cni.pod, "net1") == got and len(got) == 2
    li = link(cni.pod, "net1")
    assert li["linkinfo"]["info_kind"] == "macvlan"
    assert li["address"] == res["interfaces"][0]["mac"]
    libcni.ok("check", cl)
    libcni.ok("del", cl)
    assert link_names(cni.pod) == ["lo"]
    assert hostlocal_allocations(data) == []
    libcni.ok("del", cl)  # idempotent through libcni too


@pytest.mark.parametrize("version", LIBCNI_VERSIONS)
def test_libcni_static(libcni, cni, version):
    ipam = {"type": "static", "addresses": [{"address": "10.62.0.5/24", "gateway": "10.62.0.1"}],
            "routes": [{"dst": "0.0.0.0/0"}]}
    cl = conflist(version, macvlan_plugin(ipam=ipam, mode="vepa"))
    libcni.ok("add", cl)
    assert global_addrs(cni.pod, "net1") == {"10.62.0.5/24"}
    assert macvlan_mode(cni.pod, "net1") == "vepa"
    routes = json.loads(sh("ip", "-n", cni.pod, "-j", "route", "show", "default").stdout)
    assert routes and routes[0]["gateway"] == "10.62.0.1"
    libcni.ok("check", cl)
    libcni.ok("del", cl)
    assert link_names(cni.pod) == ["lo"]


@pytest.mark.parametrize("version", LIBCNI_VERSIONS)
def test_libcni_tuning_chained(libcni, cni, tmp_path, version):
    """The reference tuning after our macvlan: it receives our result as prevResult and changes
    the link; CHECK runs through both; DEL too."""
    tuning = {"type": "tuning", "mtu": 1400, "promisc": True,
              "sysctl": {"net.ipv4.conf.net1.arp_ignore": "1"}}
    cl = conflist(version, macvlan_plugin(ipam=host_local(os.path.join(str(tmp_path), "hl"),
                                                          "10.63.0.0/24")), tuning)
    res = libcni.ok("add", cl)
    li = link(cni.pod, "net1")
    assert li["mtu"] == 1400
    assert li.get("promiscuity", 0) >= 1 or "PROMISC" in li["flags"], li
    v = sh("ip", "netns", "exec", cni.pod, "cat", "/proc/sys/net/ipv4/conf/net1/arp_ignore")
    assert v.stdout.strip() == "1"
    assert res["interfaces"][0]["name"] == "net1"
    assert global_addrs(cni.pod, "net1") == {res["ips"][0]["address"]}
    libcni.ok("check", cl)
    libcni.ok("del", cl)
    assert link_names(cni.pod) == ["lo"]


@pytest.mark.parametrize("version", LIBCNI_VERSIONS)
def test_libcni_tuning_mac_capability(libcni, cni, version):
    """runtimeConfig.mac injected by libcni from a capability (as Multus does) beats CNI_ARGS."""
    mv = macvlan_plugin(capabilities={"mac": True})
    cl = conflist(version, mv)
    res = libcni.ok("add", cl, env={"CAP_ARGS": json.dumps({"mac": "02:cc:00:00:00:09"}),
                                    "CNI_ARGS": "IgnoreUnknown=1;MAC=02:bb:00:00:00:09"})
    assert link(cni.pod, "net1")["address"] == "02:cc:00:00:00:09"
    assert res["interfaces"][0]["mac"] == "02:cc:00:00:00:09"
    libcni.ok("del", cl)


def test_libcni_l2_only(libcni, cni):
    cl = conflist("1.0.0", macvlan_plugin())
    res = libcni.ok("add", cl, ifname="migration0")
    assert not res.get("ips")
    assert link(cni.pod, "migration0")["linkinfo"]["info_kind"] == "macvlan"
    libcni.ok("check", cl, ifname="migration0")
    libcni.ok("del", cl, ifname="migration0")
    assert link_names(cni.pod) == ["lo"]


def test_libcni_check_detects_drift(libcni, cni):
    cl = conflist("1.0.0", macvlan_plugin())
    libcni.ok("add", cl)
    sh("ip", "-n", cni.pod, "link", "set", "net1", "address", "02:de:ad:00:00:01")
    rc, res, out, err = libcni("check", cl)
    assert rc != 0 and isinstance(res, dict) and res.get("code"), out + err


def test_libcni_error_passes_through(libcni, cni):
    before = cni.node.links()
    cl = conflist("1.0.0", macvlan_plugin(master="nosuch0"))
    rc, res, out, err = libcni("add", cl)
    assert rc != 0 and isinstance(res, dict) and res.get("msg"), out + err
    assert link_names(cni.pod) == ["lo"]
    assert cni.node.links() == before


def test_libcni_version(libcni_client, cni):
    r = subprocess.run([libcni_client, "version", "macvlan"], capture_output=True, text=True,
                       env={"CNI_PATH": cni.cni_path, "PATH": os.environ.get("PATH", "")},
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    versions = json.loads(r.stdout)["supportedVersions"]
    assert {"0.3.1", "0.4.0", "1.0.0"} <= set(versions), versions


def test_libcni_validate(libcni, cni):
    cl = conflist("1.0.0", macvlan_plugin(), {"type": "tuning", "mtu": 1400})
    res = libcni.ok("validate", cl)
    assert isinstance(res["capabilities"], list)
