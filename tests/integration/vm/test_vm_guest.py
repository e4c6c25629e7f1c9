# SPDX-License-Identifier: Apache-2.0
"""The VM harness proves itself: the guest boots under QEMU in a launcher namespace that holds
only `lo`, its pattern checker really catches a corrupted page, and QEMU migrates it directly
(tcp between two namespaces, no mignet) with the heartbeat carrying on at the target.

Every namespace is named per run and removed, with its QEMU processes, in finally.
"""
import json
import os
import re
import secrets
import subprocess
import time

import pytest

from mignet_net import MIG_NET, mignet_up
from vm import vm_guest
from vm.vm_guest import Guest, check_continues, migrate_direct


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


@pytest.fixture
def launcher_ns():
    ns = "mgvm" + secrets.token_hex(3) + "-l"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield ns
    finally:
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def mignet_pair():
    with mignet_up() as net:
        yield net


def test_guest_boots_in_launcher_netns(launcher_ns):
    with Guest(launcher_ns, "boot", mem="32M", dirty="16M") as g:
        hb = g.wait_heartbeat(5)
        assert g.qmp.status() == "running"
        # QEMU really runs in the launcher's namespace, which has nothing but lo
        netns_of_qemu = os.readlink(f"/proc/{g.proc.pid}/ns/net")
        named = sh("ip", "netns", "identify", str(g.proc.pid)).stdout.split()
        assert named == [launcher_ns], (named, netns_of_qemu)
        links = json.loads(sh("ip", "-n", launcher_ns, "-j", "link", "show").stdout)
        assert [l["ifname"] for l in links] == ["lo"]
        # the workload runs: it dirties and checks, and finds no error
        later = g.wait_heartbeat(hb["seq"] + g.beats_for_full_check())
        assert later["dirtied"] > hb["dirtied"] and later["checked"] > hb["checked"]
        assert later["errors"] == 0
        assert b"MIGNET-GUEST start mem=33554432 dirty=16777216" in g.serial_bytes()
    assert not g.alive()


def test_kvm_probe_answers():
    """The probe gives one of the two accelerators; under KVM the guest must really boot."""
    accel = vm_guest.probe_accel()
    assert accel in ("kvm", "tcg")
    if accel == "kvm":
        with Guest(None, "kvm", mem="8M", accel="kvm") as g:
            g.wait_heartbeat(2)


def test_heartbeat_detects_a_corrupted_page():
    """The checker can fail: heartbeat run as an ordinary process, one byte of its working set
    overwritten through /proc/PID/mem, and its errors counter goes up."""
    hb = os.path.join(vm_guest.ensure_guest(), "heartbeat")
    env = dict(os.environ, MIGNET_CMDLINE="mignet.mem=4M mignet.dirty=0 mignet.check=64M")
    p = subprocess.Popen([hb], stdout=subprocess.PIPE, env=env, preexec_fn=vm_guest._die_with_parent)
    try:
        lines = []
        for line in p.stdout:
            lines.append(line)
            if line.startswith(b"MIGNET-HEARTBEAT"):
                break
        ready = next(l for l in lines if l.startswith(b"MIGNET-GUEST ready"))
        base = int(re.search(rb"at=(0x[0-9a-f]+)", ready).group(1), 16)
        first = line
        assert b"errors=0" in first
        with open(f"/proc/{p.pid}/mem", "r+b", buffering=0) as mem:
            mem.seek(base + 7 * 4096 + 1000)
            mem.write(b"X")
        for line in p.stdout:
            m = re.match(rb"MIGNET-HEARTBEAT seq=(\d+) checked=(\d+) errors=(\d+)", line)
            if m and int(m.group(3)) > 0:
                break
        else:
            raise AssertionError("the corrupted page was never reported")
        assert int(m.group(3)) >= 1
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("streams,dirty", [(0, "32M"), (2, "32M"), (2, 0)],
                         ids=["single-dirtying", "multifd2-dirtying", "multifd2-idle"])
def test_direct_migration(mignet_pair, streams, dirty):
    """QEMU migrates by itself between the two virt-handler namespaces over tcp (the limit the
    benchmark compares against): completed, running on the target, heartbeat continues."""
    net = mignet_pair
    src = Guest(net.ns["a"], "src", mem="64M", dirty=dirty)
    dst = Guest(net.ns["b"], "dst", mem="64M", dirty=dirty, incoming=True)
    try:
        src.start()
        dst.start()
        src.wait_heartbeat(3)
        assert dst.qmp.status() == "inmigrate"
        m, status = migrate_direct(src, dst, net.mig_addr["b"], 49152, streams=streams)
        assert m["status"] == "completed", m
        assert status == "running"
        assert src.qmp.status() == "postmigrate"
        assert m["ram"]["transferred"] > 0
        check_continues(src, dst)
        # no second copy: the source stays stopped
        assert src.qmp.status() == "postmigrate"
    finally:
        src.close()
        dst.close()
