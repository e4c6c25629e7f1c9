# SPDX-License-Identifier: Apache-2.0
"""The whereabouts IPAM plugin and the `mignet ipam` admin commands under valgrind.

Every run is `valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
--track-origins=yes` (no suppression file), and every run is judged on three things: valgrind's
verdict (ERROR SUMMARY 0, nothing definitely lost), the exit status, and the answer itself read
back independently (the address allocated, what the store or etcd holds afterwards), so that a
run that failed early cannot pass as "clean".

- File store (a private store_dir): ADD at 1.1.0 and 0.3.1 with IPv4 + IPv6 ranges, exclude,
  ipRanges, gateway, routes, dns, static addresses and a debug log file; ADD again
  (idempotent), CHECK, STATUS, GC with cni.dev/valid-attachments, DEL, DEL again. Error paths:
  a /30 exhausted (and a two-range ADD that unwinds its first address), bad configs (code 7,
  non-JSON stdin code 6), the store lock held by another process (code 11). Each of these
  runs must also free every heap block ("in use at exit: 0 bytes").
- etcd store against a real one-member etcd (plain and TLS): ADD, ADD again, CHECK, STATUS,
  GC, DEL, and etcd unreachable (code 11; STATUS code 50). libcurl (and OpenSSL) is dlopen'ed
  on first use and stays mapped until exit, so the dynamic loader's bookkeeping for it is
  "still reachable": allowed, but only that; any other block left at exit fails the test.
- Node slices (etcd claim + local file store): the claiming ADD, a cached ADD, DEL, STATUS.
- `mignet ipam list|show|release|gc` on a file store populated by the plugin, gc with a
  really removed network namespace.

valgrind cannot run an AddressSanitizer binary: when MIGNET_BUILD points at an ASan build the
plain build/ is used if it exists, else the tests are skipped (as test_valgrind.py does).
Names (network names, container IDs, netns, temp dirs) are unique per run and everything is
removed in finally blocks.
"""
import fcntl
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from etcd_cluster import ETCD, EtcdCluster, etcd1, free_ports  # noqa: F401 (etcd1: fixture)
from valgrind_helpers import assert_clean, heap_usage, non_asan, read_logs, valgrind_cmd
from whereabouts_helpers import allocations, check_invariants, conf, multus_args

from paths import ROOT  # noqa: E402
_BUILDS = [os.environ.get("MIGNET_BUILD"), os.path.join(ROOT, "build")]
WHEREABOUTS = non_asan([os.path.join(b, "plugins", "whereabouts", "whereabouts")
                        for b in _BUILDS if b])
MIGNET = non_asan([os.environ.get("MIGNET_BIN")]
                  + [os.path.join(b, "migration", "mignet") for b in _BUILDS if b])
TAG = "vgwb" + secrets.token_hex(3)
ETCD_PREFIX = "/mignet/whereabouts/"
NETNS = "/proc/self/ns/net"  # IPAM ignores CNI_NETNS, but ADD and CHECK require it set

pytestmark = [
    pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed"),
    pytest.mark.skipif(WHEREABOUTS is None,
                       reason="no non-ASan whereabouts build "
                              "(build/plugins/whereabouts/whereabouts)"),
]

needs_etcd = pytest.mark.skipif(not os.access(ETCD, os.X_OK), reason="etcd is not installed")

FIGURES = []  # (what, allocs, frees, bytes allocated, in use at exit), printed with -s


@pytest.fixture(scope="module", autouse=True)
def _print_figures():
    yield
    for f in FIGURES:
        print("%-40s %6d allocs %6d frees %9d bytes, %6d in use at exit" % f)


class Run:
    def __init__(self, rc, stdout, stderr, log):
        self.rc, self.stdout, self.stderr, self.log = rc, stdout, stderr, log
        try:
            self.out = json.loads(stdout) if stdout.strip() else None
        except ValueError:
            self.out = None


_LOADER_FRAME = re.compile(r"rtld-malloc\.h|ld-linux|/ld-[\w.-]*\.so")


