# SPDX-License-Identifier: Apache-2.0
"""A two-node "cluster" in network namespaces, with migration0 attached the way Multus does it.

Used by examples/demo and by the VM tests (tests/integration/lib/vm/topology.py):

    node A netns                      root netns                      node B netns
    eth1 (master) ───────────── bridge <p>mig (the VLAN) ───────────── eth1 (master)
      └ macvlan migration0 in virt-handler-a          virt-handler-b: migration0 ┘
    eth0 ─────────────────────── bridge <p>pod (pod network) ────────────────── eth0
    (each virt-handler pod also has its own eth0 on the pod network, with the default route;
     each node has a virt-launcher pod netns holding only lo, where the VM's QEMU runs)

migration0 comes from our macvlan + whereabouts (build/), run inside the node's netns with the
NetworkAttachmentDefinition's spec.config on stdin and the CNI environment Multus sets. The
whereabouts store is per run (a flat file naming a store directory in the run's temp dir), so
nothing touches the machine's /var/lib/cni/whereabouts.

The pod network carries no IPv6 (disabled on its bridge and veths) and its bridge does no
multicast snooping (which sends IGMP reports), so nothing on it speaks unless someone sends: its byte counters are a clean witness that migration traffic stayed off
it. Everything is named with the run prefix "mg" + 4 hex and removed by teardown(), also the
processes left in the namespaces.
"""
import ipaddress
import json
import os
import secrets
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")
POD_NET = ipaddress.ip_network("10.128.0.0/16")


def build_dir():
    return os.environ.get("MIGNET_BUILD", os.path.join(REPO, "build"))


def run(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, **kw)


def quiet(*cmd):
    """Run a command whose failure during teardown is expected and harmless."""
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def load_examples():
    """(the NAD, its spec.config as a dict, the HyperConverged liveMigrationConfig)."""
    import yaml

    with open(os.path.join(EXAMPLES, "migration-network.yaml")) as f:
        nad = yaml.safe_load(f)
    with open(os.path.join(EXAMPLES, "hyperconverged.yaml")) as f:
        hco = yaml.safe_load(f)
    return nad, json.loads(nad["spec"]["config"]), hco["spec"]["liveMigrationConfig"]


def migration0_address(result):
    for ip in result.get("ips", []):
        return ipaddress.ip_interface(ip["address"])
    raise RuntimeError("the CNI result holds no address")


