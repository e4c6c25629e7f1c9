# SPDX-License-Identifier: Apache-2.0
"""whereabouts (build/plugins/whereabouts/whereabouts) as a runtime runs it: every verb at each
version, identity and idempotent ADD, DEL in every range, GC, overlapping ranges, the flat file,
error paths (code, the key named, nothing written), the store's format. Each test has its own
store_dir under a temp dir that is removed whatever happens."""
import json
import os
import socket
import stat

import pytest

from cni_run import assert_cni_error
from plugin_env import VERB_VERSIONS
from whereabouts_helpers import (WHEREABOUTS, add_ok, allocations, check_invariants, conf,
                                 held, multus_args, result_addrs, wb)


@pytest.fixture
def store(tmp_path):
    if not os.access(WHEREABOUTS, os.X_OK):
        pytest.fail(f"{WHEREABOUTS} not built (ninja -C build plugins/whereabouts/whereabouts)")
    return os.path.join(str(tmp_path), "store")


def v4(store, **extra):
    i = {"range": "10.40.0.0/24", "store_dir": store}
    i.update(extra)
    return i


# ----------------------------------------------------------------------------------------------
# verbs at every version
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERB_VERSIONS)
def test_verbs(store, version):
    c = conf(v4(store, gateway="10.40.0.1", ipRanges=[{"range": "fd40::/64"}]), version=version)
    res = add_ok(c, args=multus_args(pod="p1"))
    assert res["cniVersion"] == version
    assert result_addrs(res) == ["10.40.0.2/24", "fd40::1/64"]  # the gateway is not handed out
    assert res["ips"][0]["gateway"] == "10.40.0.1"
    assert "gateway" not in res["ips"][1]
    if version in ("0.3.1", "0.4.0"):
        assert [ip["version"] for ip in res["ips"]] == ["4", "6"]
    else:
        assert all("version" not in ip for ip in res["ips"])
    assert held(store) == {"10.40.0.2", "fd40::1"}

    prev = dict(c, prevResult=res)
    rc, r, out, _ = wb("CHECK", prev, args=multus_args(pod="p1"))
    if version == "0.3.1":
        assert_cni_error(rc, r, out, code=1, conf_version=version)  # CHECK needs 0.4.0
    else:
        assert rc == 0, out
        # a prevResult that lacks the allocated address fails
        bad = dict(c, prevResult=dict(res, ips=res["ips"][:1]))
        rc, r, out, _ = wb("CHECK", bad)
        assert_cni_error(rc, r, out, conf_version=version, msg_re=r"fd40::1/64.*not in prevResult")

    for verb in ("STATUS", "GC"):
        rc, r, out, _ = wb(verb, c)
        if version == "1.1.0":
            assert rc == 0, out
        else:
            assert_cni_error(rc, r, out, code=1, conf_version=version)
    assert held(store) == {"10.40.0.2", "fd40::1"}  # GC without a list releases nothing

    rc, r, out, _ = wb("DEL", c, args=multus_args(pod="p1"))
    assert rc == 0 and out.strip() == "", out
    assert allocations(store) == {}
    rc, r, out, _ = wb("DEL", c)  # again: nothing to release, still success
    assert rc == 0, out


def test_version_and_about(store):
    rc, r, out, _ = wb("VERSION", conf(v4(store)))
    assert rc == 0 and "1.1.0" in r["supportedVersions"] and "0.3.1" in r["supportedVersions"]


def test_old_versions_one_address_per_family(store):
    c = conf(v4(store), version="0.2.0")
    res = add_ok(c)
    assert res["ip4"]["ip"] == "10.40.0.1/24"
    two = conf(v4(store, ipRanges=[{"range": "10.41.0.0/24"}]), version="0.2.0")
    rc, r, out, _ = wb("ADD", two, containerid="ctr2")
    assert_cni_error(rc, r, out, code=1, msg_re="one address per family")
    assert held(store) == {"10.40.0.1"}


