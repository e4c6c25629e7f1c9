# SPDX-License-Identifier: Apache-2.0
"""A real Linux guest under QEMU for the migration tests, the benchmark and the demo.

    Guest(netns, name, mem="64M", dirty="32M")     QEMU 7.2 in network namespace netns
        .start() / .close()                        (context manager; QEMU dies with us)
        .qmp_path                                  the QMP socket for mignet (libvirt's role)
        .qmp                                       our own QMP client on a second monitor
                                                   (.check_qmp_path): the tests' own checks
        .wait_heartbeat(min_seq) / .last_heartbeat() / .heartbeat_errors()

The guest is build/guest/ (scripts/build-guest): Debian's cloud kernel, a busybox initramfs and
guest/heartbeat.c, which dirties its working set at mignet.dirty bytes/s, checks the pattern
of every page it wrote, and prints on the serial console every 200 ms

    MIGNET-HEARTBEAT seq=<n> checked=<pages> errors=<count> dirtied=<bytes>

The serial console goes to a file; only complete lines (ending in a newline) count, so a line
cut in two by a migration (its start on the source's console, its end on the target's) is
ignored on both sides.

Accelerator: KVM only when a guest actually boots under it (probe_accel(), once per process;
/dev/kvm here is a nested paravirtual KVM on which a stock kernel dies), else TCG with
`-cpu qemu64`. $MIGNET_ACCEL=tcg|kvm skips the probe.

RAM defaults to 256 MiB + 4 KiB: QEMU 7.2's TCG dirty tracking corrupts guests whose RAM is a
multiple of 256 KiB (fixed upstream in 9.0), so test guests never use such a size.
"""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 4))
GUEST_DIR = os.environ.get("MIGNET_GUEST_DIR", os.path.join(REPO, "build", "guest"))
QEMU = os.environ.get("MIGNET_QEMU", "qemu-system-x86_64")
RAM = "262148K"          # 256 MiB + 4 KiB: never a multiple of 256 KiB (TCG dirty-tracking bug)
BEAT_S = 0.2             # heartbeat period of guest/heartbeat.c
BOOT_TIMEOUT = 60        # seconds; guards against a hang only, nothing asserts on time

HEARTBEAT_RE = re.compile(
    rb"MIGNET-HEARTBEAT seq=(\d+) checked=(\d+) errors=(\d+) dirtied=(\d+)\r?\n")

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: QEMU gets SIGKILL when the test process dies, whatever happens to it."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def parse_size(s):
    """"64M" -> 67108864 (K, M, G are binary); an int is returned as is."""
    if isinstance(s, int):
        return s
    m = re.fullmatch(r"(\d+)([KMG]?)", str(s), re.I)
    if not m:
        raise ValueError(f"not a size: {s!r}")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


_built = False


def ensure_guest():
    """Build build/guest/ (cheap when up to date: scripts/build-guest compares mtimes)."""
    global _built
    if not _built:
        if "MIGNET_GUEST_DIR" in os.environ and all(
                os.path.exists(os.path.join(GUEST_DIR, f)) for f in ("vmlinuz", "initramfs.cpio.gz")):
            _built = True
            return GUEST_DIR
        r = subprocess.run([os.path.join(REPO, "scripts", "build-guest")], capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"scripts/build-guest failed: {r.stderr[-2000:]}")
        _built = True
    return GUEST_DIR


def kernel_image():
    """build/guest/vmlinux (the decompressed kernel, booted through its PVH entry: ~1 s
    faster under TCG) when scripts/build-guest could make it, else the bzImage vmlinuz."""
    d = ensure_guest()
    vmlinux = os.path.join(d, "vmlinux")
    return vmlinux if os.path.exists(vmlinux) else os.path.join(d, "vmlinuz")


_accel = None


def probe_accel():
    """"kvm" when the guest boots to its first heartbeat under KVM here, else "tcg"."""
    global _accel
    if _accel:
        return _accel
    forced = os.environ.get("MIGNET_ACCEL")
    if forced in ("tcg", "kvm"):
        _accel = forced
        return _accel
    _accel = "tcg"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return _accel
    g = Guest(None, "kvm-probe", mem="4M", accel="kvm")
    try:
        g.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and g.proc.poll() is None:
            if g.heartbeats():
                _accel = "kvm"
                break
            time.sleep(0.1)
    finally:
        g.close()
    return _accel


