# SPDX-License-Identifier: Apache-2.0
"""macvlan: every verb at every version, result forms, modes, link attributes, IPAM.

Each test gets a fresh node (netns with eth1, a veth end on the run's bridge) and pod netns
(conftest.py); the plugin runs inside the node netns; kernel state is read back with
`ip -j -d` in the pod netns, never taken from the plugin's output.
"""
import json
import os

import pytest

from cni_run import (assert_cni_error, assert_nothing_left, conf, host_local, hostlocal_allocations,
                     new_containerid)
from fake_ipam import fake_ipam, fake_ipam_log, fake_ipam_state
from kernel_state import global_addrs, link, link_names, macvlan_mode, routes, sh
from plugin_env import ALL_VERSIONS, VERB_VERSIONS, versions_param


def kernel_link(cni, ifname="net1"):
    li = link(cni.pod, ifname)
    assert li is not None, f"{ifname} not in pod netns: {link_names(cni.pod)}"
    assert li["linkinfo"]["info_kind"] == "macvlan", li
    return li


def master_index(cni):
    return link(cni.node.ns, "eth1")["ifindex"]


def check_result_shape(res, version, ifname="net1", pod=None, with_ip=True):
    """The result is in the config's version and has that version's form."""
    assert res["cniVersion"] == version, res
    if version in ("0.1.0", "0.2.0"):
        assert "interfaces" not in res and "ips" not in res, res
        assert "ip4" in res or "ip6" in res, res
        return
    ifs = res["interfaces"]
    assert ifs[0]["name"] == ifname, res
    assert ifs[0]["sandbox"] == f"/run/netns/{pod}", res
    assert len(ifs[0]["mac"]) == 17, res
    if with_ip:
        assert res["ips"], res
        for ip in res["ips"]:
            assert ifs[ip["interface"]]["name"] == ifname, res
            if version.startswith("0."):
                assert ip["version"] in ("4", "6"), res
            else:
                assert "version" not in ip, res
    else:
        assert not res.get("ips"), res


# ---------------------------------------------------------------------------------------------
# ADD / CHECK / DEL at 0.3.1, 0.4.0, 1.0.0, 1.1.0
# ---------------------------------------------------------------------------------------------
# The reference host-local 1.1.1 refuses cniVersion 1.1.0 ("incompatible CNI versions"), so
# ADD with IPAM at 1.1.0 is covered with the scripted IPAM in test_add_check_del_110_ipam.
@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_add_check_del_hostlocal(cni, tmp_path, version):
    c = conf(version, ipam=host_local(str(tmp_path), "10.55.0.0/24",
                                      routes=[{"dst": "10.66.0.0/16", "gw": "10.55.0.1"}]))
    res = cni.ok("ADD", c)
    check_result_shape(res, version, pod=cni.pod)
    li = kernel_link(cni)
    assert li["linkinfo"]["info_data"]["mode"] == "bridge"
    assert li["link_index"] == master_index(cni)
    assert "UP" in li["flags"]
    assert li["address"] == res["interfaces"][0]["mac"]
    ip = res["ips"][0]["address"]
    assert ip.startswith("10.55.0.") and ip.endswith("/24")
    assert global_addrs(cni.pod, "net1") == {ip}
    assert any(r["dst"] == "10.66.0.0/16" and r.get("dev") == "net1" for r in routes(cni.pod)), \
        routes(cni.pod)
    assert len(hostlocal_allocations(str(tmp_path))) == 1

    if version != "0.3.1":
        rc, out, raw, err = cni("CHECK", dict(c, prevResult=res))
        assert rc == 0, f"{raw} {err}"
        assert raw.strip() == ""

    rc, _, raw, err = cni("DEL", c)
    assert rc == 0, f"{raw} {err}"
    assert link_names(cni.pod) == ["lo"]
    assert hostlocal_allocations(str(tmp_path)) == []


