# SPDX-License-Identifier: Apache-2.0
"""A real VM live-migrates through mignet over our macvlan migration0, the way virt-handler
carries QEMU's migration in KubeVirt.

QEMU runs in each node's virt-launcher namespace (only lo); `mignet migrate` (node A) and
`mignet incoming` (node B) run in the virt-handler namespaces, which hold migration0 from our
macvlan + whereabouts (tests/integration/lib/vm/topology.py). Every check is independent of
mignet's own words: the QEMUs are asked through a second QMP monitor of ours, the guest's
heartbeat is read from each QEMU's serial console, the interfaces' counters from the kernel.

Guests are small (256 MiB + 4 KiB of RAM, a 32-64 MiB working set) so the suite stays fast.
Timeouts here guard against hangs; where the issue asks for "within progressTimeout", the wait
is bounded by the configured timeout plus a margin, nothing asserts on durations otherwise.
"""
import os
import subprocess
import time

import pytest

from vm.mignet_vm import config_file, incoming, link_bytes, lock_env, migrate, token_file
from vm.topology import mignet_help, vm_cluster  # noqa: F401 (the fixture)
from vm.vm_guest import check_continues, wait_status


def _has_migrate():
    return "--qmp" in (mignet_help("migrate") or "")


pytestmark = pytest.mark.skipif(not _has_migrate(),
                                reason="this mignet has no `migrate --qmp` (the QEMU path)")

MARGIN = 30  # seconds past a configured timeout before we call it a hang


def start_pair(c, mem="64M", dirty=0, name="", busy=False):
    src = c.guest("a", f"src{name}", mem=mem, dirty=dirty, busy=busy).start()
    dst = c.guest("b", f"dst{name}", mem=mem, dirty=dirty, busy=busy, incoming=True).start()
    src.wait_heartbeat(3)
    assert dst.qmp.status() == "inmigrate"
    return src, dst


def source_keeps_running(src):
    """The VM is on the source, running, and its workload carries on without an error."""
    assert src.qmp.status() == "running", src.qmp.migration()
    last = src.last_heartbeat()
    later = src.wait_heartbeat(last["seq"] + src.beats_for_full_check())
    assert later["errors"] == 0, src.diagnostics()


# (multifd channels, TLS): in clear with one connection QEMU gets the TCP socket itself (fd)
PATHS = [(0, True), (0, False), (2, True), (8, True), (8, False)]


@pytest.mark.parametrize("dirty", [0, "32M"], ids=["idle", "dirtying"])
@pytest.mark.parametrize("streams,tls", PATHS,
                         ids=[f"{n}-{'tls' if t else 'clear'}" for n, t in PATHS])
def test_vm_migrates_through_mignet(vm_cluster, streams, tls, dirty):
    c = vm_cluster
    src, dst = start_pair(c, dirty=dirty)
    tok = token_file(c)
    pod_before = c.pod_network_counters()
    mig0_before = link_bytes(c.handler["b"], "migration0")
    clear = () if tls else ("--no-tls",)

    inc = incoming(c, dst, tok, *clear)
    listening = inc.wait_event("listening")
    assert listening["address"] == c.mig_addr["b"], listening
    mig = migrate(c, src, listening["port"], tok, "--streams", str(streams),
                  "--config", config_file(c), *clear)
    rc = mig.finish()
    assert rc == 0, mig.said()
    assert inc.finish() == 0, inc.said()

    # QEMU itself says: completed on the source, running on the target
    m = src.qmp.migration()
    assert m["status"] == "completed", m
    assert wait_status(dst.qmp, "running") == "running"
    assert src.qmp.status() == "postmigrate"
    check_continues(src, dst)

    # the report is the VMI's migrationState: targetNodeAddress is B's migration0 address
    report = mig.report()
    assert report and report["completed"] is True and report["failed"] is False, mig.said()
    assert report["targetNodeAddress"] == c.mig_addr["b"]
    assert report["sourceAddress"] == c.mig_addr["a"]
    channels = streams if streams >= 2 else 0
    assert report["multifdChannels"] == channels
    assert report["streams"] == 1 + channels   # connections: the main channel + multifd's
    # ... and QEMU itself ran with that many channels
    caps = {x["capability"]: x["state"] for x in src.qmp.cmd("query-migrate-capabilities")}
    assert caps["multifd"] is (channels > 0)
    if channels:
        assert src.qmp.cmd("query-migrate-parameters")["multifd-channels"] == channels
    assert inc.report() and inc.report()["completed"] is True, inc.said()
    path = "tls" if tls else "fd" if streams < 2 else "splice"
    assert report["transport"] == path and inc.report()["transport"] == path, mig.said()
    # the bytes each connection carried, counted by mignet (or, with fd, by the kernel)
    assert sum(report["connectionBytes"]) >= m["ram"]["transferred"], report

    # every byte went over migration0, none over the pod network
    mig0_after = link_bytes(c.handler["b"], "migration0")
    assert mig0_after[0] - mig0_before[0] >= m["ram"]["transferred"]
    assert c.pod_network_counters() == pod_before
    # the launchers still have no network of their own
    for n in "ab":
        out = subprocess.run(["ip", "-n", c.launcher[n], "-o", "link"], capture_output=True,
                             text=True).stdout
        assert [l.split(":")[1].strip() for l in out.splitlines()] == ["lo"]


