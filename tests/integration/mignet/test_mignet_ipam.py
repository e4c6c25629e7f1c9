# SPDX-License-Identifier: Apache-2.0
"""`mignet ipam list|show|release|gc` on a temp store populated by the real whereabouts binary.

Every check is made twice where it can: from mignet's answer and from the store's files read
back independently (whereabouts_helpers.allocations). gc is tested with real network
namespaces (ip netns add/del), uniquely named and removed whatever happens.
"""
import json
import os
import socket
import subprocess

import pytest

from paths import MIGNET
from whereabouts_helpers import WHEREABOUTS, add_ok, allocations, conf, multus_args, wb



def mignet(*args):
    p = subprocess.run([MIGNET, "ipam", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def mignet_ok(*args):
    rc, out, err = mignet(*args)
    assert rc == 0, f"mignet ipam {' '.join(args)} rc={rc}: {out} {err}"
    return out, err


def mignet_json(*args):
    out, _ = mignet_ok(*args, "--json")
    return json.loads(out)


@pytest.fixture(autouse=True)
def built():
    for b in (MIGNET, WHEREABOUTS):
        if not os.access(b, os.X_OK):
            pytest.fail(f"{b} not built "
                        "(ninja -C build plugins/whereabouts/whereabouts migration/mignet)")


@pytest.fixture
def store(tmp_path):
    return os.path.join(str(tmp_path), "store")


def migration_conf(store, version="0.3.1"):
    return conf({"range": "10.210.0.0/24", "network_name": "migration", "store_dir": store},
                version=version)


def dual_conf(store):
    return conf({"range": "10.211.0.0/24", "ipRanges": [{"range": "fd11::/64"}],
                 "store_dir": store}, version="1.0.0")


def populate(store, netns_path="/proc/self/ns/net"):
    """Three attachments: two pods on the named network, one container (no pod keys) on the
    unnamed dual-stack network."""
    for i in range(2):
        add_ok(migration_conf(store), containerid=f"sandbox{i}", ifname="migration0",
               args=multus_args(ns="openshift-cnv", pod=f"virt-handler-{i}", infra=f"sandbox{i}"),
               netns=netns_path)
    add_ok(dual_conf(store), containerid="plainctr", ifname="eth0", netns=netns_path)


def test_list_table_and_json(store):
    populate(store)
    out, _ = mignet_ok("list", "--store-dir", store)
    lines = out.splitlines()
    assert lines[0].split() == ["NETWORK", "RANGE", "ADDRESS", "POD", "CONTAINER", "ID",
                                "INTERFACE"]
    rows = {tuple(l.split()) for l in lines[1:-1]}
    assert rows == {
        ("migration", "10.210.0.0/24", "10.210.0.1", "openshift-cnv/virt-handler-0", "sandbox0",
         "migration0"),
        ("migration", "10.210.0.0/24", "10.210.0.2", "openshift-cnv/virt-handler-1", "sandbox1",
         "migration0"),
        ("-", "10.211.0.0/24", "10.211.0.1", "-", "plainctr", "eth0"),
        ("-", "fd11::/64", "fd11::1", "-", "plainctr", "eth0")}
    assert lines[-1] == "4 allocations in 3 pools"

    j = mignet_json("list", "--store-dir", store)
    pools = {(p["network"], p["range"]): p["allocations"] for p in j["pools"]}
    assert set(pools) == {("migration", "10.210.0.0/24"), (None, "10.211.0.0/24"),
                          (None, "fd11::/64")}
    a = {x["address"]: x for p in pools.values() for x in p}
    assert a["10.210.0.2"] == {"network": "migration", "range": "10.210.0.0/24",
                               "address": "10.210.0.2", "pod": "openshift-cnv/virt-handler-1",
                               "containerID": "sandbox1", "interface": "migration0",
                               "netns": "/proc/self/ns/net", "cniNetwork": "wbnet",
                               "node": socket.gethostname()}
    assert a["fd11::1"]["pod"] is None and a["fd11::1"]["containerID"] == "plainctr"
    # the same set as the files on disk
    assert {k[2] for k in allocations(store)} == set(a)
    # the record holds the netns (the additive key) next to whereabouts' own keys
    rec = allocations(store)[("migration", "10.210.0.0_24", "10.210.0.1")]
    assert rec["netns"] == "/proc/self/ns/net" and rec["podref"] == "openshift-cnv/virt-handler-0"

    # --network narrows; _unnamed is the network of configs without network_name
    j = mignet_json("list", "--store-dir", store, "--network", "_unnamed")
    assert {p["range"] for p in j["pools"]} == {"10.211.0.0/24", "fd11::/64"}
    # --config takes store_dir and network_name from the config (a conflist here)
    cfg = os.path.join(os.path.dirname(store), "net.conflist")
    c = migration_conf(store)
    with open(cfg, "w") as f:
        json.dump({"cniVersion": "0.3.1", "name": "migration-network",
                   "plugins": [{k: v for k, v in c.items() if k not in ("cniVersion", "name")}]},
                  f)
    j = mignet_json("list", "--config", cfg)
    assert [(p["network"], len(p["allocations"])) for p in j["pools"]] == [("migration", 2)]
    # its keys read as the plugins and libcni (Go's encoding/json) read them: case-insensitively
    plugin = {k: v for k, v in c.items() if k not in ("cniVersion", "name")}
    plugin["IPAM"] = dict(plugin.pop("ipam"))
    plugin["IPAM"]["Type"] = plugin["IPAM"].pop("type")
    with open(cfg, "w") as f:
        json.dump({"cniVersion": "0.3.1", "name": "migration-network", "Plugins": [plugin]}, f)
    j = mignet_json("list", "--config", cfg)
    assert [(p["network"], len(p["allocations"])) for p in j["pools"]] == [("migration", 2)]


def test_list_missing_store_is_empty_and_not_created(store):
    out, _ = mignet_ok("list", "--store-dir", store)
    assert out.splitlines()[-1] == "0 allocations in 0 pools"
    assert not os.path.exists(store)
    assert mignet_json("list", "--store-dir", store) == {"pools": []}


def test_show(store):
    populate(store)
    out, _ = mignet_ok("show", "--store-dir", store, "openshift-cnv/virt-handler-1")
    assert "address:      10.210.0.2" in out
    assert "netns:        /proc/self/ns/net (live)" in out
    j = mignet_json("show", "--store-dir", store, "plainctr")
    assert sorted(x["address"] for x in j) == ["10.211.0.1", "fd11::1"]
    assert all(x["netnsState"] == "live" for x in j)
    j = mignet_json("show", "--store-dir", store, "fd11::1")
    assert [x["containerID"] for x in j] == ["plainctr"]
    rc, out, err = mignet("show", "--store-dir", store, "10.210.0.99")
    assert rc == 1 and "no allocation matches" in err


def test_release(store):
    populate(store)
    out, _ = mignet_ok("release", "--store-dir", store, "10.210.0.1")
    assert out.split()[:4] == ["released", "migration", "10.210.0.0/24", "10.210.0.1"]
    held = {k[2] for k in allocations(store)}
    assert "10.210.0.1" not in held and "10.210.0.2" in held
    # the index entries went with it, and the next ADD gets the released address again
    pool = os.path.join(store, "migration", "10.210.0.0_24")
    assert not os.path.lexists(os.path.join(pool, "ctr:sandbox0:migration0"))
    res = add_ok(migration_conf(store), containerid="sandbox9", ifname="migration0",
                 args=multus_args(ns="openshift-cnv", pod="virt-handler-9", infra="sandbox9"))
    assert res["ips"][0]["address"] == "10.210.0.1/24"
    # JSON, IPv6
    j = mignet_json("release", "--store-dir", store, "fd11::1")
    assert [(x["address"], x["containerID"]) for x in j] == [("fd11::1", "plainctr")]
    assert "fd11::1" not in {k[2] for k in allocations(store)}
    # not held / not an address
    rc, _, err = mignet("release", "--store-dir", store, "fd11::1")
    assert rc == 1 and "not allocated" in err
    rc, _, _ = mignet("release", "--store-dir", store, "nonsense")
    assert rc == 2
    # the plugin's DEL of the released attachment still succeeds and changes nothing else
    rc, _, out, err = wb("DEL", migration_conf(store), containerid="sandbox0", ifname="migration0")
    assert rc == 0, out + err
    assert {k[2] for k in allocations(store)} == {"10.210.0.1", "10.210.0.2", "10.211.0.1"}


def test_release_ambiguous_needs_network(store):
    for net in ("neta", "netb"):
        add_ok(conf({"range": "10.212.0.0/24", "network_name": net, "store_dir": store}),
               containerid=f"c-{net}")
    rc, _, err = mignet("release", "--store-dir", store, "10.212.0.1")
    assert rc == 2 and "give --network" in err
    mignet_ok("release", "--store-dir", store, "--network", "netb", "10.212.0.1")
    assert set(allocations(store)) == {("neta", "10.212.0.0_24", "10.212.0.1")}


def test_gc(store, netns):
    live, dead = netns.create("wbl"), netns.create("wbd")
    for i, ns in enumerate((live, dead)):
        add_ok(migration_conf(store), containerid=f"sandbox{i}", ifname="migration0",
               args=multus_args(ns="openshift-cnv", pod=f"virt-handler-{i}", infra=f"sandbox{i}"),
               netns=f"/run/netns/{ns}")
    # an allocation made by an older plugin: its record has no "netns"
    old = os.path.join(store, "migration", "10.210.0.0_24", "10.210.0.3")
    add_ok(migration_conf(store), containerid="oldctr", ifname="migration0")
    rec = json.load(open(old))
    del rec["netns"]
    with open(old + ".new", "w") as f:
        f.write(json.dumps(rec) + "\n")
    os.rename(old + ".new", old)

    netns.delete(dead)
    before = allocations(store)
    j = mignet_json("gc", "--store-dir", store, "--dry-run")
    assert j["dryRun"] is True and j["kept"] == 1
    assert [(x["address"], x["netnsState"]) for x in j["released"]] == [("10.210.0.2", "gone")]
    assert [(x["address"], x["reason"]) for x in j["skipped"]] == [("10.210.0.3",
                                                                   "not recorded")]
    assert allocations(store) == before  # dry run: nothing changed

    out, err = mignet_ok("gc", "--store-dir", store)
    assert any(l.split()[:4] == ["released", "migration", "10.210.0.0/24", "10.210.0.2"]
               for l in out.splitlines())
    assert "10.210.0.3" in err and "not recorded" in err
    assert out.splitlines()[-1] == "1 released, 1 kept (netns live), 1 skipped"
    assert {k[2] for k in allocations(store)} == {"10.210.0.1", "10.210.0.3"}
    # idempotent: nothing more to do
    j = mignet_json("gc", "--store-dir", store)
    assert j["released"] == [] and j["kept"] == 1
    # the freed address is handed out again
    res = add_ok(migration_conf(store), containerid="sandbox5", ifname="migration0",
                 netns=f"/run/netns/{live}")
    assert res["ips"][0]["address"] == "10.210.0.2/24"


def test_gc_netns_path_that_is_no_namespace(store, tmp_path):
    """A runtime's netns file left behind after its bind mount went is not a live namespace."""
    path = os.path.join(str(tmp_path), "leftover-netns")
    open(path, "w").close()
    add_ok(migration_conf(store), containerid="c1", ifname="migration0", netns=path)
    j = mignet_json("gc", "--store-dir", store)
    assert [(x["address"], x["netnsState"]) for x in j["released"]] == [
        ("10.210.0.1", "not a namespace")]
    assert allocations(store) == {}


def test_corrupt_records_listed_released_and_reported_by_gc(store):
    """An entry that keeps its address taken without a readable record (garbage, a record of
    another address, a symlink) is shown as corrupt, freed by release, reported by gc."""
    for i in range(5):
        add_ok(migration_conf(store), containerid=f"c{i}", ifname="migration0")
    pool = os.path.join(store, "migration", "10.210.0.0_24")
    with open(os.path.join(pool, "10.210.0.1"), "w") as f:
        f.write("{not json\n")
    with open(os.path.join(pool, "10.210.0.2"), "w") as f:
        f.write(json.dumps({"ip": "10.210.0.9", "id": "c1", "podref": "",
                            "ifname": "migration0"}) + "\n")
    os.unlink(os.path.join(pool, "10.210.0.3"))
    os.symlink("10.210.0.5", os.path.join(pool, "10.210.0.3"))
    corrupt = {"10.210.0.1": "not a JSON object",
               "10.210.0.2": '"ip" 10.210.0.9 is not the address it is filed under',
               "10.210.0.3": "a symbolic link (to 10.210.0.5), not a record"}

    out, err = mignet_ok("list", "--store-dir", store)
    rows = {l.split()[2]: l for l in out.splitlines()[1:-1]}
    assert set(rows) == {f"10.210.0.{i}" for i in range(1, 6)}
    for a, why in corrupt.items():
        assert rows[a].split()[:4] == ["migration", "10.210.0.0/24", a, "CORRUPT:"], rows[a]
        assert rows[a].endswith(why), rows[a]
        assert f"{a} (network migration) is held by a corrupt record: {why}" in err
    assert out.splitlines()[-1] == "2 allocations in 1 pool, 3 corrupt records"
    j = mignet_json("list", "--store-dir", store)
    listed = {x["address"]: x for p in j["pools"] for x in p["allocations"]}
    assert {a: x.get("corrupt") for a, x in listed.items()} == dict(
        corrupt, **{"10.210.0.4": None, "10.210.0.5": None})
    assert listed["10.210.0.2"]["containerID"] is None

    out, _ = mignet_ok("show", "--store-dir", store, "10.210.0.2")
    assert "address:      10.210.0.2" in out and f"corrupt:      {corrupt['10.210.0.2']}" in out
    assert [x["corrupt"] for x in mignet_json("show", "--store-dir", store, "10.210.0.3")] == [
        corrupt["10.210.0.3"]]

    # gc cannot know who held them: reported, kept
    j = mignet_json("gc", "--store-dir", store)
    assert j["released"] == [] and j["kept"] == 2
    assert {(x["address"], x["reason"]) for x in j["skipped"]} == {
        (a, "corrupt") for a in corrupt}
    assert all(os.path.lexists(os.path.join(pool, a)) for a in corrupt)

    for a in corrupt:
        out, _ = mignet_ok("release", "--store-dir", store, a)
        assert out.split()[:5] == ["released", "migration", "10.210.0.0/24", a, "CORRUPT:"]
        assert not os.path.lexists(os.path.join(pool, a))
    # the symlink went, not the record it pointed at
    assert json.load(open(os.path.join(pool, "10.210.0.5")))["id"] == "c4"
    assert set(allocations(store)) == {("migration", "10.210.0.0_24", "10.210.0.4"),
                                       ("migration", "10.210.0.0_24", "10.210.0.5")}
    # and the freed addresses are handed out again, lowest first
    res = add_ok(migration_conf(store), containerid="c9", ifname="migration0")
    assert res["ips"][0]["address"] == "10.210.0.1/24"


def test_usage_errors(store):
    assert mignet("frobnicate")[0] == 2
    assert mignet("list", "--store-dir", store, "--config", "/x")[0] == 2
    assert mignet("list", "--store-dir", store, "extra")[0] == 2
    assert mignet("release", "--store-dir", store)[0] == 2
    assert mignet("list", "--dry-run", "--store-dir", store)[0] == 2
    rc, out, _ = mignet("help")
    assert rc == 0 and "mignet ipam gc" in out