def test_result_carries_routes_dns_and_static_addresses(store):
    c = conf(v4(store, routes=[{"dst": "0.0.0.0/0", "gw": "10.40.0.1"}],
                dns={"nameservers": ["10.40.0.53"], "search": ["mig.local"]},
                addresses=[{"address": "192.168.77.5/24", "gateway": "192.168.77.1"}]))
    res = add_ok(c)
    assert result_addrs(res) == ["10.40.0.1/24", "192.168.77.5/24"]
    assert res["ips"][1]["gateway"] == "192.168.77.1"
    assert res["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.40.0.1"}]
    assert res["dns"]["nameservers"] == ["10.40.0.53"] and res["dns"]["search"] == ["mig.local"]


# ----------------------------------------------------------------------------------------------
# identity, idempotent ADD, DEL, GC
# ----------------------------------------------------------------------------------------------
def test_idempotent_add_per_pod(store):
    c = conf(v4(store))
    a1 = add_ok(c, containerid="sandbox1", args=multus_args(pod="vm-a"))
    b = add_ok(c, containerid="sandbox2", args=multus_args(pod="vm-b"))
    assert result_addrs(a1) == ["10.40.0.1/24"] and result_addrs(b) == ["10.40.0.2/24"]
    # the pod's sandbox is recreated: same pod, new container ID -> same address
    a2 = add_ok(c, containerid="sandbox3", args=multus_args(pod="vm-a"))
    assert result_addrs(a2) == ["10.40.0.1/24"]
    rec = allocations(store)[("_unnamed", "10.40.0.0_24", "10.40.0.1")]
    assert rec == {"ip": "10.40.0.1", "id": "sandbox3", "podref": "default/vm-a", "ifname": "eth0",
                   "netns": "/proc/self/ns/net", "cni_network": "wbnet",
                   "node": socket.gethostname()}
    # the old sandbox's DEL does not take the address from the new one
    assert wb("DEL", c, containerid="sandbox1", args=multus_args(pod="vm-a"))[0] == 0
    assert held(store) == {"10.40.0.1", "10.40.0.2"}
    assert wb("DEL", c, containerid="sandbox3", args=multus_args(pod="vm-a"))[0] == 0
    assert held(store) == {"10.40.0.2"}
    # another interface of one pod is another address; a pod in another namespace too
    add_ok(c, containerid="sandbox2", ifname="net2", args=multus_args(pod="vm-b"))
    add_ok(c, containerid="x", args=multus_args(ns="other", pod="vm-b"))
    assert held(store) == {"10.40.0.1", "10.40.0.2", "10.40.0.3"}


def test_identity_without_pod_keys(store):
    c = conf(v4(store))
    assert result_addrs(add_ok(c, containerid="c1")) == ["10.40.0.1/24"]
    assert result_addrs(add_ok(c, containerid="c1")) == ["10.40.0.1/24"]
    assert result_addrs(add_ok(c, containerid="c2")) == ["10.40.0.2/24"]


def test_del_releases_every_range(store):
    c = conf(v4(store, ipRanges=[{"range": "10.41.0.0/24"}, {"range": "fd41::/120"}]))
    add_ok(c, containerid="c1")
    add_ok(c, containerid="c2")
    assert len(allocations(store)) == 6
    # c1's address in the middle range is gone already (e.g. released by hand): DEL goes on
    rec = os.path.join(store, "_unnamed", "10.41.0.0_24", "10.41.0.1")
    os.unlink(rec)
    assert wb("DEL", c, containerid="c1")[0] == 0
    assert held(store) == {"10.40.0.2", "10.41.0.2", "fd41::2"}
    check_invariants(store)


# what a chain may hand a DEL: whereabouts needs no prevResult there, so none of it may stop it
ODD_PREV = [
    {"cniVersion": "1.0.0", "ips": [{"address": "10.40.0.1"}]},  # an address without prefix
    {"cniVersion": "1.0.0", "ips": [{"address": "10.40.0.1/24", "gateway": ""}]},
    {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],  # another plugin's, mangled
     "ips": [{"address": "10.40.0.1/24", "interface": 7}], "routes": [{"dst": "default"}]},
    {"cniVersion": "1.0.0", "ips": "none"},
    "not an object",
]