def _only_loader_reachable(text, what):
    """Every block still reachable at exit was allocated by the dynamic loader (the link maps,
    version tables and TLS of the dlopen'ed libcurl and its dependencies)."""
    for rec in re.split(r"\n==\d+== \n", text):
        if "still reachable in loss record" not in rec:
            continue
        frames = [l for l in rec.splitlines() if re.search(r"(at|by) 0x[0-9A-F]+:", l)]
        # frames[0] is valgrind's malloc/calloc, frames[1] whoever called it
        assert len(frames) > 1 and _LOADER_FRAME.search(frames[1]), \
            f"{what}: a block not owned by the dynamic loader is left at exit:\n{rec}"


def valgrind_run(argv, what, stdin=None, env=None, heap="freed"):
    """Run argv under valgrind; assert it is clean. heap: "freed" (nothing in use at exit) or
    "loader" (only the dynamic loader's blocks for a dlopen'ed library are)."""
    logdir = tempfile.mkdtemp(prefix=TAG + "-log-")
    try:
        p = subprocess.run(valgrind_cmd(logdir, ["--show-leak-kinds=all"]) + argv,
                           input=stdin, capture_output=True, text=True, env=env, timeout=120)
        logs = read_logs(logdir)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    assert_clean(p.returncode, logs, what)
    assert len(logs) == 1, f"{what}: {len(logs)} processes"  # nothing forks here
    text = next(iter(logs.values()))
    assert re.search(r"ERROR SUMMARY: 0 errors", text), text
    usage = heap_usage(text)
    FIGURES.append((what,) + usage)
    if heap == "freed":
        assert usage[3] == 0 and "All heap blocks were freed" in text, f"{what}:\n{text}"
    else:
        _only_loader_reachable(text, what)
    return Run(p.returncode, p.stdout, p.stderr, text)


def wb(command, c, what, cid="ctr1", ifname="eth0", args=None, netns=NETNS, heap="freed",
       extra_env=None, stdin=None):
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_IFNAME": ifname,
           "CNI_NETNS": netns, "CNI_PATH": "/usr/lib/cni"}
    if args:
        env["CNI_ARGS"] = args
    env.update(extra_env or {})
    return valgrind_run([WHEREABOUTS], what, stdin=json.dumps(c) if stdin is None else stdin,
                        env=env, heap=heap)


def ok(r, what):
    assert r.rc == 0, f"{what}: rc {r.rc}: {r.stdout} {r.stderr}"
    return r.out


def cni_error(r, code, what, msg_re=None):
    assert r.rc != 0 and r.rc != 99, f"{what}: rc {r.rc}: {r.stdout}"
    assert isinstance(r.out, dict) and r.out.get("code") == code, f"{what}: {r.stdout}"
    if msg_re:
        assert re.search(msg_re, r.out["msg"] + " " + r.out.get("details", ""), re.I), r.out
    return r.out


def addrs(res):
    return [ip["address"] for ip in res["ips"]]


def with_prev(c, res):
    c = dict(c)
    c["prevResult"] = res
    return c


def held(store):
    return {a for (_, _, a) in allocations(store)}


# ---------------------------------------------------------------------------------------------
# file store
# ---------------------------------------------------------------------------------------------
def dual_ipam(store, net, **extra):
    ipam = {"range": "10.77.0.0/24", "exclude": ["10.77.0.0/31", "10.77.0.2"],
            "gateway": "10.77.0.254",
            "ipRanges": [{"range": "fd77::/64", "range_start": "fd77::10",
                          "exclude": ["fd77::10/127"]}],
            "routes": [{"dst": "10.70.0.0/16", "gw": "10.77.0.254"}],
            "dns": {"nameservers": ["10.77.0.53"], "search": ["vg.local"]},
            "addresses": [{"address": "10.99.0.9/24"}],
            "network_name": net, "store_dir": store,
            "log_file": os.path.join("/tmp", f"{net}.log"), "log_level": "debug"}
    ipam.update(extra)
    return ipam


