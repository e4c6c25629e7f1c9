# SPDX-License-Identifier: Apache-2.0
"""mignet doctor between two "nodes" in network namespaces, --help/--version, the man pages.

Topology from mignet_net.py: per node a macvlan migration0 made on the node namespace's eth1
and moved into the pod namespace (so its master is in another namespace, as under Multus,
and ARP is not answered by eth1), plus a pod-network eth0 holding the default route. Node b
runs the probe's sink (`mignet doctor --serve`); the doctor runs in pod a. Every check is
shown to pass with the right expectations (flags, a conflist, a NetworkAttachmentDefinition
in JSON and in YAML) and to fail when its expectation is wrong. No timing is asserted.
"""
import json
import os
import shutil
import subprocess

import pytest

from mignet_net import MIG_NET, mignet_up

from paths import MIGNET, ROOT  # noqa: E402
CHECKS = ["interface", "up", "macvlan", "master", "address", "mtu", "route", "peer",
          "throughput"]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")
needs_bin = pytest.mark.skipif(not os.access(MIGNET, os.X_OK),
                               reason="build/migration/mignet not built")


def start_sink(net, node):
    p = net.popen(node, MIGNET, "doctor", "--serve", "--json")
    line = p.stdout.readline()
    assert line, p.stderr.read()
    ev = json.loads(line)
    assert ev["event"] == "listening"
    return p, ev


@pytest.fixture(scope="module")
def net():
    """The pair with the doctor's sink listening on b (overrides the area's `net`)."""
    with mignet_up() as n:
        _, ev = start_sink(n, "b")
        assert ev["address"] == n.mig_addr["b"] and ev["port"] == 49153
        yield n


def doctor(net, *args, node="a", json_out=True):
    r = net.run(node, MIGNET, "doctor", *args, *(["--json"] if json_out else []), timeout=60)
    rep = json.loads(r.stdout) if json_out and r.returncode in (0, 1) else None
    return r, rep


def status(rep):
    return {c["name"]: c["status"] for c in rep["checks"]}


def check(rep, name):
    return next(c for c in rep["checks"] if c["name"] == name)


def only_failure(net, old, new, name):
    """doctor_good_but(net, @old, @new) fails (exit 1) in the check @name and no other one;
    return that check."""
    r, rep = doctor_good_but(net, old, new)
    assert r.returncode == 1
    assert [c["name"] for c in rep["checks"] if c["status"] != "pass"] == [name]
    return check(rep, name)


def good_args(net):
    return ["--peer", net.mig_addr["b"], "--master", "eth1",
            "--master-netns", "/var/run/netns/" + net.node_ns["a"],
            "--range", MIG_NET + ".0/24", "--mtu", "1500"]


def doctor_good_but(net, old, new):
    """doctor with good_args(net), but its argument @old replaced by @new."""
    args = good_args(net)
    args[args.index(old)] = new
    return doctor(net, *args)


pytestmark = [needs_root, needs_bin]


# ---- everything right ----

def test_all_pass_json(net):
    r, rep = doctor(net, *good_args(net))
    assert r.returncode == 0, r.stdout + r.stderr
    assert [c["name"] for c in rep["checks"]] == CHECKS
    assert set(status(rep).values()) == {"pass"}, rep
    assert rep["ok"] is True and rep["failed"] == 0 and rep["passed"] == 9
    assert rep["peer"] == net.mig_addr["b"]
    assert rep["throughput"]["bytes"] > 0 and rep["throughput"]["gbps"] > 0
    # the facts, read independently
    addrs = json.loads(net.ip("a", "-j", "addr", "show", "dev", "migration0").stdout)
    inet = [a["local"] + "/" + str(a["prefixlen"]) for a in addrs[0]["addr_info"]
            if a["family"] == "inet"]
    assert check(rep, "address")["actual"] == " ".join(inet)
    assert check(rep, "mtu")["actual"] == str(addrs[0]["mtu"])
    assert check(rep, "master")["actual"] == "eth1"
    assert check(rep, "route")["actual"] == "migration0"


