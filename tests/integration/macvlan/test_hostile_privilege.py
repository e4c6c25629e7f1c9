# SPDX-License-Identifier: Apache-2.0
"""Least privilege of the macvlan plugin (cni/caps.h, plugins/macvlan/main.c).

- Run unprivileged (setpriv --reuid=nobody --clear-groups --inh-caps=-all), ADD/DEL/CHECK fail
  with code 5 and a message naming each missing capability, and leave nothing behind; STATUS,
  GC and VERSION, which need none, still answer.
- Run as root with a reduced bounding set, only the missing one is named.
- With the full set, a delegated IPAM plugin inherits only CAP_NET_ADMIN and CAP_SYS_ADMIN
  (bounding, permitted, effective): the plugin dropped the rest before reading its input.
- CNI_NETNS=/proc/PID/ns/net still works: CAP_SYS_PTRACE is kept for exactly that case.

Namespaces are uniquely named per test and removed in a finally block.
"""
import json
import os
import secrets
import shutil
import subprocess
import tempfile

import pytest

from die_with_test import SETPRIV_DIE, die_with_parent

from paths import ROOT  # noqa: E402
PLUGIN = os.environ.get("MIGNET_MACVLAN") or os.path.join(
    os.environ.get("MIGNET_BUILD", os.path.join(ROOT, "build")), "plugins", "macvlan", "macvlan")
HANG_GUARD = 60

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(not os.access(PLUGIN, os.X_OK), reason=f"{PLUGIN} is not built"),
    pytest.mark.skipif(os.path.realpath(PLUGIN) == "/usr/lib/cni/macvlan",
                       reason="mignet's capability handling; MIGNET_MACVLAN is the reference"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing"),
]

CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_SYS_ADMIN = 12, 19, 21
L2 = {"cniVersion": "1.1.0", "name": "mig-priv", "type": "macvlan", "master": "eth1"}


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def links(ns):
    return sorted((link["ifindex"], link["ifname"])
                  for link in json.loads(sh("ip", "-n", ns, "-j", "link", "show").stdout))


@pytest.fixture
def net():
    tag = "mgpv" + secrets.token_hex(3)
    n = type("Net", (), {})()
    n.node, n.pod = tag + "-n", tag + "-p"
    n.netns = "/run/netns/" + n.pod
    n.tmp = tempfile.mkdtemp(prefix=tag)
    n.procs = []
    try:
        sh("ip", "netns", "add", n.node)
        sh("ip", "netns", "add", n.pod)
        sh("ip", "-n", n.node, "link", "add", "eth1", "type", "veth", "peer", "name", "peer1")
        sh("ip", "-n", n.node, "link", "set", "eth1", "up")
        n.before = (links(n.node), links(n.pod))
        yield n
    finally:
        for p in n.procs:
            p.kill()
            p.wait()
        sh("ip", "netns", "del", n.pod, check=False)
        sh("ip", "netns", "del", n.node, check=False)
        shutil.rmtree(n.tmp, ignore_errors=True)


def run(net, command, conf=L2, wrap=(), netns=None, path="/usr/lib/cni"):
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "CNI_COMMAND": command, "CNI_CONTAINERID": "ctr-priv",
           "CNI_NETNS": netns or net.netns, "CNI_IFNAME": "net1", "CNI_PATH": path}
    p = subprocess.run(["ip", "netns", "exec", net.node, *wrap, PLUGIN], input=json.dumps(conf),
                       capture_output=True, text=True, env=env, timeout=HANG_GUARD)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None)


UNPRIVILEGED = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                "--inh-caps=-all")


def bounding(*caps):
    return ("setpriv", "--bounding-set=-all" + "".join(",+" + c for c in caps), "--inh-caps=-all")


@pytest.mark.parametrize("verb,missing", [("ADD", ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]),
                                          ("DEL", ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]),
                                          ("CHECK", ["CAP_SYS_ADMIN"])])
def test_unprivileged_names_missing_capabilities(net, verb, missing):
    conf = dict(L2)
    if verb == "CHECK":
        conf["prevResult"] = {"cniVersion": "1.1.0", "interfaces": [{"name": "net1"}]}
    rc, out = run(net, verb, conf, wrap=UNPRIVILEGED)
    assert rc == 1 and out["code"] == 5, out
    assert out["msg"].startswith(f"macvlan {verb} needs "), out
    assert out["msg"].endswith("missing " + ", ".join(missing)), out
    assert "network namespace" in out["msg"]
    assert (links(net.node), links(net.pod)) == net.before


