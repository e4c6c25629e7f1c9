# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures for the macvlan tests (and anyone else who wants them).

Topology, all of it throw-away and named with one random per-run prefix P = "mn" + 5 hex:

    root netns:   bridge  P"br"   (the switch / VLAN the nodes share)
                    |  veth  P"vK" (root end, enslaved to the bridge)
    node netns    P"-nK":  eth1  (the other veth end: the macvlan master; dummy/vlan are not
                                  built into this kernel)
    pod netns     P"-pK":  where the plugin puts its interface (CNI_NETNS)

The plugin under test runs *inside a node netns* (`ip netns exec`), so "the root namespace"
from its point of view is the node, and its master eth1 lives there.

Which macvlan is under test: $MIGNET_MACVLAN (a path) or build/plugins/macvlan/macvlan.
Tests marked `ours` check what ours does beyond the reference plugin (CNI 1.1.0, GC,
STATUS, stricter validation): they are skipped when $MIGNET_MACVLAN is the reference
/usr/lib/cni/macvlan, which is how the tests themselves are validated.

Kernel state is always read back independently (`ip -j -d ...` in the netns); the plugin's
own output is never taken as evidence of what it did.

Every namespace and link is removed in teardown, even when a test fails. A session-start
sweep removes leftovers of an earlier crashed run, but only those that carry our marker: a
file /run/mignet-tests/<prefix> naming the pid of the run that made them, which is dead.
"""
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

# Test modules import the helpers below as `mignet_conftest`, a name no other conftest.py can
# take over (pytest may load several modules named "conftest").
sys.modules.setdefault("mignet_conftest", sys.modules[__name__])

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("MIGNET_BUILD", os.path.join(ROOT, "build"))
REF_DIR = "/usr/lib/cni"
REF_MACVLAN = os.path.join(REF_DIR, "macvlan")
MACVLAN = os.path.abspath(os.environ.get("MIGNET_MACVLAN")
                          or os.path.join(BUILD, "plugins", "macvlan", "macvlan"))
WHEREABOUTS = os.path.join(BUILD, "plugins", "whereabouts", "whereabouts")
IS_REFERENCE = (os.path.exists(MACVLAN)
                and os.path.realpath(MACVLAN) == os.path.realpath(REF_MACVLAN))

PREFIX = "mn" + secrets.token_hex(3)[:5]
MARKER_DIR = "/run/mignet-tests"
PLUGIN_TIMEOUT = 60  # seconds; guards against a hang only, nothing asserts on time

ALL_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
VERB_VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]


# ----------------------------------------------------------------------------------------------
# pytest hooks: the `ours` marker
# ----------------------------------------------------------------------------------------------
def pytest_configure(config):
    config.addinivalue_line(
        "markers", "ours: checks mignet's extensions beyond the reference macvlan (CNI 1.1.0, "
        "GC/STATUS, stricter validation); skipped when MIGNET_MACVLAN is the reference plugin")


def pytest_collection_modifyitems(config, items):
    if not IS_REFERENCE:
        return
    skip = pytest.mark.skip(reason="mignet extension beyond the reference macvlan "
                            "(MIGNET_MACVLAN is the reference plugin)")
    for item in items:
        if item.get_closest_marker("ours"):
            item.add_marker(skip)


def ours_if(cond):
    """Mark a parametrized case `ours` when cond holds (e.g. cniVersion 1.1.0)."""
    return [pytest.mark.ours] if cond else []


def versions_param(versions, ours_versions=("1.1.0",)):
    return [pytest.param(v, marks=ours_if(v in ours_versions), id=v) for v in versions]


# ----------------------------------------------------------------------------------------------
# shell helpers
# ----------------------------------------------------------------------------------------------
def sh(*args, check=True, timeout=30, **kw):
    """Run a command; raise with its stderr when check and it fails."""
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({r.returncode}): "
                             f"{r.stderr.strip()} {r.stdout.strip()}")
    return r


def ip_json(ns, *args):
    """`ip -j -d <args>` inside netns ns (None: root netns); parsed JSON list."""
    cmd = ["ip"] + (["-n", ns] if ns else []) + ["-j", "-d"] + list(args)
    out = sh(*cmd).stdout.strip()
    return json.loads(out) if out else []


def link_names(ns):
    return sorted(l["ifname"] for l in ip_json(ns, "link", "show"))


def link(ns, ifname):
    """The link's `ip -j -d link show` object, or None when it does not exist."""
    r = sh("ip", *(["-n", ns] if ns else []), "-j", "-d", "link", "show", "dev", ifname,
           check=False)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)[0]