def test_all_pass_table(net):
    r, _ = doctor(net, *good_args(net), json_out=False)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["CHECK", "RESULT", "DETAIL"]
    rows = {ln.split()[0]: ln.split()[1] for ln in lines[1:1 + len(CHECKS)]}
    assert rows == {name: "pass" for name in CHECKS}
    assert lines[-1].startswith("OK: 9 passed, 0 failed, 0 skipped")


def test_no_peer_skips_peer_checks(net):
    args = good_args(net)[2:]
    r, rep = doctor(net, *args)
    assert r.returncode == 0, r.stdout
    st = status(rep)
    assert [st[n] for n in ("route", "peer", "throughput")] == ["skip"] * 3
    assert all(st[n] == "pass" for n in CHECKS[:6])
    assert "throughput" not in rep


def test_master_in_other_netns_without_its_name(net):
    """The master lives in the node's namespace: without --master-netns it can only be
    reported by ifindex; a name is then not compared (skip, not pass or fail)."""
    r, rep = doctor(net, "--master", "eth1", "--range", MIG_NET + ".0/24")
    assert r.returncode == 0
    m = check(rep, "master")
    assert m["status"] == "skip"
    idx = json.loads(sh_node(net, "a", "ip", "-j", "link", "show", "eth1"))[0]["ifindex"]
    assert m["actual"] == f"ifindex {idx}"
    assert "another network namespace" in m["detail"] and "--master-netns" in m["detail"]


def sh_node(net, node, *args):
    return subprocess.run(["ip", "netns", "exec", net.node_ns[node], *args], check=True,
                          capture_output=True, text=True).stdout


# ---- expectations from a config file ----

NAD_YAML = """\
# a comment
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: migration-network
  namespace: openshift-cnv
spec:
  config: |
    {
      "cniVersion": "0.3.1",
      "name": "migration-bridge",
      "type": "macvlan",
      "master": "eth1",
      "mode": "bridge",
      "ipam": {
        "type": "whereabouts",
        "range": "RANGE"
      }
    }
"""


