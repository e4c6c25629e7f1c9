# SPDX-License-Identifier: Apache-2.0
"""Freeing on a full store filesystem: DEL, the plugin's GC, `mignet ipam release` and
`mignet ipam gc` on a store whose filesystem has no free inode and no free block.

The store lives on a tmpfs mounted by the test with few inodes and a tiny size, then filled
up to the last inode and block; the test checks independently (statvfs, a symlink that the
kernel refuses) that it is full before it frees anything, and unmounts it whatever happens.
"""
import errno
import os
import subprocess

import pytest

from cni_run import assert_cni_error
from paths import MIGNET
from whereabouts_helpers import WHEREABOUTS, add_ok, allocations, conf, multus_args, wb



@pytest.fixture
def tiny_fs(tmp_path):
    for b in (MIGNET, WHEREABOUTS):
        if not os.access(b, os.X_OK):
            pytest.fail(f"{b} not built (scripts/build)")
    mnt = os.path.join(str(tmp_path), "mnt")
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,nr_inodes=64,mode=0700",
                    "mignet-full", mnt], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", mnt], check=False)


def fill(mnt, rnd=0):
    """Use up every block, then every inode, of the tmpfs at @mnt; prove it is full. Again
    (@rnd 1, 2...) after something was freed."""
    filler = os.path.join(mnt, "filler")
    os.makedirs(filler, exist_ok=True)
    with open(os.path.join(filler, f"blocks{rnd}"), "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    n = 0
    try:
        while True:
            open(os.path.join(filler, f"i{rnd}-{n}"), "w").close()
            n += 1
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    sv = os.statvfs(mnt)
    assert sv.f_favail == 0 and sv.f_bavail == 0, (sv.f_favail, sv.f_bavail)
    with pytest.raises(OSError) as e:
        os.symlink("10.1.2.3 0", os.path.join(mnt, "probe"))
    assert e.value.errno == errno.ENOSPC


def hint(store, net, pool):
    try:
        return os.readlink(os.path.join(store, net, pool, "next"))
    except FileNotFoundError:
        return None


def dual(store):
    return conf({"range": "10.230.0.0/24", "ipRanges": [{"range": "fd30::/64"}],
                 "store_dir": store}, version="1.1.0")


def test_del_and_gc_free_on_a_full_filesystem(tiny_fs):
    store = os.path.join(tiny_fs, "store")
    c = dual(store)
    for i in range(3):
        add_ok(c, containerid=f"c{i}", args=multus_args(pod=f"p{i}"))
    assert hint(store, "_unnamed", "10.230.0.0_24").startswith("10.230.0.4 ")
    fill(tiny_fs)

    # DEL of the lowest address must lower the hint: it cannot be rewritten, so it goes
    rc, r, out, _ = wb("DEL", c, containerid="c0", args=multus_args(pod="p0"))
    assert rc == 0, out
    assert {rec["id"] for rec in allocations(store).values()} == {"c1", "c2"}
    h = hint(store, "_unnamed", "10.230.0.0_24")
    assert h is None or h.startswith("10.230.0.1 "), h

    rc, r, out, _ = wb("GC", dict(c, **{"cni.dev/valid-attachments": [
        {"containerID": "c2", "ifname": "eth0"}]}))
    assert rc == 0, out
    assert {(rec["id"], rec["ip"]) for rec in allocations(store).values()} == {
        ("c2", "10.230.0.3"), ("c2", "fd30::3")}

    # a network never used has no directory and no room for one: it holds nothing, so its
    # DEL and GC succeed; its ADD fails with code 5 and leaves nothing behind
    fill(tiny_fs, 1)  # what was freed above is room again
    other = conf(dict(c["ipam"], network_name="never-used"), version="1.1.0")
    rc, r, out, _ = wb("DEL", other, containerid="c5")
    assert rc == 0, out
    rc, r, out, _ = wb("GC", dict(other, **{"cni.dev/valid-attachments": []}))
    assert rc == 0, out
    rc, r, out, _ = wb("ADD", other, containerid="c5")
    assert_cni_error(rc, r, out, code=5, conf_version="1.1.0", msg_re=r"never-used")
    assert not os.path.lexists(os.path.join(store, "never-used"))

    # with space again, the freed addresses are handed out first
    subprocess.run(["rm", "-rf", os.path.join(tiny_fs, "filler")], check=True)
    res = add_ok(c, containerid="c9", args=multus_args(pod="p9"))
    assert [ip["address"] for ip in res["ips"]] == ["10.230.0.1/24", "fd30::1/64"]


def test_mignet_release_and_gc_free_on_a_full_filesystem(tiny_fs):
    store = os.path.join(tiny_fs, "store")
    c = dual(store)
    add_ok(c, containerid="live", args=multus_args(pod="live"))
    add_ok(c, containerid="gone", args=multus_args(pod="gone"),
           netns=os.path.join(tiny_fs, "no-such-netns"))
    fill(tiny_fs)

    p = subprocess.run([MIGNET, "ipam", "release", "--store-dir", store, "10.230.0.1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([MIGNET, "ipam", "gc", "--store-dir", store], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert {(rec["id"], rec["ip"]) for rec in allocations(store).values()} == {
        ("live", "fd30::1")}
    h = hint(store, "_unnamed", "10.230.0.0_24")
    assert h is None or h.startswith("10.230.0.1 "), h