@pytest.mark.parametrize("prev", ODD_PREV, ids=[str(i) for i in range(len(ODD_PREV))])
def test_del_ignores_a_prev_result_it_cannot_read(store, prev):
    c = conf(v4(store, ipRanges=[{"range": "fd40::/64"}]), version="1.0.0")
    add_ok(c, args=multus_args(pod="p1"))
    add_ok(c, containerid="ctr2", args=multus_args(pod="p2"))
    rc, r, out, _ = wb("DEL", dict(c, prevResult=prev), args=multus_args(pod="p1"))
    assert rc == 0, out
    assert out == ""
    assert {rec["id"] for rec in allocations(store).values()} == {"ctr2"}
    check_invariants(store)
    # spelt as Go's case-insensitive decoder would still read it
    add_ok(c, containerid="ctr3")
    rc, r, out, _ = wb("DEL", dict(c, PrevResult=prev, prevresult=prev), containerid="ctr3")
    assert rc == 0, out
    assert {rec["id"] for rec in allocations(store).values()} == {"ctr2"}
    # the rest of the config is still read as before: a bad key still fails DEL
    bad = dict(c, prevResult=prev, ipam=dict(c["ipam"], range="10.40.0.0/33"))
    rc, r, out, _ = wb("DEL", bad, containerid="ctr2")
    assert_cni_error(rc, r, out, code=7, conf_version="1.0.0", msg_re=r'"ipam\.range"')
    assert {rec["id"] for rec in allocations(store).values()} == {"ctr2"}


def test_lowest_free_and_exclude(store):
    c = conf(v4(store, range="10.40.0.0/28", range_start="10.40.0.3",
                exclude=["10.40.0.4/31", "10.40.0.8"]))
    got = [result_addrs(add_ok(c, containerid=f"c{i}"))[0] for i in range(6)]
    assert got == ["10.40.0.3/28", "10.40.0.6/28", "10.40.0.7/28", "10.40.0.9/28",
                   "10.40.0.10/28", "10.40.0.11/28"]
    assert wb("DEL", c, containerid="c1")[0] == 0
    assert result_addrs(add_ok(c, containerid="new"))[0] == "10.40.0.6/28"


def test_dash_form_and_exhaustion(store):
    c = conf(v4(store, range="10.40.0.5-10.40.0.6/24"))
    add_ok(c, containerid="c1")
    add_ok(c, containerid="c2")
    rc, r, out, _ = wb("ADD", c, containerid="c3")
    assert_cni_error(rc, r, out, msg_re=r"no free address left in range 10\.40\.0\.0/24 "
                                        r"\(10\.40\.0\.5-10\.40\.0\.6")
    assert held(store) == {"10.40.0.5", "10.40.0.6"}


def test_exhaustion_of_a_later_range_releases_the_earlier(store):
    c = conf(v4(store, ipRanges=[{"range": "10.41.0.0/30"}]))
    add_ok(c, containerid="c1")
    add_ok(c, containerid="c2")
    rc, r, out, _ = wb("ADD", c, containerid="c3")
    assert_cni_error(rc, r, out, msg_re=r"10\.41\.0\.0/30")
    assert held(store) == {"10.40.0.1", "10.40.0.2", "10.41.0.1", "10.41.0.2"}


def test_big_ipv6_range(store):
    c = conf({"range": "fd00::/16", "range_start": "fd00:ffff:ffff:ffff:ffff:ffff:ffff:fffd",
              "store_dir": store})
    assert result_addrs(add_ok(c, containerid="a")) == ["fd00:ffff:ffff:ffff:ffff:ffff:ffff:fffd/16"]
    assert result_addrs(add_ok(c, containerid="b")) == ["fd00:ffff:ffff:ffff:ffff:ffff:ffff:fffe/16"]
    rc, r, out, _ = wb("ADD", c, containerid="c")
    assert_cni_error(rc, r, out, msg_re="fd00::/16")


def test_gc(store):
    c = conf(v4(store, ipRanges=[{"range": "fd40::/64"}]))
    for i in range(4):
        add_ok(c, containerid=f"c{i}", args=multus_args(pod=f"p{i}"))
    valid = [{"containerID": "c1", "ifname": "eth0"}, {"containerID": "c3", "ifname": "eth0"},
             {"containerID": "c0", "ifname": "other"}]
    rc, r, out, _ = wb("GC", dict(c, **{"cni.dev/valid-attachments": valid}))
    assert rc == 0, out
    assert {(rec["id"], rec["ip"]) for rec in allocations(store).values()} == {
        ("c1", "10.40.0.2"), ("c3", "10.40.0.4"), ("c1", "fd40::2"), ("c3", "fd40::4")}
    # an empty list is a list: everything goes
    rc, r, out, _ = wb("GC", dict(c, **{"cni.dev/valid-attachments": []}))
    assert rc == 0 and allocations(store) == {}