class QMPError(Exception):
    pass


class QMP:
    """A minimal QMP client: one command at a time, events kept in .events."""

    def __init__(self, path, timeout=BOOT_TIMEOUT):
        self.path = path
        self.events = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        greeting = self._read()
        if "QMP" not in greeting:
            raise QMPError(f"not a QMP greeting: {greeting}")
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QMPError(f"QMP socket {self.path} closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        """Execute @name; its "return" value, or QMPError with QEMU's error description."""
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise QMPError(f"{name}: {r['error'].get('desc', r['error'])}")
            return r.get("return")

    def status(self):
        """query-status's "status": "running", "paused", "inmigrate", "postmigrate", ..."""
        return self.cmd("query-status")["status"]

    def migration(self):
        return self.cmd("query-migrate")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Guest:
    """One QEMU guest in network namespace @netns (None: the current one).

    @mem is the heartbeat program's working set, @dirty its dirty rate (bytes/s, 0 idle),
    @check its pattern-check rate, @marker the string written into every page, @busy makes
    it CPU-bound (its dirty rate then follows the CPU time it gets: auto-converge tests). @incoming
    starts QEMU with `-incoming defer` (a migration target: no heartbeat until it arrives).
    """

    def __init__(self, netns, name, mem="64M", dirty=0, check="32M", marker=None, ram=RAM,
                 incoming=False, accel=None, smp=1, workdir=None, busy=False):
        self.netns = netns
        self.name = name
        self.mem, self.dirty, self.check = parse_size(mem), parse_size(dirty), parse_size(check)
        self.marker = marker
        self.ram = ram
        self.incoming = incoming
        self.accel = accel
        self.smp = smp
        self.busy = busy
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="mgvm-")
        self.serial = os.path.join(self.dir, f"{name}.serial")
        self.qmp_path = os.path.join(self.dir, f"{name}.qmp")          # for mignet (libvirt's)
        self.check_qmp_path = os.path.join(self.dir, f"{name}.check.qmp")  # for the test's checks
        self.log = os.path.join(self.dir, f"{name}.qemu.log")
        self.proc = None
        self._qmp = None

    # --- life cycle ---
    def argv(self):
        d = ensure_guest()
        accel = self.accel or probe_accel()
        append = (f"console=ttyS0 quiet panic=-1 mignet.mem={self.mem} "
                  f"mignet.dirty={self.dirty} mignet.check={self.check}")
        if self.busy:
            append += " mignet.busy=1"
        if self.marker:
            append += f" mignet.marker={self.marker}"
        argv = [QEMU, "-name", f"mignet-guest-{self.name}", "-nodefaults", "-display", "none",
                "-no-reboot", "-m", self.ram, "-smp", str(self.smp),
                "-kernel", kernel_image(),
                "-initrd", os.path.join(d, "initramfs.cpio.gz"), "-append", append,
                "-serial", f"file:{self.serial}",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-qmp", f"unix:{self.check_qmp_path},server=on,wait=off"]
        argv += ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else \
                ["-accel", "tcg", "-cpu", "qemu64"]
        if self.incoming:
            argv += ["-incoming", "defer"]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns] + argv
        return argv

    def start(self):
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        return self

    @property
    def qmp(self):
        if self._qmp is None:
            self._qmp = QMP(self.check_qmp_path)
        return self._qmp

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL QEMU (a failure test's crash) and reap it."""
        if self.alive():
            self.proc.kill()
        if self.proc:
            self.proc.wait(timeout=30)

    def close(self):
        if self._qmp:
            self._qmp.close()
            self._qmp = None
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- the serial console ---
    def serial_bytes(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def heartbeats(self):
        """Every complete heartbeat line so far: [{seq, checked, errors, dirtied}, ...]."""
        return [dict(zip(("seq", "checked", "errors", "dirtied"), map(int, m.groups())))
                for m in HEARTBEAT_RE.finditer(self.serial_bytes())]

    def last_heartbeat(self):
        hb = self.heartbeats()
        return hb[-1] if hb else None

    def first_heartbeat(self):
        hb = self.heartbeats()
        return hb[0] if hb else None

    def heartbeat_errors(self):
        """The guest's own count of pattern mismatches (its last line); None before any line."""
        hb = self.last_heartbeat()
        return hb["errors"] if hb else None

    def wait_heartbeat(self, min_seq=0, timeout=BOOT_TIMEOUT):
        """Wait for a heartbeat with seq >= min_seq; return it. Raise with the console's tail
        and QEMU's messages when QEMU exits or @timeout (a hang guard) passes first."""
        deadline = time.monotonic() + timeout
        while True:
            hb = self.last_heartbeat()
            if hb and hb["seq"] >= min_seq:
                return hb
            if not self.alive() or time.monotonic() > deadline:
                raise AssertionError(
                    f"guest {self.name}: no heartbeat seq>={min_seq} "
                    f"({'QEMU exited ' + str(self.proc.returncode) if not self.alive() else 'timeout'})"
                    f"\n{self.diagnostics()}")
            time.sleep(0.05)

    def beats_for_full_check(self):
        """Heartbeats after which the guest has checked every page of its working set once."""
        return int(self.mem / max(self.check, 1) / BEAT_S) + 2

    def diagnostics(self):
        serial = self.serial_bytes()[-1500:].decode(errors="replace")
        try:
            with open(self.log, "rb") as f:
                log = f.read()[-1500:].decode(errors="replace")
        except FileNotFoundError:
            log = ""
        return f"--- serial tail:\n{serial}\n--- qemu:\n{log}"


# --- QEMU migrating by itself (no proxy): the harness's own proof and the benchmark's limit ---

def set_migration(qmp, streams=0, bandwidth=None, capabilities=None):
    """Capabilities and parameters, the same call on both sides (both must agree on multifd)."""
    caps = dict(capabilities or {})
    if streams and streams > 1:
        caps["multifd"] = True
    if caps:
        qmp.cmd("migrate-set-capabilities",
                capabilities=[{"capability": k, "state": v} for k, v in caps.items()])
    params = {}
    if streams and streams > 1:
        params["multifd-channels"] = streams
    if bandwidth is not None:
        params["max-bandwidth"] = bandwidth
    if params:
        qmp.cmd("migrate-set-parameters", **params)


def wait_migration(qmp, timeout=300):
    """Poll the source's query-migrate until completed/failed/cancelled; return the last reply."""
    deadline = time.monotonic() + timeout
    while True:
        m = qmp.migration()
        if m.get("status") in ("completed", "failed", "cancelled"):
            return m
        if time.monotonic() > deadline:
            raise AssertionError(f"migration did not finish: {m}")
        time.sleep(0.1)


def wait_status(qmp, status, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        s = qmp.status()
        if s == status:
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"VM status {s}, expected {status}")
        time.sleep(0.05)


def migrate_direct(src, dst, address, port, streams=0, bandwidth=10 << 30, timeout=300):
    """QEMU to QEMU over tcp:address:port (dst listens there, in its own netns).
    Return (source's final query-migrate, the target's status)."""
    set_migration(dst.qmp, streams)
    dst.qmp.cmd("migrate-incoming", uri=f"tcp:{address}:{port}")
    set_migration(src.qmp, streams, bandwidth)
    src.qmp.cmd("migrate", uri=f"tcp:{address}:{port}")
    m = wait_migration(src.qmp, timeout)
    status = wait_status(dst.qmp, "running") if m["status"] == "completed" else dst.qmp.status()
    return m, status


def check_continues(src, dst):
    """The heartbeat went on across the migration: the target's first complete line follows
    the source's last (a line cut in two may be lost between them), no pattern error, and the
    target then checks its whole working set with no error. Return (src_last, dst_last)."""
    s = src.last_heartbeat()
    assert s is not None, src.diagnostics()
    first = dst.wait_heartbeat(s["seq"] + 1)
    first = dst.first_heartbeat()
    assert s["seq"] < first["seq"] <= s["seq"] + 2, (s, first, dst.diagnostics())
    assert first["dirtied"] >= s["dirtied"], (s, first)
    last = dst.wait_heartbeat(first["seq"] + dst.beats_for_full_check())
    assert s["errors"] == 0 and last["errors"] == 0, (s, last, dst.diagnostics())
    return s, last