@pytest.mark.parametrize("version", versions_param(VERB_VERSIONS))
def test_add_check_del_l2_only(cni, version):
    c = conf(version)
    res = cni.ok("ADD", c)
    check_result_shape(res, version, pod=cni.pod, with_ip=False)
    li = kernel_link(cni)
    assert "UP" in li["flags"]
    assert global_addrs(cni.pod, "net1") == set()
    if version != "0.3.1":
        rc, _, raw, err = cni("CHECK", dict(c, prevResult=res))
        assert rc == 0, f"{raw} {err}"
    rc, _, raw, err = cni("DEL", c)
    assert rc == 0, f"{raw} {err}"
    assert link_names(cni.pod) == ["lo"]


@pytest.mark.ours
def test_add_check_del_110_ipam(cni, tmp_path):
    ipam = fake_ipam(str(tmp_path), ips=["10.56.0.7/24", "fd56::7/64"],
                     routes=[{"dst": "10.67.0.0/16", "gw": "10.56.0.1"}])
    c = conf("1.1.0", ipam=ipam)
    res = cni.ok("ADD", c)
    check_result_shape(res, "1.1.0", pod=cni.pod)
    assert global_addrs(cni.pod, "net1") == {"10.56.0.7/24", "fd56::7/64"}
    assert [r for r in routes(cni.pod) if r["dst"] == "10.67.0.0/16"][0]["gateway"] == "10.56.0.1"
    rc, _, raw, err = cni("CHECK", dict(c, prevResult=res))
    assert rc == 0, raw + err
    cni.ok("DEL", c)
    assert link_names(cni.pod) == ["lo"]
    assert fake_ipam_state(str(tmp_path)) == []
    assert [l.split()[0] for l in fake_ipam_log(str(tmp_path))] == ["ADD", "CHECK", "DEL"]


@pytest.mark.ours
def test_check_gatewayless_route(cni, tmp_path):
    """The reference 1.1.1 CHECK fails on a route without gw ("Expected Route ... GW:<nil> not
    found"): a reference bug; our CHECK verifies routes, which exist here."""
    c = conf("1.0.0", ipam=host_local(str(tmp_path), routes=[{"dst": "10.66.0.0/16"}]))
    res = cni.ok("ADD", c)
    rc, _, raw, err = cni("CHECK", dict(c, prevResult=res))
    assert rc == 0, raw + err


@pytest.mark.parametrize("version", versions_param(VERB_VERSIONS))
def test_l2_only_empty_ipam(cni, version):
    res = cni.ok("ADD", conf(version, ipam={}))
    check_result_shape(res, version, pod=cni.pod, with_ip=False)
    kernel_link(cni)
    cni.ok("DEL", conf(version, ipam={}))
    assert link_names(cni.pod) == ["lo"]


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "0.3.0"])
def test_add_del_old_versions(cni, tmp_path, version):
    c = conf(version, ipam=host_local(str(tmp_path), "10.55.0.0/24"))
    res = cni.ok("ADD", c)
    check_result_shape(res, version, pod=cni.pod)
    kernel_link(cni)
    if version in ("0.1.0", "0.2.0"):
        ip = res["ip4"]["ip"]
    else:
        ip = res["ips"][0]["address"]
    assert global_addrs(cni.pod, "net1") == {ip}
    cni.ok("DEL", c)
    assert link_names(cni.pod) == ["lo"]