def test_overlapping_ranges(store):
    big = conf(v4(store, range="10.50.0.0/24", network_name="mig"))
    small = conf(v4(store, range="10.50.0.0/28", network_name="mig"))
    other = conf(v4(store, range="10.50.0.0/28", network_name="other"))
    off = conf(v4(store, range="10.50.0.0/28", network_name="mig", enable_overlapping_ranges=False))
    assert result_addrs(add_ok(big, containerid="a")) == ["10.50.0.1/24"]
    assert result_addrs(add_ok(small, containerid="b")) == ["10.50.0.2/28"]
    assert result_addrs(add_ok(big, containerid="c")) == ["10.50.0.3/24"]
    assert result_addrs(add_ok(other, containerid="d")) == ["10.50.0.1/28"]
    assert result_addrs(add_ok(off, containerid="e")) == ["10.50.0.1/28"]
    assert sorted(os.listdir(store)) == ["mig", "other"]
    assert wb("DEL", big, containerid="a")[0] == 0
    assert wb("DEL", off, containerid="e")[0] == 0
    assert result_addrs(add_ok(small, containerid="f")) == ["10.50.0.1/28"]


@pytest.mark.parametrize("overlap", [True, False], ids=["overlap-check", "no-overlap-check"])
def test_overlapping_ranges_of_one_config_never_repeat_an_address(store, overlap):
    """Two ranges of one config whose CIDRs differ but overlap, on a fresh store: the second
    range's pool does not exist before this ADD, nor the first's; one result still never
    holds one address twice, and the next ADD sees both."""
    c = conf({"store_dir": store, "enable_overlapping_ranges": overlap,
              "ipRanges": [{"range": "10.52.0.0/24"}, {"range": "10.52.0.0/25"},
                           {"range": "fd52::/64"}, {"range": "fd52::/120"}]})
    first = result_addrs(add_ok(c, containerid="a"))
    assert first == ["10.52.0.1/24", "10.52.0.2/25", "fd52::1/64", "fd52::2/120"]
    second = result_addrs(add_ok(c, containerid="b"))
    if overlap:  # what another range of the network holds is taken too
        assert second == ["10.52.0.3/24", "10.52.0.4/25", "fd52::3/64", "fd52::4/120"]
    else:  # each pool on its own (the /25's search starts past what it skipped for a)
        assert second == ["10.52.0.2/24", "10.52.0.3/25", "fd52::2/64", "fd52::3/120"]
    assert len({a.split("/")[0] for a in second}) == 4
    check_invariants(store)
    # DEL gives both back; the hints went down: the lowest again
    assert wb("DEL", c, containerid="a")[0] == 0
    assert wb("DEL", c, containerid="b")[0] == 0
    assert allocations(store) == {}
    assert result_addrs(add_ok(c, containerid="c")) == first


def test_flat_file(store, tmp_path):
    flat = os.path.join(str(tmp_path), "whereabouts.conf")
    with open(flat, "w") as f:
        json.dump({"datastore": "file", "store_dir": store, "range": "10.60.0.0/24",
                   "network_name": "from-flat", "log_level": "debug",
                   "log_file": os.path.join(str(tmp_path), "wb.log")}, f)
    # the flat file fills what the inline config leaves out
    c = conf({"configuration_path": flat})
    assert result_addrs(add_ok(c, containerid="a")) == ["10.60.0.1/24"]
    assert held(store) == {"10.60.0.1"}
    assert os.path.isdir(os.path.join(store, "from-flat"))
    log = open(os.path.join(str(tmp_path), "wb.log")).read()
    assert "whereabouts ADD containerID=a" in log
    # inline keys win
    c = conf({"configuration_path": flat, "range": "10.61.0.0/24", "network_name": "inline"})
    assert result_addrs(add_ok(c, containerid="b")) == ["10.61.0.1/24"]
    assert os.path.isdir(os.path.join(store, "inline"))
    # a broken flat file is an error that names it
    with open(flat, "w") as f:
        f.write("{broken")
    rc, r, out, _ = wb("ADD", c, containerid="c")
    assert_cni_error(rc, r, out, code=7, msg_re=r"flat file .*whereabouts\.conf")