SLOW = {"bandwidthPerMigration": "8Mi"}   # 64 MiB of working set: several seconds on the wire


@pytest.mark.parametrize("victim", ["incoming", "qemu"])
def test_target_killed_mid_migration(vm_cluster, victim):
    """Target mignet or target QEMU killed once pages flow: the VM stays on the source,
    running; migrate exits 1 with the reason, within progressTimeout."""
    c = vm_cluster
    src, dst = start_pair(c, dirty="8M")
    tok = token_file(c)
    progress_timeout = 20
    inc = incoming(c, dst, tok)
    port = inc.wait_event("listening")["port"]
    mig = migrate(c, src, port, tok, "--streams", "2", "--progress-timeout", str(progress_timeout),
                  "--config", config_file(c, **SLOW))
    # pages flow: QEMU's own status is active and bytes went out
    deadline = time.monotonic() + 60
    while True:
        m = src.qmp.migration()
        if m.get("status") == "active" and m.get("ram", {}).get("transferred", 0) > 0:
            break
        assert time.monotonic() < deadline and mig.p.poll() is None, (m, mig.said())
        time.sleep(0.1)
    if victim == "incoming":
        inc.kill()
    else:
        dst.kill()
    rc = mig.finish(timeout=progress_timeout + MARGIN)
    assert rc == 1, mig.said()
    report = mig.report()
    assert report and report["completed"] is False and report["failed"] is True, mig.said()
    assert report["failureReason"], report
    assert src.qmp.migration()["status"] in ("failed", "cancelled")
    source_keeps_running(src)


# A guest that out-dirties its link: a 32 MiB working set rewritten at 52 MiB/s against
# 16 MiB/s of bandwidth never converges: each pass leaves the whole working set dirty again, and
# it would have to lose two thirds of its CPU to the host to fall below the link (at 40 against
# 32 MiB/s it did converge on a loaded machine). It is CPU-bound (busy), so auto-converge's vCPU
# throttling slows it (QEMU 7.2: 20 %, +10 % every two syncs). Each case gets the completion
# timeout its point needs: 20 s to be exceeded; 90 s for auto-converge to act (measured
# here: ~20-30 s); 10 s before mignet switches to post-copy.
NON_CONVERGING = dict(mem="32M", dirty="52M", busy=True)
LINK = dict(bandwidthPerMigration="16Mi", completionTimeoutPerGiB=20, progressTimeout=300,
            allowAutoConverge=False, allowPostCopy=False)
TIMEOUT_FOR = {"allowAutoConverge": 90, "allowPostCopy": 10}


def test_completion_timeout_cancels(vm_cluster):
    """Past completionTimeoutPerGiB x max(1, GiB) seconds the migration is cancelled and the
    VM runs on the source."""
    c = vm_cluster
    src, dst = start_pair(c, **NON_CONVERGING)
    tok = token_file(c)
    inc = incoming(c, dst, tok)
    port = inc.wait_event("listening")["port"]
    mig = migrate(c, src, port, tok, "--streams", "0", "--config", config_file(c, **LINK))
    rc = mig.finish(timeout=LINK["completionTimeoutPerGiB"] + MARGIN)
    assert rc == 1, mig.said()
    report = mig.report()
    assert report["failed"] is True and report["abortStatus"], report
    assert "completion" in report["failureReason"].lower(), report
    assert src.qmp.migration()["status"] == "cancelled"
    assert not dst.alive() or dst.qmp.status() != "running"
    source_keeps_running(src)


