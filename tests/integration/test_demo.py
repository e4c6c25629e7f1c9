# SPDX-License-Identifier: Apache-2.0
"""The Quick start's main job, shortened: examples/demo with a small real VM (256 MiB).

It must pass from a clean tree, print the admin's verification, and leave no namespace, link,
QEMU or mignet process behind (the demo names everything with its own run prefix "mg" + 4 hex
and keeps its files, QEMU's serial consoles and sockets among them, in /tmp/mignet-demo-<prefix>-*),
also when it is interrupted in the middle of the migration.
"""
import glob
import os
import re
import signal
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def netns_names():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def link_names():
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def test_demo_short_run():
    before_ns, before_links = netns_names(), link_names()
    p = subprocess.run([os.path.join(REPO, "examples", "demo"), "--memory", "256M",
                        "--dirty-rate", "32M", "--streams", "2"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    prefix = re.search(r"prefix (mg[0-9a-f]{4})", out).group(1)
    target = re.search(r"migrationState.targetNodeAddress: (\S+)", out).group(1)
    assert target.startswith("192.168.200."), out
    assert out.count("[ok]") == 8 and "[FAIL]" not in out
    assert "TLS on every connection: TLSv1.3 TLS_AES_128_GCM_SHA256" in out, out
    # a real VM moved: QEMU in the launcher, the guest's heartbeat on both consoles
    assert "QEMU (TCG) in" in out or "QEMU (KVM) in" in out
    assert re.search(r"first line: seq=\d+ errors=0; now seq=\d+ errors=0", out), out
    # it really went through our plugins: the CNI results carry the range's addresses
    assert '"address": "192.168.200.' in out
    # nothing left behind
    assert not {n for n in netns_names() - before_ns if n.startswith(prefix)}
    assert not {n for n in link_names() - before_links if n.startswith(prefix)}
    ps = subprocess.run(["pgrep", "-f", f"mignet-demo-{prefix}"], capture_output=True, text=True)
    assert ps.stdout.strip() == ""
    assert not glob.glob(f"/tmp/mignet-demo-{prefix}-*")


def test_demo_interrupted_mid_migration_leaves_nothing():
    """Ctrl-C while the VM moves (a 1 GiB guest takes seconds to migrate here): everything is
    removed."""
    before_ns, before_links = netns_names(), link_names()
    p = subprocess.Popen([os.path.join(REPO, "examples", "demo"), "--memory", "1G",
                          "--dirty-rate", "64M", "--streams", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    prefix = None
    for line in p.stdout:
        out.append(line)
        m = re.search(r"prefix (mg[0-9a-f]{4})", line)
        prefix = prefix or (m and m.group(1))
        if "node A, virt-handler: $" in line:
            break
    assert prefix, "".join(out)
    assert any(n.startswith(prefix) for n in netns_names())
    time.sleep(1)  # the migration is under way (nothing is asserted on time)
    p.send_signal(signal.SIGINT)
    rest, _ = p.communicate(timeout=120)
    assert p.returncode == 130, "".join(out) + rest
    assert "migrate: completed" not in rest, rest  # it was interrupted before the end
    assert not {n for n in netns_names() - before_ns if n.startswith(prefix)}
    assert not {n for n in link_names() - before_links if n.startswith(prefix)}
    ps = subprocess.run(["pgrep", "-f", f"mignet-demo-{prefix}"], capture_output=True, text=True)
    assert ps.stdout.strip() == ""
    assert not glob.glob(f"/tmp/mignet-demo-{prefix}-*")