def test_file_store_verbs_clean(tmp_path):
    store, net = os.path.join(str(tmp_path), "store"), TAG + "-file"
    c = conf(dual_ipam(store, net), name=net)
    c031 = conf(dual_ipam(store, net), version="0.3.1", name=net)
    try:
        res = ok(wb("ADD", c, "file ADD 1.1.0", cid="c1", args=multus_args(pod="p1")), "ADD")
        assert addrs(res) == ["10.77.0.3/24", "fd77::12/64", "10.99.0.9/24"], res
        assert res["ips"][0].get("gateway") == "10.77.0.254" and "gateway" not in res["ips"][1]
        assert res["routes"] == [{"dst": "10.70.0.0/16", "gw": "10.77.0.254"}], res
        assert res["dns"]["nameservers"] == ["10.77.0.53"], res
        recs = check_invariants(store)
        assert {a: (r["id"], r["podref"]) for (_, _, a), r in recs.items()} == \
            {"10.77.0.3": ("c1", "default/p1"), "fd77::12": ("c1", "default/p1")}

        # idempotent: the same pod and interface gets the same addresses, nothing new is held
        again = ok(wb("ADD", c, "file ADD again", cid="c1", args=multus_args(pod="p1")), "ADD")
        assert addrs(again) == addrs(res)
        assert held(store) == {"10.77.0.3", "fd77::12"}

        r = wb("CHECK", with_prev(c, res), "file CHECK", cid="c1", args=multus_args(pod="p1"))
        assert ok(r, "CHECK") is None

        res2 = ok(wb("ADD", c031, "file ADD 0.3.1", cid="c2", args=multus_args(pod="p2")),
                  "ADD 0.3.1")
        assert res2["cniVersion"] == "0.3.1" and res2["ips"][0]["version"] == "4", res2
        assert addrs(res2)[:2] == ["10.77.0.4/24", "fd77::13/64"], res2
        assert held(store) == {"10.77.0.3", "fd77::12", "10.77.0.4", "fd77::13"}

        assert ok(wb("STATUS", c, "file STATUS"), "STATUS") is None

        gc = dict(c)
        gc["cni.dev/valid-attachments"] = [{"containerID": "c1", "ifname": "eth0"}]
        assert ok(wb("GC", gc, "file GC"), "GC") is None
        assert held(store) == {"10.77.0.3", "fd77::12"}  # c2's addresses were collected

        # DEL drops a prevResult it does not need (rewriting its input): here an odd one
        odd = dict(c, prevResult={"cniVersion": "1.1.0", "ips": [{"address": "10.77.0.3"}]})
        assert ok(wb("DEL", odd, "file DEL", cid="c1", args=multus_args(pod="p1")), "DEL") is None
        assert held(store) == set()
        assert os.listdir(os.path.join(store, net))  # the store was there, and is empty of IPs
        assert ok(wb("DEL", c, "file DEL again", cid="c1"), "DEL again") is None
        assert held(store) == set()
        # the same lowest addresses come back
        res3 = ok(wb("ADD", c, "file ADD after DEL", cid="c3"), "ADD")
        assert addrs(res3)[:2] == ["10.77.0.3/24", "fd77::12/64"]
    finally:
        for f in (os.path.join("/tmp", f"{net}.log"),):
            if os.path.exists(f):
                os.unlink(f)


