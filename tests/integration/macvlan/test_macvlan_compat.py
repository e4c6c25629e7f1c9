# SPDX-License-Identifier: Apache-2.0
"""macvlan (and whereabouts' config) as runtimes and the Go reference plugins expect them:
situations a real cluster produces that the plugins must take as the reference does.

- ADD into a pod that already has a route to a destination IPAM asks for (the pod network's
  eth0 default, a prefix through another interface): the route is added beside it, as the
  reference does; the very same route listed twice is not an error either.
- IPv6 ADD on a master without carrier: DAD cannot run; ADD answers with the address
  tentative instead of failing after the whole DAD wait.
- Results with "gateway": "" or "gw": "" (Go's net.IP reads "" as none) are accepted.
- An IPv4 route through an IPv6 gateway (RFC 5549) is configured (RTA_VIA); the reference
  refuses it.
- DEL with a prevResult that cannot be parsed ignores it, removes the link and still gives
  the allocation back (IPAM DEL); ADD/CHECK still refuse it.
- CHECK reports a link that is down, a route through another gateway, a missing subnet route.
- Config keys match as Go's encoding/json matches them ("Master", "RuntimeConfig", "IPAM"),
  in macvlan's config and in whereabouts' inline config and flat file.

Kernel state is read back with `ip -j`; every namespace and file is per-run and removed by the
fixtures whatever happens.
"""
import json
import os
import secrets

import pytest

from cni_run import assert_cni_error, conf, new_containerid
from fake_ipam import fake_ipam, fake_ipam_log, fake_ipam_state
from kernel_state import addrs, ip_json, link, link_names, sh
from plugin_env import IS_REFERENCE
from whereabouts_helpers import held, result_addrs, wb

_R = 100 + secrets.randbelow(120)
_H = format(0x1000 + secrets.randbelow(0xf000), "x")
V4 = f"10.{_R}.81.7/24"
V4_GW = f"10.{_R}.81.1"
V6 = f"fd81:{_H}::7/64"
V6_GW = f"fd81:{_H}::1"
# the pod network's eth0, already in the pod before our ADD
ETH0_V4, ETH0_V4_GW = f"10.{_R}.82.5/24", f"10.{_R}.82.1"
ETH0_V6, ETH0_V6_GW = f"fd82:{_H}::5/64", f"fd82:{_H}::1"
OTHER_V4 = f"10.{_R}.83.0/24"  # reached through eth0 and asked for by IPAM
OTHER_V6 = f"fd83:{_H}::/64"


def route_set(ns, family):
    """The main table as {(dst, gateway or None, dev)}, multipath routes one entry per hop."""
    found = set()
    for r in ip_json(ns, f"-{family}", "route", "show", "table", "main"):
        for hop in r.get("nexthops", [r]):
            found.add((r["dst"], hop.get("gateway"), hop.get("dev")))
    return found