def test_missing_cniversion_means_010(cni, tmp_path):
    c = conf(None, ipam=host_local(str(tmp_path), "10.55.0.0/24"))
    res = cni.ok("ADD", c)
    assert res["cniVersion"] == "0.1.0", res
    assert "ip4" in res and "ips" not in res, res
    cni.ok("DEL", c)


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0"])
def test_conversion_ip4_ip6(cni, tmp_path, version):
    c = conf(version, ipam=host_local(str(tmp_path), "10.55.0.0/24", "fd55::/64",
                                      routes=[{"dst": "10.66.0.0/16"}, {"dst": "fd66::/64"}]))
    res = cni.ok("ADD", c)
    assert res["cniVersion"] == version
    assert res["ip4"]["ip"].startswith("10.55.0."), res
    assert res["ip6"]["ip"].startswith("fd55::"), res
    assert {"dst": "10.66.0.0/16"} in [dict(dst=r["dst"]) for r in res["ip4"].get("routes", [])]
    assert global_addrs(cni.pod, "net1") == {res["ip4"]["ip"], res["ip6"]["ip"]}
    cni.ok("DEL", c)


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0"])
def test_conversion_no_ip_is_error(cni, version):
    """A result without IP has no 0.1.0/0.2.0 form: a clear error, and nothing left."""
    rc, res, out, err = cni("ADD", conf(version))
    assert_cni_error(rc, res, out, msg_re=r"ip|convert|version")


# The reference 1.1.1 creates the link, then fails converting the result and leaves the link
# in the pod netns; ours: nothing left behind (fail before creating, or unwind).
@pytest.mark.ours
@pytest.mark.parametrize("version", ["0.1.0", "0.2.0"])
def test_conversion_no_ip_leaves_nothing(cni, version):
    before = cni.node.links()
    rc, res, out, err = cni("ADD", conf(version))
    assert rc != 0
    assert_nothing_left(cni.node, cni.pod, before)


# ---------------------------------------------------------------------------------------------
# VERSION, STATUS, GC
# ---------------------------------------------------------------------------------------------
@pytest.mark.ours
def test_version_ours(cni):
    rc, res, out, err = cni("VERSION", {"cniVersion": "1.1.0"}, pod=None, ifname=None,
                            containerid=None)
    assert rc == 0, out + err
    assert res == {"cniVersion": "1.1.0", "supportedVersions": ALL_VERSIONS}, res


@pytest.mark.parametrize("version", VERB_VERSIONS)
def test_version_any_conf_version(cni, version):
    """VERSION works whatever cniVersion stdin carries, and lists every version the reference
    knows (the reference answers 1.0.0 and lacks 1.1.0; ours answers 1.1.0: see
    test_version_ours)."""
    rc, res, out, err = cni("VERSION", {"cniVersion": version}, pod=None, ifname=None,
                            containerid=None)
    assert rc == 0, out + err
    assert set(ALL_VERSIONS[:-1]) <= set(res["supportedVersions"]), res


def status(cni, c):
    return cni("STATUS", c, pod=None, ifname=None, containerid=None)


@pytest.mark.ours
def test_status_ok(cni, tmp_path):
    rc, res, out, err = status(cni, conf("1.1.0", ipam=fake_ipam(str(tmp_path))))
    assert rc == 0, out + err
    assert out.strip() == ""
    assert fake_ipam_log(str(tmp_path)) == ["STATUS  "]


@pytest.mark.ours
def test_status_missing_master_is_50(cni, tmp_path):
    rc, res, out, err = status(cni, conf("1.1.0", master="nosuch0",
                                         ipam=fake_ipam(str(tmp_path))))
    assert_cni_error(rc, res, out, code=50, conf_version="1.1.0")


@pytest.mark.ours
def test_status_l2_only(cni):
    rc, res, out, err = status(cni, conf("1.1.0"))
    assert rc == 0, out + err


@pytest.mark.ours
def test_status_ipam_error_passed_through(cni, tmp_path):
    ipam = fake_ipam(str(tmp_path), fail={"STATUS": {"code": 51, "msg": "store unreachable"}})
    rc, res, out, err = status(cni, conf("1.1.0", ipam=ipam))
    assert_cni_error(rc, res, out, code=51, msg_re="store unreachable")


@pytest.mark.ours
def test_status_passes_hostlocal_error(cni, tmp_path):
    """The reference host-local 1.1.1 refuses STATUS (it needs a container ID): its error comes
    back with its own code (3), as our delegation rule says."""
    rc, res, out, err = status(cni, conf("1.1.0", ipam=host_local(str(tmp_path))))
    assert_cni_error(rc, res, out)
    assert res["code"] != 50