@pytest.mark.parametrize("setting,mode", [("allowAutoConverge", "PreCopy"),
                                          ("allowPostCopy", "PostCopy")])
def test_non_converging_guest_completes_with(vm_cluster, setting, mode):
    """The same guest and link as test_completion_timeout_cancels complete with
    allowAutoConverge (QEMU throttles the vCPU) or allowPostCopy (mignet switches QEMU to
    post-copy, as KubeVirt does)."""
    c = vm_cluster
    src, dst = start_pair(c, **NON_CONVERGING)
    tok = token_file(c)
    inc = incoming(c, dst, tok)
    port = inc.wait_event("listening")["port"]
    settings = dict(LINK, **{setting: True, "completionTimeoutPerGiB": TIMEOUT_FOR[setting]})
    mig = migrate(c, src, port, tok, "--streams", "0", "--config", config_file(c, **settings))
    rc = mig.finish()
    assert rc == 0, mig.said()
    assert inc.finish() == 0, inc.said()
    report = mig.report()
    assert report["completed"] is True and report["mode"] == mode, report
    if mode == "PostCopy":
        assert mig.find("postcopy"), mig.said()
    # mignet really set the capability on the source QEMU
    caps = {c["capability"]: c["state"] for c in src.qmp.cmd("query-migrate-capabilities")}
    assert caps["auto-converge" if setting == "allowAutoConverge" else "postcopy-ram"] is True
    assert src.qmp.migration()["status"] == "completed"
    assert wait_status(dst.qmp, "running") == "running"
    check_continues(src, dst)


def test_wrong_token_never_reaches_target_qemu(vm_cluster):
    c = vm_cluster
    src, dst = start_pair(c, mem="16M")
    inc = incoming(c, dst, token_file(c, "right"))
    port = inc.wait_event("listening")["port"]
    mig = migrate(c, src, port, token_file(c, "wrong"), "--streams", "2",
                  "--config", config_file(c))
    rc = mig.finish()
    assert rc == 1, mig.said()
    assert "token" in (mig.stderr() + str(mig.report())).lower(), mig.said()
    # the target QEMU never saw a connection: no migration status at all, still waiting
    tm = dst.qmp.migration()
    assert "status" not in tm, tm
    assert dst.qmp.status() == "inmigrate"
    source_keeps_running(src)
    assert src.qmp.migration().get("status") in (None, "failed", "cancelled")
    inc.kill()


def test_third_outbound_migration_waits(vm_cluster):
    """parallelOutboundMigrationsPerNode 2: a third concurrent migrate on node A waits until a
    slot frees, then completes; its source QEMU is not touched while it waits."""
    c = vm_cluster
    tok = token_file(c)
    env = lock_env(c)
    cfg = config_file(c, parallelOutboundMigrationsPerNode=2, bandwidthPerMigration="16Mi")
    pairs, incs, migs = [], [], []
    for i in range(3):
        src = c.guest("a", f"src{i}", mem="16M").start()
        dst = c.guest("b", f"dst{i}", mem="16M", incoming=True).start()
        pairs.append((src, dst))
    for src, dst in pairs:
        src.wait_heartbeat(2)
        inc = incoming(c, dst, tok, "--port", str(49152 + len(incs)))
        incs.append((inc, inc.wait_event("listening")["port"]))
    for i in range(2):
        migs.append(migrate(c, pairs[i][0], incs[i][1], tok, "--streams", "0", "--config", cfg,
                            env=env))
    for m in migs:
        m.wait_event("started")
    third = migrate(c, pairs[2][0], incs[2][1], tok, "--streams", "0", "--config", cfg, env=env)
    migs.append(third)
    # while both slots are held, the third has not started: its QEMU has no migration
    looks, deadline = 0, time.monotonic() + 3
    while time.monotonic() < deadline and all(m.p.poll() is None for m in migs[:2]):
        assert not third.find("started"), third.said()
        assert "status" not in pairs[2][0].qmp.migration()
        looks += 1
        time.sleep(0.2)
    assert looks > 0, "the first two finished before the third could be seen waiting"
    assert "wait" in third.stderr().lower() or third.find("waiting"), third.said()
    for m in migs:
        assert m.finish() == 0, m.said()
    for src, dst in pairs:
        assert src.qmp.migration()["status"] == "completed"
        assert wait_status(dst.qmp, "running") == "running"
    started = [m.wait_event("started") for m in migs]
    assert all(s for s in started)
