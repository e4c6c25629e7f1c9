# SPDX-License-Identifier: Apache-2.0
"""Integration tests of mignet send/receive between two "nodes" in network namespaces.

Topology in mignet_net.py: a macvlan migration0 per node on a veth "wire" into a bridge, and
a separate pod-network leg (eth0) holding the default route. The checks read kernel state
independently where it matters (ip -j addr, ss) and never assert on timing.
"""
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading

import pytest

from mignet_net import MIG_NET, frame, hello, mignet_up

from paths import LIB, MIGNET  # noqa: E402
TOKEN = "s3cret-token-for-tests"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(not os.access(MIGNET, os.X_OK), reason="build/migration/mignet not built"),
]


class Proc:
    """A process in a namespace whose stdout lines are read by a thread."""

    def __init__(self, net, node, args):
        self.p = net.popen(node, *args)
        self.lines = queue.Queue()
        self.out = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.out.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def event(self, timeout=20):
        """The next JSON line, or None at EOF."""
        line = self.lines.get(timeout=timeout)
        return json.loads(line) if line else None

    def wait(self, timeout=60):
        rc = self.p.wait(timeout=timeout)
        self.t.join(timeout=5)
        self.stderr = self.p.stderr.read()
        self.events = [json.loads(line) for line in self.out if line.startswith("{")]
        return rc

    def report(self):
        reps = [e for e in self.events if e.get("event") == "report"]
        assert len(reps) == 1, self.out
        return reps[0]


@pytest.fixture(autouse=True)
def reap(request):
    """Kill every process a test started in the namespaces, even when it failed."""
    yield
    if "net" in request.fixturenames:
        n = request.getfixturevalue("net")
        for p in n.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
        n.procs = []


# TLS is on by default: a lab PKI for the module (server/ for receive, client/ for send); a
# command given --no-tls or its own --tls-* options gets none of it
PKI = {}


@pytest.fixture(scope="module", autouse=True)
def pki():
    d = tempfile.mkdtemp(prefix="mgt-pki-")
    try:
        subprocess.run([MIGNET, "tls-init", d], check=True, capture_output=True)
        PKI["dir"] = d
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def tls(role, args=()):
    if any(a == "--no-tls" or a.startswith("--tls-") for a in args):
        return []
    return ["--tls-dir", os.path.join(PKI["dir"], role)]


_port = [50100]


def next_port():
    _port[0] += 1
    return _port[0]


def receiver(net, *args, port=None, node="b"):
    port = port or next_port()
    r = Proc(net, node, [MIGNET, "receive", "--json", "--port", str(port), *tls("server", args),
                         *args])
    ev = r.event()
    assert ev and ev["event"] == "listening", ev
    return r, port


def send(net, port, *args, node="a", timeout=60, lockdir=None):
    lock = ["--lock-dir", lockdir] if lockdir else ["--lock-dir", "/tmp/mgt-lock-default"]
    res = net.run(node, MIGNET, "send", "--json", "--target", f"{net.mig_addr['b']}:{port}",
                  *lock, *tls("client", args), *args, timeout=timeout)
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    reps = [e for e in events if e.get("event") == "report"]
    return res, events, (reps[0] if reps else None)


def migration0_address(net, node):
    """The address from the kernel, independently of mignet."""
    out = json.loads(net.ip(node, "-j", "addr", "show", "dev", "migration0").stdout)
    return [a["local"] for a in out[0]["addr_info"] if a["family"] == "inet"][0]


# --- a hostile client speaking the wire format --------------------------------------------

CLIENT = r"""
import socket, sys, time
sys.path.insert(0, sys.argv[4])
from mignet_net import frame, hello, recv_exact
steps = eval(sys.argv[3])
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)

def read(n):
    return recv_exact(s, n)

nonce = b""
for kind, data in steps:
    if kind == "challenge":
        hdr = read(40)
        nonce = read(32)
        print("challenge", hdr[5] if len(hdr) > 5 else -1, len(nonce), flush=True)
    elif kind == "hello":
        s.sendall(hello(data[0], nonce, data[1]))
    elif kind == "send":
        s.sendall(data)
    elif kind == "recv":
        got = read(40)
        print("reply", len(got), got[5] if len(got) > 5 else -1, flush=True)
    elif kind == "sleep":
        time.sleep(data)
s.close()
"""


def hostile(net, port, steps):
    return net.run("a", "python3", "-c", CLIENT, net.mig_addr["b"], str(port), repr(steps),
                   LIB, timeout=30)


def hostile_after_hello(net, data, mem=1 << 20):
    """A receiver with TOKEN, and a client that answers its challenge, says hello (@mem bytes)
    and sends @data. Return: (the receiver, the client's run)."""
    r, port = receiver(net, "--token", TOKEN, "--timeout", "20", "--no-tls")
    steps = [("challenge", None), ("hello", (mem, TOKEN)), ("recv", None), ("send", data)]
    return r, hostile(net, port, steps)


# --- tests ---------------------------------------------------------------------------------