def test_file_store_error_paths_clean(tmp_path):
    store, net = os.path.join(str(tmp_path), "store"), TAG + "-err"
    small = conf({"range": "10.79.0.0/30", "network_name": net, "store_dir": store})
    for i, a in ((1, "10.79.0.1/30"), (2, "10.79.0.2/30")):
        res = ok(wb("ADD", small, f"file ADD /30 #{i}", cid=f"x{i}"), "ADD")
        assert addrs(res) == [a]
    cni_error(wb("ADD", small, "file ADD /30 exhausted", cid="x3"), 999, "exhausted",
              r"no free address left in range 10\.79\.0\.0/30")
    assert held(store) == {"10.79.0.1", "10.79.0.2"}

    # a two-range ADD whose second range is full gives its first address back
    two = conf({"ipRanges": [{"range": "fd79::/64"}, {"range": "10.79.0.0/30"}],
                "network_name": net, "store_dir": store})
    cni_error(wb("ADD", two, "file ADD 2 ranges, 2nd exhausted", cid="x4"), 999, "unwind")
    assert held(store) == {"10.79.0.1", "10.79.0.2"}, "the fd79:: address was not given back"

    # bad configs: refused before the store is touched (code 7), non-JSON stdin (code 6)
    bad_store = os.path.join(str(tmp_path), "never-created")
    for what, ipam, msg in (
            ("range_start outside the range",
             {"range": "10.80.0.0/24", "range_start": "10.81.0.1"}, r"range_start"),
            ("exclude of the other family",
             {"range": "10.80.0.0/24", "exclude": ["fd80::/64"]}, r"exclude"),
            ("invalid network_name",
             {"range": "10.80.0.0/24", "network_name": "../etc"}, r"network_name"),
            ("a /32 range", {"ipRanges": [{"range": "10.80.0.1/32"}]}, r"ipRanges")):
        ipam = dict(ipam, store_dir=bad_store)
        cni_error(wb("ADD", conf(ipam), f"file ADD bad config: {what}"), 7, what, msg)
    cni_error(wb("ADD", None, "file ADD stdin not JSON", stdin="{\"cniVersion\": "), 6,
              "not JSON")
    assert not os.path.exists(bad_store)

    # the store lock held by another process: code 11, nothing changed. lock_timeout_ms is 0
    # (fail at once) because valgrind 3.19 does not treat fcntl(F_OFD_SETLKW) as a blocking
    # call: it runs it with every signal blocked, so the timer that bounds the wait can never
    # interrupt it (a plain C F_OFD_SETLKW + alarm() hangs under valgrind the same way).
    locked = conf({"range": "10.79.0.0/30", "network_name": net, "store_dir": store,
                   "lock_timeout_ms": 0})
    waits = dict(locked)
    waits["ipam"] = dict(locked["ipam"], lock_timeout_ms=60000)
    fd = os.open(os.path.join(store, net, "lock"), os.O_RDWR)
    try:
        # a classic POSIX lock conflicts with the plugin's OFD lock; this process holds it
        # while the plugin runs as another process
        fcntl.lockf(fd, fcntl.LOCK_EX)
        cni_error(wb("DEL", locked, "file DEL lock held", cid="x1"), 11, "lock", r"lock")
        cni_error(wb("ADD", locked, "file ADD lock held", cid="x5"), 11, "lock", r"lock")
        assert held(store) == {"10.79.0.1", "10.79.0.2"}
        # the wait itself (timer, signal handler, restored mask): the holder lets go while
        # the plugin waits, and the DEL goes through
        timer = threading.Timer(2.0, lambda: fcntl.lockf(fd, fcntl.LOCK_UN))
        timer.start()
        try:
            t0 = time.monotonic()
            r = wb("DEL", waits, "file DEL after waiting", cid="x1")
            waited = time.monotonic() - t0
        finally:
            timer.cancel()
    finally:
        os.close(fd)
    assert ok(r, "DEL after waiting") is None and waited >= 2.0
    assert held(store) == {"10.79.0.2"}


# ---------------------------------------------------------------------------------------------
# etcd store
# ---------------------------------------------------------------------------------------------
def etcd_conf(endpoints, net, extra=None):
    ipam = {"range": "10.88.0.0/24", "ipRanges": [{"range": "fd88::/64"}], "datastore": "etcd",
            "etcd_host": endpoints, "network_name": net, "lock_timeout_ms": 8000}
    ipam.update(extra or {})
    return conf(ipam, name=net)


def etcd_held(cl, net):
    """{address: container ID} of every allocation key of network net, read with etcdctl."""
    found = {}
    for k, v in cl.get_prefix(f"{ETCD_PREFIX}{net}/").items():
        parts = k[len(ETCD_PREFIX):].split("/")
        if len(parts) == 4 and parts[2] == "ip":
            rec = json.loads(v)
            assert rec["ip"] == parts[3], (k, v)
            found[parts[3]] = rec["id"]
    return found


