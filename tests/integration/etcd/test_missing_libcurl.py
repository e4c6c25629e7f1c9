# SPDX-License-Identifier: Apache-2.0
"""A node without libcurl4: whereabouts loads libcurl with dlopen() only for the etcd
datastore (etcd/curl_api.c), and so does `mignet send --etcd`.

No mocks: each program runs in a private mount namespace (`unshare -m`) where /dev/null is
bind-mounted over every libcurl.so.4 the dynamic loader could find (the ld.so cache's entry and
the multiarch directories), so dlopen("libcurl.so.4") fails for real; a ctypes probe in the
same kind of namespace checks that the hiding works. The rest of the machine is untouched.

Expected: whereabouts with "datastore": "etcd" answers a CNI error JSON on stdout naming libcurl
and the package to install (libcurl4), exits non-zero and writes nothing (etcd, read back with
etcdctl outside the namespace, holds no key; no store directory appears); the file datastore
works in the very same namespace; `mignet send --etcd` says the same on stderr, exits 1 and
takes no slot.
"""
import glob
import json
import os
import re
import subprocess

import pytest

from etcd_cluster import BUILD, EtcdCluster
from cni_run import assert_cni_error, run_plugin

WHEREABOUTS = os.path.join(BUILD, "plugins", "whereabouts", "whereabouts")
MIGNET = os.path.join(BUILD, "migration", "mignet")
WB_PREFIX = "/mignet/"  # whereabouts' keys and mignet's migration slots
LIBCURL_MSG = r"libcurl.*install libcurl4|install libcurl4.*libcurl"

pytestmark = pytest.mark.skipif(not os.path.exists(WHEREABOUTS) or not os.path.exists(MIGNET),
                                reason="whereabouts/mignet not built")


def libcurl_paths():
    """Every file a dlopen("libcurl.so.4") could map: the ld.so cache's answer and the copies in
    the default directories, resolved (a bind mount over a symlink lands on its target)."""
    found = set()
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for m in re.finditer(r"^\s*libcurl\.so\.4 \([^)]*\) => (\S+)$", out, re.M):
        found.add(os.path.realpath(m.group(1)))
    for d in ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/lib/x86_64-linux-gnu",
              "/usr/lib/x86_64-linux-gnu", "/usr/local/lib"):
        for p in glob.glob(os.path.join(d, "libcurl.so.4")):
            found.add(os.path.realpath(p))
    return sorted(p for p in found if os.path.isfile(p))


def without_libcurl(argv, **kw):
    """Run argv in a private mount namespace where every libcurl.so.4 is /dev/null."""
    mounts = "".join(f"mount --bind /dev/null '{p}' || exit 97\n" for p in libcurl_paths())
    script = mounts + 'exec "$@"\n'
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                           *argv], **kw)


def wb_without_libcurl(command, c, cid="ctr-nocurl", env=None):
    """whereabouts, as run_plugin runs it, but without libcurl. Returns run_plugin's tuple."""
    e = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
         "CNI_PATH": "/usr/lib/cni", "CNI_COMMAND": command, "CNI_CONTAINERID": cid,
         "CNI_IFNAME": "eth0", "CNI_NETNS": "/proc/self/ns/net", "NODENAME": "node-nocurl"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            e[k] = os.environ[k]
    e.update(env or {})
    p = without_libcurl([WHEREABOUTS], input=json.dumps(c).encode(), env=e)
    assert p.returncode != 97, f"hiding libcurl failed: {p.stderr!r}"
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    try:
        parsed = json.loads(out) if out.strip() else None
    except ValueError:
        parsed = None
    return p.returncode, parsed, out, err


def wb_conf(ipam, version="1.1.0"):
    i = {"type": "whereabouts", "range": "10.46.0.0/24", "network_name": "nocurl"}
    i.update(ipam)
    return {"cniVersion": version, "name": "mig-nocurl", "type": "macvlan", "ipam": i}


@pytest.fixture(scope="module")
def etcd():
    with EtcdCluster(1) as cl:
        yield cl


@pytest.fixture
def tmp(tmp_path):
    """The test's own directory (pytest's tmp_path), as a string."""
    return str(tmp_path)


def test_libcurl_is_really_hidden():
    """The setup itself: dlopen of libcurl.so.4 works outside and fails inside."""
    probe = ["/usr/bin/python3", "-c", "import ctypes; ctypes.CDLL('libcurl.so.4')"]
    if libcurl_paths():
        assert subprocess.run(probe, capture_output=True).returncode == 0
    p = without_libcurl(probe)
    assert p.returncode not in (0, 97), p
    assert b"libcurl.so.4" in p.stderr, p.stderr


