# SPDX-License-Identifier: Apache-2.0
"""The VM tests' cluster: examples/cluster.py's two nodes (the demo's own), as a fixture.

    node A                                              node B
    virt-launcher-a (lo only): QEMU source              virt-launcher-b (lo only): QEMU -incoming defer
         | QMP + migration unix sockets (file system)        | QMP + migration unix sockets
    virt-handler-a: migration0 (our macvlan +           virt-handler-b: migration0, eth0
         whereabouts, the NAD of examples/), eth0 (pod network, default route)
    node-a: eth1 ──── bridge (migration VLAN) ──── node-b: eth1

`mignet migrate` / `mignet incoming` run in the virt-handler namespaces; the QEMUs in the
launchers have no network at all, so every byte of the VM goes through mignet's unix sockets
(a per-node socket dir under the run's temp dir) and over migration0.
"""
import os
import subprocess
import sys

import pytest

from .vm_guest import Guest, REPO

sys.path.insert(0, os.path.join(REPO, "examples"))
from cluster import Cluster, load_examples  # noqa: E402


def mignet_bin():
    return os.environ.get("MIGNET_BIN") or os.path.join(
        os.environ.get("MIGNET_BUILD", os.path.join(REPO, "build")), "migration", "mignet")


def mignet_help(subcommand):
    """What `mignet SUBCOMMAND --help` prints, or None when it fails (not built, no such
    subcommand)."""
    try:
        r = subprocess.run([mignet_bin(), subcommand, "--help"], capture_output=True, text=True,
                           timeout=10)
    except OSError:
        return None
    return r.stdout + r.stderr if r.returncode == 0 else None


class VMCluster(Cluster):
    def setup(self):
        try:
            self.build()
            _, config, self.hco = load_examples()
            self.attach_migration_network(config)
            self.handler = {n: self.nodes[n]["pod"] for n in "ab"}
            self.launcher = {n: self.nodes[n]["launcher"] for n in "ab"}
            self.mig_addr = {n: str(self.addrs[n].ip) for n in "ab"}
            self.socket_dir = {}
            for n in "ab":
                self.socket_dir[n] = os.path.join(self.tmp, f"run-mignet-{n}")
                os.makedirs(self.socket_dir[n])
            self.guests = []
        except BaseException:
            self.teardown()
            raise
        return self

    def guest(self, n, name, **kw):
        """A Guest in node @n's launcher netns (not started), closed at teardown."""
        g = Guest(self.launcher[n], name, workdir=self.tmp, **kw)
        self.guests.append(g)
        return g

    def mignet(self, n, *args, **kw):
        """`mignet ARGS` in node @n's virt-handler netns (Popen, text, pipes by default)."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        return self.popen(self.handler[n], [mignet_bin(), *args], **kw)

    def teardown(self, log=print):
        for g in getattr(self, "guests", []):
            g.close()
        super().teardown(log=log)


@pytest.fixture
def vm_cluster():
    c = VMCluster().setup()
    try:
        yield c
    finally:
        c.teardown()