def pod_with_eth0(pod):
    """The pod as the pod network leaves it: eth0 (a veth whose peer is in the pod too, so it
    has carrier) with addresses, default routes and a prefix route of its own."""
    sh("ip", "-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
    sh("ip", "-n", pod, "link", "set", "eth0p", "up")
    sh("ip", "-n", pod, "link", "set", "eth0", "up")
    sh("ip", "-n", pod, "addr", "add", ETH0_V4, "dev", "eth0")
    sh("ip", "-n", pod, "addr", "add", ETH0_V6, "dev", "eth0", "nodad")
    sh("ip", "-n", pod, "route", "add", "default", "via", ETH0_V4_GW, "dev", "eth0")
    sh("ip", "-n", pod, "route", "add", OTHER_V4, "via", ETH0_V4_GW, "dev", "eth0")
    sh("ip", "-n", pod, "-6", "route", "add", "default", "via", ETH0_V6_GW, "dev", "eth0")
    sh("ip", "-n", pod, "-6", "route", "add", OTHER_V6, "via", ETH0_V6_GW, "dev", "eth0")


def released(state_dir, cid):
    assert fake_ipam_state(state_dir) == [], f"IPAM allocation left: {fake_ipam_state(state_dir)}"
    assert f"DEL {cid} net1" in fake_ipam_log(state_dir), fake_ipam_log(state_dir)


# ---- routes beside the pod's own ----------------------------------------------------------
@pytest.mark.parametrize("family", [4, 6])
def test_add_beside_the_pods_own_routes(cni, tmp_path, family):
    """The pod already has a default route and a prefix route through eth0; IPAM asks for
    both through net1. ADD succeeds (it failed with code 100 "File exists"), the kernel holds
    both routes of each destination, as with the reference; CHECK passes; DEL leaves eth0's
    routes alone."""
    pod_with_eth0(cni.pod)
    if family == 4:
        addr, gw, other, default, eth0_gw = V4, V4_GW, OTHER_V4, "0.0.0.0/0", ETH0_V4_GW
    else:
        addr, gw, other, default, eth0_gw = V6, V6_GW, OTHER_V6, "::/0", ETH0_V6_GW
    cid = new_containerid()
    c = conf("1.0.0", ipam=fake_ipam(str(tmp_path), ips=[{"address": addr, "gateway": gw}],
                                     routes=[{"dst": default}, {"dst": other}]))
    eth0_routes = route_set(cni.pod, family)
    res = cni.ok("ADD", c, containerid=cid)
    got = route_set(cni.pod, family)
    assert eth0_routes <= got, f"eth0's routes changed: {eth0_routes} -> {got}"
    for dst in ("default", other):
        assert (dst, eth0_gw, "eth0") in got, got
        assert (dst, gw, "net1") in got, got
    # CHECK finds our routes beside eth0's (for IPv6 they are hops of one multipath route).
    # The reference's CHECK fails here: it looks for a route without gateway where its ADD
    # gave the route the address's gateway.
    if not IS_REFERENCE:
        cni.ok("CHECK", dict(c, prevResult=res), containerid=cid)
    cni.ok("DEL", c, containerid=cid)
    assert link_names(cni.pod) == ["eth0", "eth0p", "lo"]
    assert route_set(cni.pod, family) == eth0_routes
    released(str(tmp_path), cid)


@pytest.mark.ours  # the reference fails with "file exists" (code 999)
@pytest.mark.parametrize("family", [4, 6])
def test_same_route_listed_twice(cni, tmp_path, family):
    """IPAM lists one route twice: the second is the route the kernel holds already, which is
    what was asked for, not an error; the kernel holds it once."""
    if family == 4:
        addr, gw, dst = V4, V4_GW, f"10.{_R}.84.0/24"
    else:
        addr, gw, dst = V6, V6_GW, f"fd84:{_H}::/64"
    cid = new_containerid()
    c = conf("1.0.0", ipam=fake_ipam(str(tmp_path), ips=[addr],
                                     routes=[{"dst": dst, "gw": gw}, {"dst": dst, "gw": gw}]))
    cni.ok("ADD", c, containerid=cid)
    held = [hop for r in ip_json(cni.pod, f"-{family}", "route", "show", dst)
            for hop in r.get("nexthops", [r])]
    assert len(held) == 1 and held[0]["gateway"] == gw and held[0]["dev"] == "net1", held
    cni.ok("DEL", c, containerid=cid)
    released(str(tmp_path), cid)


@pytest.mark.ours  # the reference refuses it (code 999: "not the same IP family")
def test_ipv4_route_via_an_ipv6_gateway(cni, tmp_path):
    """RFC 5549: an IPv4 prefix through an IPv6 next hop (the kernel's RTA_VIA) is configured,
    seen by CHECK, and removed with the link (it was refused with code 100)."""
    dst = f"10.{_R}.83.0/24"
    cid = new_containerid()
    c = conf("1.0.0", ipam=fake_ipam(str(tmp_path), ips=[V4, V6],
                                     routes=[{"dst": dst, "gw": V6_GW}]))
    res = cni.ok("ADD", c, containerid=cid)
    held = ip_json(cni.pod, "-4", "route", "show", dst)
    assert len(held) == 1 and held[0]["dev"] == "net1", held
    assert held[0]["via"] == {"family": "inet6", "host": V6_GW}, held
    cni.ok("CHECK", dict(c, prevResult=res), containerid=cid)
    sh("ip", "-n", cni.pod, "-4", "route", "del", dst)
    rc, r, out, _ = cni("CHECK", dict(c, prevResult=res), containerid=cid)
    assert_cni_error(rc, r, out, msg_re=dst.replace(".", r"\."))
    cni.ok("DEL", c, containerid=cid)
    released(str(tmp_path), cid)


# ---- DAD that cannot run --------------------------------------------------------------------
def test_ipv6_add_on_a_master_without_carrier(cni, tmp_path):
    """The node's eth1 loses its carrier (its switch port is down): DAD cannot run, so ADD
    answers with the address tentative (it used to wait out the DAD timeout and fail with
    code 100 although the kernel refused nothing)."""
    sh("ip", "link", "set", cni.node.veth_root, "down")
    assert "NO-CARRIER" in link(cni.node.ns, "eth1")["flags"]
    cid = new_containerid()
    c = conf("1.0.0", ipam=fake_ipam(str(tmp_path), ips=[{"address": V4, "gateway": V4_GW},
                                                         {"address": V6, "gateway": V6_GW}],
                                     routes=[{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]))
    res = cni.ok("ADD", c, containerid=cid)
    assert [ip["address"] for ip in res["ips"]] == [V4, V6]
    assert ("default", V4_GW, "net1") in route_set(cni.pod, 4)
    assert ("default", V6_GW, "net1") in route_set(cni.pod, 6)
    a = [x for l in ip_json(cni.pod, "-6", "addr", "show", "dev", "net1")
         for x in l["addr_info"] if f"{x['local']}/{x['prefixlen']}" == V6]
    assert a and a[0].get("tentative") and not a[0].get("dadfailed"), a
    # the carrier comes back: the kernel runs DAD on its own, ADD's answer stays right
    sh("ip", "link", "set", cni.node.veth_root, "up")
    cni.ok("DEL", c, containerid=cid)
    assert link_names(cni.pod) == ["lo"]
    released(str(tmp_path), cid)


# ---- empty gateways -------------------------------------------------------------------------
def test_empty_gateway_and_gw_mean_none(cni, tmp_path):
    """libcni (Go's net.IP) reads "" as no address: an IPAM result with "gateway": "" and a
    route with "gw": "" are a result without gateway, not a bad one."""
    dst = f"10.{_R}.85.0/24"
    cid = new_containerid()
    c = conf("1.0.0", ipam=fake_ipam(str(tmp_path), ips=[{"address": V4, "gateway": ""}],
                                     routes=[{"dst": dst, "gw": ""}]))
    res = cni.ok("ADD", c, containerid=cid)
    assert res["ips"] == [{"address": V4, "interface": 0}], res
    assert route_set(cni.pod, 4) >= {(dst, None, "net1")}, route_set(cni.pod, 4)
    cni.ok("DEL", c, containerid=cid)
    released(str(tmp_path), cid)


@pytest.mark.ours
@pytest.mark.parametrize("entry,field", [
    ({"address": V4, "gateway": " "}, r"ips\[0\]\.gateway"),
    ({"address": V4, "gateway": "10.1.2"}, r"ips\[0\]\.gateway"),
    ({"address": V4.split("/")[0]}, r"ips\[0\]\.address"),
])
def test_broken_results_still_refused(cni, tmp_path, entry, field):
    cid = new_containerid()
    c = conf("1.0.0", ipam=fake_ipam(str(tmp_path), ips=[entry]))
    rc, res, out, _ = cni("ADD", c, containerid=cid)
    assert_cni_error(rc, res, out, code=6, msg_re=field)
    assert link_names(cni.pod) == ["lo"]
    released(str(tmp_path), cid)


# ---- DEL with a prevResult it cannot use ------------------------------------------------------
ODD_PREV = [
    ("gateway-empty", {"cniVersion": "1.0.0", "ips": [{"address": V4, "gateway": ""}]}),
    ("address-without-prefix", {"cniVersion": "1.0.0", "ips": [{"address": V4.split("/")[0]}]}),
    ("interface-of-another-plugin", {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
                                     "ips": [{"address": V4, "interface": 4}]}),
    ("route-without-dst", {"cniVersion": "1.0.0", "routes": [{"gw": V4_GW}]}),
    ("newer-version", {"cniVersion": "9.0.0", "ips": []}),
]
# the reference refuses a prevResult of the wrong JSON type even at DEL (code 999)
ODD_PREV_OURS = [("not-an-object", "tuning was here")]


@pytest.mark.parametrize("prev", [pytest.param(p, id=i) for i, p in ODD_PREV] +
                         [pytest.param(p, id=i, marks=pytest.mark.ours) for i, p in ODD_PREV_OURS])
def test_del_ignores_an_unusable_prev_result(cni, tmp_path, prev):
    cid = new_containerid()
    c = conf("1.0.0", ipam=fake_ipam(str(tmp_path), ips=[V4]))
    cni.ok("ADD", c, containerid=cid)
    cni.ok("DEL", dict(c, prevResult=prev), containerid=cid)
    assert link_names(cni.pod) == ["lo"]
    released(str(tmp_path), cid)


@pytest.mark.ours
def test_check_still_refuses_an_unusable_prev_result(cni, tmp_path):
    cid = new_containerid()
    c = conf("1.0.0", ipam=fake_ipam(str(tmp_path), ips=[V4]))
    cni.ok("ADD", c, containerid=cid)
    rc, res, out, _ = cni("CHECK", dict(c, prevResult=dict(ODD_PREV[1][1])), containerid=cid)
    assert_cni_error(rc, res, out, code=6, msg_re=r"prevResult: .*ips\[0\]\.address")
    cni.ok("DEL", c, containerid=cid)


# ---- CHECK ---------------------------------------------------------------------------------
CHECK_ROUTE = f"10.{_R}.86.0/24"
# (id, what is done in the pod, the message CHECK must give). A link set down loses its IPv6
# addresses (keep_addr_on_down is 0) and its routes, which CHECK saw before: "link-down" has
# one IPv4 address and no route, so that only the link's state can tell.
MUTATIONS = [
    ("link-down", ["link", "set", "net1", "down"], r"it is down"),
    ("route-via-another-gateway",
     ["route", "replace", CHECK_ROUTE, "via", f"10.{_R}.81.254", "dev", "net1"],
     rf"route to {CHECK_ROUTE} via {V4_GW} from prevResult is missing"),
    ("v4-subnet-route-gone", ["route", "del", f"10.{_R}.81.0/24", "dev", "net1"],
     rf"subnet route 10\.{_R}\.81\.0/24 of address 10\.{_R}\.81\.7 is missing"),
    ("v6-subnet-route-gone", ["-6", "route", "del", f"fd81:{_H}::/64", "dev", "net1"],
     rf"subnet route fd81:{_H}::/64 of address fd81:{_H}::7 is missing"),
]


@pytest.mark.ours  # the reference reports these too, with code 999 and its own words
@pytest.mark.parametrize("cmd,msg_re", [pytest.param(m[1], m[2], id=m[0]) for m in MUTATIONS])
def test_check_sees_what_changed(cni, tmp_path, cmd, msg_re):
    cid = new_containerid()
    if cmd[:2] == ["link", "set"]:
        ipam = fake_ipam(str(tmp_path), ips=[V4])
    else:
        ipam = fake_ipam(str(tmp_path), ips=[{"address": V4, "gateway": V4_GW}, V6],
                         routes=[{"dst": CHECK_ROUTE}])
    c = conf("1.0.0", ipam=ipam)
    res = cni.ok("ADD", c, containerid=cid)
    checked = dict(c, prevResult=res)
    cni.ok("CHECK", checked, containerid=cid)  # as ADD left it: passes
    sh("ip", "-n", cni.pod, *cmd)
    rc, out_res, out, _ = cni("CHECK", checked, containerid=cid)
    assert_cni_error(rc, out_res, out, code=103, msg_re=msg_re)
    cni.ok("DEL", c, containerid=cid)
    released(str(tmp_path), cid)


# ---- keys as Go matches them ----------------------------------------------------------------
def test_go_cased_keys(cni, tmp_path):
    """encoding/json folds case: a config written with "Master", "Mode", "MTU",
    "RuntimeConfig" and "IPAM" configures what its lower-case twin would."""
    cid = new_containerid()
    mac = "02:5a:" + ":".join(secrets.token_hex(1) for _ in range(4))
    c = {"cniVersion": "1.0.0", "name": "mig-test", "type": "macvlan", "Master": "eth1",
         "Mode": "private", "MTU": 1400, "RuntimeConfig": {"Mac": mac},
         "IPAM": fake_ipam(str(tmp_path), ips=[V4])}
    cni.ok("ADD", c, containerid=cid)
    l = link(cni.pod, "net1")
    assert l["address"] == mac and l["mtu"] == 1400, l
    assert l["linkinfo"]["info_data"]["mode"] == "private", l
    master = link(cni.node.ns, "eth1")
    assert l.get("link_index") == master["ifindex"], (l, master)
    assert V4 in addrs(cni.pod, "net1", 4)
    cni.ok("DEL", c, containerid=cid)
    released(str(tmp_path), cid)


@pytest.fixture
def wb_store(tmp_path):
    return os.path.join(str(tmp_path), "store")


@pytest.mark.ours  # our whereabouts
def test_whereabouts_go_cased_keys_and_flat_file(tmp_path, wb_store):
    """whereabouts is a Go program too: its flat file and inline config fold case; an
    inline key still wins over the flat file's, whatever the case of either."""
    flat = os.path.join(str(tmp_path), "whereabouts.conf")
    with open(flat, "w") as f:
        json.dump({"Datastore": "file", "Store_Dir": wb_store, "Range": f"10.{_R}.87.0/24",
                   "Network_Name": "flatnet"}, f)
    base = {"cniVersion": "1.0.0", "name": "wbnet", "type": "macvlan"}
    c = dict(base, IPAM={"Type": "whereabouts", "Configuration_Path": flat})
    rc, res, out, err = wb("ADD", c, containerid="a")
    assert rc == 0, f"ADD failed: {out} {err}"
    assert result_addrs(res) == [f"10.{_R}.87.1/24"]
    assert held(wb_store) == {f"10.{_R}.87.1"}
    assert os.path.isdir(os.path.join(wb_store, "flatnet"))
    c = dict(base, ipam={"type": "whereabouts", "configuration_path": flat,
                         "range": f"10.{_R}.88.0/24"})
    rc, res, out, err = wb("ADD", c, containerid="b")
    assert rc == 0, f"ADD failed: {out} {err}"
    assert result_addrs(res) == [f"10.{_R}.88.1/24"]
    for cid in ("a", "b"):
        assert wb("DEL", c if cid == "b" else dict(base, IPAM={"Type": "whereabouts",
                                                              "Configuration_Path": flat}),
                  containerid=cid)[0] == 0
    assert held(wb_store) == set()
