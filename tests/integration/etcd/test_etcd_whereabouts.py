# SPDX-License-Identifier: Apache-2.0
"""whereabouts with "datastore": "etcd" against a real three-member etcd cluster on loopback:
concurrent nodes, a member killed mid-run, quorum lost (code 11 within the bound, then no
duplicates and no leaks), TLS with a test CA, and node slices. The etcd keys are read back
with etcdctl, independently of the plugin. Nothing asserts on time."""
import concurrent.futures as cf
import json
import os
import subprocess
import tempfile
import threading
import time

import pytest

from etcd_cluster import BUILD, EtcdCluster, etcd1, etcd3, etcd_tls  # noqa: F401 (fixtures)

WHEREABOUTS = os.path.join(BUILD, "plugins", "whereabouts", "whereabouts")
MIGNET = os.path.join(BUILD, "migration", "mignet")
PREFIX = "/mignet/whereabouts/"

pytestmark = pytest.mark.skipif(not os.path.exists(WHEREABOUTS), reason="whereabouts not built")


def conf(endpoints, rng="10.44.0.0/24", extra=None):
    ipam = {"type": "whereabouts", "range": rng, "datastore": "etcd", "etcd_host": endpoints,
            "network_name": "migration", "lock_timeout_ms": 8000}
    ipam.update(extra or {})
    return {"cniVersion": "1.1.0", "name": "mig", "type": "macvlan", "ipam": ipam}


def write_conf(path, c):
    """@c written as JSON to @path; return @path."""
    path.write_text(json.dumps(c))
    return path


def mignet_ipam(cfg, *args):
    """`mignet ipam ARGS --config CFG`: (exit code, stdout, stderr)."""
    r = subprocess.run([MIGNET, "ipam", *args, "--config", str(cfg)], capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def run(command, c, cid, node="node-a", ifname="eth0", pod=None, netns="/proc/self/ns/net"):
    env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=cid, CNI_IFNAME=ifname,
               CNI_NETNS=netns, CNI_PATH="/usr/lib/cni", NODENAME=node)
    if pod:
        env["CNI_ARGS"] = f"IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod}"
    r = subprocess.run([WHEREABOUTS], input=json.dumps(c), env=env, capture_output=True,
                       text=True, timeout=120)
    out = json.loads(r.stdout) if r.stdout.strip() else None
    return r.returncode, out


def addr(out):
    return out["ips"][0]["address"].split("/")[0]


def etcd_allocations(cl, network="migration"):
    """{address: record} of every allocation key, read with etcdctl."""
    kv = cl.get_prefix(f"{PREFIX}{network}/")
    found = {}
    for k, v in kv.items():
        parts = k[len(PREFIX):].split("/")
        if len(parts) == 4 and parts[2] == "ip":
            rec = json.loads(v)
            assert rec["ip"] == parts[3]
            found[parts[3]] = rec
    return found


def test_two_nodes_concurrently_get_distinct_addresses(etcd3):
    c = conf(etcd3.endpoints)
    jobs = [(f"n{n}-c{i}", f"node-{n}") for i in range(25) for n in ("a", "b")]
    with cf.ThreadPoolExecutor(12) as ex:
        res = list(ex.map(lambda j: run("ADD", c, j[0], node=j[1]), jobs))
    assert all(rc == 0 for rc, _ in res), res
    ips = [addr(out) for _, out in res]
    assert len(set(ips)) == len(ips) == 50
    allocs = etcd_allocations(etcd3)
    assert set(allocs) == set(ips)
    assert {a["id"] for a in allocs.values()} == {j[0] for j in jobs}
    # idempotent: the same attachment gets its address again
    rc, out = run("ADD", c, jobs[0][0])
    assert rc == 0 and addr(out) == ips[0]
    with cf.ThreadPoolExecutor(12) as ex:
        dels = list(ex.map(lambda j: run("DEL", c, j[0], node=j[1]), jobs))
    assert all(rc == 0 for rc, _ in dels)
    assert etcd_allocations(etcd3) == {}


def test_member_killed_mid_run_every_add_succeeds(etcd3):
    c = conf(etcd3.endpoints)
    results = []
    killer = threading.Timer(0.3, etcd3.kill, args=(0,))
    killer.start()
    try:
        with cf.ThreadPoolExecutor(6) as ex:
            results = list(ex.map(lambda i: run("ADD", c, f"k{i}", node=f"node-{i % 2}"),
                                  range(40)))
    finally:
        killer.join()
    assert all(rc == 0 for rc, _ in results), [r for r in results if r[0] != 0][:3]
    ips = [addr(out) for _, out in results]
    assert len(set(ips)) == 40
    assert set(etcd_allocations(etcd3)) == set(ips)