@needs_etcd
def test_etcd_verbs_clean(etcd1):
    net = TAG + "-etcd"
    c = etcd_conf(etcd1.endpoints, net)
    res = ok(wb("ADD", c, "etcd ADD", cid="e1", heap="loader"), "ADD")
    assert addrs(res) == ["10.88.0.1/24", "fd88::1/64"], res
    assert etcd_held(etcd1, net) == {"10.88.0.1": "e1", "fd88::1": "e1"}

    again = ok(wb("ADD", c, "etcd ADD again", cid="e1", heap="loader"), "ADD again")
    assert addrs(again) == addrs(res)
    r = wb("CHECK", with_prev(c, res), "etcd CHECK", cid="e1", heap="loader")
    assert ok(r, "CHECK") is None
    assert ok(wb("STATUS", c, "etcd STATUS", heap="loader"), "STATUS") is None

    res2 = ok(wb("ADD", c, "etcd ADD #2", cid="e2", heap="loader"), "ADD")
    assert addrs(res2) == ["10.88.0.2/24", "fd88::2/64"], res2
    gc = dict(c)
    gc["cni.dev/valid-attachments"] = [{"containerID": "e1", "ifname": "eth0"}]
    assert ok(wb("GC", gc, "etcd GC", heap="loader"), "GC") is None
    assert etcd_held(etcd1, net) == {"10.88.0.1": "e1", "fd88::1": "e1"}

    assert ok(wb("DEL", c, "etcd DEL", cid="e1", heap="loader"), "DEL") is None
    assert etcd_held(etcd1, net) == {}

    # etcd unreachable (a port nobody listens on): code 11 within lock_timeout_ms; STATUS 50
    dead = etcd_conf(f"http://127.0.0.1:{free_ports(1)[0]}", net, {"lock_timeout_ms": 500})
    cni_error(wb("ADD", dead, "etcd ADD unreachable", cid="e3", heap="loader"), 11,
              "unreachable", r"etcd")
    cni_error(wb("STATUS", dead, "etcd STATUS unreachable", heap="loader"), 50, "unreachable")
    assert etcd_held(etcd1, net) == {}


@needs_etcd
def test_etcd_tls_clean():
    """The same client over TLS with a client certificate: OpenSSL's global state is set up
    by curl_global_init and must not leak either."""
    net = TAG + "-tls"
    with EtcdCluster(1, tls=True) as cl:
        p = cl.pki
        c = etcd_conf(cl.endpoints, net, {"etcd_ca_cert_file": p["ca"],
                                          "etcd_cert_file": p["cert"],
                                          "etcd_key_file": p["key"]})
        res = ok(wb("ADD", c, "etcd TLS ADD", cid="t1", heap="loader"), "ADD")
        assert addrs(res) == ["10.88.0.1/24", "fd88::1/64"], res
        assert etcd_held(cl, net) == {"10.88.0.1": "t1", "fd88::1": "t1"}
        assert ok(wb("DEL", c, "etcd TLS DEL", cid="t1", heap="loader"), "DEL") is None
        assert etcd_held(cl, net) == {}


@needs_etcd
def test_node_slices_clean(etcd1, tmp_path):
    net, node = TAG + "-ns", TAG + "-node"
    store = os.path.join(str(tmp_path), "store")
    c = etcd_conf(etcd1.endpoints, net, {"node_slice_size": "/28", "store_dir": store,
                                         "ipRanges": []})
    env = {"NODENAME": node}
    # the first ADD claims a slice in etcd (libcurl loaded), the next ones use the cached claim
    res = ok(wb("ADD", c, "slice ADD (claim)", cid="s1", heap="loader", extra_env=env), "ADD")
    assert addrs(res) == ["10.88.0.1/24"], res
    slices = etcd1.get_prefix(f"{ETCD_PREFIX}{net}/10.88.0.0_24/slices/")
    assert {k.rsplit("/", 1)[1]: json.loads(v)["node"] for k, v in slices.items()} == \
        {"10.88.0.0_28": node}
    res = ok(wb("ADD", c, "slice ADD (cached)", cid="s2", extra_env=env), "ADD")
    assert addrs(res) == ["10.88.0.2/24"], res
    assert held(store) == {"10.88.0.1", "10.88.0.2"} and etcd_held(etcd1, net) == {}
    assert ok(wb("DEL", c, "slice DEL", cid="s1", extra_env=env), "DEL") is None
    assert held(store) == {"10.88.0.2"}
    assert ok(wb("STATUS", c, "slice STATUS", extra_env=env), "STATUS") is None