def macvlan_mode(ns, ifname):
    li = link(ns, ifname)["linkinfo"]
    assert li["info_kind"] == "macvlan", li
    return li["info_data"]["mode"]


def addrs(ns, ifname, family=None):
    """Set of "addr/prefixlen" on the link, global and link scope, v4 and v6 (family 4/6)."""
    fam = {4: ["-4"], 6: ["-6"], None: []}[family]
    cmd = ["ip", "-n", ns, "-j"] + fam + ["addr", "show", "dev", ifname]
    out = json.loads(sh(*cmd).stdout or "[]")
    res = set()
    for l in out:
        for a in l.get("addr_info", []):
            res.add(f"{a['local']}/{a['prefixlen']}")
    return res


def global_addrs(ns, ifname):
    return {a for a in addrs(ns, ifname) if not a.startswith("fe80:")}


def routes(ns, family=4, table="main"):
    return ip_json(ns, f"-{family}", "route", "show", "table", table)


# ----------------------------------------------------------------------------------------------
# running a plugin
# ----------------------------------------------------------------------------------------------
def netns_path(ns):
    return ns if ns is None or ns.startswith("/") else f"/run/netns/{ns}"


def run_plugin(binary, command, netns, ifname, conf, containerid="ctr-mignet-test", args=None,
               cni_path=None, node=None, env=None, stdin=None, timeout=PLUGIN_TIMEOUT):
    """Run a CNI plugin once.

    binary: path; command: CNI_COMMAND (None: leave unset); netns: a netns name or path (None:
    unset); ifname/containerid/args: CNI_IFNAME/CNI_CONTAINERID/CNI_ARGS (None: unset);
    conf: dict (dumped) or str/bytes (sent as is); node: netns name the plugin runs in (its
    "host" netns, where the master lives); env: extra/overriding variables (value None
    removes one); stdin: raw bytes overriding conf.
    Returns (rc, parsed JSON of stdout or None, stdout, stderr).
    """
    e = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
         "CNI_PATH": cni_path if cni_path is not None else REF_DIR}
    for k, v in (("CNI_COMMAND", command), ("CNI_NETNS", netns_path(netns)),
                 ("CNI_IFNAME", ifname), ("CNI_CONTAINERID", containerid), ("CNI_ARGS", args)):
        if v is not None:
            e[k] = v
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    if stdin is None:
        stdin = conf if isinstance(conf, (str, bytes)) else json.dumps(conf)
    if isinstance(stdin, str):
        stdin = stdin.encode()
    cmd = ([ "ip", "netns", "exec", node] if node else []) + [binary]
    p = subprocess.run(cmd, input=stdin, capture_output=True, env=e, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    try:
        parsed = json.loads(out) if out.strip() else None
    except ValueError:
        parsed = None
    return p.returncode, parsed, out, err


def assert_cni_error(rc, res, out, code=None, conf_version=None, msg_re=None, details_re=None):
    """A CNI error: non-zero exit, one JSON object on stdout with cniVersion, code, msg."""
    assert rc != 0, f"expected failure, got rc 0: {out}"
    assert isinstance(res, dict), f"stdout is not one JSON object: {out!r}"
    # Difference: the reference macvlan 1.1.1 prints most errors (those not from skel's own
    # checks) without "cniVersion" and with code 999; ours always writes cniVersion. The
    # field is required of ours, tolerated missing from the reference so the rest of each
    # test still validates against it.
    for k in ("code", "msg") if IS_REFERENCE else ("cniVersion", "code", "msg"):
        assert k in res, f"error JSON lacks {k!r}: {out}"
    assert isinstance(res["code"], int), res
    if code is not None:
        assert res["code"] == code, f"expected code {code}, got {res}"
    if conf_version is not None and not (IS_REFERENCE and "cniVersion" not in res):
        assert res["cniVersion"] == conf_version, res
    text = res["msg"] + " " + str(res.get("details", ""))
    if msg_re is not None:
        assert re.search(msg_re, text, re.I), f"{msg_re!r} not in {res}"
    if details_re is not None:
        assert re.search(details_re, str(res.get("details", "")), re.I), \
            f"{details_re!r} not in details of {res}"
    return res


# ----------------------------------------------------------------------------------------------
# namespaces, nodes, pods
# ----------------------------------------------------------------------------------------------
_counter = [0]


def unique(kind):
    _counter[0] += 1
    return f"{PREFIX}-{kind}{_counter[0]}"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _sweep_stale():
    """Remove leftovers of crashed earlier runs: only prefixes that have a marker file whose
    pid is dead, and only names matching that exact prefix."""
    if not os.path.isdir(MARKER_DIR):
        return
    for pfx in os.listdir(MARKER_DIR):
        if not re.fullmatch(r"mn[0-9a-f]{5}", pfx):
            continue
        try:
            pid = int(open(os.path.join(MARKER_DIR, pfx)).read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if _pid_alive(pid):
            continue
        for ns in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
            if ns.startswith(pfx + "-"):
                sh("ip", "netns", "del", ns, check=False)
        for l in ip_json(None, "link", "show"):
            if l["ifname"].startswith(pfx):
                sh("ip", "link", "del", l["ifname"], check=False)
        os.unlink(os.path.join(MARKER_DIR, pfx))


@pytest.fixture(scope="session")
def run_prefix():
    """The per-run unique prefix; writes the marker, sweeps dead runs, removes marker at end."""
    if os.geteuid() != 0:
        pytest.fail("the macvlan tests need root (network namespaces)")
    _sweep_stale()
    os.makedirs(MARKER_DIR, exist_ok=True)
    marker = os.path.join(MARKER_DIR, PREFIX)
    with open(marker, "w") as f:
        f.write(f"{os.getpid()}\n")
    yield PREFIX
    try:
        os.unlink(marker)
    except OSError:
        pass


class Netns:
    """Creates network namespaces; delete_all() removes every one of them."""

    def __init__(self):
        self.names = []

    def create(self, kind="ns"):
        name = unique(kind)
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def delete(self, name):
        sh("ip", "netns", "del", name, check=False)
        if name in self.names:
            self.names.remove(name)

    def delete_all(self):
        for name in reversed(self.names):
            sh("ip", "netns", "del", name, check=False)
        self.names.clear()


@pytest.fixture
def netns(run_prefix):
    """Factory of network namespaces, all deleted in teardown whatever happened."""
    n = Netns()
    try:
        yield n
    finally:
        n.delete_all()


@pytest.fixture(scope="session")
def bridge(run_prefix):
    """The switch: bridge <prefix>br in the root netns, one per run."""
    br = run_prefix + "br"
    try:
        sh("ip", "link", "add", br, "type", "bridge")
        sh("ip", "link", "set", br, "up")
        yield br
    finally:
        sh("ip", "link", "del", br, check=False)


class Node:
    def __init__(self, ns, veth_root):
        self.ns = ns
        self.veth_root = veth_root
        self.master = "eth1"

    def links(self):
        return link_names(self.ns)


class Topology:
    """Nodes (netns with eth1 on the bridge) and pods (empty netns)."""

    def __init__(self, netns, bridge):
        self.netns = netns
        self.bridge = bridge
        self.nodes = []
        self.veths = []

    def node(self, mtu=None):
        ns = self.netns.create("n")
        num = ns.rsplit("n", 1)[1]
        root_end = f"{PREFIX}v{num}"
        tmp_end = f"{PREFIX}e{num}"
        self.veths.append(root_end)
        sh("ip", "link", "add", root_end, "type", "veth", "peer", "name", tmp_end, "netns", ns)
        sh("ip", "link", "set", root_end, "master", self.bridge, "up")
        sh("ip", "-n", ns, "link", "set", tmp_end, "name", "eth1")
        if mtu:
            sh("ip", "link", "set", root_end, "mtu", mtu)
            sh("ip", "-n", ns, "link", "set", "eth1", "mtu", mtu)
        sh("ip", "-n", ns, "link", "set", "eth1", "up")
        n = Node(ns, root_end)
        self.nodes.append(n)
        return n

    def pod(self):
        return self.netns.create("p")

    def cleanup(self):
        self.netns.delete_all()  # deleting a node netns deletes its veth pair
        for v in self.veths:
            if link(None, v) is not None:
                sh("ip", "link", "del", v, check=False)


@pytest.fixture
def topo(netns, bridge):
    t = Topology(netns, bridge)
    try:
        yield t
    finally:
        t.cleanup()


@pytest.fixture
def node(topo):
    return topo.node()


@pytest.fixture
def pod(topo):
    return topo.pod()


@pytest.fixture
def tmpdir_clean():
    d = tempfile.mkdtemp(prefix=PREFIX + "-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# the plugin under test and the CNI bin dir
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def macvlan_bin():
    """Path of the macvlan under test; a missing binary is a failure, not a skip."""
    if not os.access(MACVLAN, os.X_OK):
        pytest.fail(f"macvlan under test not found or not executable: {MACVLAN} "
                    "(build with scripts/build, or set MIGNET_MACVLAN)")
    return MACVLAN


@pytest.fixture(scope="session")
def cni_bin_dir(macvlan_bin):
    """A temp CNI_PATH: macvlan (under test), whereabouts (ours, if built), the reference
    host-local, static, tuning, dhcp, and the scripted "fakeipam" (FAKE_IPAM)."""
    d = tempfile.mkdtemp(prefix=PREFIX + "-bin-")
    try:
        os.symlink(macvlan_bin, os.path.join(d, "macvlan"))
        if os.access(WHEREABOUTS, os.X_OK):
            os.symlink(WHEREABOUTS, os.path.join(d, "whereabouts"))
        for p in ("host-local", "static", "tuning", "dhcp"):
            os.symlink(os.path.join(REF_DIR, p), os.path.join(d, p))
        with open(os.path.join(d, "fakeipam"), "w") as f:
            f.write(FAKE_IPAM)
        os.chmod(os.path.join(d, "fakeipam"), 0o755)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# A scripted IPAM plugin for what the reference IPAMs cannot do (CNI 1.1.0, STATUS, GC, errors
# with chosen codes). Its behaviour comes from the "ipam" object of the config:
#   "ips": ["10.1.2.3/24", ...]    addresses of the ADD result (default: none); a dict entry
#                                  is the result's entry as is ({"address", "gateway"})
#   "routes": [...]                routes of the ADD result
#   "fail": {"ADD": {"code": 11, "msg": "..."}}   answer that verb with this error
#   "stateDir": dir                ADD writes <dir>/<containerid>-<ifname>, DEL removes it,
#                                  every call appends "<verb> <containerid> <ifname>" to <dir>/log
FAKE_IPAM = r"""#!/usr/bin/python3
import json, os, sys
conf = json.load(sys.stdin)
# a Go IPAM would read "IPAM" too (encoding/json folds case)
ipam = next((v for k, v in conf.items() if k.lower() == "ipam"), {})
cmd = os.environ.get("CNI_COMMAND", "")
cid, ifn = os.environ.get("CNI_CONTAINERID", ""), os.environ.get("CNI_IFNAME", "")
ver = conf.get("cniVersion", "0.1.0")
sd = ipam.get("stateDir")
if sd:
    with open(os.path.join(sd, "log"), "a") as f:
        f.write(f"{cmd} {cid} {ifn}\n")
fail = ipam.get("fail", {}).get(cmd)
if fail:
    print(json.dumps({"cniVersion": ver, "code": fail["code"], "msg": fail["msg"],
                      "details": fail.get("details", "")}))
    sys.exit(1)
if cmd == "VERSION":
    print(json.dumps({"cniVersion": "1.1.0", "supportedVersions":
        ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}))
elif cmd == "ADD":
    if sd:
        open(os.path.join(sd, f"{cid}-{ifn}"), "w").close()
    # an entry is an address string, or a dict sent as the result's entry unchanged
    ips = [a if isinstance(a, dict) else {"address": a} if ver.startswith("1.") else
           {"version": "6" if ":" in a else "4", "address": a} for a in ipam.get("ips", [])]
    res = {"cniVersion": ver, "ips": ips}
    if ipam.get("routes"):
        res["routes"] = ipam["routes"]
    print(json.dumps(res))
elif cmd == "DEL":
    if sd:
        try:
            os.unlink(os.path.join(sd, f"{cid}-{ifn}"))
        except FileNotFoundError:
            pass
elif cmd == "GC" and sd:
    keep = {f"{a['containerID']}-{a['ifname']}" for a in conf.get("cni.dev/valid-attachments", [])}
    for f in os.listdir(sd):
        if f != "log" and f not in keep:
            os.unlink(os.path.join(sd, f))
"""


def fake_ipam(state_dir=None, ips=(), routes=None, fail=None):
    i = {"type": "fakeipam", "ips": list(ips)}
    if state_dir:
        i["stateDir"] = state_dir
    if routes:
        i["routes"] = routes
    if fail:
        i["fail"] = fail
    return i


def fake_ipam_state(state_dir):
    """Allocations the fake IPAM holds (files other than its log)."""
    return sorted(f for f in os.listdir(state_dir) if f != "log")


def fake_ipam_log(state_dir):
    try:
        return open(os.path.join(state_dir, "log")).read().split("\n")[:-1]
    except FileNotFoundError:
        return []


class Cni:
    """run_plugin bound to the plugin under test, a node, a pod and the bin dir."""

    def __init__(self, binary, node, pod, cni_path):
        self.binary, self.node, self.pod, self.cni_path = binary, node, pod, cni_path

    def __call__(self, command, conf, ifname="net1", pod=..., containerid="ctr-mignet-test",
                 **kw):
        kw.setdefault("cni_path", self.cni_path)
        kw.setdefault("node", self.node.ns if self.node else None)
        return run_plugin(self.binary, command, self.pod if pod is ... else pod, ifname, conf,
                          containerid=containerid, **kw)

    def ok(self, command, conf, **kw):
        rc, res, out, err = self(command, conf, **kw)
        assert rc == 0, f"{command} failed rc={rc}: {out} {err}"
        return res


@pytest.fixture
def cni(macvlan_bin, node, pod, cni_bin_dir):
    return Cni(macvlan_bin, node, pod, cni_bin_dir)


def conf(version="1.0.0", ipam=None, **kw):
    """A macvlan network config (dict)."""
    c = {"cniVersion": version, "name": "mig-test", "type": "macvlan", "master": "eth1",
         "mode": "bridge"}
    if version is None:
        del c["cniVersion"]
    if ipam is not None:
        c["ipam"] = ipam
    for k, v in kw.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def host_local(data_dir, subnet="10.55.0.0/24", subnet6=None, routes=None, **kw):
    ranges = [[{"subnet": subnet}]] if subnet else []
    if subnet6:
        ranges.append([{"subnet": subnet6}])
    i = {"type": "host-local", "ranges": ranges, "dataDir": data_dir}
    if routes is not None:
        i["routes"] = routes
    i.update(kw)
    return i


def hostlocal_allocations(data_dir):
    """Files in host-local's dataDir that record an allocation (not its lock/last-reserved)."""
    found = []
    for root, _, files in os.walk(data_dir):
        for f in files:
            if f == "lock" or f.startswith("last_reserved_ip"):
                continue
            found.append(os.path.join(root, f))
    return found


def assert_nothing_left(node, pod, node_links_before, data_dir=None):
    """Leak check after an error path: pod netns holds only lo; the node got no new link;
    host-local's dataDir holds no allocation."""
    if pod is not None and os.path.exists(netns_path(pod)):
        assert link_names(pod) == ["lo"], f"left in pod netns: {link_names(pod)}"
    if node is not None:
        assert link_names(node.ns) == sorted(node_links_before), \
            f"node links changed: {node_links_before} -> {link_names(node.ns)}"
    if data_dir is not None:
        assert hostlocal_allocations(data_dir) == [], \
            f"IPAM allocation left: {hostlocal_allocations(data_dir)}"


def new_containerid():
    return "ctr-" + uuid.uuid4().hex[:12]


# ----------------------------------------------------------------------------------------------
# libcni itself (tests/libcni, built from Debian's libcni 1.1.2 source)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def libcni_client(tmp_path_factory):
    """Builds tests/libcni once per run, offline, from Debian's libcni source."""
    out_dir = BUILD if os.path.isdir(BUILD) else str(tmp_path_factory.mktemp("libcni"))
    exe = os.path.join(out_dir, "libcni-client")
    gocache = os.path.join(out_dir, "gocache")
    os.makedirs(gocache, exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=gocache,
               GOFLAGS="", CGO_ENABLED="0")
    env.setdefault("HOME", out_dir)
    p = subprocess.run(["go", "build", "-o", exe, "./tests/libcni"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        pytest.fail(f"building the libcni client failed:\n{p.stdout}\n{p.stderr}")
    return exe


def libcni_run(exe, node_ns, verb, conflist, workdir, pod, ifname, containerid, env):
    """Run libcni-client @exe in the node netns @node_ns, as a runtime on that node would.

    verb: add/check/del; conflist: dict, written to workdir/net.conflist; pod: the pod netns
    name; env: CNI_PATH, LIBCNI_CACHE_DIR and the like, added to (or overriding) a PATH.
    Returns (rc, parsed JSON of stdout or None, stdout, stderr).
    """
    path = os.path.join(workdir, "net.conflist")
    with open(path, "w") as f:
        json.dump(conflist, f)
    e = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    e.update(env)
    r = subprocess.run(["ip", "netns", "exec", node_ns, exe, verb, path, f"/run/netns/{pod}",
                        ifname, containerid], capture_output=True, text=True, env=e, timeout=60)
    try:
        parsed = json.loads(r.stdout) if r.stdout.strip() else None
    except ValueError:
        parsed = None
    return r.returncode, parsed, r.stdout, r.stderr