def test_quorum_lost_code_11_then_no_duplicates_no_leaks(etcd3):
    c = conf(etcd3.endpoints, extra={"lock_timeout_ms": 2000})
    for i in range(5):
        assert run("ADD", c, f"before{i}")[0] == 0
    etcd3.kill(1)
    etcd3.kill(2)
    rc, out = run("ADD", c, "during")
    assert rc != 0 and out["code"] == 11, out
    rc, out = run("DEL", c, "before0")
    assert rc != 0 and out["code"] == 11, out
    etcd3.start(1)
    etcd3.start(2)
    etcd3.wait_healthy()
    # the runtime retries the failed verbs, as it would
    assert run("DEL", c, "before0")[0] == 0
    rc, out = run("ADD", c, "during")
    assert rc == 0
    for i in range(5, 10):
        assert run("ADD", c, f"after{i}")[0] == 0
    allocs = etcd_allocations(etcd3)
    ids = sorted(a["id"] for a in allocs.values())
    want = sorted([f"before{i}" for i in range(1, 5)] + ["during"] +
                  [f"after{i}" for i in range(5, 10)])
    assert ids == want  # no leak: exactly the live attachments
    assert len(allocs) == len(set(allocs))  # one key per address: no duplicates
    # the freed lowest address was reused
    assert "10.44.0.1" in allocs


def test_status_and_unreachable_etcd(etcd3):
    c = conf(etcd3.endpoints)
    assert run("STATUS", c, "x")[0] == 0
    bad = conf("http://127.0.0.1:1", extra={"lock_timeout_ms": 500})
    rc, out = run("ADD", bad, "y")
    assert rc != 0 and out["code"] == 11
    rc, out = run("STATUS", bad, "y")
    assert rc != 0 and out["code"] == 50


def test_tls_with_test_ca(etcd_tls):
    p = etcd_tls.pki
    c = conf(etcd_tls.endpoints, extra={"etcd_ca_cert_file": p["ca"],
                                        "etcd_cert_file": p["cert"],
                                        "etcd_key_file": p["key"]})
    rc, out = run("ADD", c, "tls1")
    assert rc == 0 and addr(out) == "10.44.0.1"
    assert set(etcd_allocations(etcd_tls)) == {"10.44.0.1"}
    # without a client certificate etcd refuses the handshake: the ADD fails (after the bound:
    # a refused handshake looks like a member that is going away)
    c2 = conf(etcd_tls.endpoints, extra={"etcd_ca_cert_file": p["ca"]})
    rc, out = run("ADD", c2, "tls2")
    assert rc != 0


def test_node_slices(etcd3):
    base = tempfile.mkdtemp(prefix="mignet-slices-")
    try:
        def c(node, ttl=3600):
            d = os.path.join(base, node)
            os.makedirs(d, mode=0o700, exist_ok=True)
            return conf(etcd3.endpoints, extra={"node_slice_size": "/28", "store_dir": d,
                                                "node_slice_lease_ttl": ttl})
        a = [addr(run("ADD", c("a"), f"a{i}", node="a")[1]) for i in range(3)]
        b = [addr(run("ADD", c("b"), f"b{i}", node="b")[1]) for i in range(3)]
        assert a == ["10.44.0.1", "10.44.0.2", "10.44.0.3"]
        assert b == ["10.44.0.16", "10.44.0.17", "10.44.0.18"]
        kv = etcd3.get_prefix(f"{PREFIX}migration/10.44.0.0_24/slices/")
        assert {k.rsplit("/", 1)[1]: json.loads(v)["node"] for k, v in kv.items()} == \
            {"10.44.0.0_28": "a", "10.44.0.16_28": "b"}
        # a slice's allocations stay on its node: nothing of them in etcd
        assert etcd_allocations(etcd3) == {}
        # a fills its /28 (.1 to .15: the slice's bounds inside the range's) and stops there
        for i in range(3, 16):
            rc, out = run("ADD", c("a"), f"a{i}", node="a")
            assert (rc == 0) == (i < 15), out
        # node c departs quickly (short lease, never renewed): its slice is reclaimed
        assert addr(run("ADD", c("c", ttl=2), "c0", node="c")[1]) == "10.44.0.32"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            kv = etcd3.get_prefix(f"{PREFIX}migration/10.44.0.0_24/slices/")
            if not any(k.endswith("10.44.0.32_28") for k in kv):
                break
            time.sleep(0.5)
        assert addr(run("ADD", c("d"), "d0", node="d")[1]) == "10.44.0.32"
    finally:
        subprocess.run(["rm", "-rf", base])


