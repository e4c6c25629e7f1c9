# SPDX-License-Identifier: Apache-2.0
"""BIOS-only QEMUs for the mignet migrate/incoming tests (no guest kernel needed).

A QEMU with no disk sits in SeaBIOS; its RAM still migrates like any guest's. Each QEMU runs
in a "launcher" network namespace holding only lo, as in a virt-launcher pod: it can reach
mignet only through unix sockets. QMP here is the tests' own, independent of mignet's.
"""
import json
import os
import signal
import socket
import subprocess
import time

QEMU = "qemu-system-x86_64"
RAM = "262148K"  # never a multiple of 256 KiB (QEMU 7.2's TCG dirty-tracking bug)


class Qmp:
    def __init__(self, path, timeout=30):
        deadline = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.s.settimeout(timeout)
        self.f = self.s.makefile("rw")
        json.loads(self.f.readline())  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg) + "\n")
        self.f.flush()
        while True:
            m = json.loads(self.f.readline())
            if "return" in m:
                return m["return"]
            if "error" in m:
                raise RuntimeError(f"{name}: {m['error']}")

    def status(self):
        return self.cmd("query-status")["status"]

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class BiosVm:
    """A QEMU in netns @ns; @incoming: started with -incoming defer."""

    def __init__(self, ns, workdir, name, incoming=False, ram=RAM, payload=0):
        self.qmp_path = os.path.join(workdir, f"{name}.qmp")
        args = ["ip", "netns", "exec", ns, QEMU, "-accel", "tcg", "-m", ram, "-nographic",
                "-display", "none", "-nodefaults", "-qmp",
                f"unix:{self.qmp_path},server=on,wait=off"]
        if incoming:
            args += ["-incoming", "defer"]
        if payload:
            # @payload MiB of random bytes loaded into guest RAM at 16 MiB: a BIOS guest's RAM
            # is otherwise almost all zero pages, which QEMU sends as a few bytes each
            blob = os.path.join(workdir, f"payload-{payload}M.bin")
            if not os.path.exists(blob):
                with open(blob, "wb") as f:
                    f.write(os.urandom(payload << 20))
            args += ["-device", f"loader,file={blob},addr=0x1000000,force-raw=on"]
        self.log = open(os.path.join(workdir, f"{name}.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        self.query("query-status")  # up

    def query(self, name, **args):
        """One QMP command on a connection of its own: QEMU serves one client at a time,
        and mignet holds the socket while it migrates."""
        q = Qmp(self.qmp_path)
        try:
            return q.cmd(name, **args)
        finally:
            q.close()

    def status(self):
        return self.query("query-status")["status"]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


def _die_with_parent():
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
