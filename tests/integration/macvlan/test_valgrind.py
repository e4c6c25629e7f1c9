# SPDX-License-Identifier: Apache-2.0
"""The macvlan plugin under valgrind: ADD/CHECK/DEL/STATUS/GC, L2-only and with the reference
host-local IPAM (/usr/lib/cni), plus the error paths that unwind (a taken interface name, a
second DEL), each clean: no invalid read or write, no definitely lost block, no use of an
uninitialised value.

Every run is `valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99`
in a throw-away "node" netns (holding the master, eth1, a veth end) with a throw-away "pod"
netns, both uniquely named and removed in a finally block. The delegated IPAM plugin (Go) is
exec'd natively (valgrind does not trace children), but the fork before its exec is checked.

Fixed bug (docs/reliability.md): netlink/ request buffers were not zeroed and libmnl 1.0.4 does
not zero attribute padding, so string attributes sent uninitialised stack bytes to the kernel.
test_netlink_requests_fully_initialised keeps it fixed; no suppression is used.

valgrind cannot run an AddressSanitizer binary: when MIGNET_MACVLAN/MIGNET_BUILD point at an
ASan build, the plain build/ is used if it exists, else the tests are skipped.
"""
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile

import pytest

from valgrind_helpers import assert_clean, non_asan, read_logs, valgrind_cmd

from paths import ROOT  # noqa: E402
REF_CNI = "/usr/lib/cni"


def _plugin():
    cands = []
    if os.environ.get("MIGNET_MACVLAN"):
        cands.append(os.environ["MIGNET_MACVLAN"])
    if os.environ.get("MIGNET_BUILD"):
        cands.append(os.path.join(os.environ["MIGNET_BUILD"], "plugins", "macvlan", "macvlan"))
    cands.append(os.path.join(ROOT, "build", "plugins", "macvlan", "macvlan"))
    # the reference (Go) plugin is not ours to check under valgrind
    return non_asan(cands, exclude=[os.path.join(REF_CNI, "macvlan")])


PLUGIN = _plugin()

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed"),
    pytest.mark.skipif(PLUGIN is None, reason="no non-ASan macvlan build (build/plugins/macvlan/macvlan)"),
]


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


class Net:
    """A node netns with eth1 (veth, the master) and a pod netns, uniquely named."""

    def __init__(self):
        self.tag = "mgvg" + secrets.token_hex(3)
        self.node, self.pod = self.tag + "-n", self.tag + "-p"
        self.tmp = tempfile.mkdtemp(prefix=self.tag)

    def __enter__(self):
        try:
            sh("ip", "netns", "add", self.node)
            sh("ip", "netns", "add", self.pod)
            sh("ip", "-n", self.node, "link", "add", "eth1", "type", "veth", "peer", "name", "peer1")
            for link in ("lo", "eth1", "peer1"):
                sh("ip", "-n", self.node, "link", "set", link, "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for ns in (self.pod, self.node):
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def netns(self):
        return "/run/netns/" + self.pod

    def pod_links(self):
        out = sh("ip", "-n", self.pod, "-j", "link", "show").stdout
        return sorted(link["ifname"] for link in json.loads(out) if link["ifname"] != "lo")

    def run(self, command, conf, ifname="net1", containerid="ctr1", valgrind=True):
        """Run the plugin; return (rc, parsed stdout or None, valgrind logs, stderr)."""
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "CNI_COMMAND": command, "CNI_CONTAINERID": containerid, "CNI_NETNS": self.netns,
               "CNI_IFNAME": ifname, "CNI_PATH": REF_CNI}
        logdir = tempfile.mkdtemp(dir=self.tmp)
        cmd = ["ip", "netns", "exec", self.node]
        if valgrind:
            cmd += valgrind_cmd(logdir)
        p = subprocess.run(cmd + [PLUGIN], input=json.dumps(conf), capture_output=True,
                           text=True, env=env, timeout=120)
        try:
            out = json.loads(p.stdout) if p.stdout.strip() else None
        except json.JSONDecodeError:
            out = None
        return p.returncode, out, read_logs(logdir), p.stderr


