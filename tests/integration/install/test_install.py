# SPDX-License-Identifier: Apache-2.0
"""Install and adoption: the .deb built from the tree (a DESTDIR install of a release build)
holds the plugins, mignet and the man pages, and the *installed* binaries work through libcni
with the example conflist, exactly as a runtime on a node would use them.
"""
import json
import os
import subprocess

from kernel_state import global_addrs, link_names, sh
from paths import ROOT


def build_deb(out):
    p = subprocess.run([os.path.join(ROOT, "scripts", "build-deb"), str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.strip().splitlines()[-1]


def test_deb_contents_and_libcni(topo, tmp_path, libcni_client):
    deb = build_deb(tmp_path / "out")
    root = tmp_path / "root"
    sh("dpkg-deb", "-x", deb, str(root))
    for path in ("opt/cni/bin/macvlan", "opt/cni/bin/whereabouts", "usr/bin/mignet",
                 "usr/share/man/man8/macvlan.8"):
        assert os.access(root / path, os.X_OK if "bin" in path else os.R_OK), path
    depends = sh("dpkg-deb", "-f", deb, "Depends").stdout
    for lib in ("libmnl0", "libjson-c5"):
        assert lib in depends
    version = subprocess.run([str(root / "usr/bin/mignet"), "version"], capture_output=True, text=True)
    assert version.returncode == 0 and "0.1.0" in version.stdout + version.stderr

    # the example conflist, unchanged but for a per-test whereabouts store
    with open(os.path.join(ROOT, "examples", "cni", "10-migration.conflist")) as f:
        conflist = json.load(f)
    conflist["plugins"][0]["ipam"]["store_dir"] = str(tmp_path / "store")
    path = tmp_path / "net.conflist"
    path.write_text(json.dumps(conflist))
    node, pod = topo.node(), topo.pod()
    env = {"PATH": os.environ["PATH"], "CNI_PATH": str(root / "opt/cni/bin"),
           "LIBCNI_CACHE_DIR": str(tmp_path / "cache")}

    def libcni(verb):
        return subprocess.run(["ip", "netns", "exec", node.ns, libcni_client, verb, str(path),
                               f"/run/netns/{pod}", "migration0", "ctr-install"],
                              capture_output=True, text=True, env=env, timeout=60)

    r = libcni("add")
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout)
    addr = result["ips"][0]["address"]
    assert addr.startswith("192.168.200.")
    assert addr in global_addrs(pod, "migration0")
    r = libcni("check")
    assert r.returncode == 0, r.stdout + r.stderr
    r = libcni("del")
    assert r.returncode == 0, r.stdout + r.stderr
    assert link_names(pod) == ["lo"]
