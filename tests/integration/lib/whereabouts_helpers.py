# SPDX-License-Identifier: Apache-2.0
"""Helpers for the whereabouts tests: run our binary as a runtime would, build configs, and
read the file store back independently (the plugin's own answer is never the only evidence).

Store layout read here (see docs/whereabouts.md):
    <store_dir>/<network_name | _unnamed>/<pool e.g. 10.1.0.0_24>/<address>   one JSON line
"""
import ipaddress
import json
import os
import subprocess

from cni_run import run_plugin
from paths import BUILD

WHEREABOUTS = os.path.join(BUILD, "plugins", "whereabouts", "whereabouts")
REF_HOST_LOCAL = "/usr/lib/cni/host-local"
NETNS = "/proc/self/ns/net"  # IPAM ignores CNI_NETNS, but ADD and CHECK require it set


def multus_args(ns="default", pod="pod-a", infra="infra0", uid="uid-0"):
    """CNI_ARGS as Multus passes them."""
    return (f"IgnoreUnknown=true;K8S_POD_NAMESPACE={ns};K8S_POD_NAME={pod};"
            f"K8S_POD_INFRA_CONTAINER_ID={infra};K8S_POD_UID={uid}")


def conf(ipam, version="1.1.0", name="wbnet", **top):
    ipam = dict(ipam)
    ipam.setdefault("type", "whereabouts")
    c = {"cniVersion": version, "name": name, "type": "macvlan", "ipam": ipam}
    c.update(top)
    return c


def wb(command, c, containerid="ctr1", ifname="eth0", args=None, env=None, netns=NETNS):
    """Run our whereabouts. Returns (rc, parsed JSON or None, stdout, stderr)."""
    return run_plugin(WHEREABOUTS, command, netns, ifname, c, containerid=containerid,
                      args=args, env=env)


def add_ok(c, **kw):
    rc, res, out, err = wb("ADD", c, **kw)
    assert rc == 0, f"ADD failed: {out} {err}"
    return res


def result_addrs(res):
    return [ip["address"] for ip in res["ips"]]


def allocations(store_dir):
    """Every allocation file in the store: {(network, pool, address): record dict}."""
    found = {}
    if not os.path.isdir(store_dir):
        return found
    for net in os.listdir(store_dir):
        nd = os.path.join(store_dir, net)
        if not os.path.isdir(nd) or os.path.islink(nd):
            continue
        for pool in os.listdir(nd):
            pd = os.path.join(nd, pool)
            if not os.path.isdir(pd) or os.path.islink(pd):
                continue
            for name in os.listdir(pd):
                p = os.path.join(pd, name)
                try:
                    ipaddress.ip_address(name)
                except ValueError:
                    continue
                with open(p) as f:
                    found[(net, pool, name)] = json.loads(f.read())
    return found


def held(store_dir):
    """The set of addresses held anywhere in the store."""
    return {k[2] for k in allocations(store_dir)}


def check_invariants(store_dir):
    """What must hold whatever happened: every allocation file is a whole record naming its
    own address; no attachment holds two addresses of one pool; every allocation is reachable
    through its container index. Returns the allocations."""
    allocs = allocations(store_dir)
    per_pool = {}
    for (net, pool, addr), rec in allocs.items():
        assert rec["ip"] == addr, (addr, rec)
        key = (net, pool, rec["id"], rec["ifname"])
        assert key not in per_pool, f"{key} holds {per_pool[key]} and {addr}"
        per_pool[key] = addr
        link = os.path.join(store_dir, net, pool, f"ctr:{rec['id']}:{rec['ifname']}")
        assert os.readlink(link) == addr, f"index of {addr} missing or wrong"
    return allocs


def spawn(command, c, containerid, ifname="eth0", args=None):
    """Start whereabouts without waiting (for concurrency and crash tests)."""
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": command,
         "CNI_CONTAINERID": containerid, "CNI_IFNAME": ifname, "CNI_NETNS": NETNS,
         "CNI_PATH": "/usr/lib/cni"}
    if args:
        e["CNI_ARGS"] = args
    p = subprocess.Popen([WHEREABOUTS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e)
    p.stdin.write(json.dumps(c).encode())
    p.stdin.close()
    return p


def finish(p, timeout=120):
    """Wait for a spawn()ed process. Returns (rc, stdout, stderr)."""
    out = p.stdout.read()
    err = p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    return p.wait(timeout=timeout), out.decode(errors="replace"), err.decode(errors="replace")
