# SPDX-License-Identifier: Apache-2.0
"""GC's scope: a GC judges only the allocations of its own CNI network made on its own node.

Two networks (NADs) with the same range and no network_name share a pool; several nodes may
share one store (a shared mount, or etcd). Each allocation records the CNI network "name" and
the node that made it ("cni_network", "node"), and a GC (the plugin's, `mignet ipam gc`)
leaves every other network's and every other node's allocations alone.

A "node" here is a UTS namespace with its own host name (`unshare -u`, then `hostname`), the
plugin's default node name, or NODENAME / "ipam.node_name" where the test says so; pods are
real network namespaces (ip netns). The store is read back from its files (or with etcdctl),
independently of the plugin's answers.
"""
import json
import os
import subprocess

import pytest

from paths import ROOT
from topology import unique
from etcd_cluster import etcd1  # noqa: F401 (fixture)
from whereabouts_helpers import WHEREABOUTS, allocations, conf

MIGNET = os.path.join(ROOT, "build", "migration", "mignet")
ETCD_PREFIX = "/mignet/whereabouts/"
# run the command in a new UTS namespace whose host name is $1
IN_UTS = ["unshare", "-u", "sh", "-c", 'hostname "$1" && shift && exec "$@"', "sh"]


@pytest.fixture(autouse=True)
def built():
    for b in (MIGNET, WHEREABOUTS):
        if not os.access(b, os.X_OK):
            pytest.fail(f"{b} not built (scripts/build)")


@pytest.fixture
def store(tmp_path):
    return os.path.join(str(tmp_path), "store")


@pytest.fixture
def nodes():
    """Two host names, unique per run."""
    return unique("nodea"), unique("nodeb")


def on_node(host, cmd, stdin=None, env=None):
    """Run @cmd on node @host (its own UTS namespace). Returns CompletedProcess (text)."""
    e = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    e.update(env or {})
    return subprocess.run(IN_UTS + [host] + cmd, input=stdin, capture_output=True, text=True,
                          env=e, timeout=120)


def wb_on(host, command, c, containerid, ifname="eth0", netns="/proc/self/ns/net", env=None):
    """whereabouts on node @host. Returns (rc, parsed stdout or None, stdout)."""
    e = {"CNI_COMMAND": command, "CNI_CONTAINERID": containerid, "CNI_IFNAME": ifname,
         "CNI_NETNS": netns, "CNI_PATH": "/usr/lib/cni"}
    e.update(env or {})
    p = on_node(host, [WHEREABOUTS], stdin=json.dumps(c), env=e)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stdout + p.stderr


def add_on(host, c, containerid, **kw):
    rc, out, text = wb_on(host, "ADD", c, containerid, **kw)
    assert rc == 0, f"ADD {containerid} on {host}: {text}"
    return out["ips"][0]["address"].split("/")[0]


def gc_on(host, c, valid, **kw):
    rc, out, text = wb_on(host, "GC", dict(c, **{"cni.dev/valid-attachments": [
        {"containerID": cid, "ifname": ifn} for cid, ifn in valid]}), "", **kw)
    assert rc == 0, f"GC on {host}: {text}"


def held_by(store_dir):
    """{address: (id, cni_network, node)} from the store's files."""
    return {a: (r["id"], r.get("cni_network"), r.get("node"))
            for (_, _, a), r in allocations(store_dir).items()}


def ipam(store, **extra):
    i = {"range": "10.61.0.0/24", "store_dir": store}
    i.update(extra)
    return i


# ----------------------------------------------------------------------------------------------
# the file store shared by two nodes
# ----------------------------------------------------------------------------------------------
def test_gc_on_one_node_keeps_the_other_nodes_allocations(store, nodes, netns):
    a, b = nodes
    c = conf(ipam(store, network_name="migration"), name="migration-net")
    pods = {n: netns.create("gcp") for n in ("a1", "a2", "b1", "b2")}
    ips = {}
    for cid, host in (("a1", a), ("b1", b), ("a2", a), ("b2", b)):
        ips[cid] = add_on(host, c, cid, ifname="migration0", netns=f"/run/netns/{pods[cid]}")
    assert set(held_by(store)) == set(ips.values())
    # node a's runtime knows only its own containers: a1 is valid, a2 is gone
    gc_on(a, c, [("a1", "migration0")])
    assert set(held_by(store)) == {ips["a1"], ips["b1"], ips["b2"]}
    # each record names its network and its node
    assert held_by(store) == {ips["a1"]: ("a1", "migration-net", a),
                              ips["b1"]: ("b1", "migration-net", b),
                              ips["b2"]: ("b2", "migration-net", b)}
    # node a's next pod gets a2's address back, never one of b's
    assert add_on(a, c, "a3", ifname="migration0") == ips["a2"]
    # node b's GC with an empty list releases b's only
    gc_on(b, c, [])
    assert held_by(store) == {ips["a1"]: ("a1", "migration-net", a),
                              ips["a2"]: ("a3", "migration-net", a)}


