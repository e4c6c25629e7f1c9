# SPDX-License-Identifier: Apache-2.0
"""libcni itself (tests/libcni, built from Debian's libcni 1.1.2 source) as a runtime."""
import json
import os
import subprocess

import pytest

from paths import BUILD, ROOT

@pytest.fixture(scope="session")
def libcni_client(tmp_path_factory):
    """Builds tests/libcni once per run, offline, from Debian's libcni source."""
    out_dir = BUILD if os.path.isdir(BUILD) else str(tmp_path_factory.mktemp("libcni"))
    exe = os.path.join(out_dir, "libcni-client")
    gocache = os.path.join(out_dir, "gocache")
    os.makedirs(gocache, exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=gocache,
               GOFLAGS="", CGO_ENABLED="0")
    env.setdefault("HOME", out_dir)
    p = subprocess.run(["go", "build", "-o", exe, "./tests/libcni"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        pytest.fail(f"building the libcni client failed:\n{p.stdout}\n{p.stderr}")
    return exe


def libcni_run(exe, node_ns, verb, conflist, workdir, pod, ifname, containerid, env):
    """Run libcni-client @exe in the node netns @node_ns, as a runtime on that node would.

    verb: add/check/del; conflist: dict, written to workdir/net.conflist; pod: the pod netns
    name; env: CNI_PATH, LIBCNI_CACHE_DIR and the like, added to (or overriding) a PATH.
    Returns (rc, parsed JSON of stdout or None, stdout, stderr).
    """
    path = os.path.join(workdir, "net.conflist")
    with open(path, "w") as f:
        json.dump(conflist, f)
    e = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    e.update(env)
    r = subprocess.run(["ip", "netns", "exec", node_ns, exe, verb, path, f"/run/netns/{pod}",
                        ifname, containerid], capture_output=True, text=True, env=e, timeout=60)
    try:
        parsed = json.loads(r.stdout) if r.stdout.strip() else None
    except ValueError:
        parsed = None
    return r.returncode, parsed, r.stdout, r.stderr
