# SPDX-License-Identifier: Apache-2.0
"""mignet migrate / mignet incoming with real QEMUs (BIOS only, TCG) in namespaces.

Each node: the pod netns of mignet_net.MigNet (migration0, eth0 with the default route), and a
launcher netns with only lo where QEMU runs; the two meet through unix sockets in a per-test
socket directory. The checks are the tests' own: QMP query-status on both QEMUs, the kernel's
byte counters.
"""
import json
import os
import subprocess
import threading
import time

import pytest

from mignet_net import MigNet, sh
from vm_bios import BiosVm

from paths import LIB, MIGNET  # noqa: E402
TOKEN = "vm-test-token"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
    pytest.mark.skipif(not os.access(MIGNET, os.X_OK), reason="build/migration/mignet not built"),
]


class Nodes:
    def __init__(self, tmp):
        self.net = MigNet().setup()
        self.tmp = str(tmp)
        self.launcher = {n: self.net.tag + "-l" + n for n in "ab"}
        self.vms = []
        for ns in self.launcher.values():
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        self.sockdir = os.path.join(self.tmp, "run")
        self.token = os.path.join(self.tmp, "token")
        with open(self.token, "w") as f:
            f.write(TOKEN + "\n")
        # TLS is on by default: a lab PKI per test (server/ for the target, client/ for the
        # source); a test passing --no-tls or its own --tls-* gets none of it
        self.pki = os.path.join(self.tmp, "pki")
        subprocess.run([MIGNET, "tls-init", self.pki], check=True, capture_output=True)

    def tls(self, role, extra):
        if any(a == "--no-tls" or a.startswith("--tls-") for a in extra):
            return []
        return ["--tls-dir", os.path.join(self.pki, role)]

    def vm(self, node, incoming=False, payload=0):
        vm = BiosVm(self.launcher[node], self.tmp, f"qemu-{node}", incoming=incoming,
                    payload=payload)
        self.vms.append(vm)
        return vm

    def incoming(self, vm, *extra, token=None):
        tf = token or self.token
        p = self.net.popen("b", MIGNET, "incoming", "--qmp", vm.qmp_path, "--socket-dir",
                           self.sockdir, "--token-file", tf, "--timeout", "60", "--json",
                           *self.tls("server", extra), *extra)
        line = p.stdout.readline()
        assert line, p.stderr.read()
        assert json.loads(line)["event"] == "listening", line
        return p

    def migrate(self, vm, *extra, timeout=120, token=None):
        return self.net.run("a", MIGNET, "migrate", "--qmp", vm.qmp_path, "--target",
                            self.net.mig_addr["b"], "--socket-dir", self.sockdir,
                            "--token-file", token or self.token, "--json",
                            *self.tls("client", extra), *extra, timeout=timeout)

    def teardown(self):
        for vm in self.vms:
            vm.stop()
        self.net.teardown()
        for ns in self.launcher.values():
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def nodes(tmp_path):
    n = Nodes(tmp_path)
    try:
        yield n
    finally:
        n.teardown()


def events(out):
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def report(out):
    reps = [e for e in events(out) if e["event"] == "report"]
    assert len(reps) == 1, out
    return reps[0]


def capabilities(pid):
    """CapEff and CapBnd of @pid (ip netns exec execs: the pid is mignet's)."""
    caps = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("CapEff", "CapBnd"):
                caps[k] = int(v, 16)
    return caps