@pytest.mark.ours
def test_gc_delegates_to_ipam(cni, tmp_path):
    c = conf("1.1.0", ipam=fake_ipam(str(tmp_path), ips=["10.56.0.7/24"]))
    cni.ok("ADD", c, containerid="ctr-keep")
    cni.ok("ADD", c, containerid="ctr-stale", ifname="net2")
    gc = dict(c)
    gc["cni.dev/valid-attachments"] = [{"containerID": "ctr-keep", "ifname": "net1"}]
    rc, res, out, err = cni("GC", gc, pod=None, ifname=None, containerid=None)
    assert rc == 0, out + err
    assert fake_ipam_state(str(tmp_path)) == ["ctr-keep-net1"]
    assert "GC" in [l.split()[0] for l in fake_ipam_log(str(tmp_path))]
    # GC never touches links
    assert link_names(cni.pod) == ["lo", "net1", "net2"]


@pytest.mark.ours
def test_gc_legacy_attachments_key(cni, tmp_path):
    c = conf("1.1.0", ipam=fake_ipam(str(tmp_path)))
    gc = dict(c)
    gc["cni.dev/attachments"] = [{"containerID": "ctr-keep", "ifname": "net1"}]
    rc, res, out, err = cni("GC", gc, pod=None, ifname=None, containerid=None)
    assert rc == 0, out + err


@pytest.mark.ours
def test_gc_ipam_error_passed_through(cni, tmp_path):
    ipam = fake_ipam(str(tmp_path), fail={"GC": {"code": 11, "msg": "try later"}})
    gc = conf("1.1.0", ipam=ipam)
    gc["cni.dev/valid-attachments"] = []
    rc, res, out, err = cni("GC", gc, pod=None, ifname=None, containerid=None)
    assert_cni_error(rc, res, out, code=11)


@pytest.mark.ours
def test_gc_l2_only(cni):
    gc = conf("1.1.0")
    gc["cni.dev/valid-attachments"] = []
    rc, res, out, err = cni("GC", gc, pod=None, ifname=None, containerid=None)
    assert rc == 0, out + err


# ---------------------------------------------------------------------------------------------
# modes, mtu, mac, bcqueuelen
# ---------------------------------------------------------------------------------------------
# the reference macvlan 1.1.1 knows no "source" mode (unknown mode, error); ours supports it
@pytest.mark.parametrize("mode", ["bridge", "private", "vepa", "passthru",
                                  pytest.param("source", marks=pytest.mark.ours)])
def test_modes(cni, mode):
    c = conf("1.0.0", mode=mode)
    cni.ok("ADD", c)
    assert macvlan_mode(cni.pod, "net1") == mode
    cni.ok("DEL", c)
    assert link_names(cni.pod) == ["lo"]


def test_default_mode_is_bridge(cni):
    c = conf("1.0.0", mode=None)
    cni.ok("ADD", c)
    assert macvlan_mode(cni.pod, "net1") == "bridge"


def test_mtu(cni):
    cni.ok("ADD", conf("1.0.0", mtu=1280))
    assert kernel_link(cni)["mtu"] == 1280


def test_mtu_zero_is_kernel_choice(cni):
    cni.ok("ADD", conf("1.0.0", mtu=0))
    assert kernel_link(cni)["mtu"] == link(cni.node.ns, "eth1")["mtu"]


def test_mtu_above_master_is_error(cni):
    before = cni.node.links()
    rc, res, out, err = cni("ADD", conf("1.0.0", mtu=9000))
    assert_cni_error(rc, res, out, msg_re="mtu")
    assert_nothing_left(cni.node, cni.pod, before)


MAC_CONF, MAC_ARGS, MAC_RT = "02:aa:00:00:00:01", "02:bb:00:00:00:02", "02:cc:00:00:00:03"


@pytest.mark.ours  # the reference 1.1.1 has no config "mac" key
def test_mac_from_config(cni):
    res = cni.ok("ADD", conf("1.0.0", mac=MAC_CONF))
    assert kernel_link(cni)["address"] == MAC_CONF
    assert res["interfaces"][0]["mac"] == MAC_CONF


