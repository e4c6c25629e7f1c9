# SPDX-License-Identifier: Apache-2.0
"""Torture of the whereabouts etcd store (ipam/store_etcd.c, etcd/) and of node
slices (ipam/node_slice.c), through the real plugin binary, against a real three-member etcd
cluster on loopback (tests/integration/lib/etcd_cluster.py).

- test_etcd_store_torture: hundreds of concurrent ADD/DEL on one pool (one op at a time per
  container), a quarter of the plugin processes SIGKILLed at a random instant, etcd members
  SIGKILLed and restarted one at a time during the run (quorum kept); then a burst during which
  quorum is lost (every op answers success or code 11 within its deadline, none hangs). Then
  the invariants, read from etcd with etcdctl, independently of the plugin: every key is one
  of the store's and every value parses; no address is held twice, no container holds two;
  the ctr/ and pod/ indexes and the records are a bijection; the pool's gen key was written by
  the last commit to the pool (its mod_revision is the highest of the pool's keys); the search
  hint "next" has every usable address below it held (a commit is atomic on etcd, so the
  allocator's hint rule holds exactly); every ADD that answered success still holds its address
  unless a later DEL answered success. Allocations left by a process killed mid-ADD (written,
  never answered) are reclaimed by GC or by the runtime's repeated ADD/DEL: checked. A repeated
  ADD returns the same address, a fresh ADD succeeds, DEL of every container empties the pool.
- test_node_slices_torture: several "nodes" (NODENAME, each with its own local store) ADD and
  DEL concurrently on two networks, with kills during slice claims and a member restart; then:
  every node holds one slice per pool, slices are distinct, every address of a node lies in its
  slice, no address is held twice across nodes, `mignet ipam list` agrees with each node's
  store, and DEL of everything empties it. A cached claim is removed or made due for renewal
  now and then during the run, so the claim and renewal paths run many times under the kills.
- test_late_commit_of_a_dead_plugin_is_fenced: the commit of a killed plugin is held in an
  HTTP relay and lands after the next verb of the same container: it must not apply.

Figures are printed (run with -s). Names are unique per run; etcd processes and temporary
directories are removed in finally blocks. Timeouts only guard against hangs.
"""
import base64
import collections
import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from etcd_cluster import BUILD, EtcdCluster

WHEREABOUTS = (os.environ.get("MIGNET_WHEREABOUTS")
               or os.path.join(BUILD, "plugins", "whereabouts", "whereabouts"))
MIGNET = os.environ.get("MIGNET_BIN") or os.path.join(BUILD, "migration", "mignet")
PREFIX = "/mignet/whereabouts/"
HANG_GUARD = 60  # seconds; a plugin run that takes longer is a hang (nothing asserts on time)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not os.access(WHEREABOUTS, os.X_OK), reason=f"{WHEREABOUTS} is not built"),
    pytest.mark.skipif(not shutil.which("etcd") and not os.path.exists("/usr/bin/etcd"),
                       reason="etcd-server is not installed"),
]


def conf(endpoints, network, rng, version="1.0.0", **ipam):
    i = {"type": "whereabouts", "range": rng, "datastore": "etcd", "etcd_host": endpoints,
         "network_name": network, "lock_timeout_ms": 10000}
    i.update(ipam)
    return {"cniVersion": version, "name": "torture", "type": "macvlan", "ipam": i}


def env(command, cid, node=None):
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command,
         "CNI_CONTAINERID": cid, "CNI_NETNS": "/var/run/netns/" + cid, "CNI_IFNAME": "eth0",
         "CNI_PATH": "/nonexistent",
         "CNI_ARGS": f"IgnoreUnknown=true;K8S_POD_NAMESPACE=torture;K8S_POD_NAME=pod-{cid}"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            e[k] = os.environ[k]
    if node:
        e["NODENAME"] = node
    return e


def run(c, command, cid, node=None, timeout=HANG_GUARD):
    p = subprocess.run([WHEREABOUTS], input=json.dumps(c), capture_output=True, text=True,
                       env=env(command, cid, node), timeout=timeout)
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        out = {"unparsable": p.stdout}
    return p.returncode, out, p.stderr