def conf(rng, **kw):
    c = {"cniVersion": "0.3.1", "name": "migration-bridge", "type": "macvlan",
         "master": "eth1", "mode": "bridge",
         "ipam": {"type": "whereabouts", "range": rng}}
    c.update(kw)
    return c


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.mark.parametrize("kind", ["conf", "conflist", "nad-json", "nad-yaml", "ipranges"])
def test_config_file(net, tmp_path, kind):
    rng = MIG_NET + ".0/24"
    if kind == "conf":
        text = json.dumps(conf(rng))
    elif kind == "conflist":
        text = json.dumps({"cniVersion": "0.4.0", "name": "m", "plugins": [
            {"type": "tuning"}, conf(rng), {"type": "portmap"}]})
    elif kind == "nad-json":
        text = json.dumps({"kind": "NetworkAttachmentDefinition",
                           "spec": {"config": json.dumps(conf(rng))}})
    elif kind == "nad-yaml":
        text = NAD_YAML.replace("RANGE", rng)
    else:
        c = conf(None)
        c["ipam"] = {"type": "whereabouts", "ipRanges": [
            {"range": "10.99.0.0/24"}, {"range": MIG_NET + ".1-" + MIG_NET + ".9/24"}]}
        text = json.dumps(c)
    path = write(str(tmp_path), "cfg", text)
    r, rep = doctor(net, "--peer", net.mig_addr["b"], "--config", path,
                    "--master-netns", "/var/run/netns/" + net.node_ns["a"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(status(rep).values()) == {"pass"}, rep
    assert check(rep, "master")["expected"] == "eth1"
    assert check(rep, "mtu")["expected"] == "1500"  # the master's: the config sets no mtu
    assert check(rep, "macvlan")["expected"] == "macvlan bridge"


def test_config_file_flags_win_and_config_mtu(net, tmp_path):
    path = write(str(tmp_path), "cfg", json.dumps(conf("10.99.0.0/24", mtu=1400)))
    r, rep = doctor(net, "--config", path, "--range", MIG_NET + ".0/24")
    assert r.returncode == 1
    st = status(rep)
    assert st["address"] == "pass"  # --range won over the config's range
    assert st["mtu"] == "fail" and check(rep, "mtu")["expected"] == "1400"


def test_example_nad_yaml_is_read(net):
    """examples/migration-network.yaml as shipped: its range (192.168.200.0/24) is not the
    test network's, so the address check fails and names that range."""
    path = os.path.join(ROOT, "examples", "migration-network.yaml")
    r, rep = doctor(net, "--config", path)
    assert r.returncode == 1
    assert check(rep, "address")["status"] == "fail"
    assert "192.168.200.0/24" in check(rep, "address")["expected"]


@pytest.mark.parametrize("text,word", [
    ("master: eth1\n", "NetworkAttachmentDefinition"),
    ('{"type": "bridge"}', "macvlan"),
    ('{"plugins": [{"type": "bridge"}]}', "macvlan"),
    ('{"type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.0.0.0/33"}}', "range"),
])
def test_bad_config_is_usage_error(net, tmp_path, text, word):
    r, _ = doctor(net, "--config", write(str(tmp_path), "cfg", text), json_out=False)
    assert r.returncode == 2
    assert word in r.stderr and r.stdout == ""


# ---- each check fails when its expectation is wrong ----

def test_wrong_master(net):
    m = only_failure(net, "eth1", "eth9", "master")
    assert m["status"] == "fail" and m["actual"] == "eth1" and m["expected"] == "eth9"


def test_wrong_range(net):
    only_failure(net, MIG_NET + ".0/24", "10.99.0.0/24", "address")


def test_address_outside_narrowed_range(net, tmp_path):
    c = conf(None)
    c["ipam"] = {"type": "whereabouts", "range": MIG_NET + ".0/24",
                 "range_start": MIG_NET + ".100"}
    r, rep = doctor(net, "--config", write(str(tmp_path), "cfg", json.dumps(c)))
    assert r.returncode == 1
    assert check(rep, "address")["status"] == "fail"


def test_wrong_mtu(net):
    m = only_failure(net, "1500", "9000", "mtu")
    assert m["status"] == "fail" and m["expected"] == "9000" and m["actual"] == "1500"


def test_wrong_mode(net):
    r, rep = doctor(net, "--mode", "private")
    assert r.returncode == 1
    assert check(rep, "macvlan")["status"] == "fail"


def test_peer_only_reachable_over_another_interface(net):
    """b's pod-network address: the kernel would route it over eth0, not migration0."""
    args = good_args(net)
    args[1] = net.pod_addr["b"]
    r, rep = doctor(net, *args)
    assert r.returncode == 1
    rt = check(rep, "route")
    assert rt["status"] == "fail" and rt["actual"] == "eth0" and "eth0" in rt["detail"]
    assert check(rep, "throughput")["status"] == "skip"


def test_peer_silent(net):
    args = good_args(net)
    args[1] = MIG_NET + ".99"
    r, rep = doctor(net, *args)
    assert r.returncode == 1
    st = status(rep)
    assert st["route"] == "pass" and st["peer"] == "fail" and st["throughput"] == "skip"


def test_no_sink_on_the_peer(net):
    r, rep = doctor(net, *good_args(net), "--port", "40000")
    assert r.returncode == 1
    t = check(rep, "throughput")
    assert t["status"] == "fail" and "--serve" in t["detail"]
    assert status(rep)["peer"] == "pass"


def test_no_probe(net):
    r, rep = doctor(net, *good_args(net), "--no-probe")
    assert r.returncode == 0
    assert check(rep, "throughput")["status"] == "skip" and "throughput" not in rep


def test_no_such_interface(net):
    r, rep = doctor(net, "--interface", "nosuch0", *good_args(net))
    assert r.returncode == 1
    st = status(rep)
    assert st["interface"] == "fail" and rep["failed"] == 1
    assert all(st[n] == "skip" for n in CHECKS[1:])
    r, _ = doctor(net, "--interface", "nosuch0", json_out=False)
    assert r.returncode == 1 and "FAIL" in r.stdout.splitlines()[-1]


def test_not_a_macvlan(net):
    r, rep = doctor(net, "--interface", "eth0")
    assert r.returncode == 1
    assert check(rep, "macvlan")["status"] == "fail" and check(rep, "macvlan")["actual"] == "veth"
    assert check(rep, "master")["status"] == "skip"


def test_interface_down(net):
    net.ip("a", "link", "set", "migration0", "down")
    try:
        r, rep = doctor(net, "--range", MIG_NET + ".0/24")
        assert r.returncode == 1
        assert check(rep, "up")["status"] == "fail"
    finally:
        net.ip("a", "link", "set", "migration0", "up")


def test_ping_socket_when_allowed(net):
    """With the caller's group in ping_group_range the echo uses an unprivileged ping socket."""
    key = "net.ipv4.ping_group_range"
    old = net.run("a", "sysctl", "-n", key).stdout.split()
    net.run("a", "sysctl", "-w", f"{key}=0 0")
    try:
        r, rep = doctor(net, *good_args(net), "--no-probe")
        assert r.returncode == 0
        assert "(ping socket)" in check(rep, "peer")["detail"]
    finally:
        net.run("a", "sysctl", "-w", f"{key}={old[0]} {old[1]}")


@pytest.mark.parametrize("args", [["--mtu", "12"], ["--peer", "not-an-address"],
                                  ["--range", "10.0.0.0/40"], ["--bogus"], ["extra"]])
def test_usage_errors(net, args):
    r, _ = doctor(net, *args, json_out=False)
    assert r.returncode == 2 and r.stderr


def test_ipv6():
    with mignet_up(ipv6=True, ipv4=False) as n:
        _, ev = start_sink(n, "b")
        assert ev["address"] == n.mig6_addr["b"]
        r, rep = doctor(n, "--peer", n.mig6_addr["b"], "--range", "fd77::/64", "--mtu", "1500")
        assert r.returncode == 0, r.stdout + r.stderr
        st = status(rep)
        assert st["master"] == "skip"
        assert all(v == "pass" for k, v in st.items() if k != "master"), rep
        r, rep = doctor(n, "--peer", f"[{n.mig6_addr['b']}]:49153", "--range", "fd78::/64")
        assert r.returncode == 1 and check(rep, "address")["status"] == "fail"


# ---- --help, --version, man pages (no root needed) ----

@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"], ["doctor", "--help"],
                                  ["send", "--help"], ["receive", "--help"]])
def test_help(args):
    r = subprocess.run([MIGNET, *args], capture_output=True, text=True)
    assert r.returncode == 0 and "usage" in r.stdout and r.stderr == ""
    if args[0] == "doctor":
        assert "--serve" in r.stdout


@pytest.mark.parametrize("args", [["--version"], ["-V"], ["version"]])
def test_version(args):
    r = subprocess.run([MIGNET, *args], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("mignet ") and r.stderr == ""


def test_no_command_is_usage_error():
    r = subprocess.run([MIGNET], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


@pytest.mark.skipif(not shutil.which("man"), reason="man-db not installed")
@pytest.mark.parametrize("page", ["mignet.1", "whereabouts.8", "macvlan.8"])
def test_man_page_renders_without_warnings(page):
    path = os.path.join(ROOT, "docs", "man", page)
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0
    assert r.stderr == ""
    assert len(r.stdout) > 500
