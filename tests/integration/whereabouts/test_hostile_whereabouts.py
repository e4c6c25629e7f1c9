# SPDX-License-Identifier: Apache-2.0
"""Hostile input to the whereabouts IPAM plugin (ipam/): what a NetworkAttachmentDefinition
author or a confused runtime can pass. Each case must end with its code, valid error JSON, and
nothing written to the store. The store is a private temporary directory; every run has a
timeout that only guards against a hang. The bug these tests found (a FIFO as
configuration_path hung the plugin) is fixed; the test keeps it fixed (docs/reliability.md).
"""
import json
import os
import subprocess

import pytest

from paths import ROOT  # noqa: E402
WHEREABOUTS = os.environ.get("MIGNET_WHEREABOUTS") or os.path.join(
    os.environ.get("MIGNET_BUILD", os.path.join(ROOT, "build")),
    "plugins", "whereabouts", "whereabouts")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs the plugin as root, as a runtime does"),
    pytest.mark.skipif(not os.access(WHEREABOUTS, os.X_OK), reason=f"{WHEREABOUTS} is not built"),
]


def doc(tmp, **ipam):
    i = {"type": "whereabouts", "range": "10.210.0.0/24", "store_dir": os.path.join(tmp, "store")}
    i.update(ipam)
    return json.dumps({"cniVersion": "1.0.0", "name": "hostile", "type": "macvlan", "ipam": i})


def run(stdin, timeout=60, **env):
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "h1",
         "CNI_NETNS": "/var/run/netns/h1", "CNI_IFNAME": "eth0", "CNI_PATH": "/nonexistent"}
    e.update(env)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    p = subprocess.run([WHEREABOUTS], input=data, capture_output=True, env=e, timeout=timeout)
    return p.returncode, p.stdout


def assert_error(tmp, rc, out, code):
    assert rc == 1, out
    err = json.loads(out.decode("utf-8"))
    assert err["code"] == code, err
    store = os.path.join(tmp, "store")
    allocated = [f for _, _, files in os.walk(store) for f in files if f[0].isdigit()]
    assert allocated == [], f"an address was allocated: {allocated}"
    return err


def test_16_mib_stdin(tmp_path):
    assert_error(str(tmp_path), *run(b" " * (16 << 20)), 5)


def test_json_nested_100000_deep(tmp_path):
    assert_error(str(tmp_path), *run(b'{"ipam":' * 100000 + b"{}" + b"}" * 100000), 6)


@pytest.mark.parametrize("ipam,code", [
    ({"range": "10.210.0.0/33"}, 7),
    ({"range": "10.210.0.0/32"}, 7),
    ({"range": "fd00::/128"}, 7),
    ({"range": "10.210.0.0/24", "range_start": "10.210.1.1"}, 7),
    ({"range": "10.210.0.0/24", "range_start": "10.210.0.9", "range_end": "10.210.0.3"}, 7),
    ({"range": "10.210.0.0/24", "exclude": ["fd00::/64"]}, 7),
    ({"range": "10.210.0.0/24", "exclude": ["x" * 100000]}, 7),
    ({"range": "10.210.0.0/24", "exclude": [f"10.210.0.{i}" for i in range(5000)]}, 7),
    ({"range": "10.210.0.0/24", "lock_timeout_ms": 2 ** 63}, 7),
    ({"range": "10.210.0.0/24", "lock_timeout_ms": -1}, 7),
    ({"range": "10.210.0.0/24", "store_dir": "relative/dir"}, 7),
    ({"range": "10.210.0.0/24", "network_name": "../../etc"}, 7),
    ({"range": "10.210.0.0/24", "network_name": "n" * 300}, 7),
    ({"range": "10.210.0.0/24", "datastore": "kubernetes"}, 7),
    ({"range": "１０.210.0.0/24"}, 7),
    ({"range": 24}, 7),
], ids=["prefix-33", "slash-32", "slash-128", "start-outside", "inverted", "exclude-other-family",
        "exclude-100k", "exclude-5000", "timeout-2^63", "timeout-negative", "relative-store",
        "network-dotdot", "network-300", "kubernetes", "fullwidth-digits", "range-number"])
def test_bad_ipam_config(tmp_path, ipam, code):
    assert_error(str(tmp_path), *run(doc(str(tmp_path), **ipam)), code)


@pytest.mark.parametrize("cid", ["a/b", "../x", "c" * 300])
def test_container_id(tmp_path, cid):
    rc, out = run(doc(str(tmp_path)), CNI_CONTAINERID=cid)
    if rc == 0:  # a long valid ID may be accepted if it fits the store; then DEL must clean
        assert run(doc(str(tmp_path)), CNI_COMMAND="DEL", CNI_CONTAINERID=cid)[0] == 0
        store = os.path.join(str(tmp_path), "store")
        assert [f for _, _, fs in os.walk(store) for f in fs if f[0].isdigit()] == []
    else:
        err = json.loads(out)
        assert err["code"] in (4, 7), err


def test_configuration_path_fifo_does_not_hang(tmp_path):
    fifo = os.path.join(str(tmp_path), "fifo")
    os.mkfifo(fifo)
    assert_error(str(tmp_path), *run(doc(str(tmp_path), configuration_path=fifo), timeout=5), 7)


def test_configuration_path_not_json(tmp_path):
    err = assert_error(str(tmp_path), *run(doc(str(tmp_path), configuration_path="/proc/self/status")), 7)
    assert "flat file" in err["msg"]
