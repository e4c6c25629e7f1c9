# SPDX-License-Identifier: Apache-2.0
"""Reading kernel state independently of the plugin under test: `ip -j -d` in a netns."""
import json
import subprocess

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