def run_ld_debug(command, c, cid, node):
    """Run a verb with LD_DEBUG=files: the dynamic loader names on stderr every object it
    loads, dlopen'ed ones included. Return: (exit status, stderr)."""
    env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=cid, CNI_IFNAME="eth0",
               CNI_NETNS="/proc/self/ns/net", CNI_PATH="/usr/lib/cni", NODENAME=node,
               LD_DEBUG="files")
    r = subprocess.run([WHEREABOUTS], input=json.dumps(c), env=env, capture_output=True,
                       text=True, timeout=120)
    return r.returncode, r.stderr


def test_node_slices_cached_claim_does_not_load_libcurl(etcd1):
    d = tempfile.mkdtemp(prefix="mignet-slices-lazy-")
    try:
        c = conf(etcd1.endpoints, extra={"node_slice_size": "/28", "store_dir": d})
        # the first ADD claims the slice in etcd: libcurl is loaded (the check can see it)
        rc, err = run_ld_debug("ADD", c, "lazy0", "lazy")
        assert rc == 0 and "libcurl" in err, err[-2000:]
        # ADD, DEL and STATUS served from the cached claim: no etcd client, no libcurl
        for command, cid in (("ADD", "lazy1"), ("DEL", "lazy1"), ("STATUS", "x")):
            rc, err = run_ld_debug(command, c, cid, "lazy")
            assert rc == 0 and "libcurl" not in err, (command, err[-2000:])
        # a renewal that is due (a third of a 3 s TTL has passed) needs etcd: libcurl is loaded
        c2 = conf(etcd1.endpoints, extra={"node_slice_size": "/28", "store_dir": d,
                                          "node_slice_lease_ttl": 3})
        time.sleep(1.1)
        rc, err = run_ld_debug("ADD", c2, "lazy2", "lazy")
        assert rc == 0 and "libcurl" in err, err[-2000:]
    finally:
        subprocess.run(["rm", "-rf", d])


@pytest.mark.parametrize("tamper", ["renewed-ahead", "other-boot", "no-boot"])
def test_node_slice_renewal_is_not_fooled_by_the_clock(etcd1, tamper):
    """The cached renewal time is this boot's CLOCK_BOOTTIME: a renewal time ahead of it (a
    wall-clock cache after a clock step back), another boot's or none at all is due now, so
    the lease in etcd is renewed (libcurl loaded) instead of trusted until it expired."""
    d = tempfile.mkdtemp(prefix="mignet-slices-clock-")
    try:
        c = conf(etcd1.endpoints, extra={"node_slice_size": "/28", "store_dir": d})
        rc, err = run_ld_debug("ADD", c, "clk0", "clk")
        assert rc == 0 and "libcurl" in err, err[-2000:]
        cache = os.path.join(d, "_slices", "migration_10.44.0.0_24@clk")
        with open(cache) as f:
            cached = json.load(f)
        with open("/proc/sys/kernel/random/boot_id") as f:
            assert cached["boot"] == f.read().strip()
        assert cached["renewed"] <= time.clock_gettime(time.CLOCK_BOOTTIME) + 1
        # fresh: served from the cache, no etcd client at all
        rc, err = run_ld_debug("ADD", c, "clk1", "clk")
        assert rc == 0 and "libcurl" not in err, err[-2000:]
        if tamper == "renewed-ahead":
            cached["renewed"] += 3 * 3600
        elif tamper == "other-boot":
            cached["boot"] = "00000000-0000-0000-0000-000000000000"
        else:
            del cached["boot"]
        with open(cache, "w") as f:
            json.dump(cached, f)
        rc, err = run_ld_debug("ADD", c, "clk2", "clk")
        assert rc == 0 and "libcurl" in err, err[-2000:]
        with open(cache) as f:
            assert json.load(f)["renewed"] <= time.clock_gettime(time.CLOCK_BOOTTIME) + 1
    finally:
        subprocess.run(["rm", "-rf", d])


