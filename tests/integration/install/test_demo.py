# SPDX-License-Identifier: Apache-2.0
"""The Quick start's main job, shortened: examples/demo with a small guest.

It must pass from a clean tree, print the admin's verification, and leave no namespace, link
or process behind (the demo names everything with its own run prefix "mg" + 4 hex).
"""
import os
import re
import subprocess

from paths import ROOT as REPO  # noqa: E402


def netns_names():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def link_names():
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def test_demo_short_run():
    before_ns, before_links = netns_names(), link_names()
    p = subprocess.run([os.path.join(REPO, "examples", "demo"), "--memory", "64M", "--dirty-rate", "16M"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    prefix = re.search(r"prefix (mg[0-9a-f]{4})", out).group(1)
    target = re.search(r"migrationState.targetNodeAddress: (\S+)", out).group(1)
    assert target.startswith("192.168.200."), out
    assert out.count("[ok]") == 4 and "[FAIL]" not in out
    # it really went through our plugins: the CNI results carry the range's addresses
    assert '"address": "192.168.200.' in out
    # nothing left behind
    assert not {n for n in netns_names() - before_ns if n.startswith(prefix)}
    assert not {n for n in link_names() - before_links if n.startswith(prefix)}
    ps = subprocess.run(["pgrep", "-f", f"mignet-demo-{prefix}"], capture_output=True, text=True)
    assert ps.stdout.strip() == ""