def l2_conf(version="1.1.0"):
    return {"cniVersion": version, "name": "mig-vg", "type": "macvlan", "master": "eth1",
            "mode": "bridge"}


def with_prev(conf, result):
    c = dict(conf)
    c["prevResult"] = result
    return c


def test_l2_only_all_verbs_clean():
    with Net() as net:
        conf = l2_conf()
        rc, res, logs, err = net.run("ADD", conf)
        assert_clean(rc, logs, "ADD")
        assert rc == 0, (res, err)
        assert net.pod_links() == ["net1"]

        rc, _, logs, err = net.run("CHECK", with_prev(conf, res))
        assert_clean(rc, logs, "CHECK")
        assert rc == 0, err

        # error path: the name is taken; the new link is unwound
        rc, out, logs, _ = net.run("ADD", conf)
        assert_clean(rc, logs, "ADD (ifname taken)")
        assert rc != 0 and out["code"] == 101
        assert net.pod_links() == ["net1"]

        rc, _, logs, _ = net.run("STATUS", conf)
        assert_clean(rc, logs, "STATUS")
        assert rc == 0

        gc = dict(conf)
        gc["cni.dev/valid-attachments"] = [{"containerID": "ctr1", "ifname": "net1"}]
        rc, _, logs, _ = net.run("GC", gc)
        assert_clean(rc, logs, "GC")
        assert rc == 0

        rc, _, logs, _ = net.run("DEL", conf)
        assert_clean(rc, logs, "DEL")
        assert rc == 0 and net.pod_links() == []

        # DEL converges: a second one, the link already gone
        rc, _, logs, _ = net.run("DEL", conf)
        assert_clean(rc, logs, "DEL (again)")
        assert rc == 0


def test_host_local_ipam_clean():
    if not os.access(os.path.join(REF_CNI, "host-local"), os.X_OK):
        pytest.skip("reference host-local is not installed")
    with Net() as net:
        data = os.path.join(net.tmp, "host-local")
        conf = l2_conf("1.0.0")
        conf["ipam"] = {"type": "host-local", "subnet": "10.98.0.0/24", "dataDir": data,
                        "routes": [{"dst": "10.97.0.0/16"}]}
        rc, res, logs, err = net.run("ADD", conf)
        assert_clean(rc, logs, "ADD")
        assert rc == 0, (res, err)
        assert res["ips"][0]["address"].startswith("10.98.0.")
        addrs = json.loads(sh("ip", "-n", net.pod, "-j", "addr", "show", "net1").stdout)
        assert any(a.get("local") == res["ips"][0]["address"].split("/")[0]
                   for a in addrs[0]["addr_info"])

        rc, _, logs, err = net.run("CHECK", with_prev(conf, res))
        assert_clean(rc, logs, "CHECK")
        assert rc == 0, err

        # error path after IPAM ADD: a second ADD under a taken name gives its address back
        rc, out, logs, _ = net.run("ADD", conf, containerid="ctr2")
        assert_clean(rc, logs, "ADD (ifname taken, IPAM unwound)")
        assert rc != 0 and out["code"] == 101

        rc, _, logs, _ = net.run("DEL", conf)
        assert_clean(rc, logs, "DEL")
        assert rc == 0 and net.pod_links() == []
        held = [f for f in os.listdir(os.path.join(data, "mig-vg"))
                if re.match(r"^\d+\.\d+\.\d+\.\d+$", f)]
        assert held == [], f"host-local still holds {held}"

        # STATUS and GC delegate too (host-local of Debian 12 predates 1.1.0 and refuses them:
        # whatever its answer, our side must stay clean and print valid JSON)
        conf11 = dict(conf, cniVersion="1.1.0")
        for verb in ("STATUS", "GC"):
            rc, out, logs, _ = net.run(verb, conf11)
            assert_clean(rc, logs, verb)
            assert out is None if rc == 0 else isinstance(out.get("code"), int)


def test_netlink_requests_fully_initialised():
    with Net() as net:
        conf = l2_conf()
        rc, res, logs, err = net.run("ADD", conf)
        try:
            assert_clean(rc, logs, "ADD without suppressions")
        finally:
            net.run("DEL", conf, valgrind=False)