def test_verified_migration_over_streams(net, tmp_path):
    r, port = receiver(net, "--token", TOKEN, "--from", "10.77.0.0/24")
    # it listens on the migration address only, never on the wildcard
    ss = net.run("b", "ss", "-Hltn", f"sport = :{port}").stdout
    assert f"{net.mig_addr['b']}%migration0:{port}" in ss, ss
    res, events, rep = send(net, port, "--guest-memory", "64M", "--streams", "4",
                            "--token", TOKEN, lockdir=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert r.wait() == 0, r.stderr
    rrep = r.report()
    for rp in (rep, rrep):
        assert rp["verified"] is True
        assert rp["targetNodeAddress"] == migration0_address(net, "b") == net.mig_addr["b"]
        assert rp["sourceAddress"] == migration0_address(net, "a")
        assert rp["interface"] == "migration0"
        assert rp["memoryBytes"] == 64 << 20
        assert rp["streams"] == 4
        assert rp["rounds"] == 1
        assert rp["bytes"] >= 64 << 20
        assert rp["seconds"] > 0 and rp["gbps"] > 0
        assert "downtimeMs" in rp
        assert set(rp["zerocopy"]) >= {"mode", "sends", "completions", "copied"}
    assert rep["digest"] == rrep["digest"] == rep["peerDigest"] == rrep["peerDigest"]
    assert rep["pageBytes"] == rrep["pageBytes"] == 64 << 20
    assert "warning" not in r.stderr


def test_receiver_without_token_or_from_warns(net, tmp_path):
    r, port = receiver(net)
    res, _, rep = send(net, port, "--guest-memory", "8M", "--streams", "1", lockdir=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert r.wait() == 0
    assert "warning" in r.stderr and "--token" in r.stderr


@pytest.mark.parametrize("mode", ["auto", "always", "never"])
def test_zerocopy_modes_on_veth(net, tmp_path, mode):
    r, port = receiver(net, "--token", TOKEN, "--no-tls")  # zero-copy: plaintext only
    res, _, rep = send(net, port, "--guest-memory", "64M", "--streams", "2", "--zerocopy", mode,
                       "--token", TOKEN, "--no-tls", lockdir=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert r.wait() == 0
    zc = rep["zerocopy"]
    assert zc["mode"] == mode
    assert zc["completions"] == zc["sends"]  # the flush barrier reaped everything
    batches = (64 << 20) // (256 << 10)
    if mode == "never":
        assert zc["sends"] == 0 and zc["copied"] == 0
    elif mode == "always":
        # every batch went MSG_ZEROCOPY, and on veth the kernel copied every one
        assert zc["sends"] == batches
        assert zc["copied"] == zc["sends"]
    else:
        # auto saw SO_EE_CODE_ZEROCOPY_COPIED and switched each stream to plain sends
        assert zc["copied"] >= 1 and zc["copied"] == zc["completions"]
        assert zc["fallbacks"] == 2
        assert zc["sends"] < batches
    assert r.report()["zerocopy"]["sends"] == zc["sends"]


def test_live_precopy_converges_and_verifies(net, tmp_path):
    r, port = receiver(net, "--token", TOKEN)
    res, events, rep = send(net, port, "--guest-memory", "64M", "--dirty-rate", "32MiB/s",
                            "--bandwidth", "64", "--downtime-ms", "300", "--streams", "2",
                            "--token", TOKEN, lockdir=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert r.wait() == 0, r.stderr
    assert rep["verified"] and r.report()["verified"]
    assert rep["dirtyTracking"] == "uffd-wp"
    assert rep["rounds"] >= 2 and r.report()["rounds"] == rep["rounds"]
    assert rep["pageBytes"] > 64 << 20  # dirty pages went again
    rounds = [e for e in events if e["event"] == "round"]
    assert len(rounds) == rep["rounds"] - 1 and rounds[0]["dirtyBytes"] > 0
    assert any(e["event"] == "progress" for e in events)


def test_target_only_on_pod_network_is_refused(net, tmp_path):
    for target in (net.pod_addr["b"], "192.0.2.10"):
        res = net.run("a", MIGNET, "send", "--target", target, "--guest-memory", "8M",
                      "--lock-dir", str(tmp_path), *tls("client"))
        assert res.returncode == 1, res.stderr
        assert "refusing" in res.stderr and "eth0" in res.stderr, res.stderr


def test_wrong_token_rejected_nothing_written(net, tmp_path):
    r, port = receiver(net, "--token", TOKEN, "--timeout", "3")
    res, _, rep = send(net, port, "--guest-memory", "8M", "--token", "wrong", lockdir=str(tmp_path))
    assert res.returncode == 1
    assert "token mismatch" in res.stderr
    assert r.wait() == 1
    rej = [e for e in r.events if e["event"] == "rejected"]
    assert rej and rej[0]["reason"] == "token mismatch" and rej[0]["peer"] == net.mig_addr["a"]
    rrep = r.report()
    # no memory was even mapped, nothing received
    assert rrep["memoryBytes"] == 0 and rrep["pageBytes"] == 0 and rrep["verified"] is False
    assert rrep["rejectedConnections"] >= 1


def test_from_mismatch_rejected(net, tmp_path):
    r, port = receiver(net, "--token", TOKEN, "--from", "10.77.0.200/32", "--timeout", "3")
    res, _, _ = send(net, port, "--guest-memory", "8M", "--token", TOKEN, lockdir=str(tmp_path))
    assert res.returncode == 1
    assert "closed the connection during the handshake" in res.stderr, res.stderr
    assert r.wait() == 1
    rej = [e for e in r.events if e["event"] == "rejected"]
    assert rej and rej[0]["reason"] == "source not in --from"
    assert r.report()["memoryBytes"] == 0


def test_frame_out_of_bounds_rejected(net):
    mem = 1 << 20
    page = b"\xab" * 4096
    # one page past the end
    r, out = hostile_after_hello(net, frame(4, page, rnd=1, offset=mem), mem=mem)
    assert "challenge 9 32" in out.stdout and "reply 40 2" in out.stdout, out  # WELCOME
    assert r.wait() == 1
    assert "out of bounds" in r.stderr, r.stderr
    assert r.report()["verified"] is False


def test_frame_wrapping_offset_rejected(net):
    r, _ = hostile_after_hello(net, frame(4, b"", rnd=1, offset=(1 << 64) - 4096, length=8192,
                                          checksum=0))
    assert r.wait() == 1
    assert "out of bounds" in r.stderr, r.stderr


def test_truncated_stream_rejected(net):
    page = b"\x11" * 8192
    full = frame(4, page, rnd=1, offset=0)
    r, _ = hostile_after_hello(net, full[:40 + 100])
    assert r.wait() == 1
    assert "truncated" in r.stderr, r.stderr


def test_bad_checksum_rejected(net):
    page = b"\x22" * 4096
    r, _ = hostile_after_hello(net, frame(4, page, rnd=1, offset=0, checksum=12345))
    assert r.wait() == 1
    assert "checksum mismatch" in r.stderr, r.stderr


def test_garbage_before_hello_dropped_and_migration_still_served(net, tmp_path):
    r, port = receiver(net, "--token", TOKEN, "--timeout", "20")
    hostile(net, port, [("send", os.urandom(64))])
    hostile(net, port, [("send", frame(4, b"\0" * 4096, rnd=1))])  # pages without hello
    # a replayed or forged proof: the HMAC of another challenge
    out = hostile(net, port, [("challenge", None), ("send", hello(1 << 20, b"\0" * 32, TOKEN)),
                              ("recv", None)])
    assert "reply 40 3" in out.stdout, out  # REJECT
    res, _, rep = send(net, port, "--guest-memory", "8M", "--token", TOKEN, lockdir=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert r.wait() == 0
    assert r.report()["rejectedConnections"] == 3
    assert r.report()["verified"]


def test_receiver_killed_midway_fails_sender(net, tmp_path):
    r, port = receiver(net, "--token", TOKEN)
    s = Proc(net, "a", [MIGNET, "send", "--json", "--target", f"{net.mig_addr['b']}:{port}",
                        *tls("client"),
                        "--guest-memory", "64M", "--bandwidth", "8", "--progress-timeout", "3",
                        "--token", TOKEN, "--lock-dir", str(tmp_path)])
    ev = r.event()
    assert ev["event"] == "started"
    while True:  # some pages went
        ev = s.event()
        if ev["event"] == "progress" and ev["bytes"] > 0:
            break
    r.p.kill()
    assert s.wait() == 1
    assert "closed the connection" in s.stderr or "no progress" in s.stderr, s.stderr
    assert s.report()["verified"] is False


def test_frozen_receiver_hits_progress_timeout(net, tmp_path):
    r, port = receiver(net, "--token", TOKEN)
    s = Proc(net, "a", [MIGNET, "send", "--json", "--target", f"{net.mig_addr['b']}:{port}",
                        *tls("client"),
                        "--guest-memory", "256M", "--bandwidth", "32", "--progress-timeout", "2",
                        "--token", TOKEN, "--lock-dir", str(tmp_path)])
    assert r.event()["event"] == "started"
    while s.event()["event"] != "progress":
        pass
    os.kill(r.p.pid, signal.SIGSTOP)  # a dead peer: no RST, the socket buffers fill up
    try:
        assert s.wait() == 1
    finally:
        os.kill(r.p.pid, signal.SIGCONT)
    assert "no progress" in s.stderr, s.stderr


def test_completion_timeout_from_config_file(net, tmp_path):
    lock = tmp_path / "lock"  # the config file stays out of the lock dir
    lock.mkdir()
    cfg = tmp_path / "hco.json"
    cfg.write_text(json.dumps({"liveMigrationConfig": {
        "bandwidthPerMigration": "8Mi", "completionTimeoutPerGiB": 1, "progressTimeout": 150,
        "parallelOutboundMigrationsPerNode": 2}}))
    r, port = receiver(net, "--token", TOKEN)
    res, _, rep = send(net, port, "--guest-memory", "64M", "--config", str(cfg), "--token", TOKEN,
                       lockdir=str(lock))
    assert res.returncode == 1
    assert "completionTimeoutPerGiB" in res.stderr, res.stderr
    assert r.wait() == 1


def test_bad_config_is_a_usage_error(net, tmp_path):
    lock = tmp_path / "lock"  # the config file stays out of the lock dir
    lock.mkdir()
    cfg = tmp_path / "bad.json"
    cfg.write_text('{"progressTimeout": "soon"}')
    res, _, _ = send(net, 1, "--config", str(cfg), lockdir=str(lock))
    assert res.returncode == 2 and "progressTimeout" in res.stderr


def test_outbound_limit_queues_third_sender(net, tmp_path):
    recvs = [receiver(net, "--token", TOKEN) for _ in range(3)]
    senders = []
    for i, (r, port) in enumerate(recvs[:2]):
        senders.append(Proc(net, "a", [
            MIGNET, "send", "--json", "--target", f"{net.mig_addr['b']}:{port}", *tls("client"),
            "--guest-memory", "32M", "--bandwidth", "16", "--token", TOKEN, "--lock-dir", str(tmp_path)]))
        assert r.event()["event"] == "started"
    third = Proc(net, "a", [MIGNET, "send", "--json", *tls("client"), "--target",
                            f"{net.mig_addr['b']}:{recvs[2][1]}", "--guest-memory", "8M",
                            "--token", TOKEN, "--lock-dir", str(tmp_path)])
    ev = third.event()
    assert ev == {"event": "queued", "limit": 2}
    assert third.event()["event"] == "dequeued"
    for s in senders + [third]:
        assert s.wait() == 0, s.stderr
        assert s.report()["verified"]
    assert "waiting" in third.stderr
    for r, _ in recvs:
        assert r.wait() == 0


def test_no_migration_interface_is_a_clear_error(net, tmp_path):
    res = net.run("a", MIGNET, "send", "--no-tls", "--target", net.mig_addr["b"], "--interface",
                  "nosuch0",
                  "--lock-dir", str(tmp_path))
    assert res.returncode == 1 and "no interface nosuch0" in res.stderr
    # the node namespace has eth1 but no migration0
    res = subprocess.run(["ip", "netns", "exec", net.node_ns["b"], MIGNET, "receive", "--no-tls",
                          "--timeout", "1"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 1 and "no interface migration0" in res.stderr
    res = subprocess.run(["ip", "netns", "exec", net.node_ns["b"], MIGNET, "receive", "--no-tls",
                          "--interface", "eth1", "--timeout", "1"],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 1 and "no global-unicast address" in res.stderr


def test_usage_errors(net):
    for args in (["send"], ["send", "--target", "x", "--zerocopy", "maybe"],
                 ["send", "--target", "10.0.0.1", "--streams", "0"], ["frobnicate"]):
        res = subprocess.run([MIGNET, *args], capture_output=True, text=True, timeout=10)
        assert res.returncode == 2, args


def test_ipv6_only_migration_network(tmp_path):
    with mignet_up(ipv6=True, ipv4=False) as n6:
        r = Proc(n6, "b", [MIGNET, "receive", "--json", "--port", "49999", "--token", TOKEN,
                           *tls("server"),
                           "--from", "fd77::/64"])
        ev = r.event()
        assert ev["event"] == "listening" and ev["address"] == n6.mig6_addr["b"]
        res = n6.run("a", MIGNET, "send", "--json", *tls("client"), "--target",
                     f"[{n6.mig6_addr['b']}]:49999",
                     "--guest-memory", "16M", "--streams", "2", "--token", TOKEN,
                     "--lock-dir", str(tmp_path))
        assert res.returncode == 0, res.stderr
        rep = [json.loads(x) for x in res.stdout.splitlines() if '"report"' in x][0]
        assert rep["verified"] and rep["targetNodeAddress"] == n6.mig6_addr["b"]
        assert rep["sourceAddress"] == n6.mig6_addr["a"]
        assert r.wait() == 0 and r.report()["verified"]


def _without_userfaultfd():
    """preexec_fn: a seccomp filter making userfaultfd(2) fail with ENOSYS, as on a kernel
    built without it; inherited by `ip netns exec` and mignet."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                    ("k", ctypes.c_uint)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    nr_userfaultfd, enosys = 323, 38  # x86_64
    prog = (SockFilter * 4)(
        SockFilter(0x20, 0, 0, 0),                 # ld [nr]
        SockFilter(0x15, 0, 1, nr_userfaultfd),    # jeq userfaultfd
        SockFilter(0x06, 0, 0, 0x00050000 | enosys),  # ret ERRNO(ENOSYS)
        SockFilter(0x06, 0, 0, 0x7FFF0000))        # ret ALLOW
    fprog = SockFprog(4, prog)
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, FILTER


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall number is x86_64's")
def test_no_dirty_tracking_falls_back_to_stop_and_copy(net, tmp_path):
    r, port = receiver(net, "--token", TOKEN)
    res = subprocess.run(net.cmd("a", MIGNET, "send", "--json", *tls("client"), "--target",
                                 f"{net.mig_addr['b']}:{port}", "--guest-memory", "16M",
                                 "--dirty-rate", "16M", "--token", TOKEN, "--lock-dir", str(tmp_path)),
                         capture_output=True, text=True, timeout=60,
                         preexec_fn=_without_userfaultfd)
    assert res.returncode == 0, res.stderr
    rep = [json.loads(x) for x in res.stdout.splitlines() if '"report"' in x][0]
    assert rep["dirtyTracking"] == "unsupported" and rep["rounds"] == 1 and rep["verified"]
    assert "stop-and-copy" in res.stderr and "userfaultfd" in res.stderr
    assert r.wait() == 0


# --- a flood of connections ----------------------------------------------------------------

FLOOD = r"""
import resource, selectors, socket, sys, time
host, port, idle, slow, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), float(sys.argv[5])
src = sys.argv[6] if len(sys.argv) > 6 else ""  # a source address of its own, or the default
resource.setrlimit(resource.RLIMIT_NOFILE, (idle + slow + 64,) * 2)
sel = selectors.DefaultSelector()  # epoll: thousands of sockets

def connect(kind):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.bind((src, 0))
        s.connect((host, port))
    except OSError:
        s.close()
        return False
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, kind)
    return True

ok = sum(connect("idle") for _ in range(idle))    # connect, then never say a word
ok += sum(connect("slow") for _ in range(slow))   # one garbage byte every half second
print("ready", ok, flush=True)
opened, end, tick = idle + slow, time.time() + duration, 0
while time.time() < end:
    for key, _ in sel.select(0.5):  # the challenge (ignored), or dropped: come back at once
        try:
            gone = key.fileobj.recv(4096) == b""
        except OSError:
            gone = True
        if gone:
            sel.unregister(key.fileobj)
            key.fileobj.close()
            connect(key.data)
            opened += 1
    if time.time() >= tick:
        tick = time.time() + 0.5
        for key in list(sel.get_map().values()):
            if key.data == "slow":
                try:
                    key.fileobj.send(b"\x5a")
                except OSError:
                    pass
print("opened", opened, flush=True)
"""


def rejected_in_events(rej):
    """Connections the "rejected" events account for: one each, or the count of a shed event."""
    shed = [re.search(r"\((\d+) shed", e["reason"]) for e in rej]
    return sum(int(m.group(1)) if m else 1 for m in shed)


def migrate_through_flood(net, r, port, lockdir):
    """A verified 4-stream 8 MiB migration to receiver @r while a flood runs; returns the
    receiver's report and its "rejected" events, which account for every rejected
    connection."""
    res, _, rep = send(net, port, "--guest-memory", "8M", "--streams", "4", "--token", TOKEN,
                       lockdir=lockdir, timeout=90)
    assert res.returncode == 0, res.stderr
    assert rep["verified"] and rep["streams"] == 4
    assert r.wait(timeout=60) == 0, r.stderr
    rrep = r.report()
    rej = [e for e in r.events if e["event"] == "rejected"]
    assert rrep["verified"] and rrep["rejectedConnections"] == rejected_in_events(rej), rrep
    return rrep, rej


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int([line for line in f if line.startswith("VmRSS:")][0].split()[1])


def test_connection_flood_does_not_starve_the_sender(net, tmp_path):
    """400 idle connections that come back as soon as they are dropped, plus 20 sending a
    garbage byte every half second, all from the sender's own (allowed) address: the real
    sender still verifies, the flood is rejected, the receiver's memory and descriptors stay
    bounded (at most 256 pending handshakes)."""
    r, port = receiver(net, "--token", TOKEN, "--from", "10.77.0.0/24", "--timeout", "60")
    pid = r.p.pid
    with open(f"/proc/{pid}/comm") as f:
        assert f.read().strip() == "mignet"  # ip netns exec execs, no fork
    rss0 = vmrss_kib(pid)
    flood = Proc(net, "a", ["python3", "-c", FLOOD, net.mig_addr["b"], str(port), "400", "20",
                            "6"])
    line = flood.lines.get(timeout=30)
    assert line and line.startswith("ready"), line
    rss_flood = vmrss_kib(pid)
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rrep, rej = migrate_through_flood(net, r, port, str(tmp_path))
    assert rrep["memoryBytes"] == 8 << 20
    assert rrep["rejectedConnections"] >= 100, rrep
    assert all(e["peer"] == net.mig_addr["a"] for e in rej)
    reasons = {e["reason"] for e in rej}
    assert "too many pending handshakes (oldest dropped)" in reasons, reasons
    # bounded: at most 256 pending sockets plus a few of our own; no per-connection growth
    assert fds <= 256 + 16, fds
    assert rss_flood - rss0 < 16 * 1024, (rss0, rss_flood)
    assert flood.wait(timeout=60) == 0, flood.stderr


@pytest.mark.parametrize("flood_sources", [0, 1, 16],
                         ids=["sender-address", "other-address", "sixteen-addresses"])
def test_flood_beyond_the_backlog_does_not_starve_the_sender(net, tmp_path, flood_sources):
    """4 000 reconnecting idle connections: far more than 256 pending + a 1 024 backlog, so
    the kernel's accept queue would stay full and drop the sender's SYNs. The receiver drains
    it and sheds what it cannot hold with REJECT "overloaded", which the sender retries; one
    address holds at most 64 slots, and a slot of an address holding 4 more than the
    newcomer's may be taken at once. From the sender's address, another one, or sixteen
    (each near its share, keeping every slot young): the 4-stream migration verifies,
    descriptors stay bounded."""
    srcs = [""]
    if flood_sources:
        srcs = [f"{MIG_NET}.{100 + i}" for i in range(flood_sources)]
        for src in srcs:
            net.ip("a", "addr", "replace", src + "/24", "dev", "migration0")
    r, port = receiver(net, "--token", TOKEN, "--timeout", "90")
    pid = r.p.pid
    floods = [Proc(net, "a", ["python3", "-c", FLOOD, net.mig_addr["b"], str(port),
                              str(4000 // len(srcs)), "0", "8", src]) for src in srcs]
    for flood in floods:
        line = flood.lines.get(timeout=60)
        assert line and line.startswith("ready"), (line, flood.stderr)
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rrep, rej = migrate_through_flood(net, r, port, str(tmp_path))
    assert rrep["rejectedConnections"] >= 1000, rrep
    assert any("shed" in e["reason"] for e in rej), {e["reason"] for e in rej}
    assert fds <= 256 + 16, fds
    for flood in floods:
        assert flood.wait(timeout=60) == 0, flood.stderr


def test_stalled_handshake_times_out_and_migration_still_served(net, tmp_path):
    """A peer that takes the challenge and sends half a header, then nothing: dropped after
    the 3 s hello deadline (not held for the whole --timeout); the real sender is served."""
    r, port = receiver(net, "--token", TOKEN, "--timeout", "30")
    out = hostile(net, port, [("challenge", None), ("send", frame(1, b"\0" * 64)[:20]),
                              ("sleep", 5), ("recv", None)])
    assert "challenge 9 32" in out.stdout and "reply 0 -1" in out.stdout, out  # closed
    res, _, rep = send(net, port, "--guest-memory", "8M", "--token", TOKEN, lockdir=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert r.wait() == 0
    rej = [e for e in r.events if e["event"] == "rejected"]
    assert [e["reason"] for e in rej] == ["no hello within 3 s"], rej
    assert r.report()["verified"] and r.report()["rejectedConnections"] == 1


def test_json_failure_before_the_migration_still_reports():
    """--json promises a report on stdout: also when send fails before it connects (here no
    outbound slot can be taken: the lock directory cannot exist)."""
    res = subprocess.run([MIGNET, "send", "--json", "--no-tls", "--target", "10.9.9.9", "--lock-dir",
                          "/proc/mignet-no-such-dir"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    assert rep["event"] == "report" and rep["role"] == "send" and not rep["verified"]
    assert "outbound slot in /proc/mignet-no-such-dir" in rep["error"], rep
    assert "outbound slot" in res.stderr


OVERLOADED = r"""
import socket, struct, sys
reject = struct.pack(">IBBHIIQQQ", 0x4D474E46, 1, 3, 0, 0, 0, 0, 0, 5)  # REJECT, aux 5 overloaded
srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
n = 0
while True:
    c, _ = srv.accept()
    c.sendall(reject)
    c.close()
    n += 1
    print("shed", n, flush=True)
"""


def test_sender_gives_up_on_a_receiver_that_stays_overloaded(net, tmp_path):
    """A "receiver" that answers every connection with REJECT overloaded: the sender retries
    for its 10 s handshake time, then fails naming the reason and the attempts."""
    port = next_port()
    fake = Proc(net, "b", ["python3", "-c", OVERLOADED, net.mig_addr["b"], str(port)])
    assert fake.lines.get(timeout=30).startswith("ready")
    res, _, rep = send(net, port, "--guest-memory", "8M", lockdir=str(tmp_path), timeout=60)
    assert res.returncode == 1
    assert re.search(r"stream 0: the receiver \S+ refused the connection: receiver overloaded "
                     r"with handshakes \(still after \d+ attempts in 10 s\)", res.stderr), res.stderr
    assert rep and not rep["verified"] and "overloaded" in rep["error"], rep
    attempts = int(re.search(r"after (\d+) attempts", res.stderr).group(1))
    assert attempts > 10, attempts


DISAGREEING = r"""
import socket, sys, time
sys.path.insert(0, sys.argv[4])
from mignet_net import frame, hello, recv_exact as read
addr, port, token, mem = sys.argv[1], int(sys.argv[2]), sys.argv[3], 1 << 20

streams = []
for i in range(2):
    s = socket.create_connection((addr, port), timeout=60)
    read(s, 40)
    nonce = read(s, 32)
    s.sendall(hello(mem, nonce, token, streams=2, index=i, session=0x5eed))
    assert read(s, 40)[5] == 2, "no WELCOME"  # WELCOME
    streams.append(s)
page = b"\x5a" * 4096
try:  # a receiver that sees the disagreement may hang up before the last of it
    streams[0].sendall(frame(4, page, rnd=1, offset=0))
    streams[1].sendall(frame(4, page, rnd=1, offset=4096))
    streams[0].sendall(frame(5, rnd=1, flags=2))   # round 1 is the final one, says stream 0
    streams[1].sendall(frame(5, rnd=1))            # it is not, says stream 1
    streams[1].sendall(frame(4, page, rnd=2, offset=4096))
    streams[1].sendall(frame(5, rnd=2, flags=2))
except OSError:
    pass
print("sent", flush=True)
time.sleep(float(sys.argv[5]))                     # connected, silent: not a disconnect
"""

TRICKLING = DISAGREEING.split("page = ")[0] + r"""
page = b"\x5a" * 4096
streams[0].sendall(frame(5, rnd=1))                # stream 0 is done with round 1
whole = frame(4, page, rnd=1, offset=4096)
streams[1].sendall(whole[:48])                     # stream 1 starts a frame...
print("sent", flush=True)
for i in range(48, int(float(sys.argv[5]) * 2) + 48):  # ...and feeds it a byte per 0.5 s
    time.sleep(0.5)
    try:
        streams[1].sendall(whole[i:i + 1])
    except OSError:
        break
"""


def broken_sender(net, script, port, seconds):
    """@script (DISAGREEING or TRICKLING) run on node a against the receiver at @port, holding
    its connections @seconds once it has sent what it sends; returned when it has."""
    bad = Proc(net, "a", ["python3", "-c", script, net.mig_addr["b"], str(port), TOKEN, LIB,
                          str(seconds)])
    assert bad.lines.get(timeout=30).startswith("sent")
    return bad


def test_streams_disagreeing_on_the_final_round_fail_the_receiver(net):
    """A broken sender whose stream 0 ends round 1 as the final one while stream 1 goes on to
    round 2, then keeps both connections open without a byte more: the receiver must not wait
    for stream 0 at the end of round 2 for ever (it did, past --progress-timeout and past the
    sender's disconnect); it fails at once naming the disagreement, exit 1."""
    r, port = receiver(net, "--token", TOKEN, "--progress-timeout", "30", "--no-tls")
    broken_sender(net, DISAGREEING, port, 40)
    # well within the progress timeout and the sender's 40 s of silence: detection, not a timer
    assert r.wait(timeout=20) == 1
    assert ("the streams disagree on the end of the migration: stream 0 ended round 1 as the "
            "final one, stream 1 did not") in r.stderr, r.stderr
    rep = r.report()
    assert not rep["verified"] and "disagree" in rep["error"], rep


SILENT = r"""
import socket, struct, sys, time
sys.path.insert(0, sys.argv[4])
from mignet_net import frame
srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
conns = []
while True:
    c, _ = srv.accept()
    if sys.argv[3] == "challenge":  # a challenge, then never an answer to the hello
        c.sendall(frame(9, b"\x07" * 32))
    conns.append(c)                 # held open, never closed
"""


@pytest.mark.parametrize("after", ["accept", "challenge"])
def test_silent_receiver_is_a_handshake_timeout(net, tmp_path, after):
    """A "receiver" that accepts and then says nothing (not even a challenge), or sends the
    challenge and never answers the hello: the sender fails after its handshake time saying
    it timed out, not that the receiver closed the connection (it never did)."""
    port = next_port()
    fake = Proc(net, "b", ["python3", "-c", SILENT, net.mig_addr["b"], str(port), after,
                           LIB])
    assert fake.lines.get(timeout=30).startswith("ready")
    res, _, rep = send(net, port, "--guest-memory", "8M", "--progress-timeout", "2",
                       lockdir=str(tmp_path), timeout=60)
    assert res.returncode == 1
    what = "challenge" if after == "accept" else "answer to the hello"
    assert re.search(rf"stream 0: \S+ accepted the connection but sent no {what} within 10 s: "
                     r"the handshake timed out", res.stderr), res.stderr
    assert "closed the connection" not in res.stderr, res.stderr
    assert rep and not rep["verified"] and "timed out" in rep["error"], rep


def test_stream_waiting_at_a_round_end_gives_up_when_nothing_arrives(net):
    """Stream 0 ends round 1 while stream 1 receives its frame a byte every half second: its
    socket never times out (a byte keeps coming), but no frame completes. The receiver's wait
    at the end of the round is bounded by --progress-timeout like its reads: it fails naming
    the wait (it used to wait as long as the trickle lasted)."""
    r, port = receiver(net, "--token", TOKEN, "--progress-timeout", "3", "--no-tls")
    broken_sender(net, TRICKLING, port, 60)
    assert r.wait(timeout=30) == 1
    assert ("stream 0: waited 3 s at the end of round 1 for the other streams, which "
            "completed no frame meanwhile (progress timeout)") in r.stderr, r.stderr


WRONG_ANSWER = r"""
import socket, struct, sys
sys.path.insert(0, sys.argv[4])
from mignet_net import frame, recv_exact
srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
c, _ = srv.accept()
c.sendall(frame(9, b"\x07" * 32))                 # CHALLENGE
hdr = recv_exact(c, 40)
recv_exact(c, struct.unpack(">I", hdr[12:16])[0])  # the HELLO, accepted whatever it says
c.sendall(frame(2))                               # WELCOME
while True:
    hdr = recv_exact(c, 40)
    ftype, flags, length = hdr[5], struct.unpack(">H", hdr[6:8])[0], struct.unpack(">I", hdr[12:16])[0]
    recv_exact(c, length)
    if ftype == 5 and flags & 2:                  # the final ROUND_END
        break
answer = {"final-ack": 2, "result": 6}[sys.argv[3]]  # WELCOME where FINAL_ACK belongs, or a
c.sendall(frame(answer))                          # FINAL_ACK where the DIGEST's RESULT belongs
if sys.argv[3] == "result":
    hdr = recv_exact(c, 40)
    recv_exact(c, struct.unpack(">I", hdr[12:16])[0])
    c.sendall(frame(6))
c.recv(1)
"""


@pytest.mark.parametrize("where", ["final-ack", "result"])
def test_wrong_frame_after_the_final_round_fails_the_sender(net, tmp_path, where):
    """A "receiver" that answers the final round with another frame than FINAL_ACK, or the
    digest with another frame than RESULT: the sender fails, exit 1, naming what it expected
    (it used to give up with no error set and exit as if the migration had been verified)."""
    port = next_port()
    fake = Proc(net, "b", ["python3", "-c", WRONG_ANSWER, net.mig_addr["b"], str(port), where,
                           LIB])
    assert fake.lines.get(timeout=30).startswith("ready")
    res, _, rep = send(net, port, "--guest-memory", "4M", "--streams", "1", "--no-tls",
                       lockdir=str(tmp_path), timeout=60)
    expected = "FINAL_ACK" if where == "final-ack" else "RESULT"
    assert res.returncode == 1, (res.returncode, res.stderr)
    assert f"expected {expected}, got" in res.stderr, res.stderr
    assert rep and not rep["verified"], rep


# --- TLS on send/receive ---------------------------------------------------------------------

SERVER_CN = "kubevirt.io:system:node:virt-handler"
CLIENT_CN = "kubevirt.io:system:client:virt-handler"


def test_tls_migration_verifies_and_reports_tls(net, tmp_path):
    """TLS is on by default: every stream runs mutual TLS; both digests agree, and both
    reports say TLS was used, with what, who the peer was and which record-layer path."""
    r, port = receiver(net, "--token", TOKEN)
    res, _, rep = send(net, port, "--guest-memory", "64M", "--streams", "4", "--token", TOKEN,
                       lockdir=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert r.wait() == 0, r.stderr
    rrep = r.report()
    assert rep["verified"] and rrep["verified"] and rep["digest"] == rrep["digest"]
    assert rrep["pageBytes"] == 64 << 20 and rrep["streams"] == 4
    ulps = open("/proc/sys/net/ipv4/tcp_available_ulp").read().split()
    for rp, peer in ((rep, SERVER_CN), (rrep, CLIENT_CN)):
        t = rp["tls"]
        assert t["version"] == "TLSv1.3" and "GCM" in t["cipher"], t
        assert t["peerName"] == peer and len(t["peerSha256"]) == 64, t
        assert t["path"].startswith("kernel" if "tls" in ulps else "user space"), t
    assert rep["zerocopy"]["mode"] == "never" and rep["zerocopy"]["sends"] == 0
    print("TLS send/receive 64 MiB, 4 streams:", rep["gbps"], "Gbit/s,", rep["seconds"], "s")


def test_tls_text_report_says_tls(net, tmp_path):
    r, port = receiver(net, "--token", TOKEN)
    res = net.run("a", MIGNET, "send", "--target", f"{net.mig_addr['b']}:{port}",
                  "--guest-memory", "8M", "--token", TOKEN, "--lock-dir", str(tmp_path),
                  *tls("client"))
    assert res.returncode == 0, res.stderr
    assert "TLS: TLSv1.3" in res.stdout and SERVER_CN in res.stdout, res.stdout
    assert r.wait() == 0


def wrong_name_server(tmp_path):
    """A server certificate from the module's CA whose CN is not the target's name."""
    d = str(tmp_path / "wrong-name")
    os.makedirs(d)
    for f in ("ca.crt", "ca.key"):
        shutil.copy(os.path.join(PKI["dir"], f), d)
    subprocess.run([MIGNET, "tls-init", d, "--server-name", "kubevirt.io:system:node:other"],
                   check=True, capture_output=True)
    return os.path.join(d, "server")


def other_ca_client(tmp_path):
    """A client certificate from another CA (the sender still trusts our CA)."""
    other = str(tmp_path / "other")
    subprocess.run([MIGNET, "tls-init", other], check=True, capture_output=True)
    d = str(tmp_path / "bad-client")
    os.makedirs(d)
    for f in ("tls.crt", "tls.key"):
        shutil.copy(os.path.join(other, "client", f), d)
    shutil.copy(os.path.join(PKI["dir"], "ca.crt"), d)
    return d


@pytest.mark.parametrize("case", ["other-ca-client", "wrong-name-server", "plaintext-sender"])
def test_tls_refusals_before_a_byte_is_accepted(net, tmp_path, case):
    """Refused in the TLS handshake, with the message of each side; the receiver started no
    migration (no stream joined, no memory mapped) and goes on waiting until its timeout."""
    rargs, sargs = [], []
    if case == "other-ca-client":
        sargs = ["--tls-dir", other_ca_client(tmp_path)]
        want_r, want_s = "is not from our CA", 'alert "unknown CA"'
    elif case == "wrong-name-server":
        rargs = ["--tls-dir", wrong_name_server(tmp_path)]
        want_r = 'alert "bad certificate"'
        want_s = "names CN kubevirt.io:system:node:other, not " + SERVER_CN
    else:
        sargs = ["--no-tls"]
        want_r, want_s = "are not a TLS handshake", "closed"
    r, port = receiver(net, "--token", TOKEN, "--timeout", "4", *rargs)
    res, _, rep = send(net, port, "--guest-memory", "8M", "--token", TOKEN, *sargs,
                       lockdir=str(tmp_path))
    assert res.returncode == 1, res.stderr
    assert want_s in res.stderr, res.stderr
    assert rep and not rep["verified"], rep
    assert r.wait() == 1
    assert "no migration arrived within 4 s" in r.stderr, r.stderr
    rej = [e for e in r.events if e["event"] == "rejected"]
    assert rej and all(e["peer"] == net.mig_addr["a"] for e in rej), r.events
    assert any(want_r in e["reason"] for e in rej), rej
    assert not [e for e in r.events if e["event"] == "started"], r.events
    rrep = r.report()
    assert rrep["memoryBytes"] == 0 and rrep["pageBytes"] == 0 and not rrep["verified"]
    assert rrep["rejectedConnections"] >= 1


def test_no_tls_keeps_the_token(net, tmp_path):
    """--no-tls on both: plaintext as before, the token still checked."""
    r, port = receiver(net, "--token", TOKEN, "--no-tls", "--timeout", "20")
    res, _, _ = send(net, port, "--guest-memory", "8M", "--token", "wrong", "--no-tls",
                     lockdir=str(tmp_path))
    assert res.returncode == 1 and "token mismatch" in res.stderr, res.stderr
    res, _, rep = send(net, port, "--guest-memory", "8M", "--token", TOKEN, "--no-tls",
                       lockdir=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert r.wait() == 0, r.stderr
    assert rep["verified"] and rep["tls"] is False and r.report()["tls"] is False
    assert [e["reason"] for e in r.events if e["event"] == "rejected"] == ["token mismatch"]


def test_tls_usage(tmp_path):
    """TLS on by default: without material the commands say how to give it or turn it off;
    disableTLS in --config turns it off; zero-copy needs plaintext."""
    lock = ["--lock-dir", str(tmp_path / "lock")]
    for argv in ([MIGNET, "receive", "--timeout", "1"],
                 [MIGNET, "send", "--target", "10.9.9.9", *lock]):
        res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert res.returncode == 2, res.stderr
        assert "TLS is on" in res.stderr and "--tls-dir" in res.stderr, res.stderr
        assert "--no-tls" in res.stderr
        res = subprocess.run(argv + ["--tls-dir", str(tmp_path), "--tls-min-version", "1.1"],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 2 and "--tls-min-version 1.1" in res.stderr, res.stderr
        cfg = tmp_path / "cfg.json"
        cfg.write_text(json.dumps({"disableTLS": True}))
        # TLS off: past the TLS check, failing later (no migration0 here): exit 1
        res = subprocess.run(argv + ["--config", str(cfg)], capture_output=True, text=True,
                             timeout=30)
        assert res.returncode == 1 and "TLS is on" not in res.stderr, res.stderr
        # the files are read at start: a missing one is named
        res = subprocess.run(argv + ["--tls-dir", str(tmp_path / "nowhere"), "--json"],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 1, res.stderr
        rep = json.loads(res.stdout.strip().splitlines()[-1])
        assert "nowhere/tls.crt: No such file" in rep["error"], rep
        assert rep["tls"] == {}, rep
    res = subprocess.run([MIGNET, "send", "--target", "10.9.9.9", "--zerocopy", "always",
                          "--tls-dir", str(tmp_path), *lock], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 2 and "--zerocopy always" in res.stderr, res.stderr
    for cmd in ("send", "receive"):
        out = subprocess.run([MIGNET, cmd, "--help"], capture_output=True, text=True).stdout
        for o in ("--tls-dir", "--tls-cert", "--tls-key", "--tls-ca", "--tls-peer-name",
                  "--tls-min-version", "--no-tls"):
            assert o in out, (cmd, o)


STALL_MANY = r"""
import socket, sys, time
sys.path.insert(0, sys.argv[3])
from mignet_net import hello, recv_exact
addr, port, token, n = sys.argv[1], int(sys.argv[2]), sys.argv[4], int(sys.argv[5])
held, answers = [], {}
for i in range(n):
    s = socket.create_connection((addr, port), timeout=30)
    recv_exact(s, 40)
    nonce = recv_exact(s, 32)
    s.sendall(hello(8 << 20, nonce, token, streams=1, session=0xbad00 + i))
    kind = recv_exact(s, 40)[5]
    answers[kind] = answers.get(kind, 0) + 1
    if kind == 2:
        held.append(s)  # WELCOME: now a TLS handshake that never starts
    else:
        s.close()
print("answers", answers.get(2, 0), answers.get(3, 0), flush=True)
time.sleep(60)  # held, silent, until killed
"""


def test_stalled_tls_handshakes_are_bounded_per_address(net, tmp_path):
    """20 hellos from the sender's own address whose TLS handshakes never start: at most 8 of
    them hold a handshake slot at a time (the others are shed with REJECT overloaded, or
    evict the oldest once it had 1 s); the real 4-stream sender, from the same address,
    still gets its slots (it retries a shed connection) and verifies; the receiver's
    descriptors stay bounded."""
    r, port = receiver(net, "--token", TOKEN, "--timeout", "60")
    pid = r.p.pid
    st = Proc(net, "a", ["python3", "-c", STALL_MANY, net.mig_addr["b"], str(port), LIB, TOKEN,
                         "20"])
    line = st.lines.get(timeout=60)
    assert line and line.startswith("answers"), (line, st.p.stderr.read())
    welcomed, refused = map(int, line.split()[1:])
    assert welcomed + refused == 20 and refused >= 1, line
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    assert fds <= 2 * 8 + 16, fds  # live and dying handshake slots, plus its own
    res, _, rep = send(net, port, "--guest-memory", "8M", "--streams", "4", "--token", TOKEN,
                       lockdir=str(tmp_path), timeout=90)
    assert res.returncode == 0, res.stderr
    assert rep["verified"], rep
    assert r.wait(timeout=60) == 0, r.stderr
    rej = [e["reason"] for e in r.events if e["event"] == "rejected"]
    assert any("too many pending handshakes" in x and "shed" in x for x in rej), rej
    assert r.report()["verified"]
    st.p.kill()