def test_mignet_ipam_gc_judges_only_this_nodes_netns_paths(store, nodes, netns):
    """`mignet ipam gc` on node a: b's pods have netns paths that do not exist on a (here:
    deleted), and must be left alone; a's dead one is released, a's live one kept."""
    a, b = nodes
    c = conf(ipam(store, network_name="migration"))
    live_a, dead_a, b_pod = netns.create("gca"), netns.create("gcd"), netns.create("gcb")
    ip_live = add_on(a, c, "alive", netns=f"/run/netns/{live_a}")
    ip_dead = add_on(a, c, "adead", netns=f"/run/netns/{dead_a}")
    ip_b = add_on(b, c, "bpod", netns=f"/run/netns/{b_pod}")
    netns.delete(dead_a)
    netns.delete(b_pod)  # as seen from node a, b's netns path does not exist
    p = on_node(a, [MIGNET, "ipam", "gc", "--store-dir", store, "--json"])
    assert p.returncode == 0, p.stdout + p.stderr
    j = json.loads(p.stdout)
    assert [x["address"] for x in j["released"]] == [ip_dead]
    assert (j["node"], j["otherNodes"], j["kept"]) == (a, 1, 1)
    assert set(held_by(store)) == {ip_live, ip_b}
    # the table says what was left alone
    p = on_node(a, [MIGNET, "ipam", "gc", "--store-dir", store, "--dry-run"])
    assert p.returncode == 0 and f"1 of other nodes left alone (this node: {a})" in p.stdout
    # --node names the node explicitly: as b, b's gone pod is released and a's are not judged
    p = on_node(a, [MIGNET, "ipam", "gc", "--store-dir", store, "--node", b, "--json"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert [x["address"] for x in json.loads(p.stdout)["released"]] == [ip_b]
    assert set(held_by(store)) == {ip_live}


def test_node_name_from_the_config_and_the_environment(store, nodes, tmp_path):
    """The node's name: "ipam.node_name" (here from each node's flat file) over $NODENAME
    over the host name; GC scopes by it."""
    a, b = nodes
    flat = {}
    for n in ("x", "y"):
        d = os.path.join(str(tmp_path), f"flat-{n}")
        os.makedirs(d)
        flat[n] = os.path.join(d, "whereabouts.conf")
        with open(flat[n], "w") as f:
            json.dump({"node_name": f"worker-{n}"}, f)
    cx = conf(ipam(store, configuration_path=flat["x"]), name="shared")
    cy = conf(ipam(store, configuration_path=flat["y"]), name="shared")
    plain = conf(ipam(store), name="shared")
    # both "nodes" run on host a: only the config tells them apart
    ix = add_on(a, cx, "x1", env={"NODENAME": "ignored"})
    iy = add_on(a, cy, "y1")
    ienv = add_on(a, plain, "e1", env={"NODENAME": "from-env"})
    ihost = add_on(b, plain, "h1")
    gc_on(a, cy, [])
    assert set(held_by(store)) == {ix, ienv, ihost}
    assert held_by(store) == {ix: ("x1", "shared", "worker-x"), ienv: ("e1", "shared", "from-env"),
                              ihost: ("h1", "shared", b)}
    assert iy not in held_by(store)
    # a "nodename" file beside the flat file (whereabouts' install-cni.sh writes one) counts
    # when neither the key nor $NODENAME is set
    d = os.path.join(str(tmp_path), "flat-z")
    os.makedirs(d)
    with open(os.path.join(d, "whereabouts.conf"), "w") as f:
        json.dump({}, f)
    with open(os.path.join(d, "nodename"), "w") as f:
        f.write("worker-z\n")
    cz = conf(ipam(store, configuration_path=os.path.join(d, "whereabouts.conf")), name="shared")
    iz = add_on(a, cz, "z1")
    assert held_by(store)[iz] == ("z1", "shared", "worker-z")
    # a node name that cannot be one is a config error naming the key, found before the
    # store is touched (a store_dir that does not exist yet is not created)
    fresh = os.path.join(str(tmp_path), "fresh-store")
    for bad_name in ("a/b", "two words", "x" * 254):
        rc, out, text = wb_on(a, "ADD", conf(ipam(fresh, node_name=bad_name)), "bad1")
        assert rc != 0 and out["code"] == 7 and "ipam.node_name" in out["msg"], text
        rc, out, text = wb_on(a, "GC", dict(conf(ipam(fresh, node_name=bad_name)), **{
            "cni.dev/valid-attachments": []}), "")
        assert rc != 0 and out["code"] == 7 and "ipam.node_name" in out["msg"], text
    rc, out, text = wb_on(a, "ADD", conf(ipam(fresh)), "bad2", env={"NODENAME": "a/b"})
    assert rc != 0 and out["code"] == 4 and "NODENAME" in out["msg"], text
    assert not os.path.exists(fresh)
    # DEL does not need the node's name: it converges whatever the name's source says
    rc, out, text = wb_on(a, "DEL", conf(ipam(store, node_name="a/b")), "x1")
    assert rc == 0, text
    assert ix not in held_by(store)
    # a nodename that is no regular file (a FIFO would block a reader) is refused at once
    d = os.path.join(str(tmp_path), "flat-fifo")
    os.makedirs(d)
    with open(os.path.join(d, "whereabouts.conf"), "w") as f:
        json.dump({}, f)
    os.mkfifo(os.path.join(d, "nodename"))
    cf = conf(ipam(store, configuration_path=os.path.join(d, "whereabouts.conf")), name="shared")
    rc, out, text = wb_on(a, "ADD", cf, "fifo1")
    assert rc != 0 and out["code"] == 7 and "nodename: not a regular file" in out["msg"], text
    assert "fifo1" not in {v[0] for v in held_by(store).values()}


# ----------------------------------------------------------------------------------------------
# two networks sharing a pool
# ----------------------------------------------------------------------------------------------
def test_gc_of_one_network_keeps_the_other_networks(store, nodes):
    a, _ = nodes
    # two NADs with the same range and no network_name: one pool
    x = conf(ipam(store), name="nad-x")
    y = conf(ipam(store), name="nad-y")
    ix1, iy1, ix2 = add_on(a, x, "px1"), add_on(a, y, "py1"), add_on(a, x, "px2")
    assert len(os.listdir(os.path.join(store, "_unnamed"))) == 2  # the lock and one pool
    # libcni sends nad-x's GC only nad-x's valid attachments
    gc_on(a, x, [("px1", "eth0")])
    assert set(held_by(store)) == {ix1, iy1}
    assert held_by(store) == {ix1: ("px1", "nad-x", a), iy1: ("py1", "nad-y", a)}
    gc_on(a, y, [])
    assert held_by(store) == {ix1: ("px1", "nad-x", a)}


# ----------------------------------------------------------------------------------------------
# records written before the fields existed
# ----------------------------------------------------------------------------------------------
def strip_owner(store, address):
    """Rewrite an allocation as an older plugin wrote it (no cni_network, no node)."""
    for (net, pool, addr), rec in allocations(store).items():
        if addr == address:
            rec.pop("cni_network")
            rec.pop("node")
            with open(os.path.join(store, net, pool, addr), "w") as f:
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
            return
    raise AssertionError(f"{address} not held")


def test_old_records_are_read_and_count_as_this_nodes_and_any_networks(store, nodes):
    a, b = nodes
    x = conf(ipam(store), name="nad-x")
    y = conf(ipam(store), name="nad-y")
    old_kept, old_gone, old_readd = add_on(b, y, "o1"), add_on(b, y, "o2"), add_on(b, y, "o3")
    for ip in (old_kept, old_gone, old_readd):
        strip_owner(store, ip)
    # listed, with no network and no node recorded
    p = on_node(a, [MIGNET, "ipam", "list", "--store-dir", store, "--json"])
    assert p.returncode == 0, p.stderr
    rows = {r["address"]: r for pool in json.loads(p.stdout)["pools"] for r in pool["allocations"]}
    assert (rows[old_kept]["cniNetwork"], rows[old_kept]["node"]) == (None, None)
    # an ADD of the same attachment returns the address and records its owner
    assert add_on(a, y, "o3") == old_readd
    assert held_by(store)[old_readd] == ("o3", "nad-y", a)
    # node a's GC of nad-x judges the old records as its own and of its network (as before
    # they were recorded): the valid one stays, the other goes; o3 (now nad-y's) stays
    gc_on(a, x, [("o1", "eth0")])
    assert held_by(store) == {old_kept: ("o1", None, None), old_readd: ("o3", "nad-y", a)}
    assert old_gone not in held_by(store)


# ----------------------------------------------------------------------------------------------
# etcd: cluster-wide, so every node shares the store
# ----------------------------------------------------------------------------------------------
def etcd_conf(endpoints, name, network_name="migration"):
    return {"cniVersion": "1.1.0", "name": name, "type": "macvlan",
            "ipam": {"type": "whereabouts", "range": "10.62.0.0/24", "datastore": "etcd",
                     "etcd_host": endpoints, "network_name": network_name,
                     "lock_timeout_ms": 8000}}


def etcd_held(cl, network="migration"):
    found = {}
    for k, v in cl.get_prefix(f"{ETCD_PREFIX}{network}/").items():
        parts = k[len(ETCD_PREFIX):].split("/")
        if len(parts) == 4 and parts[2] == "ip":
            r = json.loads(v)
            found[parts[3]] = (r["id"], r.get("cni_network"), r.get("node"))
    return found


def test_etcd_gc_keeps_other_nodes_and_other_networks(etcd1, nodes):
    a, b = nodes
    x = etcd_conf(etcd1.endpoints, "nad-x")
    y = etcd_conf(etcd1.endpoints, "nad-y")
    ia = add_on(a, x, "ea1", env={"NODENAME": a})
    ia2 = add_on(a, x, "ea2", env={"NODENAME": a})
    ib = add_on(b, x, "eb1", env={"NODENAME": b})
    iy = add_on(a, y, "ey1", env={"NODENAME": a})
    assert set(etcd_held(etcd1)) == {ia, ia2, ib, iy}
    gc_on(a, x, [("ea1", "eth0")], env={"NODENAME": a})
    assert set(etcd_held(etcd1)) == {ia, ib, iy}
    assert etcd_held(etcd1) == {ia: ("ea1", "nad-x", a), ib: ("eb1", "nad-x", b),
                                iy: ("ey1", "nad-y", a)}
    # b's record rewritten as an older version wrote it: read as before, and judged by a's GC
    # as a's own and of any network (docs/whereabouts.md), so it goes
    key = f"{ETCD_PREFIX}migration/10.62.0.0_24/ip/{ib}"
    rec = json.loads(etcd1.get_prefix(key)[key])
    del rec["cni_network"], rec["node"]
    etcd1.etcdctl("put", key, json.dumps(rec, separators=(",", ":")))
    assert etcd_held(etcd1)[ib] == ("eb1", None, None)
    gc_on(a, y, [("ey1", "eth0")], env={"NODENAME": a})
    assert etcd_held(etcd1) == {ia: ("ea1", "nad-x", a), iy: ("ey1", "nad-y", a)}


def test_node_slices_record_the_slice_owner(etcd1, nodes, store):
    """Node slices on a store_dir shared by two nodes: each node's records name it (the same
    name as its slice claim), and a node's GC leaves the other node's slice alone."""
    a, b = nodes
    c = etcd_conf(etcd1.endpoints, "sliced", network_name=unique("slnet"))
    c["ipam"].update(node_slice_size="/28", store_dir=store)
    net = c["ipam"]["network_name"]
    ia = add_on(a, c, "sa1", env={"NODENAME": a})
    ib = add_on(b, c, "sb1", env={"NODENAME": b})
    slices = {json.loads(v)["node"] for k, v in etcd1.get_prefix(
        f"{ETCD_PREFIX}{net}/10.62.0.0_24/slices/").items()}
    assert slices == {a, b}
    assert held_by(store) == {ia: ("sa1", "sliced", a), ib: ("sb1", "sliced", b)}
    gc_on(a, c, [], env={"NODENAME": a})
    assert held_by(store) == {ib: ("sb1", "sliced", b)}
