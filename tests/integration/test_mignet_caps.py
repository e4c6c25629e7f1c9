# SPDX-License-Identifier: Apache-2.0
"""Least privilege: `mignet receive` holds no capability once its socket is bound."""
import os
import secrets
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIGNET = os.environ.get("MIGNET_BIN", os.path.join(os.environ.get("MIGNET_BUILD", os.path.join(ROOT, "build")),
                                                   "migration", "mignet"))


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def test_receive_drops_every_capability_once_listening():
    ns = "mgcap" + secrets.token_hex(3)
    sh("ip", "netns", "add", ns)
    proc = None
    try:
        sh("ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
        sh("ip", "-n", ns, "link", "add", "migration0", "link", "eth1", "type", "macvlan", "mode", "bridge")
        for dev in ("eth1", "eth1p", "migration0"):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "addr", "add", "192.168.250.2/24", "dev", "migration0")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, MIGNET, "receive", "--interface", "migration0",
                                 "--token", "t", "--json"], stdout=subprocess.PIPE, text=True)
        assert '"listening"' in proc.stdout.readline()
        pid = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        pid = pid[0] if pid else str(proc.pid)  # ip netns exec execs in place; a child if not
        for _ in range(50):
            status = open(f"/proc/{pid}/status").read()
            if "mignet" in open(f"/proc/{pid}/comm").read():
                break
            time.sleep(0.02)
        caps = dict(line.split(":\t") for line in status.splitlines() if line.startswith("Cap"))
        assert int(caps["CapEff"], 16) == 0 and int(caps["CapPrm"], 16) == 0, caps
    finally:
        if proc:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "netns", "del", ns])