def pod_bytes(net, node):
    st = json.loads(sh("ip", "-n", net.ns[node], "-j", "-s", "link", "show", "eth0").stdout)
    return st[0]["stats64"]["tx"]["bytes"] + st[0]["stats64"]["rx"]["bytes"]


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "no-tls"])
@pytest.mark.parametrize("streams", [0, 2, 8])
def test_bios_vm_migrates_over_migration0(nodes, streams, tls):
    src, dst = nodes.vm("a"), nodes.vm("b", incoming=True)
    pod0 = pod_bytes(nodes.net, "a") + pod_bytes(nodes.net, "b")
    off = () if tls else ("--no-tls",)
    inc = nodes.incoming(dst, *off)
    # least privilege: once listening, incoming holds CAP_DAC_OVERRIDE only (QEMU's sockets)
    assert capabilities(inc.pid) == {"CapEff": 1 << 1, "CapBnd": 1 << 1}
    r = nodes.migrate(src, "--streams", str(streams), *off)
    out, err = inc.communicate(timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr + "\n--- incoming:\n" + out + err
    assert inc.returncode == 0, out + err
    rep, trep = report(r.stdout), report(out)
    assert rep["completed"] and not rep["failed"], rep
    assert rep["targetNodeAddress"] == nodes.net.mig_addr["b"]
    assert rep["sourceAddress"] == nodes.net.mig_addr["a"]
    assert rep["vmRunsOn"] == "target" and trep["vmRunsOn"] == "target"
    assert rep["qemu"]["status"] == "completed"
    # the target QEMU reports only its status: the target's report carries the source's figures
    assert rep["qemu"]["figuresFrom"] == "this node's QEMU"
    assert trep["qemu"]["figuresFrom"] == "the source QEMU", trep["qemu"]
    for k in ("transferredBytes", "totalTimeMs", "downtimeMs", "ramTotal"):
        assert trep["qemu"][k] == rep["qemu"][k] and rep["qemu"][k] > 0, (k, rep, trep)
    connections = 1 + streams if streams >= 2 else 1  # main + multifd channels
    assert rep["streams"] == connections and trep["streams"] == connections
    assert rep["connections"] == connections
    assert rep["multifdChannels"] == (streams if streams >= 2 else 0)
    if tls:
        assert rep["transport"] == "tls" and trep["transport"] == "tls"
        assert rep["tls"]["version"] == "TLSv1.3", rep["tls"]
        assert rep["tls"]["peerName"] == "kubevirt.io:system:node:virt-handler"
        assert trep["tls"]["peerName"] == "kubevirt.io:system:client:virt-handler"
    else:
        assert rep["tls"] is False and trep["tls"] is False
        # one connection in clear: QEMU gets the TCP socket itself (no hop through mignet)
        path = "fd" if streams < 2 else "splice"
        assert rep["transport"] == path and trep["transport"] == path, (rep, trep)
    assert len(rep["connectionBytes"]) == rep["connections"]
    assert all(b > 0 for b in rep["connectionBytes"]), rep
    # the guest's RAM went through mignet: at least what QEMU says it transferred
    assert sum(rep["connectionBytes"]) >= rep["qemu"]["transferredBytes"]
    # independently: QEMU's own view on both sides
    assert src.query("query-migrate")["status"] == "completed"
    assert src.status() == "postmigrate"
    assert dst.status() == "running"
    # nothing of it took the pod network
    assert pod_bytes(nodes.net, "a") + pod_bytes(nodes.net, "b") - pod0 < 64 * 1024
    # the per-migration sockets are gone, the directory is private (with fd, none was made)
    if rep["transport"] == "fd":
        assert not os.path.exists(nodes.sockdir) or os.listdir(nodes.sockdir) == []
    else:
        assert os.listdir(nodes.sockdir) == []
        assert os.stat(nodes.sockdir).st_mode & 0o777 == 0o700


def test_wrong_token_never_reaches_the_target_qemu(nodes, tmp_path):
    src, dst = nodes.vm("a"), nodes.vm("b", incoming=True)
    bad = tmp_path / "bad-token"
    bad.write_text("not-the-token\n")
    inc = nodes.incoming(dst)
    try:
        r = nodes.migrate(src, "--streams", "2", token=str(bad))
        assert r.returncode == 1, r.stdout + r.stderr
        rep = report(r.stdout)
        assert rep["failed"] and not rep["completed"]
        assert "token mismatch" in rep["failureReason"], rep
        assert rep["vmRunsOn"] == "source"
        assert src.status() == "running"
        assert src.query("query-migrate") == {}  # the source QEMU was never told to migrate
        # the target refused it in the handshake and still waits for a genuine source
        line = inc.stdout.readline()
        assert json.loads(line)["event"] == "rejected" and "token" in line, line
        assert inc.poll() is None
    finally:
        inc.kill()
        inc.wait()
    # nothing was set on the target QEMU, nothing connected to it
    assert dst.status() == "inmigrate"
    assert dst.query("query-migrate") == {}
    caps = {c["capability"]: c["state"] for c in dst.query("query-migrate-capabilities")}
    assert not caps["multifd"]
    assert not os.path.exists(nodes.sockdir) or os.listdir(nodes.sockdir) == []


def wait_progress(p, n=2):
    """Reads @p's JSON lines until @n progress events (the migration is under way)."""
    seen = 0
    for line in p.stdout:
        if json.loads(line)["event"] == "progress":
            seen += 1
            if seen >= n:
                return
    raise AssertionError("no progress: " + p.stderr.read())


# the two data paths: mignet's forwarder (multifd, TLS) and QEMU holding the TCP socket
DATA_PATHS = {"splice": ("--streams", "2"), "fd": ("--streams", "0", "--no-tls")}


@pytest.mark.parametrize("path", DATA_PATHS)
@pytest.mark.parametrize("victim", ["target-mignet", "target-qemu"])
def test_target_killed_midway_keeps_the_vm_on_the_source(nodes, victim, path):
    src, dst = nodes.vm("a"), nodes.vm("b", incoming=True)
    inc = nodes.incoming(dst, *DATA_PATHS[path][2:])
    # 64 KiB/s: the BIOS guest's megabyte takes long enough to be interrupted
    mig = nodes.net.popen("a", MIGNET, "migrate", "--qmp", src.qmp_path, "--target",
                          nodes.net.mig_addr["b"], "--socket-dir", nodes.sockdir,
                          "--token-file", nodes.token, "--json",
                          *nodes.tls("client", DATA_PATHS[path]), *DATA_PATHS[path],
                          "--bandwidth", "64KiB/s", "--progress-timeout", "20")
    wait_progress(mig)
    assert capabilities(mig.pid) == {"CapEff": 1 << 1, "CapBnd": 1 << 1}
    if victim == "target-mignet":
        inc.kill()
    else:
        dst.proc.kill()
    out, err = mig.communicate(timeout=60)
    inc.kill()
    inc.wait()
    assert mig.returncode == 1, out + err
    rep = report(out)
    assert rep["failed"] and not rep["completed"]
    assert rep["vmRunsOn"] == "source", rep
    assert "the VM runs on the source" in rep["failureReason"]
    assert src.status() == "running"
    assert src.query("query-migrate")["status"] in ("failed", "cancelled")
    assert rep["transport"] == ("tls" if path == "splice" else "fd"), rep


def migrate_bg(nodes, src, *extra):
    return nodes.net.popen("a", MIGNET, "migrate", "--qmp", src.qmp_path, "--target",
                           nodes.net.mig_addr["b"], "--socket-dir", nodes.sockdir,
                           "--token-file", nodes.token, "--json", *nodes.tls("client", extra),
                           *extra)


def test_frozen_target_hits_the_progress_timeout(nodes):
    # 48 MiB that do not fit into the sockets' buffers, at 8 MiB/s
    src, dst = nodes.vm("a", payload=48), nodes.vm("b", incoming=True, payload=48)
    inc = nodes.incoming(dst)
    mig = migrate_bg(nodes, src, "--streams", "2", "--bandwidth", "8", "--progress-timeout", "3")
    try:
        wait_progress(mig)
        dst.proc.send_signal(19)  # SIGSTOP: the target QEMU stops reading, the buffers fill up
        out, err = mig.communicate(timeout=60)
    finally:
        dst.proc.send_signal(18)
        inc.kill()
        inc.wait()
    assert mig.returncode == 1, out + err
    rep = report(out)
    assert "progressTimeout" in rep["failureReason"], rep
    assert rep["abortStatus"] == "Succeeded" and rep["vmRunsOn"] == "source"
    assert src.status() == "running"
    assert src.query("query-migrate")["status"] == "cancelled"


def test_completion_timeout_from_config_cancels(nodes, tmp_path):
    cfg = tmp_path / "hco.json"
    cfg.write_text(json.dumps({"liveMigrationConfig": {
        "completionTimeoutPerGiB": 2, "bandwidthPerMigration": "64Ki", "progressTimeout": 150,
        "parallelOutboundMigrationsPerNode": 2, "allowAutoConverge": False,
        "allowPostCopy": False}}))
    src, dst = nodes.vm("a"), nodes.vm("b", incoming=True)
    inc = nodes.incoming(dst)
    r = nodes.migrate(src, "--config", str(cfg), "--streams", "2")
    out, _ = inc.communicate(timeout=60)
    assert r.returncode == 1 and inc.returncode == 1, r.stdout + r.stderr
    rep = report(r.stdout)
    assert "completionTimeoutPerGiB" in rep["failureReason"], rep
    assert rep["abortStatus"] == "Succeeded" and rep["vmRunsOn"] == "source"
    assert report(out)["vmRunsOn"] == "source"
    assert src.status() == "running"


def test_post_copy_completes_what_pre_copy_could_not(nodes, tmp_path):
    cfg = tmp_path / "hco.json"
    cfg.write_text(json.dumps({"completionTimeoutPerGiB": 2, "bandwidthPerMigration": "64Ki",
                               "allowPostCopy": True}))
    src, dst = nodes.vm("a"), nodes.vm("b", incoming=True)
    inc = nodes.incoming(dst)
    r = nodes.migrate(src, "--config", str(cfg))  # 8 multifd channels asked: post-copy wins
    out, _ = inc.communicate(timeout=60)
    assert r.returncode == 0 and inc.returncode == 0, r.stdout + r.stderr
    assert "without multifd" in r.stderr
    assert [e for e in events(r.stdout) if e["event"] == "postcopy"]
    rep, trep = report(r.stdout), report(out)
    assert rep["mode"] == "PostCopy" and trep["mode"] == "PostCopy"
    assert rep["completed"] and rep["multifdChannels"] == 0
    assert dst.status() == "running" and src.status() == "postmigrate"


def test_auto_converge_and_channels_reach_both_qemus(nodes):
    src, dst = nodes.vm("a"), nodes.vm("b", incoming=True)
    inc = nodes.incoming(dst)
    r = nodes.migrate(src, "--streams", "3", "--allow-auto-converge")
    inc.communicate(timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for vm in (src, dst):
        caps = {c["capability"]: c["state"] for c in vm.query("query-migrate-capabilities")}
        assert caps["auto-converge"] and caps["multifd"] and not caps["postcopy-ram"]
        assert vm.query("query-migrate-parameters")["multifd-channels"] == 3
    # unlimited unless bandwidthPerMigration says otherwise: not QEMU's 128 MiB/s
    assert src.query("query-migrate-parameters")["max-bandwidth"] > (128 << 20)


@pytest.mark.parametrize("args,says", [
    (["migrate", "--target", "10.0.0.1"], "--qmp SOCKET and --target"),
    (["migrate", "--qmp", "q", "--target", "10.0.0.1", "--streams", "99"], "--streams 99: a number in 0..62"),
    (["migrate", "--qmp", "q", "--target", "10.0.0.1", "--bandwidth", "fast"], "--bandwidth fast"),
    (["migrate", "--qmp", "q", "--target", "10.0.0.1", "--no-tls", "--data-path", "fd"],
     "--data-path fd hands QEMU the one TCP connection: use it with --streams 0"),
    (["migrate", "--qmp", "q", "--target", "10.0.0.1", "--data-path", "copy"],
     "--data-path copy: auto, fd or splice"),
    (["migrate", "--bogus"], "see mignet migrate --help"),
    (["incoming"], "--qmp SOCKET is needed"),
    (["incoming", "--qmp", "q", "--port", "0"], "--port 0: not a port"),
    (["incoming", "--qmp", "q", "--no-tls", "--token-file", "/nonexistent"],
     "--token-file /nonexistent"),
])
def test_usage_errors(args, says):
    r = subprocess.run([MIGNET, *args], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r
    assert says in r.stderr, r.stderr


def test_bad_config_is_a_usage_error(tmp_path):
    cfg = tmp_path / "hco.json"
    cfg.write_text('{"allowPostCopy": "yes"}')
    r = subprocess.run([MIGNET, "migrate", "--qmp", "q", "--target", "10.0.0.1", "--config",
                        str(cfg)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "allowPostCopy must be true or false" in r.stderr, r.stderr


def test_help_names_every_option():
    for cmd, opts in (("migrate", ["--qmp", "--target", "--streams", "--bandwidth", "--config",
                                   "--progress-timeout", "--completion-timeout-per-gib",
                                   "--allow-auto-converge", "--allow-post-copy", "--socket-dir",
                                   "--token-file", "--json"]),
                      ("incoming", ["--qmp", "--interface", "--port", "--socket-dir",
                                    "--token-file", "--from", "--timeout", "--json"])):
        r = subprocess.run([MIGNET, cmd, "--help"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0
        for o in opts:
            assert o in r.stdout, (cmd, o)


@pytest.mark.parametrize("path", DATA_PATHS)
def test_network_gone_midway_keeps_the_vm_on_the_source(nodes, path):
    """migration0 of the target node goes down (no FIN, no RST: silence). The source cancels
    past its progressTimeout; the target, told that timeout in the setup, gives up too (with
    fd, by the kernel's byte count of the socket its QEMU holds)."""
    src, dst = nodes.vm("a", payload=48), nodes.vm("b", incoming=True, payload=48)
    inc = nodes.incoming(dst, *DATA_PATHS[path][2:])
    mig = migrate_bg(nodes, src, *DATA_PATHS[path], "--bandwidth", "8", "--progress-timeout", "3")
    wait_progress(mig)
    nodes.net.ip("b", "link", "set", "migration0", "down")
    out, err = mig.communicate(timeout=60)
    assert mig.returncode == 1, out + err
    rep = report(out)
    assert "progressTimeout" in rep["failureReason"] and rep["vmRunsOn"] == "source", rep
    assert src.status() == "running"
    assert src.query("query-migrate")["status"] == "cancelled"
    tout, terr = inc.communicate(timeout=60)
    assert inc.returncode == 1, tout + terr
    trep = report(tout)
    assert "the source or the network is gone" in trep["failureReason"], trep
    assert trep["vmRunsOn"] == "source"


# A peer of the migration VLAN that passes the hello (with the token, as the worst case) and
# then stalls its TLS handshake: "silent" sends nothing more, "trickle" the head of a TLS
# record and then a byte every half second, "plain" QEMU's plaintext magic (refused at once).
# One line per connection once it got WELCOME; at the end (stdin closed), whether the server
# had closed each one.
STALLER = r"""
import os, select, socket, sys, time
sys.path.insert(0, sys.argv[3])
from mignet_net import hello, recv_exact
addr, port, token, modes = sys.argv[1], int(sys.argv[2]), sys.argv[4], sys.argv[5].split(",")
conns = []
for i, mode in enumerate(modes):
    s = socket.create_connection((addr, port), timeout=60)
    recv_exact(s, 40)
    nonce = recv_exact(s, 32)
    s.sendall(hello(1 << 20, nonce, token, streams=2, index=0, session=0xbad0 + i, flags=2))
    assert recv_exact(s, 40)[5] == 2, "no WELCOME"
    if mode == "trickle":
        s.sendall(b"\x16\x03\x01\x02\x00")
    elif mode == "plain":
        s.sendall(b"QEVM\x00\x00\x00\x03")
    s.setblocking(False)
    conns.append([s, mode, False])
    print("welcomed", i, mode, flush=True)
while True:
    r, _, _ = select.select([sys.stdin] + [c[0] for c in conns if not c[2]], [], [], 0.5)
    if sys.stdin in r:
        break
    for c in conns:
        if c[0] in r:
            try:
                c[2] = c[0].recv(100) == b""
            except OSError:
                c[2] = True
        if c[1] == "trickle" and not c[2]:
            try:
                c[0].send(os.urandom(1))
            except OSError:
                c[2] = True
for i, c in enumerate(conns):
    print("closed" if c[2] else "open", i, c[1], flush=True)
"""


def staller(nodes, *modes):
    """The STALLER on node a against the target's incoming; returned once every connection
    got its WELCOME (the handshake slots took them)."""
    p = nodes.net.popen("a", "python3", "-c", STALLER, nodes.net.mig_addr["b"], "49152",
                        LIB, TOKEN, ",".join(modes), stdin=subprocess.PIPE)
    for _ in modes:
        line = p.stdout.readline()
        assert line.startswith("welcomed"), line + p.stderr.read()
    return p


def staller_end(p):
    out, err = p.communicate(input="", timeout=30)
    assert p.returncode == 0, out + err
    return [line.split()[0] for line in out.splitlines()]


def test_stalled_tls_handshakes_do_not_hold_the_accept_loop(nodes):
    """Peers with a valid hello whose TLS handshake stalls or trickles: each holds one bounded
    handshake slot, never the accept loop (it ran one handshake at a time, up to 10 s each).
    A plaintext peer arriving after two of them is refused first; they are refused once past
    their deadline; two more stalled when the real migration starts do not hold it up: it
    completes while they are still connected, and they are closed as not needed."""
    src, dst = nodes.vm("a"), nodes.vm("b", incoming=True)
    inc = nodes.incoming(dst)
    early = staller(nodes, "silent", "trickle")
    plain = staller(nodes, "plain")
    rejected = []
    while len(rejected) < 3:
        line = inc.stdout.readline()
        assert line, inc.stderr.read()
        ev = json.loads(line)
        if ev["event"] == "rejected":
            rejected.append(ev["reason"])
    # served while the two earlier handshakes were still stalled: refused before them
    assert "are not a TLS handshake" in rejected[0], rejected
    assert all("no TLS handshake within 5 s of WELCOME" in r for r in rejected[1:]), rejected
    assert staller_end(early) == ["closed", "closed"]
    assert staller_end(plain) == ["closed"]

    late = staller(nodes, "silent", "trickle")
    r = nodes.migrate(src, "--streams", "2")
    out, err = inc.communicate(timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr + "\n--- incoming:\n" + out + err
    assert inc.returncode == 0, out + err
    assert report(r.stdout)["completed"] and report(out)["vmRunsOn"] == "target"
    assert dst.status() == "running"
    # the migration did not wait for the late ones: it took the loop while they were
    # connected and they were closed once it had its connections, not at a deadline
    late_rej = [e["reason"] for e in events(out) if e["event"] == "rejected"]
    assert len(late_rej) == 2, late_rej
    assert all("closed during its TLS handshake: the session was complete without it" in x
               for x in late_rej), late_rej
    assert staller_end(late) == ["closed", "closed"]
    assert report(out)["rejectedConnections"] == 5