@pytest.mark.ours  # config "mac" is ours
def test_mac_cni_args_beats_config(cni):
    cni.ok("ADD", conf("1.0.0", mac=MAC_CONF), args=f"IgnoreUnknown=1;MAC={MAC_ARGS}")
    assert kernel_link(cni)["address"] == MAC_ARGS


def test_mac_cni_args(cni):
    cni.ok("ADD", conf("1.0.0"), args=f"IgnoreUnknown=1;MAC={MAC_ARGS}")
    assert kernel_link(cni)["address"] == MAC_ARGS


def test_mac_runtime_config_beats_args(cni):
    c = conf("1.0.0", runtimeConfig={"mac": MAC_RT})
    res = cni.ok("ADD", c, args=f"IgnoreUnknown=1;MAC={MAC_ARGS}")
    assert kernel_link(cni)["address"] == MAC_RT
    assert res["interfaces"][0]["mac"] == MAC_RT


@pytest.mark.ours
def test_mac_runtime_config_beats_all(cni):
    c = conf("1.0.0", mac=MAC_CONF, runtimeConfig={"mac": MAC_RT})
    cni.ok("ADD", c, args=f"IgnoreUnknown=1;MAC={MAC_ARGS}")
    assert kernel_link(cni)["address"] == MAC_RT


@pytest.mark.ours
def test_cni_args_last_key_wins(cni):
    cni.ok("ADD", conf("1.0.0"), args=f"IgnoreUnknown=1;MAC={MAC_CONF};MAC={MAC_ARGS}")
    assert kernel_link(cni)["address"] == MAC_ARGS


@pytest.mark.ours  # bcqueuelen is not in the reference 1.1.1
def test_bcqueuelen(cni):
    cni.ok("ADD", conf("1.0.0", bcqueuelen=123))
    assert kernel_link(cni)["linkinfo"]["info_data"].get("bcqueuelen") == 123


# ---------------------------------------------------------------------------------------------
# IPAM: host-local and static, IPv4 + IPv6, routes
# ---------------------------------------------------------------------------------------------
def test_hostlocal_dual_stack(cni, tmp_path):
    c = conf("1.0.0", ipam=host_local(str(tmp_path), "10.55.0.0/24", "fd55::/64",
                                      routes=[{"dst": "10.66.0.0/16", "gw": "10.55.0.254"},
                                              {"dst": "fd66::/64", "gw": "fd55::fe"}]))
    res = cni.ok("ADD", c)
    got = {ip["address"] for ip in res["ips"]}
    assert len(got) == 2
    assert global_addrs(cni.pod, "net1") == got
    r4 = [r for r in routes(cni.pod, 4) if r["dst"] == "10.66.0.0/16"]
    assert r4 and r4[0]["gateway"] == "10.55.0.254" and r4[0]["dev"] == "net1", routes(cni.pod)
    r6 = [r for r in routes(cni.pod, 6) if r["dst"] == "fd66::/64"]
    assert r6 and r6[0]["gateway"] == "fd55::fe", routes(cni.pod, 6)
    rc, _, raw, err = cni("CHECK", dict(c, prevResult=res))
    assert rc == 0, raw + err
    cni.ok("DEL", c)
    assert hostlocal_allocations(str(tmp_path)) == []


# The reference 1.1.1 returns while IPv6 addresses are still tentative (no DAD wait for these
# results); ours: ADD waits for DAD (bounded), so the addresses are usable on return.
@pytest.mark.ours
def test_add_returns_after_dad(cni, tmp_path):
    c = conf("1.0.0", ipam=host_local(str(tmp_path), None, "fd55::/64"))
    cni.ok("ADD", c)
    out = json.loads(sh("ip", "-n", cni.pod, "-j", "-6", "addr", "show", "dev", "net1").stdout)
    assert out[0]["addr_info"], out
    for a in out[0]["addr_info"]:
        if a.get("scope") == "global":
            assert not a.get("tentative"), a


