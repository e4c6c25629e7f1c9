# SPDX-License-Identifier: Apache-2.0
"""Least privilege in mignet (tools/mignet/mig_privilege.h): `mignet receive` holds no capability
once its socket is bound; `mignet send` holds only CAP_IPC_LOCK, and only when zero-copy may be
used; the doctor's sink holds none; the doctor without CAP_NET_RAW says why it used TCP."""
import json
import os
import secrets
import subprocess
import time

import pytest

from die_with_test import die_with_parent

from paths import ROOT  # noqa: E402
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
        proc = subprocess.Popen(["ip", "netns", "exec", ns, MIGNET, "receive", "--no-tls", "--interface", "migration0",
                                 "--token", "t", "--json"], stdout=subprocess.PIPE, text=True,
                                preexec_fn=die_with_parent())
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


# ---- send, doctor: what each keeps (tools/mignet/mig_privilege.h) ----

CAP_IPC_LOCK = 14
SETPRIV_NONE = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"]


def caps_of(pid):
    """CapEff, CapPrm, CapBnd of @pid, once it is mignet and has dropped (CapBnd cut)."""
    full = next(int(line.split()[1], 16) for line in open("/proc/self/status")
                if line.startswith("CapBnd"))  # what a root child starts with
    for _ in range(250):
        try:
            comm = open(f"/proc/{pid}/comm").read().strip()
            status = open(f"/proc/{pid}/status").read()
        except FileNotFoundError:
            break
        caps = {k: int(v, 16) for k, v in (line.split(":\t") for line in status.splitlines()
                                            if line.startswith("Cap"))}
        if comm == "mignet" and caps["CapBnd"] != full:
            return caps
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} never dropped its capabilities")


def start_receiver(net):
    p = net.popen("b", MIGNET, "receive", "--no-tls", "--interface", "migration0", "--token", "t", "--json")
    assert '"listening"' in p.stdout.readline(), p.stderr.read()
    return p


def send_args(net, lock_dir, *extra):
    return [MIGNET, "send", "--no-tls", "--target", net.mig_addr["b"], "--interface", "migration0",
            "--token", "t", "--json", "--lock-dir", lock_dir, *extra]


def last_report(out):
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("zerocopy,kept", [("auto", 1 << CAP_IPC_LOCK), ("always", 1 << CAP_IPC_LOCK),
                                           ("never", 0)])
def test_send_keeps_only_ipc_lock_for_zerocopy(mignet_pair, tmp_path, zerocopy, kept):
    """While it streams, the sender holds CAP_IPC_LOCK when zero-copy may be used, else nothing."""
    start_receiver(mignet_pair)
    # 48 MiB at 16 MiB/s: a few seconds in which to read its sets
    p = mignet_pair.popen("a", *send_args(mignet_pair, str(tmp_path), "--guest-memory", "48M",
                                          "--bandwidth", "16", "--zerocopy", zerocopy))
    caps = caps_of(p.pid)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert last_report(out)["verified"] is True
    assert caps["CapEff"] == kept and caps["CapPrm"] == kept and caps["CapBnd"] == kept, caps
    assert caps["CapInh"] == 0 and caps.get("CapAmb", 0) == 0, caps


def test_send_without_ipc_lock_warns_and_still_verifies(mignet_pair, tmp_path):
    """No CAP_IPC_LOCK: zero-copy pins count against RLIMIT_MEMLOCK; said, and the data arrives."""
    start_receiver(mignet_pair)
    r = mignet_pair.run("a", *SETPRIV_NONE, *send_args(mignet_pair, str(tmp_path), "--guest-memory",
                                                       "256M", "--streams", "2", "--zerocopy", "always"),
                        timeout=120)
    assert r.returncode == 0, r.stderr
    assert "no CAP_IPC_LOCK" in r.stderr and "RLIMIT_MEMLOCK" in r.stderr
    rep = last_report(r.stdout)
    assert rep["verified"] is True and rep["zerocopy"]["sends"] > 0


def test_doctor_sink_holds_nothing(mignet_pair):
    p = mignet_pair.popen("b", MIGNET, "doctor", "--serve", "--json")
    assert '"listening"' in p.stdout.readline(), p.stderr.read()
    caps = caps_of(p.pid)
    assert caps["CapEff"] == 0 and caps["CapPrm"] == 0 and caps["CapBnd"] == 0, caps


def test_doctor_without_net_raw_says_why_and_falls_back_to_tcp(mignet_pair):
    """A new netns has ping sockets off; without CAP_NET_RAW the peer check uses TCP and says so."""
    p = mignet_pair.popen("b", MIGNET, "doctor", "--serve", "--json")
    assert '"listening"' in p.stdout.readline(), p.stderr.read()
    r = mignet_pair.run("a", *SETPRIV_NONE, MIGNET, "doctor", "--peer", mignet_pair.mig_addr["b"],
                        "--no-probe", "--json", timeout=60)
    rep = json.loads(r.stdout)
    peer = next(c for c in rep["checks"] if c["name"] == "peer")
    assert peer["status"] == "pass", peer
    assert "TCP port" in peer["detail"] and "CAP_NET_RAW" in peer["detail"], peer


def test_receive_below_1024_names_the_capability_then_drops_it(mignet_pair):
    """Port 80: without CAP_NET_BIND_SERVICE the error names it; with it (and nothing else in
    reach) the receiver listens, then holds nothing."""
    base = [MIGNET, "receive", "--no-tls", "--interface", "migration0", "--port", "80", "--token", "t", "--json"]
    r = mignet_pair.run("b", *SETPRIV_NONE, *base, "--timeout", "1", timeout=30)
    assert r.returncode == 1 and "CAP_NET_BIND_SERVICE" in r.stderr, r.stderr
    p = mignet_pair.popen("b", "setpriv", "--bounding-set=-all,+net_bind_service,+setpcap",
                          "--inh-caps=-all", "--", *base)
    assert '"listening"' in p.stdout.readline(), p.stderr.read()
    caps = caps_of(p.pid)
    assert caps["CapEff"] == 0 and caps["CapPrm"] == 0 and caps["CapBnd"] == 0, caps


def test_doctor_master_netns_without_sys_admin_names_it(mignet_pair):
    r = mignet_pair.run("a", *SETPRIV_NONE, MIGNET, "doctor", "--master", "eth1", "--master-netns",
                        "/var/run/netns/" + mignet_pair.node_ns["a"], "--no-probe", "--json",
                        timeout=60)
    rep = json.loads(r.stdout)
    master = next(c for c in rep["checks"] if c["name"] == "master")
    assert master["status"] == "fail" and "CAP_SYS_ADMIN" in master["detail"], master
    # with it, the same check passes: the message was about privilege only
    r = mignet_pair.run("a", MIGNET, "doctor", "--master", "eth1", "--master-netns",
                        "/var/run/netns/" + mignet_pair.node_ns["a"], "--no-probe", "--json",
                        timeout=60)
    master = next(c for c in json.loads(r.stdout)["checks"] if c["name"] == "master")
    assert master["status"] == "pass", master


def test_doctor_sink_below_1024_names_the_capability(mignet_pair):
    r = mignet_pair.run("b", *SETPRIV_NONE, MIGNET, "doctor", "--serve", "--port", "80",
                        timeout=30)
    assert r.returncode == 1 and "CAP_NET_BIND_SERVICE" in r.stderr, r.stderr