class Cluster:
    """Two nodes, a virt-handler and a virt-launcher pod on each, two switches."""

    def __init__(self):
        self.p = "mg" + secrets.token_hex(2)
        self.tmp = tempfile.mkdtemp(prefix=f"mignet-demo-{self.p}-")
        self.netns = []
        self.links = []
        self.procs = []
        self.attached = []  # (node, pod netns, containerid, args, config) to DEL
        self.cni_path = None

    # ---- building -------------------------------------------------------------------------
    def add_netns(self, name):
        run("ip", "netns", "add", name)
        self.netns.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")

    def add_bridge(self, name, silent=False):
        """A bridge in the root netns; @silent: it never speaks itself (no IPv6, no IGMP
        from multicast snooping), so only what the pods send crosses it."""
        run("ip", "link", "add", name, "type", "bridge",
            *(("mcast_snooping", "0") if silent else ()))
        self.links.append(name)
        if silent:
            run("sysctl", "-qw", f"net.ipv6.conf.{name}.disable_ipv6=1")
        run("ip", "link", "set", name, "up")

    def plug(self, bridge, netns, ifname, cidr=None, default_gw=None, ipv6=True):
        """A veth from bridge @bridge (root side) to @ifname inside @netns."""
        outer = f"{self.p}{secrets.token_hex(2)}"
        inner = outer + "i"
        run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        self.links.append(outer)
        if not ipv6:
            run("sysctl", "-qw", f"net.ipv6.conf.{outer}.disable_ipv6=1")
        run("ip", "link", "set", outer, "master", bridge, "up")
        run("ip", "link", "set", inner, "netns", netns)
        run("ip", "-n", netns, "link", "set", inner, "name", ifname)
        if not ipv6:
            run("ip", "netns", "exec", netns, "sysctl", "-qw",
                f"net.ipv6.conf.{ifname}.disable_ipv6=1")
        run("ip", "-n", netns, "link", "set", ifname, "up")
        if cidr:
            run("ip", "-n", netns, "addr", "add", cidr, "dev", ifname)
        if default_gw:
            run("ip", "-n", netns, "route", "add", "default", "via", default_gw, "dev", ifname,
                "onlink")

    def build(self):
        self.mig_switch, self.pod_switch = f"{self.p}mig", f"{self.p}pod"
        self.add_bridge(self.mig_switch)
        self.add_bridge(self.pod_switch, silent=True)
        self.nodes = {}
        for i, n in enumerate("ab"):
            node, pod = f"{self.p}-node-{n}", f"{self.p}-virt-handler-{n}"
            launcher = f"{self.p}-virt-launcher-{n}"
            self.add_netns(node)
            self.add_netns(pod)
            self.add_netns(launcher)
            self.plug(self.mig_switch, node, "eth1")
            self.plug(self.pod_switch, node, "eth0", f"10.128.0.{11 + i}/16", "10.128.0.1",
                      ipv6=False)
            self.plug(self.pod_switch, pod, "eth0", f"10.128.1.{11 + i}/16", "10.128.0.1",
                      ipv6=False)
            self.nodes[n] = {"node": node, "pod": pod, "launcher": launcher,
                             "pod_ip": f"10.128.1.{11 + i}"}
        return self

    # ---- CNI, as Multus calls it -----------------------------------------------------------
    def bin_dir(self):
        d = os.path.join(self.tmp, "cni-bin")
        os.makedirs(d, exist_ok=True)
        for name, path in (("macvlan", "plugins/macvlan/macvlan"),
                           ("whereabouts", "plugins/whereabouts/whereabouts")):
            src = os.path.join(build_dir(), path)
            if not os.access(src, os.X_OK):
                raise RuntimeError(f"{src} is not built; run scripts/build first")
            os.symlink(src, os.path.join(d, name))
        return d

    def cni(self, command, node, pod, containerid, args, config):
        env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=containerid,
                   CNI_NETNS=f"/var/run/netns/{pod}", CNI_IFNAME="migration0",
                   CNI_PATH=self.cni_path, CNI_ARGS=args)
        r = subprocess.run(["ip", "netns", "exec", node, os.path.join(self.cni_path, config["type"])],
                           input=json.dumps(config), env=env, text=True, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"CNI {command} on {node} failed: {r.stdout.strip()} {r.stderr.strip()}")
        return json.loads(r.stdout) if r.stdout.strip() else None

    def attach(self, n, config):
        node, pod = self.nodes[n]["node"], self.nodes[n]["pod"]
        containerid = secrets.token_hex(32)
        pod_name = f"virt-handler-{secrets.token_hex(3)[:5]}"
        args = ";".join(["IgnoreUnknown=true", "K8S_POD_NAMESPACE=openshift-cnv",
                         f"K8S_POD_NAME={pod_name}", f"K8S_POD_INFRA_CONTAINER_ID={containerid}",
                         f"K8S_POD_UID={secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}"])
        result = self.cni("ADD", node, pod, containerid, args, config)
        self.attached.append((node, pod, containerid, args, config))
        return pod_name, result

    def attach_migration_network(self, config):
        """Attach the NAD's @config as migration0 to both virt-handler pods, with a per-run
        whereabouts store. Return {node: (pod name, CNI result)}; .addrs then holds each
        node's migration0 address (an ipaddress.ip_interface)."""
        if self.cni_path is None:
            self.cni_path = self.bin_dir()
        flat = os.path.join(self.tmp, "whereabouts.conf")
        with open(flat, "w") as f:
            json.dump({"datastore": "file", "store_dir": os.path.join(self.tmp, "whereabouts")}, f)
        config = json.loads(json.dumps(config))
        config["ipam"]["configuration_path"] = flat
        self.config = config
        out, self.addrs = {}, {}
        for n in "ab":
            out[n] = self.attach(n, config)
            self.addrs[n] = migration0_address(out[n][1])
        return out

    # ---- running things in the pods ------------------------------------------------------------
    def popen(self, netns, argv, **kw):
        """Start @argv in @netns; it is killed at teardown if still running."""
        p = subprocess.Popen(["ip", "netns", "exec", netns, *argv], **kw)
        self.procs.append(p)
        return p

    def pod_network_counters(self):
        """{netns/ifname: (rx_bytes, tx_bytes)} of every eth0 on the pod network."""
        res = {}
        for n in "ab":
            for ns in (self.nodes[n]["node"], self.nodes[n]["pod"]):
                link = json.loads(run("ip", "-n", ns, "-j", "-s", "link", "show", "eth0",
                                      capture_output=True).stdout)[0]
                st = link["stats64"]
                res[f"{ns}/eth0"] = (st["rx"]["bytes"], st["tx"]["bytes"])
        return res

    # ---- teardown --------------------------------------------------------------------------
    def teardown(self, log=print):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.procs = []
        for node, pod, containerid, args, config in reversed(self.attached):
            try:
                self.cni("DEL", node, pod, containerid, args, config)
            except Exception as e:  # keep tearing down; say what was left to do
                log(f"teardown: {e}")
        self.attached = []
        for name in reversed(self.netns):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            quiet("ip", "netns", "del", name)
        self.netns = []
        for name in reversed(self.links):
            quiet("ip", "link", "del", name)
        self.links = []
        quiet("rm", "-rf", self.tmp)