def test_store_format(store):
    c = conf(v4(store, network_name="mig"))
    add_ok(c, containerid="abc", args=multus_args(ns="openshift-cnv", pod="virt-handler-x"))
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o700
    pool = os.path.join(store, "mig", "10.40.0.0_24")
    assert stat.S_IMODE(os.stat(pool).st_mode) == 0o700
    rec = os.path.join(pool, "10.40.0.1")
    assert stat.S_IMODE(os.stat(rec).st_mode) == 0o600
    assert open(rec).read() == ('{"ip":"10.40.0.1","id":"abc","podref":"openshift-cnv/virt-handler-x",'
                                '"ifname":"eth0","netns":"/proc/self/ns/net","cni_network":"wbnet",'
                                f'"node":"{socket.gethostname()}"}}\n')
    assert os.readlink(os.path.join(pool, "ctr:abc:eth0")) == "10.40.0.1"
    assert os.readlink(os.path.join(pool, "pod:openshift-cnv%2Fvirt-handler-x:eth0")) == "10.40.0.1"
    assert os.readlink(os.path.join(pool, "next")).startswith("10.40.0.2 ")
    check_invariants(store)


# ----------------------------------------------------------------------------------------------
# errors: code, the key named, nothing written
# ----------------------------------------------------------------------------------------------
BAD = [
    ({"range": "10.40.0.0/32"}, r'"ipam\.range" "10\.40\.0\.0/32"'),
    ({"range": "fd00::1/128"}, r'"ipam\.range".*/128'),
    ({"range": "10.40.0.0/31"}, r'"ipam\.range"'),
    ({"range": "fd00::/127"}, r'"ipam\.range"'),
    ({"range": "not-a-cidr"}, r'"ipam\.range" "not-a-cidr"'),
    ({"range": 5}, r'"ipam\.range" must be a string'),
    ({"range": "10.40.0.0/24", "range_start": "10.41.0.1"}, r'"ipam\.range_start" "10\.41\.0\.1"'),
    ({"range": "10.40.0.0/24", "range_end": "10.40.0.255"}, r'"ipam\.range_end" "10\.40\.0\.255"'),
    ({"range": "10.40.0.0/24", "range_start": "10.40.0.9", "range_end": "10.40.0.8"}, r"inverted"),
    ({"range": "10.40.0.9-10.40.0.8/24"}, r'"ipam\.range".*inverted'),
    ({"range": "10.40.0.0/24", "exclude": ["10.40.0.0/33"]}, r'"ipam\.exclude\[0\]" "10\.40\.0\.0/33"'),
    ({"range": "10.40.0.0/24", "exclude": ["10.99.0.0/24"]}, r'"ipam\.exclude\[0\]".*outside'),
    ({"range": "10.40.0.0/24", "gateway": "10.41.0.1"}, r'"ipam\.gateway" "10\.41\.0\.1"'),
    ({"range": "10.40.0.0/24", "gateway": "x"}, r'"ipam\.gateway" "x"'),
    ({"ipRanges": [{"range": "10.40.0.0/24"}, {"range": "fd00::/64", "range_start": "fd01::1"}]},
     r'"ipam\.ipRanges\[1\]\.range_start" "fd01::1"'),
    ({"ipRanges": [{"exclude": ["10.0.0.1"]}]}, r'"ipam\.ipRanges\[0\]\.range" is missing'),
    # one CIDR twice is one pool: the same address twice in one result
    ({"range": "10.40.0.0/24", "ipRanges": [{"range": "10.40.0.0/24"}]},
     r'"ipam\.ipRanges\[0\]\.range" repeats the range 10\.40\.0\.0/24 of "ipam\.range"'),
    ({"ipRanges": [{"range": "fd00::/64"}, {"range": "10.40.0.0/24"},
                   {"range": "fd00:0::/64", "range_start": "fd00::5"}]},
     r'"ipam\.ipRanges\[2\]\.range" repeats the range fd00::/64 of "ipam\.ipRanges\[0\]\.range"'),
    ({}, r'"ipam\.range" or "ipam\.ipRanges" is required'),
    ({"range": "10.40.0.0/24", "network_name": "../x"}, r'"ipam\.network_name"'),
    ({"range": "10.40.0.0/24", "datastore": "kubernetes"},
     r'"ipam\.datastore".*same address out on two nodes.*"file"'),
    ({"range": "10.40.0.0/24", "kubernetes": {"kubeconfig": "/etc/cni/net.d/whereabouts.d/k"}},
     r'"ipam\.kubernetes\.kubeconfig".*same address out on two nodes.*"file"'),
    ({"range": "10.40.0.0/24", "datastore": "nope"}, r'"ipam\.datastore" "nope"'),
    ({"range": "10.40.0.0/24", "store_dir": "rel"}, r'"ipam\.store_dir" "rel".*absolute'),
    ({"range": "10.40.0.0/24", "routes": [{"dst": "x"}]}, r'"ipam\.routes\[0\]\.dst"'),
    ({"range": "10.40.0.0/24", "addresses": [{"address": "1.2.3.4"}]}, r'"ipam\.addresses\[0\]\.address"'),
    ({"range": "10.40.0.0/24", "log_level": "loud"}, r'"ipam\.log_level"'),
]