def address(out):
    return out["ips"][0]["address"].split("/")[0]


def etcd_kvs(cl, prefix):
    """{key: kv} under prefix, read with etcdctl; kv has value (text), mod_revision, lease."""
    out = cl.etcdctl("get", "--prefix", prefix, "-w", "json").stdout
    res = {}
    for kv in json.loads(out).get("kvs", []):
        k = base64.b64decode(kv["key"]).decode()
        res[k] = {"value": base64.b64decode(kv.get("value", "")).decode(),
                  "mod": int(kv.get("mod_revision", 0)), "lease": int(kv.get("lease", 0))}
    return res


class Torture:
    """Concurrent plugin runs with random SIGKILLs, one op at a time per container, and a
    record of what each container was answered."""

    def __init__(self, ids, kill_ratio=0.25, kill_window=0.06):
        self.ids = ids
        self.state = {cid: None for cid in ids}  # None: holds nothing; "?": unknown; else address
        self.locks = {cid: threading.Lock() for cid in ids}
        self.kill_ratio, self.kill_window = kill_ratio, kill_window
        self.stats = collections.Counter()
        self.codes = collections.Counter()
        self.violations = []
        self.samples = {}  # (command, code): the first message
        self.mu = threading.Lock()

    def note(self, msg):
        with self.mu:
            self.violations.append(msg)

    def one(self, c, command, cid, r, node=None, allowed_codes=(11,)):
        kill = r.random() < self.kill_ratio
        with self.locks[cid]:
            t0 = time.monotonic()
            p = subprocess.Popen([WHEREABOUTS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env(command, cid, node))
            timer = None
            if kill:
                timer = threading.Timer(r.uniform(0, self.kill_window),
                                        lambda: p.poll() is None and p.kill())
                timer.start()
            try:
                out, err = p.communicate(json.dumps(c), timeout=HANG_GUARD)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                self.note(f"{command} {cid}: no answer within {HANG_GUARD} s (hang)")
                self.state[cid] = "?"
                return
            finally:
                if timer:
                    timer.cancel()
            with self.mu:
                self.stats["ops"] += 1
                self.stats["kills sent"] += kill
                self.stats["max ms"] = max(self.stats["max ms"],
                                           int(1000 * (time.monotonic() - t0)))
            if p.returncode == -signal.SIGKILL:
                with self.mu:
                    self.stats["killed mid-op"] += 1
                self.state[cid] = "?"
                return
            try:
                res = json.loads(out) if out.strip() else None
            except ValueError:
                self.note(f"{command} {cid}: stdout is not JSON: {out!r}")
                self.state[cid] = "?"
                return
            if p.returncode != 0:
                code = res.get("code") if isinstance(res, dict) else None
                with self.mu:
                    self.codes[(command, code)] += 1
                    self.samples.setdefault((command, code), res.get("msg") if res else err)
                if code not in allowed_codes:
                    self.note(f"{command} {cid}: rc {p.returncode} {res} {err[-500:]}")
                self.state[cid] = "?"
                return
            if command == "DEL":
                self.state[cid] = None
                return
            got = address(res)
            prev = self.state[cid]
            if prev not in (None, "?") and got != prev:
                self.note(f"{cid}: a repeated ADD moved it from {prev} to {got}")
            self.state[cid] = got

    def run(self, c, n_ops, n_threads, seed, node_of=None, conf_of=None):
        rng = random.Random(seed)
        seeds = [rng.getrandbits(32) for _ in range(n_ops)]

        def worker(chunk):
            for s in chunk:
                r = random.Random(s)
                cid = r.choice(self.ids)
                command = r.choice(["ADD", "ADD", "DEL"])
                try:
                    self.one(conf_of(cid) if conf_of else c, command, cid, r,
                             node=node_of(cid) if node_of else None)
                except Exception as e:  # a thread's exception would otherwise be lost
                    self.note(f"{command} {cid}: {e!r}")

        threads = [threading.Thread(target=worker, args=(seeds[i::n_threads],))
                   for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


class MemberChaos(threading.Thread):
    """Kills one etcd member at a time (SIGKILL) and restarts it on its data dir, until
    stopped; quorum is kept (the next kill waits for the whole cluster to be healthy)."""

    def __init__(self, cl, seed, first_delay=0.2):
        super().__init__(daemon=True)
        self.cl, self.rng, self.first_delay = cl, random.Random(seed), first_delay
        self.stop = threading.Event()
        self.kills = self.restarts = 0
        self.error = None

    def run(self):
        try:
            if self.stop.wait(self.first_delay):
                return
            while not self.stop.is_set():
                i = self.rng.randrange(self.cl.size)
                self.cl.kill(i)
                self.kills += 1
                self.stop.wait(self.rng.uniform(0.2, 0.8))
                self.cl.start(i)
                self.cl.wait_healthy()
                self.restarts += 1
                self.stop.wait(self.rng.uniform(0.3, 1.0))
        except Exception as e:
            self.error = e

    def finish(self):
        self.stop.set()
        self.join(timeout=60)
        assert self.error is None, f"member chaos failed: {self.error}"


def check_pool(kvs, net_prefix, pool, rng_net, first, last, violations):
    """The store's invariants over one network's keys. Return {address: record}."""
    pool_prefix = f"{net_prefix}{pool}/"
    recs, ctr, pod, other = {}, {}, {}, {}
    for k, kv in kvs.items():
        v = kv["value"]
        if k == f"{net_prefix}pools/{pool}":
            if v != str(rng_net):
                violations.append(f"registry {k} = {v!r}")
            continue
        if not k.startswith(pool_prefix):
            violations.append(f"unexpected key {k}")
            continue
        rest = k[len(pool_prefix):]
        if rest.startswith("ip/"):
            try:
                rec = json.loads(v)
                assert rec["ip"] == rest[3:] and v.endswith("\n")
                assert all(isinstance(rec[f], str) for f in ("id", "podref", "ifname"))
                assert ipaddress.ip_address(rec["ip"]) in rng_net
            except (ValueError, KeyError, AssertionError):
                violations.append(f"unparsable or wrong record {k} = {v!r}")
                continue
            recs[rec["ip"]] = rec
        elif rest.startswith("ctr/"):
            ctr[rest[4:]] = v
        elif rest.startswith("pod/"):
            pod[rest[4:]] = v
        elif rest in ("gen", "next"):
            other[rest] = kv
        else:
            violations.append(f"unexpected key {k}")
    owners = {}
    for ip, rec in recs.items():
        key = (rec["id"], rec["ifname"])
        if key in owners:
            violations.append(f"{key} holds {owners[key]} and {ip}")
        owners[key] = ip
        # the indexes lead to the record
        if ctr.get(f"{rec['id']}:{rec['ifname']}") != ip:
            violations.append(f"ctr index of {ip} ({rec['id']}) is {ctr.get(rec['id'])!r}")
        enc = rec["podref"].replace("/", "%2F")
        if rec["podref"] and pod.get(f"{enc}:{rec['ifname']}") != ip:
            violations.append(f"pod index of {ip} ({rec['podref']}) is missing or wrong")
    # and every index leads to a record that names it
    for name, ip in ctr.items():
        if ip not in recs or f"{recs[ip]['id']}:{recs[ip]['ifname']}" != name:
            violations.append(f"ctr/{name} -> {ip}: dangling")
    for name, ip in pod.items():
        if ip not in recs or \
                f"{recs[ip]['podref'].replace('/', '%2F')}:{recs[ip]['ifname']}" != name:
            violations.append(f"pod/{name} -> {ip}: dangling")
    pool_kvs = [kv for k, kv in kvs.items() if k.startswith(pool_prefix)]
    if pool_kvs:
        # every commit to the pool writes its gen in the same txn: nothing newer than gen
        gen = other.get("gen")
        if not gen:
            violations.append("pool has keys but no gen")
        elif len(gen["value"]) != 16 or not all(ch in "0123456789abcdef" for ch in gen["value"]):
            violations.append(f"unparsable gen {gen['value']!r}")
        elif max(kv["mod"] for kv in pool_kvs) != gen["mod"]:
            violations.append(f"a key of the pool is newer than its gen ({gen['mod']})")
    if "next" in other:
        # the hint: every usable address below it is held (commits are atomic)
        try:
            h_addr, digest = other["next"]["value"].split(" ")
            int(digest, 16)
            h = ipaddress.ip_address(h_addr)
        except ValueError:
            violations.append(f"unparsable hint {other['next']['value']!r}")
        else:
            a = first
            while a < h and a <= last:
                if str(a) not in recs:
                    violations.append(f"hint {h} but {a} below it is free")
                    break
                a += 1
    return recs


def check_answers(state, owner, violations):
    """What every operation answered against who holds what now (@owner: {cid: address}):
    a container given an address still holds it, a deleted one holds nothing. @state[cid] is
    the last answered address, None (deleted) or "?" (killed: unknown). Return the unknown
    containers, and those of them that hold an address (ADDs that never answered)."""
    for cid, s in state.items():
        if s not in (None, "?") and owner.get(cid) != s:
            violations.append(f"{cid} was given {s}, now holds {owner.get(cid)}")
        if s is None and cid in owner:
            violations.append(f"{cid} was deleted but holds {owner[cid]}")
    assert not violations, violations[:10]
    unknown = [cid for cid, s in state.items() if s == "?"]
    return unknown, [cid for cid in unknown if cid in owner]


def mignet_list(args):
    p = subprocess.run([MIGNET, "ipam", "list", *args, "--json"], capture_output=True,
                       text=True, timeout=HANG_GUARD)
    return p.returncode, p.stdout, p.stderr


def test_etcd_store_torture():
    tag = secrets.token_hex(3)
    network = f"torture-{tag}"
    rng_net = ipaddress.ip_network("10.200.0.0/22")
    first, last = rng_net.network_address + 1, rng_net.broadcast_address - 1
    pool = "10.200.0.0_22"
    net_prefix = f"{PREFIX}{network}/"
    ids = [f"t{tag}-c{i:03d}" for i in range(120)]
    seed = int.from_bytes(os.urandom(4), "little")
    tmp = tempfile.mkdtemp(prefix="mignet-etcd-torture-")
    with EtcdCluster(3) as cl:
        try:
            c = conf(cl.endpoints, network, str(rng_net))
            t = Torture(ids)
            chaos = MemberChaos(cl, seed)
            chaos.start()
            try:
                t.run(c, n_ops=600, n_threads=16, seed=seed)
            finally:
                chaos.finish()

            # quorum lost in the middle of a burst: every op answers, success or code 11
            quick = conf(cl.endpoints, network, str(rng_net), lock_timeout_ms=1500)
            burst = random.Random(seed + 1).sample(ids, 16)
            killer = threading.Timer(0.05, lambda: (cl.kill(1), cl.kill(2)))
            killer.start()
            t_burst = Torture(ids, kill_ratio=0.25, kill_window=1.0)
            t_burst.state = t.state
            t_burst.locks = t.locks
            bthreads = []
            for i, cid in enumerate(burst):
                r = random.Random(seed + 100 + i)
                bthreads.append(threading.Thread(target=t_burst.one, args=(
                    quick, "ADD" if i % 3 else "DEL", cid, r)))
            for th in bthreads:
                th.start()
            for th in bthreads:
                th.join()
            killer.join()
            cl.start(1)
            cl.start(2)
            cl.wait_healthy()

            violations = t.violations + t_burst.violations
            # the answers were the only allowed ones (success, code 11, or killed)
            assert not violations, violations[:10]

            kvs = etcd_kvs(cl, net_prefix)
            held = check_pool(kvs, net_prefix, pool, rng_net, first, last, violations)
            assert not violations, violations[:10]
            owner = {rec["id"]: ip for ip, rec in held.items()}
            state = t.state
            unknown, leaked = check_answers(state, owner, violations)

            # `mignet ipam list` against etcd agrees with etcdctl
            cfg = os.path.join(tmp, "net.conf")
            with open(cfg, "w") as f:
                json.dump(c, f)
            rc, out, err = mignet_list(["--config", cfg])
            assert rc == 0, err
            listed = {a["address"]: a["containerID"]
                      for p in json.loads(out)["pools"] for a in p["allocations"]}
            assert listed == {ip: rec["id"] for ip, rec in held.items()}, (listed, held)
            list_note = "agrees"

            # leaks of killed ADDs: GC reclaims those whose containers are gone...
            victims = leaked[:15]
            valid = [{"containerID": cid, "ifname": "eth0"} for cid in owner
                     if cid not in victims]
            gc = conf(cl.endpoints, network, str(rng_net), version="1.1.0")
            gc["cni.dev/valid-attachments"] = valid
            rc, out, err = run(gc, "GC", "gc")
            assert rc == 0, (out, err)
            after_gc = {rec["id"]: ip for ip, rec in
                        check_pool(etcd_kvs(cl, net_prefix), net_prefix, pool, rng_net, first,
                                   last, violations).items()}
            assert not violations, violations[:10]
            assert after_gc == {cid: ip for cid, ip in owner.items() if cid not in victims}
            for cid in victims:
                state[cid] = None
            # ...and the runtime's repeated ADD finds the others' allocation
            for cid in ids:
                if state[cid] == "?":
                    rc, out, err = run(c, "ADD", cid)
                    assert rc == 0, (cid, out, err)
                    if cid in after_gc:
                        assert address(out) == after_gc[cid], (cid, out, after_gc[cid])
                    state[cid] = address(out)
            # a repeated ADD of every holder returns its address
            for cid in ids:
                if state[cid] is not None:
                    rc, out, err = run(c, "ADD", cid)
                    assert rc == 0 and address(out) == state[cid], (cid, out, err)
            held = check_pool(etcd_kvs(cl, net_prefix), net_prefix, pool, rng_net, first, last,
                              violations)
            assert not violations, violations[:10]
            assert {rec["id"]: ip for ip, rec in held.items()} == \
                {cid: s for cid, s in state.items() if s is not None}
            # a fresh ADD succeeds; DEL of every container empties the pool
            rc, out, err = run(c, "ADD", f"t{tag}-fresh")
            assert rc == 0, (out, err)
            assert address(out) not in held
            for cid in ids + [f"t{tag}-fresh"]:
                rc, out, err = run(c, "DEL", cid)
                assert rc == 0, (cid, out, err)
            left = check_pool(etcd_kvs(cl, net_prefix), net_prefix, pool, rng_net, first, last,
                              violations)
            assert not violations, violations[:10]
            assert left == {}, f"allocations left after DEL of every container: {left}"
            assert not any("/ctr/" in k or "/pod/" in k for k in etcd_kvs(cl, net_prefix))

            codes = dict(t.codes)
            print(f"\netcd store torture (seed {seed}): {t.stats['ops']} ops, "
                  f"{t.stats['kills sent']} kill -9 sent, {t.stats['killed mid-op']} landed "
                  f"mid-operation, {chaos.kills} member kills / {chaos.restarts} restarts, "
                  f"errors {codes or 'none'} {t.samples or ''}; quorum-loss burst: {t_burst.stats['ops']} ops, "
                  f"{t_burst.stats['killed mid-op']} killed, errors {dict(t_burst.codes)}, slowest "
                  f"answer {t_burst.stats['max ms']} ms (deadline 1500 ms); "
                  f"{len(unknown)} containers unknown at the end, {len(leaked)} held an "
                  f"unanswered allocation ({len(victims)} reclaimed by GC, the rest by a "
                  f"repeated ADD); mignet ipam list: {list_note}; 0 invariant violations")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def local_allocations(store_dir, network):
    """{address: record} of a node's local file store (node slices), read from the files."""
    found = {}
    net_dir = os.path.join(store_dir, network)
    if not os.path.isdir(net_dir):
        return found
    for pool in os.listdir(net_dir):
        d = os.path.join(net_dir, pool)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            try:
                ipaddress.ip_address(name)
            except ValueError:
                continue
            with open(os.path.join(d, name)) as f:
                found[name] = json.loads(f.read())
    return found


def test_node_slices_torture():
    tag = secrets.token_hex(3)
    networks = [f"slices-{tag}-{k}" for k in range(4)]
    nodes = [f"node-{tag}-{n}" for n in range(6)]
    rng_net = ipaddress.ip_network("10.201.0.0/22")
    pool = "10.201.0.0_22"
    slice_len = 27
    seed = int.from_bytes(os.urandom(4), "little")
    # 6 containers per (node, network): 144 containers
    where = {}
    for n in nodes:
        for net in networks:
            for i in range(6):
                where[f"s{tag}-{n[-1]}{net[-1]}-{i}"] = (n, net)
    ids = sorted(where)
    tmp = tempfile.mkdtemp(prefix="mignet-slices-torture-")
    with EtcdCluster(3) as cl:
        try:
            def conf_of(cid):
                n, net = where[cid]
                return conf(cl.endpoints, net, str(rng_net), node_slice_size=f"/{slice_len}",
                            store_dir=os.path.join(tmp, n))

            t = Torture(ids, kill_window=0.006)
            chaos = MemberChaos(cl, seed, first_delay=0.05)
            # the claim and renewal paths, again and again: a node's cached claim is removed
            # (the next verb claims, and must find its own slice) or made due for renewal
            stop_wiper = threading.Event()
            wiped = collections.Counter()

            def wiper():
                r = random.Random(seed + 7)
                while not stop_wiper.wait(r.uniform(0.02, 0.1)):
                    n, net = r.choice(nodes), r.choice(networks)
                    cache = os.path.join(tmp, n, "_slices", f"{net}_{pool}@{n}")
                    try:
                        with open(cache) as f:
                            cached = json.load(f)
                    except (OSError, ValueError):
                        continue
                    if r.random() < 0.5:
                        os.unlink(cache)
                        wiped["removed"] += 1
                    else:
                        cached["renewed"] = 0
                        with open(cache + ".wiper", "w") as f:
                            json.dump(cached, f)
                        os.rename(cache + ".wiper", cache)
                        wiped["made due"] += 1

            wt = threading.Thread(target=wiper, daemon=True)
            chaos.start()
            wt.start()
            try:
                t.run(None, n_ops=600, n_threads=16, seed=seed,
                      node_of=lambda cid: where[cid][0], conf_of=conf_of)
            finally:
                stop_wiper.set()
                wt.join()
                chaos.finish()
            violations = t.violations
            assert not violations, violations[:10]

            kvs = etcd_kvs(cl, PREFIX)
            node_lease = {}
            for n in nodes:
                kv = kvs.get(f"{PREFIX}_nodes/{n}")
                if kv:
                    node_lease[n] = kv["lease"]
                    if json.loads(kv["value"]) != {"lease": str(kv["lease"])}:
                        violations.append(f"node key of {n}: {kv}")
            slice_of = {}  # (node, network) -> slice network
            for net in networks:
                sp = f"{PREFIX}{net}/{pool}/slices/"
                for k, kv in kvs.items():
                    if not k.startswith(sp):
                        continue
                    n = json.loads(kv["value"])["node"]
                    s = ipaddress.ip_network(k[len(sp):].replace("_", "/"))
                    if s.prefixlen != slice_len or not s.subnet_of(rng_net):
                        violations.append(f"slice {k} is not a /{slice_len} of {rng_net}")
                    if kv["lease"] != node_lease.get(n):
                        violations.append(f"slice {k} of {n} is not on its node's lease")
                    if (n, net) in slice_of:
                        violations.append(f"{n} holds two slices of {net}: "
                                          f"{slice_of[(n, net)]} and {s}")
                    slice_of[(n, net)] = s
            assert not violations, violations[:10]
            # everything else in etcd: only the node keys (allocations stay on the nodes)
            others = [k for k in kvs if "/slices/" not in k and "/_nodes/" not in k]
            assert not others, others[:5]

            def check_nodes():
                by_net = collections.defaultdict(dict)
                for n in nodes:
                    d = os.path.join(tmp, n)
                    for net in networks:
                        held = local_allocations(d, net)
                        if held and (n, net) not in slice_of:
                            violations.append(f"{n} allocates in {net} without a slice")
                            continue
                        for ip, rec in held.items():
                            if ipaddress.ip_address(ip) not in slice_of[(n, net)]:
                                violations.append(f"{n}: {ip} outside its slice "
                                                  f"{slice_of[(n, net)]}")
                            if ip in by_net[net]:
                                violations.append(f"{net}: {ip} held by {by_net[net][ip]} and "
                                                  f"{rec['id']}")
                            by_net[net][ip] = rec["id"]
                        # the claim cached on the node is the one in etcd
                        cache = os.path.join(d, "_slices", f"{net}_{pool}@{n}")
                        if os.path.exists(cache):
                            with open(cache) as f:
                                cached = json.load(f)
                            if (n, net) not in slice_of or \
                                    cached["slice"] != str(slice_of[(n, net)]).replace("/", "_") \
                                    or cached["lease"] != node_lease.get(n):
                                violations.append(f"{n} caches {cached}, etcd says "
                                                  f"{slice_of.get((n, net))}")
                    # `mignet ipam list` of the node's store agrees with its files
                    if os.access(MIGNET, os.X_OK):
                        rc, out, err = mignet_list(["--store-dir", d])
                        assert rc == 0, err
                        listed = {(p["network"], a["address"], a["containerID"])
                                  for p in json.loads(out)["pools"] for a in p["allocations"]}
                        files = {(net, ip, rec["id"]) for net in networks
                                 for ip, rec in local_allocations(d, net).items()}
                        if listed != files:
                            violations.append(f"{n}: mignet ipam list {listed ^ files}")
                return {cid: ip for net in by_net for ip, cid in by_net[net].items()}

            owner = check_nodes()
            assert not violations, violations[:10]
            state = t.state
            unknown, leaked = check_answers(state, owner, violations)
            # a repeated ADD returns the held address; DEL of everything empties every node
            for cid in ids:
                if state[cid] is not None:
                    rc, out, err = run(conf_of(cid), "ADD", cid, node=where[cid][0])
                    assert rc == 0, (cid, out, err)
                    if cid in owner:
                        assert address(out) == owner[cid], (cid, out, owner[cid])
            owner = check_nodes()
            assert not violations, violations[:10]
            for cid in ids:
                rc, out, err = run(conf_of(cid), "DEL", cid, node=where[cid][0])
                assert rc == 0, (cid, out, err)
            assert check_nodes() == {}
            assert not violations, violations[:10]
            leases = cl.etcdctl("lease", "list").stdout.split("\n")[1:]
            n_leases = len([l for l in leases if l.strip()])
            print(f"\nnode slices torture (seed {seed}): {len(nodes)} nodes x "
                  f"{len(networks)} networks, {t.stats['ops']} ops, {t.stats['kills sent']} "
                  f"kill -9 sent, {t.stats['killed mid-op']} landed mid-operation, "
                  f"{chaos.kills} member kills / {chaos.restarts} restarts, cached claims "
                  f"{wiped['removed']} removed / {wiped['made due']} made due for renewal, "
                  f"errors {dict(t.codes) or 'none'}; {len(slice_of)} slices claimed, "
                  f"{len(unknown)} containers unknown at the end ({len(leaked)} held an "
                  f"unanswered allocation, found again by a repeated ADD); "
                  f"{n_leases - len(node_lease)} orphan leases (granted by a killed process, "
                  f"no keys, expire with the TTL); 0 invariant violations")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class HoldingProxy:
    """An HTTP/1.1 relay in front of one etcd member that holds back the first commit txn (a
    /v3/kv/txn with a put) until told to release it: a request that was sent by a plugin that
    then died (or gave up at its deadline), still in transit (a slow network, a load balancer,
    raft replication), which lands after later verbs have run."""

    def __init__(self, upstream_port):
        import socket
        self.upstream = ("127.0.0.1", upstream_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.hold_next = False
        self.held, self.release, self.answered = (threading.Event(), threading.Event(),
                                                  threading.Event())
        self.answer = b""
        self.conns = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self):
        self.hold_next = True
        for e in (self.held, self.release, self.answered):
            e.clear()
        self.answer = b""

    def close(self):
        self.closed = True
        self.release.set()
        for s in [self.sock] + self.conns:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        import socket
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            self.conns += [client, up]
            threading.Thread(target=self._requests, args=(client, up), daemon=True).start()
            threading.Thread(target=self._answers, args=(up, client), daemon=True).start()

    def _answers(self, up, client):
        while True:
            try:
                data = up.recv(65536)
            except OSError:
                return
            if not data:
                return
            if self.release.is_set() and not self.answered.is_set():
                self.answer += data
                if b"\r\n\r\n" in self.answer and self.answer.rstrip().endswith(b"}"):
                    self.answered.set()
            try:
                client.sendall(data)
            except OSError:
                pass  # the plugin is gone

    def _requests(self, client, up):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = client.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                length, keep = 0, []
                for line in lines:
                    name = line.split(b":", 1)[0].strip().lower()
                    if name == b"content-length":
                        length = int(line.split(b":", 1)[1])
                    if name == b"expect":
                        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                        continue
                    keep.append(line)
                while len(buf) < length:
                    data = client.recv(65536)
                    if not data:
                        break  # the plugin died after sending (part of) it: hold what came
                    buf += data
                body, buf = buf[:length], buf[length:]
                request = b"\r\n".join(keep) + b"\r\n\r\n" + body
                if self.hold_next and lines[0].startswith(b"POST /v3/kv/txn ") and \
                        b"request_put" in body and len(body) == length:
                    self.hold_next = False
                    self.held.set()
                    self.release.wait(60)
                up.sendall(request)
        except OSError:
            return


def allocations_by_id(cl, network):
    kvs = etcd_kvs(cl, f"{PREFIX}{network}/")
    return {json.loads(kv["value"])["id"]: k.rsplit("/", 1)[1] for k, kv in kvs.items()
            if "/ip/" in k}


def test_late_commit_of_a_dead_plugin_is_fenced():
    """A txn sent by a plugin that died (or timed out) can reach etcd after later verbs of
    the same container have answered. It must not apply then: a DEL landing after a repeated
    ADD would free an address the container was just told it holds (the next ADD hands it to
    another container: a duplicate), and an ADD landing after the runtime's DEL would leave an
    allocation behind. Every verb bumps the gen of the pools it read, even when it changes
    nothing, so such a late txn fails its compare."""
    tag = secrets.token_hex(3)
    network = f"fence-{tag}"
    with EtcdCluster(1) as cl:
        proxy = HoldingProxy(cl.client_ports[0])
        try:
            direct = conf(cl.endpoints, network, "10.202.0.0/24", lock_timeout_ms=5000)
            via = conf(proxy.url, network, "10.202.0.0/24", lock_timeout_ms=5000)

            def dead_plugin(command, cid):
                """Run @command through the proxy; kill it once its commit is held."""
                proxy.arm()
                p = subprocess.Popen([WHEREABOUTS], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     text=True, env=env(command, cid))
                p.stdin.write(json.dumps(via))
                p.stdin.close()
                assert proxy.held.wait(30), f"{command} {cid} sent no commit"
                p.kill()
                p.wait(timeout=HANG_GUARD)

            def land():
                proxy.release.set()
                assert proxy.answered.wait(30), "the held commit got no answer"
                return json.loads(proxy.answer.split(b"\r\n\r\n", 1)[1])

            # a DEL that died in flight, then the same container's ADD again
            x = f"f{tag}-x"
            rc, out, err = run(direct, "ADD", x)
            assert rc == 0, (out, err)
            a = address(out)
            dead_plugin("DEL", x)
            rc, out, err = run(direct, "ADD", x)
            assert rc == 0 and address(out) == a, (out, err)
            late = land()
            assert allocations_by_id(cl, network).get(x) == a, \
                f"{x} was answered {a} after the DEL died, and then lost it ({late})"
            rc, out, err = run(direct, "ADD", f"f{tag}-y")
            assert rc == 0 and address(out) != a, (out, err)

            # an ADD that died in flight, then the runtime's DEL of that container
            z = f"f{tag}-z"
            dead_plugin("ADD", z)
            rc, out, err = run(direct, "DEL", z)
            assert rc == 0, (out, err)
            late = land()
            assert z not in allocations_by_id(cl, network), \
                f"{z} holds an address after its DEL answered success ({late})"
        finally:
            proxy.close()
