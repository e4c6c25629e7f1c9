# SPDX-License-Identifier: Apache-2.0
"""The scripted fake IPAM plugin the macvlan tests delegate to, and reading what it holds."""
import os

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