@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK", "STATUS"])
def test_etcd_datastore_without_libcurl(etcd, tmp, command):
    """A clear CNI error naming libcurl and libcurl4, non-zero exit, nothing written."""
    store = os.path.join(tmp, "store")
    c = wb_conf({"datastore": "etcd", "etcd_host": etcd.endpoints, "store_dir": store})
    if command == "CHECK":
        c["prevResult"] = {"cniVersion": "1.1.0", "ips": [{"address": "10.46.0.1/24"}]}
    before = etcd.get_prefix(WB_PREFIX)
    rc, res, out, err = wb_without_libcurl(command, c)
    assert_cni_error(rc, res, out, conf_version="1.1.0", msg_re=LIBCURL_MSG)
    assert etcd.get_prefix(WB_PREFIX) == before
    assert not os.path.exists(store), os.listdir(store)
    # the same ADD with libcurl there succeeds: the config was never the problem
    if command == "ADD":
        rc, res, out, err = run_plugin(WHEREABOUTS, "ADD", "/proc/self/ns/net", "eth0", c,
                                       containerid="ctr-withcurl", cni_path="/usr/lib/cni")
        assert rc == 0, out + err
        rc, res, out, err = run_plugin(WHEREABOUTS, "DEL", "/proc/self/ns/net", "eth0", c,
                                       containerid="ctr-withcurl", cni_path="/usr/lib/cni")
        assert rc == 0, out + err


@pytest.mark.parametrize("command,code", [("ADD", 5), ("DEL", 5), ("STATUS", 50)])
def test_etcd_datastore_without_libcurl_code(etcd, tmp, command, code):
    c = wb_conf({"datastore": "etcd", "etcd_host": etcd.endpoints,
                 "store_dir": os.path.join(tmp, "store")})
    rc, res, out, err = wb_without_libcurl(command, c)
    assert_cni_error(rc, res, out, code=code, msg_re=LIBCURL_MSG)
    assert "invalid config" not in res["msg"], res


def test_node_slice_claim_without_libcurl(etcd, tmp):
    """With node slices the first ADD must claim a slice in etcd: same clear error, no slice
    claimed, no allocation in the node's file store."""
    store = os.path.join(tmp, "slices")
    os.makedirs(store, mode=0o700)
    c = wb_conf({"datastore": "etcd", "etcd_host": etcd.endpoints, "store_dir": store,
                 "node_slice_size": "/28"})
    before = etcd.get_prefix(WB_PREFIX)
    rc, res, out, err = wb_without_libcurl("ADD", c)
    assert_cni_error(rc, res, out, conf_version="1.1.0", msg_re=LIBCURL_MSG)
    assert etcd.get_prefix(WB_PREFIX) == before
    assert not any("/slices/" in k for k in before)
    held = [os.path.join(r, f) for r, _, fs in os.walk(store) for f in fs
            if re.fullmatch(r"[0-9a-f.:]+", f)]
    assert held == [], held


def test_file_datastore_needs_no_libcurl(tmp):
    """In the same namespace the file datastore works: ADD allocates, CHECK and STATUS pass,
    DEL releases."""
    store = os.path.join(tmp, "store")
    c = wb_conf({"store_dir": store})
    rc, res, out, err = wb_without_libcurl("ADD", c)
    assert rc == 0, out + err
    assert [ip["address"] for ip in res["ips"]] == ["10.46.0.1/24"], res
    assert os.path.exists(os.path.join(store, "nocurl", "10.46.0.0_24", "10.46.0.1"))
    c["prevResult"] = res
    for command in ("CHECK", "STATUS"):
        rc, res2, out, err = wb_without_libcurl(command, c)
        assert rc == 0, (command, out, err)
    del c["prevResult"]
    rc, res, out, err = wb_without_libcurl("DEL", c)
    assert rc == 0, out + err
    assert not os.path.exists(os.path.join(store, "nocurl", "10.46.0.0_24", "10.46.0.1"))


def test_mignet_send_etcd_without_libcurl(etcd, tmp):
    """`mignet send --etcd`: the cluster-wide slot needs libcurl: a clear message on stderr,
    exit 1, no slot taken in etcd, nothing sent."""
    env = dict(os.environ)
    before = etcd.get_prefix(WB_PREFIX)
    p = without_libcurl([MIGNET, "send", "--no-tls", "--target", "127.0.0.1:9", "--interface", "lo",
                         "--token", "t0ken", "--guest-memory", "1M", "--lock-dir", tmp,
                         "--etcd", etcd.endpoints, "--parallel-migrations-per-cluster", "1",
                         "--cluster-wait", "0"], env=env, text=True)
    assert p.returncode == 1, p
    assert re.search(r"cluster-wide migration slot: .*" + "(" + LIBCURL_MSG + ")", p.stderr), \
        p.stderr
    assert p.stdout == "", p.stdout
    assert etcd.get_prefix(WB_PREFIX) == before
    assert not any(k.startswith("/mignet/migrations/") for k in before)