# ---------------------------------------------------------------------------------------------
# mignet ipam
# ---------------------------------------------------------------------------------------------
def native_add(c, cid, pod, netns):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": "ADD",
           "CNI_CONTAINERID": cid, "CNI_IFNAME": "eth0", "CNI_NETNS": netns,
           "CNI_PATH": "/usr/lib/cni", "CNI_ARGS": multus_args(pod=pod)}
    p = subprocess.run([WHEREABOUTS], input=json.dumps(c), env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return addrs(json.loads(p.stdout))[0].split("/")[0]


def mignet(what, *args, rc=0):
    r = valgrind_run([MIGNET, "ipam", *args], "mignet ipam " + what)
    assert r.rc == rc, f"mignet ipam {' '.join(args)}: rc {r.rc}: {r.stdout} {r.stderr}"
    return r


@pytest.mark.skipif(MIGNET is None, reason="no non-ASan mignet build (build/migration/mignet)")
@pytest.mark.skipif(os.geteuid() != 0, reason="gc needs a real netns (ip netns add/del)")
def test_mignet_ipam_admin_clean(tmp_path):
    store, net = os.path.join(str(tmp_path), "store"), TAG + "-adm"
    dead_ns = TAG + "-dead"
    c = conf({"range": "10.66.0.0/24", "network_name": net, "store_dir": store})
    cfile = os.path.join(str(tmp_path), "net.conf")
    with open(cfile, "w") as f:
        json.dump(c, f)
    try:
        subprocess.run(["ip", "netns", "add", dead_ns], check=True, capture_output=True)
        live = native_add(c, "a1", "pa", NETNS)
        gone = native_add(c, "a2", "pb", "/run/netns/" + dead_ns)
        third = native_add(c, "a3", "pc", NETNS)
        assert (live, gone, third) == ("10.66.0.1", "10.66.0.2", "10.66.0.3")
        subprocess.run(["ip", "netns", "del", dead_ns], check=True, capture_output=True)
        S = ["--store-dir", store]

        out = mignet("list", "list", *S).stdout
        assert re.search(r"10\.66\.0\.2\s+default/pb\s+a2\s+eth0", out), out
        js = json.loads(mignet("list --json", "list", *S, "--json").stdout)
        got = {a["address"]: a["containerID"] for p in js["pools"] for a in p["allocations"]}
        assert got == {live: "a1", gone: "a2", third: "a3"}
        js = json.loads(mignet("list --config", "list", "--config", cfile, "--json").stdout)
        assert [p["network"] for p in js["pools"]] == [net]

        js = json.loads(mignet("show ADDRESS --json", "show", *S, "--json", gone).stdout)
        assert [(a["containerID"], a["netnsState"]) for a in js] == [("a2", "gone")], js
        out = mignet("show POD", "show", *S, "default/pa").stdout
        assert live in out and "live" in out, out
        out = mignet("show CONTAINERID", "show", *S, "a3").stdout
        assert third in out, out

        js = json.loads(mignet("release --json", "release", *S, "--json", third).stdout)
        assert [a["address"] for a in js] == [third]
        assert held(store) == {live, gone}
        mignet("release (not allocated)", "release", *S, third, rc=1)
        # a corrupt entry: listed with its reason, reported by gc, freed by release
        bad = os.path.join(store, net, "10.66.0.0_24", "10.66.0.9")
        with open(bad, "w") as f:
            f.write("garbage")
        out = mignet("list (corrupt)", "list", *S).stdout
        assert "CORRUPT: not a JSON object" in out, out
        js = json.loads(mignet("gc (corrupt)", "gc", *S, "--json", "--dry-run").stdout)
        assert [(a["address"], a["reason"]) for a in js["skipped"]] == [("10.66.0.9", "corrupt")]
        mignet("release (corrupt)", "release", *S, "10.66.0.9")
        assert not os.path.lexists(bad)

        js = json.loads(mignet("gc --dry-run", "gc", *S, "--json", "--dry-run").stdout)
        assert [a["address"] for a in js["released"]] == [gone] and js["kept"] == 1, js
        assert held(store) == {live, gone}
        js = json.loads(mignet("gc", "gc", *S, "--json").stdout)
        assert [a["address"] for a in js["released"]] == [gone] and js["kept"] == 1, js
        assert held(store) == {live}
        check_invariants(store)
    finally:
        subprocess.run(["ip", "netns", "del", dead_ns], capture_output=True)