def test_mignet_ipam_administers_the_etcd_store(etcd1, tmp_path):
    """`mignet ipam --config` on an etcd network: list and show agree with etcdctl, release
    frees the address (the next ADD gets it again), gc judges only this node's records (see
    test_mignet_ipam_gc_on_etcd), and a node-slice config is sent to the node's file store."""
    c = conf(etcd1.endpoints, rng="10.45.0.0/29")
    cfg = write_conf(tmp_path / "net.conf", c)

    def ipam(*args):
        return mignet_ipam(cfg, *args)

    ips = {}
    for cid in ("adm-a", "adm-b", "adm-c"):
        rc, out = run("ADD", c, cid, pod=f"pod-{cid}")
        assert rc == 0, out
        ips[cid] = addr(out)
    rc, out, err = ipam("list", "--json")
    assert rc == 0, err
    listed = {a["address"]: a["containerID"] for p in json.loads(out)["pools"]
              for a in p["allocations"]}
    assert listed == {ip: rec["id"] for ip, rec in etcd_allocations(etcd1).items()}
    assert listed == {ip: cid for cid, ip in ips.items()}
    rc, out, err = ipam("show", "--json", "default/pod-adm-b")
    assert rc == 0 and ips["adm-b"] in out, (out, err)

    rc, out, err = ipam("release", ips["adm-a"])
    assert rc == 0, err
    assert ips["adm-a"] not in etcd_allocations(etcd1)
    rc, out = run("ADD", c, "adm-d")
    assert rc == 0 and addr(out) == ips["adm-a"], out  # the lowest free address again

    rc, out, err = ipam("gc", "--node", "node-a")
    assert rc == 0, err
    assert len(etcd_allocations(etcd1)) == 3  # every netns is live (/proc/self/ns/net)

    sliced = write_conf(tmp_path / "slice.conf",
                        conf(etcd1.endpoints, extra={"node_slice_size": "/28",
                                                     "store_dir": str(tmp_path / "s")}))
    rc, out, err = mignet_ipam(sliced, "list")
    assert rc != 0 and "--store-dir" in err, err
    for cid in ("adm-b", "adm-c", "adm-d"):
        assert run("DEL", c, cid)[0] == 0
    assert etcd_allocations(etcd1) == {}

    # an etcd that does not answer: a clear failure within lock_timeout_ms, not a hang
    dead = write_conf(tmp_path / "dead.conf",
                      conf("http://127.0.0.1:9", extra={"lock_timeout_ms": 1000}))
    rc, out, err = mignet_ipam(dead, "list")
    assert rc == 1 and "network migration" in err, err
    assert "127.0.0.1:9" in err, err


def test_mignet_ipam_gc_on_etcd(etcd1, tmp_path):
    """gc on the cluster-wide etcd store releases what this node recorded for a network
    namespace that is gone, and nothing else: another node's records (whose netns paths mean
    nothing here) and records without a node (any node's) stay; checked with etcdctl."""
    c = conf(etcd1.endpoints, rng="10.47.0.0/29")
    cfg = write_conf(tmp_path / "net.conf", c)
    ns = f"mn{os.getpid() % 0xfffff:05x}-gc"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        path = f"/run/netns/{ns}"
        mine_dead = addr(run("ADD", c, "a-dead", node="node-a", netns=path)[1])
        mine_live = addr(run("ADD", c, "a-live", node="node-a")[1])
        theirs = addr(run("ADD", c, "b-dead", node="node-b", netns=path)[1])
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)
    # a record made before records named their node, for a netns that is gone too
    old = "10.47.0.6"
    etcd1.etcdctl("put", f"{PREFIX}migration/10.47.0.0_29/ip/{old}",
                  json.dumps({"ip": old, "id": "old", "podref": "", "ifname": "eth0",
                              "netns": path}))
    rc, out, err = mignet_ipam(cfg, "gc", "--node", "node-a", "--dry-run", "--json")
    assert rc == 0, err
    assert len(etcd_allocations(etcd1)) == 4  # a dry run writes nothing
    rc, out, err = mignet_ipam(cfg, "gc", "--node", "node-a", "--json")
    assert rc == 0, err
    rep = json.loads(out)
    assert [a["address"] for a in rep["released"]] == [mine_dead], rep
    assert [(a["address"], a["reason"]) for a in rep["skipped"]] == [(old, "no node")], rep
    assert rep["kept"] == 1 and rep["otherNodes"] == 1, rep
    assert "no node recorded" in err, err
    assert set(etcd_allocations(etcd1)) == {mine_live, theirs, old}
    keys = etcd1.get_prefix(PREFIX)
    assert not any(k.endswith("/ctr/a-dead:eth0") for k in keys), keys


