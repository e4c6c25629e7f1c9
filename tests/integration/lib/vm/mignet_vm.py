# SPDX-License-Identifier: Apache-2.0
"""Driving `mignet incoming` / `mignet migrate` in a VMCluster, as virt-handler does.

    inc = incoming(c, dst, token_file)            # node B's virt-handler, --json
    port = inc.wait_event("listening")["port"]
    mig = migrate(c, src, port, token_file, "--streams", "2")
    rc = mig.finish(); report = mig.report()

Each process's stdout is read by a thread into .events (one dict per JSON line; other lines
are kept in .other) and its stderr into .err, so a test can wait for an event while the
process runs and see everything it said when it fails.
"""
import json
import os
import secrets
import threading
import time

RUN_TIMEOUT = 300  # seconds; guards against a hang only


class MignetProc:
    def __init__(self, popen, what):
        self.p = popen
        self.what = what
        self.events = []
        self.other = []
        self.err = []
        self.cv = threading.Condition()
        self.threads = [threading.Thread(target=self._pump, args=(popen.stdout, True), daemon=True),
                        threading.Thread(target=self._pump, args=(popen.stderr, False), daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, f, is_out):
        for line in f:
            with self.cv:
                if not is_out:
                    self.err.append(line)
                else:
                    try:
                        ev = json.loads(line)
                        (self.events if isinstance(ev, dict) else self.other).append(ev)
                    except ValueError:
                        self.other.append(line)
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def said(self):
        return (f"{self.what} (rc={self.p.poll()}):\n  events: {self.events[-6:]}\n"
                f"  stdout: {''.join(map(str, self.other))[-1500:]}\n"
                f"  stderr: {''.join(self.err)[-2000:]}")

    def stderr(self):
        return "".join(self.err)

    def find(self, name):
        return [e for e in self.events if e.get("event") == name]

    def wait_event(self, name, timeout=RUN_TIMEOUT):
        """The first event @name; AssertionError (with what it said) when the process ends
        or @timeout passes without it."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                found = self.find(name)
                if found:
                    return found[0]
                if self.p.poll() is not None and not any(t.is_alive() for t in self.threads):
                    raise AssertionError(f"no {name!r} event: {self.said()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {name!r} event in {timeout} s: {self.said()}")
                self.cv.wait(min(left, 0.2))

    def finish(self, timeout=RUN_TIMEOUT):
        """Wait for the exit; return the exit status (kill and raise on @timeout)."""
        try:
            rc = self.p.wait(timeout=timeout)
        except Exception:
            self.p.kill()
            raise AssertionError(f"did not exit within {timeout} s: {self.said()}")
        for t in self.threads:
            t.join(timeout=10)
        return rc

    def report(self):
        r = self.find("report")
        return r[-1] if r else None

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def token_file(c, name="token", token=None):
    """A per-run token file in the cluster's temp dir (mode 0600)."""
    path = os.path.join(c.tmp, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token or secrets.token_hex(32))
    return path


def lock_env(c):
    """The node-local outbound lock dir of this run (never the machine's /run/mignet)."""
    d = os.path.join(c.tmp, "lock-a")
    os.makedirs(d, exist_ok=True)
    return dict(os.environ, MIGNET_LOCK_DIR=d)


def tls_args(c, role, extra):
    """TLS is on by default: the run's lab PKI (mignet tls-init, made once per cluster),
    server/ for the target, client/ for the source; nothing when @extra sets TLS itself."""
    if any(a == "--no-tls" or a.startswith("--tls-") for a in extra):
        return []
    pki = os.path.join(c.tmp, "pki")
    if not os.path.exists(os.path.join(pki, "client", "tls.crt")):
        import subprocess

        from .topology import mignet_bin
        subprocess.run([mignet_bin(), "tls-init", pki], check=True, capture_output=True)
    return ["--tls-dir", os.path.join(pki, role)]


def incoming(c, dst, tok, *extra, node="b"):
    p = c.mignet(node, "incoming", "--qmp", dst.qmp_path, "--interface", "migration0",
                 "--socket-dir", c.socket_dir[node], "--token-file", tok,
                 "--from", str(c.addrs["a"].network), "--json", *tls_args(c, "server", extra),
                 *extra)
    return MignetProc(p, f"mignet incoming on node {node}")


def migrate(c, src, port, tok, *extra, node="a", target="b", env=None):
    p = c.mignet(node, "migrate", "--qmp", src.qmp_path,
                 "--target", f"{c.mig_addr[target]}:{port}", "--interface", "migration0",
                 "--socket-dir", c.socket_dir[node], "--token-file", tok, "--json",
                 *tls_args(c, "client", extra), *extra, env=env or lock_env(c))
    return MignetProc(p, f"mignet migrate on node {node}")


def config_file(c, name="live-migration-config.json", **settings):
    """The HyperConverged liveMigrationConfig of examples/ with @settings over it."""
    cfg = dict(c.hco)
    cfg.update(settings)
    path = os.path.join(c.tmp, name)
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def link_bytes(ns, ifname):
    import subprocess

    link = json.loads(subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show", ifname],
                                     check=True, capture_output=True, text=True).stdout)[0]
    return link["stats64"]["rx"]["bytes"], link["stats64"]["tx"]["bytes"]