def test_unprivileged_status_gc_version_still_answer(net):
    assert run(net, "STATUS", wrap=UNPRIVILEGED) == (0, None)
    gc = dict(L2, **{"cni.dev/valid-attachments": []})
    assert run(net, "GC", gc, wrap=UNPRIVILEGED) == (0, None)
    rc, out = run(net, "VERSION", wrap=UNPRIVILEGED)
    assert rc == 0 and "1.1.0" in out["supportedVersions"]


@pytest.mark.parametrize("have,missing", [(["sys_admin"], "CAP_NET_ADMIN"),
                                          (["net_admin"], "CAP_SYS_ADMIN")])
def test_reduced_set_names_only_what_is_missing(net, have, missing):
    rc, out = run(net, "ADD", wrap=bounding(*have))
    assert rc == 1 and out["code"] == 5, out
    assert out["msg"].endswith("missing " + missing), out
    assert (links(net.node), links(net.pod)) == net.before


def test_two_capabilities_are_enough(net):
    rc, out = run(net, "ADD", wrap=bounding("net_admin", "sys_admin"))
    assert rc == 0, out
    rc, _ = run(net, "CHECK", dict(L2, prevResult=out), wrap=bounding("sys_admin"))
    assert rc == 0
    assert run(net, "DEL", wrap=bounding("net_admin", "sys_admin"))[0] == 0
    assert (links(net.node), links(net.pod)) == net.before


def capmask(status, field):
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(f"{field} not in {status}")


def test_ipam_plugin_inherits_only_the_kept_capabilities(net):
    bindir = os.path.join(net.tmp, "bin")
    os.makedirs(bindir)
    report = os.path.join(net.tmp, "caps")
    with open(os.path.join(bindir, "capipam"), "w") as f:
        f.write("#!/bin/sh\ncat >/dev/null\n"
                f"grep '^Cap' /proc/self/status > {report}\n"
                "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.5.0.2/24\"}]}'\n")
    os.chmod(os.path.join(bindir, "capipam"), 0o755)
    conf = {"cniVersion": "1.0.0", "name": "mig-priv", "type": "macvlan", "master": "eth1",
            "ipam": {"type": "capipam"}}
    rc, out = run(net, "ADD", conf, path=bindir)
    assert rc == 0, out
    with open(report) as f:
        status = f.read()
    kept = (1 << CAP_NET_ADMIN) | (1 << CAP_SYS_ADMIN)
    for field in ("CapBnd", "CapPrm", "CapEff"):
        assert capmask(status, field) == kept, status
    assert capmask(status, "CapAmb") == 0 and capmask(status, "CapInh") == 0, status
    assert run(net, "DEL", conf, path=bindir)[0] == 0


def test_proc_pid_netns_keeps_sys_ptrace(net):
    # a process of another user in the pod's netns: its /proc/PID/ns/net is what the runtime
    # may pass; opening it needs CAP_SYS_PTRACE once the plugin has dropped the rest
    p = subprocess.Popen(["ip", "netns", "exec", net.pod, "setpriv", "--reuid=nobody",
                          "--regid=nogroup", "--clear-groups", *SETPRIV_DIE, "sleep", "300"],
                         preexec_fn=die_with_parent())
    net.procs.append(p)
    pid = None
    for _ in range(200):
        out = sh("ip", "netns", "pids", net.pod).stdout.split()
        if out:
            pid = out[0]
            if os.readlink(f"/proc/{pid}/exe").endswith("sleep"):
                break
        subprocess.run(["sleep", "0.05"])
    netns = f"/proc/{pid}/ns/net"
    rc, out = run(net, "ADD", netns=netns)
    assert rc == 0, out
    assert "net1" in [name for _, name in links(net.pod)]
    assert run(net, "DEL", netns=netns)[0] == 0
    # without CAP_SYS_PTRACE in reach, the check names it
    rc, out = run(net, "ADD", netns=netns, wrap=bounding("net_admin", "sys_admin"))
    assert rc == 1 and out["code"] == 5 and out["msg"].endswith("missing CAP_SYS_PTRACE"), out
    assert (links(net.node), links(net.pod)) == net.before