def test_mignet_ipam_corrupt_etcd_values(etcd1, tmp_path):
    """A value under an allocation key that is no record of its address (written by hand,
    or by a broken tool) keeps the address taken: list and show name it corrupt with the
    reason, release deletes the key (checked with etcdctl), and the address is used again."""
    c = conf(etcd1.endpoints, rng="10.46.0.0/29")
    cfg = write_conf(tmp_path / "net.conf", c)

    def ipam(*args):
        return mignet_ipam(cfg, *args)

    rc, out = run("ADD", c, "cor-a")
    assert rc == 0 and addr(out) == "10.46.0.1", out
    key = f"{PREFIX}migration/10.46.0.0_29/ip/"
    etcd1.etcdctl("put", key + "10.46.0.2", "garbage")
    etcd1.etcdctl("put", key + "10.46.0.3", json.dumps(
        {"ip": "10.46.0.6", "id": "x", "podref": "", "ifname": "eth0"}))
    rc, out = run("ADD", c, "cor-b")
    assert rc == 0 and addr(out) == "10.46.0.4", out  # both stay taken

    rc, out, err = ipam("list", "--json")
    assert rc == 0, err
    listed = {a["address"]: a.get("corrupt") for p in json.loads(out)["pools"]
              for a in p["allocations"]}
    assert listed == {"10.46.0.1": None, "10.46.0.4": None, "10.46.0.2": "not a JSON object",
                      "10.46.0.3": '"ip" 10.46.0.6 is not the address it is filed under'}
    assert "10.46.0.2 (network migration) is held by a corrupt record" in err
    rc, out, err = ipam("show", "10.46.0.3")
    assert rc == 0 and "corrupt:" in out, (out, err)

    for a in ("10.46.0.2", "10.46.0.3"):
        rc, out, err = ipam("release", a)
        assert rc == 0, err
    assert set(etcd1.get_prefix(key)) == {key + "10.46.0.1", key + "10.46.0.4"}
    rc, out = run("ADD", c, "cor-c")
    assert rc == 0 and addr(out) == "10.46.0.2", out
    for cid in ("cor-a", "cor-b", "cor-c"):
        assert run("DEL", c, cid)[0] == 0
    assert etcd1.get_prefix(key) == {}


def test_etcd_out_of_space_del_still_frees(tmp_path):
    """etcd over its space quota (alarm NOSPACE) refuses every put: ADD fails saying so and
    writes nothing, but DEL, which must run to free space, still frees (a txn of deletes
    only), and the allocations are gone in etcd (read with etcdctl)."""
    with EtcdCluster(1, extra_args=["--quota-backend-bytes", str(256 * 1024)]) as cl:
        c = conf(cl.endpoints, rng="10.44.0.0/29")  # .1 to .6
        for i in range(3):
            rc, out = run("ADD", c, f"ctr{i}")
            assert rc == 0, out
        assert set(etcd_allocations(cl)) == {"10.44.0.1", "10.44.0.2", "10.44.0.3"}
        # fill etcd past its quota: the alarm goes up, puts are refused from now on
        big = "x" * (100 * 1024)
        for i in range(16):
            r = cl.etcdctl("put", f"/filler/{i}", big, check=False)
            if r.returncode:
                break
        assert "NOSPACE" in cl.etcdctl("alarm", "list").stdout
        rc, out = run("ADD", c, "ctr9")
        assert rc != 0 and out["code"] == 5, out
        assert "out of space" in out["msg"] and "DEL still frees" in out["msg"], out
        assert "ctr9" not in {r["id"] for r in etcd_allocations(cl).values()}
        # DEL frees; a DEL of what is not held answers too (no fence can be written)
        rc, out = run("DEL", c, "ctr1")
        assert rc == 0, out
        rc, out = run("DEL", c, "ctr1")
        assert rc == 0, out
        assert set(etcd_allocations(cl)) == {"10.44.0.1", "10.44.0.3"}
        keys = cl.get_prefix(PREFIX)
        assert not any(k.endswith("/ctr/ctr1:eth0") for k in keys), keys
        # once the admin made room and disarmed the alarm, ADD works again, and 10.44.0.2 is
        # handed out again (last: the hint was not lowered under the alarm, so the search
        # reaches it when it wraps round)
        cl.etcdctl("del", "--prefix", "/filler/")
        rev = json.loads(cl.etcdctl("endpoint", "status", "-w", "json").stdout)[0]
        cl.etcdctl("compact", str(rev["Status"]["header"]["revision"]))
        cl.etcdctl("defrag")
        cl.etcdctl("alarm", "disarm")
        seen = []
        for i in range(10, 14):
            rc, out = run("ADD", c, f"ctr{i}")
            assert rc == 0, out
            seen.append(addr(out))
        assert seen == ["10.44.0.4", "10.44.0.5", "10.44.0.6", "10.44.0.2"], seen