@pytest.mark.parametrize("ipam,msg", BAD, ids=[str(i) for i in range(len(BAD))])
@pytest.mark.parametrize("verb", ["ADD", "DEL"])
def test_config_errors(store, ipam, msg, verb):
    i = {"store_dir": store}
    i.update(ipam)
    rc, r, out, _ = wb(verb, conf(i, version="1.0.0"))
    assert_cni_error(rc, r, out, code=7, conf_version="1.0.0", msg_re=msg)
    assert not os.path.exists(store) or allocations(store) == {}


def test_protocol_errors(store):
    c = conf(v4(store))
    rc, r, out, _ = wb("ADD", "{not json")
    assert_cni_error(rc, r, out, code=6)
    rc, r, out, _ = wb("ADD", {k: v for k, v in c.items() if k != "ipam"})
    assert_cni_error(rc, r, out, code=7, msg_re='"ipam" is missing')
    rc, r, out, _ = wb("ADD", c, containerid=None)
    assert_cni_error(rc, r, out, code=4)
    rc, r, out, _ = wb("ADD", c, args="K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;SURPRISE=1")
    assert_cni_error(rc, r, out, code=2)
    rc, r, out, _ = wb("CHECK", c)
    assert_cni_error(rc, r, out, msg_re="prevResult")
    assert not os.path.exists(store) or allocations(store) == {}


def test_store_dir_refused(store, tmp_path):
    wide = os.path.join(str(tmp_path), "wide")
    os.mkdir(wide)
    os.chmod(wide, 0o777)
    link = os.path.join(str(tmp_path), "link")
    os.symlink(store, link)
    os.makedirs(store, mode=0o700)
    for d, why in ((wide, "writable by group or others"), (link, "symbolic link")):
        rc, r, out, _ = wb("ADD", conf(v4(d)))
        assert_cni_error(rc, r, out, code=7, msg_re=rf'"ipam\.store_dir".*{why}')
        rc, r, out, _ = wb("STATUS", conf(v4(d)))
        assert_cni_error(rc, r, out, code=50)
    assert os.listdir(wide) == [] and os.listdir(store) == []


def test_status_unusable_store(store):
    os.makedirs(store, mode=0o700)
    blocker = store + "-file"  # a store_dir that is not a directory
    open(blocker, "w").close()
    rc, r, out, _ = wb("STATUS", conf(v4(blocker)))
    assert_cni_error(rc, r, out, code=50, msg_re="store_dir")
    rc, r, out, _ = wb("STATUS", conf(v4(store)))
    assert rc == 0, out


def test_lock_timeout_is_code_11(store):
    import fcntl
    c = conf(v4(store, lock_timeout_ms=200))
    add_ok(c, containerid="first")
    # a classic POSIX lock conflicts with the plugin's OFD lock
    fd = os.open(os.path.join(store, "_unnamed", "lock"), os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        rc, r, out, _ = wb("ADD", c, containerid="second")
        assert_cni_error(rc, r, out, code=11, msg_re=r"lock .*200 ms")
        rc, r, out, _ = wb("DEL", c, containerid="first")
        assert_cni_error(rc, r, out, code=11)
    finally:
        os.close(fd)
    assert result_addrs(add_ok(c, containerid="second")) == ["10.40.0.2/24"]