@pytest.mark.ours
def test_dad_failure_is_error(cni, topo, tmp_path):
    """A duplicate IPv6 address on the segment fails DAD: ADD errors and leaves nothing."""
    other = topo.pod()
    sh("ip", "-n", cni.node.ns, "link", "add", "dup0", "link", "eth1", "type", "macvlan",
       "mode", "bridge")
    sh("ip", "-n", cni.node.ns, "link", "set", "dup0", "netns", other)
    sh("ip", "-n", other, "addr", "add", "fd57::9/64", "dev", "dup0", "nodad")
    sh("ip", "-n", other, "link", "set", "dup0", "up")
    before = cni.node.links()
    ipam = {"type": "static", "addresses": [{"address": "fd57::9/64"}]}
    rc, res, out, err = cni("ADD", conf("1.0.0", ipam=ipam))
    assert_cni_error(rc, res, out, msg_re="dad|duplicate")
    assert_nothing_left(cni.node, cni.pod, before)


def test_static_ipam(cni):
    ipam = {"type": "static",
            "addresses": [{"address": "10.77.1.5/24", "gateway": "10.77.1.1"},
                          {"address": "fd77:1::5/64"}],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "fd88::/64", "gw": "fd77:1::1"}]}
    c = conf("1.0.0", ipam=ipam)
    res = cni.ok("ADD", c)
    assert global_addrs(cni.pod, "net1") == {"10.77.1.5/24", "fd77:1::5/64"}
    default = [r for r in routes(cni.pod, 4) if r["dst"] == "default"]
    assert default and default[0]["gateway"] == "10.77.1.1", routes(cni.pod)
    r6 = [r for r in routes(cni.pod, 6) if r["dst"] == "fd88::/64"]
    assert r6 and r6[0]["gateway"] == "fd77:1::1", routes(cni.pod, 6)
    rc, _, raw, err = cni("CHECK", dict(c, prevResult=res))
    assert rc == 0, raw + err
    cni.ok("DEL", c)
    assert link_names(cni.pod) == ["lo"]


def test_static_ipam_via_cni_args(cni):
    ipam = {"type": "static"}
    c = conf("1.0.0", ipam=ipam)
    res = cni.ok("ADD", c, args="IgnoreUnknown=1;IP=10.77.2.9/24")
    assert global_addrs(cni.pod, "net1") == {"10.77.2.9/24"}
    cni.ok("DEL", c, args="IgnoreUnknown=1;IP=10.77.2.9/24")


# ---------------------------------------------------------------------------------------------
# DEL idempotence
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", versions_param(VERB_VERSIONS))
def test_del_twice(cni, tmp_path, version):
    if version == "1.1.0":  # the reference host-local knows no 1.1.0
        ipam = fake_ipam(str(tmp_path), ips=["10.56.0.7/24"])
    else:
        ipam = host_local(str(tmp_path))
    c = conf(version, ipam=ipam)
    cni.ok("ADD", c)
    cni.ok("DEL", c)
    cni.ok("DEL", c)
    assert link_names(cni.pod) == ["lo"]
    if version == "1.1.0":
        assert fake_ipam_state(str(tmp_path)) == []
    else:
        assert hostlocal_allocations(str(tmp_path)) == []


def test_del_without_add(cni, tmp_path):
    cni.ok("DEL", conf("1.0.0", ipam=host_local(str(tmp_path))))


def test_del_netns_gone(cni, topo, tmp_path):
    c = conf("1.0.0", ipam=host_local(str(tmp_path)))
    cni.ok("ADD", c)
    topo.netns.delete(cni.pod)
    cni.ok("DEL", c)
    assert hostlocal_allocations(str(tmp_path)) == []


def test_del_netns_unset(cni, tmp_path):
    c = conf("1.0.0", ipam=host_local(str(tmp_path)))
    cni.ok("ADD", c)
    cni.ok("DEL", c, pod=None)  # the spec allows DEL without CNI_NETNS
    assert hostlocal_allocations(str(tmp_path)) == []


# The reference 1.1.1 DEL looks the master up and fails "Link not found" when it is gone;
# ours: DEL never validates the master and succeeds.
@pytest.mark.ours
def test_del_master_gone(cni, tmp_path):
    c = conf("1.0.0", ipam=host_local(str(tmp_path)))
    cni.ok("ADD", c)
    sh("ip", "-n", cni.node.ns, "link", "del", "eth1")  # takes the macvlan with it
    cni.ok("DEL", c)
    assert hostlocal_allocations(str(tmp_path)) == []
    assert link_names(cni.pod) == ["lo"]


@pytest.mark.ours
def test_del_master_gone_never_validated(cni):
    """DEL never validates the master: a config naming a master that never existed passes."""
    cni.ok("DEL", conf("1.0.0", master="nosuch0"))


# ---------------------------------------------------------------------------------------------
# CHECK detects drift
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def added(cni, tmp_path):
    c = conf("1.0.0", ipam=host_local(str(tmp_path), "10.55.0.0/24", "fd55::/64"))
    res = cni.ok("ADD", c)
    return dict(c, prevResult=res)


def test_check_changed_mac(cni, added):
    sh("ip", "-n", cni.pod, "link", "set", "net1", "address", "02:de:ad:be:ef:01")
    rc, res, out, err = cni("CHECK", added)
    assert_cni_error(rc, res, out)


def test_check_removed_address(cni, added):
    v4 = [ip["address"] for ip in added["prevResult"]["ips"] if "." in ip["address"]][0]
    sh("ip", "-n", cni.pod, "addr", "del", v4, "dev", "net1")
    rc, res, out, err = cni("CHECK", added)
    assert_cni_error(rc, res, out)


def test_check_wrong_mode(cni, added):
    c = dict(added, mode="vepa")
    rc, res, out, err = cni("CHECK", c)
    assert_cni_error(rc, res, out, msg_re="mode")


def test_check_link_missing(cni, added):
    sh("ip", "-n", cni.pod, "link", "del", "net1")
    rc, res, out, err = cni("CHECK", added)
    assert_cni_error(rc, res, out)


def test_check_removed_route(cni, tmp_path):
    c = conf("1.0.0", ipam=host_local(str(tmp_path), routes=[{"dst": "10.66.0.0/16"}]))
    res = cni.ok("ADD", c)
    sh("ip", "-n", cni.pod, "route", "del", "10.66.0.0/16")
    rc, r, out, err = cni("CHECK", dict(c, prevResult=res))
    assert_cni_error(rc, r, out)


# ---------------------------------------------------------------------------------------------
# renaming conflict, default master
# ---------------------------------------------------------------------------------------------
def test_ifname_taken(cni, tmp_path):
    sh("ip", "-n", cni.pod, "link", "add", "net1", "type", "veth", "peer", "name", "keep1")
    sh("ip", "-n", cni.pod, "addr", "add", "10.9.9.9/24", "dev", "net1")
    before_pod = link(cni.pod, "net1")
    before_node = cni.node.links()
    c = conf("1.0.0", ipam=host_local(str(tmp_path)))
    rc, res, out, err = cni("ADD", c)
    assert_cni_error(rc, res, out)
    after = link(cni.pod, "net1")
    assert after["ifindex"] == before_pod["ifindex"]
    assert after["linkinfo"]["info_kind"] == "veth"
    assert after["address"] == before_pod["address"]
    assert global_addrs(cni.pod, "net1") == {"10.9.9.9/24"}
    assert link_names(cni.pod) == ["keep1", "lo", "net1"]
    assert cni.node.links() == before_node
    assert hostlocal_allocations(str(tmp_path)) == []


def test_master_defaults_to_default_route_interface(cni):
    n = cni.node.ns
    # a decoy NIC with a lower index that does not carry the default route
    sh("ip", "-n", n, "link", "add", "eth0", "type", "veth", "peer", "name", "eth9")
    sh("ip", "-n", n, "link", "set", "eth0", "up")
    sh("ip", "-n", n, "addr", "add", "10.98.0.1/24", "dev", "eth0")
    sh("ip", "-n", n, "addr", "add", "10.99.0.1/24", "dev", "eth1")
    sh("ip", "-n", n, "route", "add", "default", "via", "10.99.0.254", "dev", "eth1")
    c = conf("1.0.0", master=None)
    cni.ok("ADD", c)
    assert kernel_link(cni)["link_index"] == master_index(cni)
    cni.ok("DEL", c)


def test_other_ifname_and_containerid(cni):
    cid = new_containerid()
    c = conf("1.0.0")
    cni.ok("ADD", c, ifname="migration0", containerid=cid)
    kernel_link(cni, "migration0")
    cni.ok("DEL", c, ifname="migration0", containerid=cid)
    assert link_names(cni.pod) == ["lo"]


# ---------------------------------------------------------------------------------------------
# dns, sysctls, CNI_ARGS, linkInContainer
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", versions_param(VERB_VERSIONS))
def test_dns_in_result(cni, version):
    dns = {"nameservers": ["10.0.0.53"], "domain": "mig.local", "search": ["mig.local"]}
    res = cni.ok("ADD", conf(version, dns=dns))
    assert res["dns"]["nameservers"] == ["10.0.0.53"], res
    assert res["dns"].get("domain") == "mig.local", res


def sysctl(ns, path):
    return sh("ip", "netns", "exec", ns, "cat", f"/proc/sys/{path}").stdout.strip()


# The reference 1.1.1 macvlan leaves arp_notify/ndisc_notify at 0 (later versions set them);
# ours: ADD sets both.
@pytest.mark.ours
def test_arp_notify_set(cni):
    cni.ok("ADD", conf("1.0.0"))
    assert sysctl(cni.pod, "net/ipv4/conf/net1/arp_notify") == "1"


@pytest.mark.ours
def test_ndisc_notify_set(cni):
    cni.ok("ADD", conf("1.0.0"))
    assert sysctl(cni.pod, "net/ipv6/conf/net1/ndisc_notify") == "1"


# The reference 1.1.1 refuses K8S_* keys unless IgnoreUnknown is set (runtimes always set it);
# ours knows them as keys.
@pytest.mark.ours
def test_k8s_cni_args_accepted(cni):
    args = ("K8S_POD_NAMESPACE=kubevirt;K8S_POD_NAME=virt-handler-x;"
            "K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=0b1c-22")
    cni.ok("ADD", conf("1.0.0"), args=args)
    kernel_link(cni)


def test_unknown_cni_args_with_ignore_unknown(cni):
    cni.ok("ADD", conf("1.0.0"), args="IgnoreUnknown=1;FOO=bar")
    kernel_link(cni)


def test_unknown_cni_args_without_ignore_unknown_is_error(cni):
    before = cni.node.links()
    rc, res, out, err = cni("ADD", conf("1.0.0"), args="FOO=bar")
    assert_cni_error(rc, res, out, msg_re="FOO")
    assert_nothing_left(cni.node, cni.pod, before)


@pytest.mark.ours  # linkInContainer is not in the reference 1.1.1
def test_link_in_container(cni):
    """With linkInContainer the master is looked up in the container netns."""
    sh("ip", "-n", cni.pod, "link", "add", "ceth1", "type", "veth", "peer", "name", "ceth2")
    sh("ip", "-n", cni.pod, "link", "set", "ceth1", "up")
    before_node = cni.node.links()
    c = conf("1.0.0", master="ceth1", linkInContainer=True)
    cni.ok("ADD", c)
    li = kernel_link(cni)
    assert li.get("link") == "ceth1", li  # ip names the master when it is in the same netns
    assert cni.node.links() == before_node
    cni.ok("DEL", c)
    assert link_names(cni.pod) == ["ceth1", "ceth2", "lo"]
