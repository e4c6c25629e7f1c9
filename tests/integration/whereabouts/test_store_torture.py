# SPDX-License-Identifier: Apache-2.0
"""Torture of the whereabouts file store (ipam/store_file.c), through the real plugin binary.

- Hundreds of concurrent ADD/DEL on a shared store, a quarter of them killed with SIGKILL at a
  random instant; then the invariants: every file of the pool parses, no address is held
  twice and no container holds two, every ADD that answered success is still held unless its
  DEL answered, and the store still serves (a fresh ADD works; DEL of everything empties it).
- A full filesystem (a 1 MiB tmpfs filled up) and a read-only one: ADD fails with code 5
  naming the cause, and what was held before is intact.
- A lock held forever by another process: code 11 after lock_timeout_ms, not a hang.
- A store directory that is a symlink, or writable by others: code 7.

The store lives in a private temporary directory (tmpfs mounts for the ENOSPC/read-only
cases), unmounted and removed in finally blocks. Timeouts only guard against hangs.
"""
import fcntl
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from paths import ROOT  # noqa: E402
WHEREABOUTS = os.environ.get("MIGNET_WHEREABOUTS") or os.path.join(
    os.environ.get("MIGNET_BUILD", os.path.join(ROOT, "build")),
    "plugins", "whereabouts", "whereabouts")
HANG_GUARD = 60
POOL = "10.200.0.0_22"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (tmpfs mounts)"),
    pytest.mark.skipif(not os.access(WHEREABOUTS, os.X_OK), reason=f"{WHEREABOUTS} is not built"),
]


def conf(store, **ipam):
    i = {"type": "whereabouts", "range": "10.200.0.0/22", "store_dir": store,
         "lock_timeout_ms": 20000}
    i.update(ipam)
    return json.dumps({"cniVersion": "1.0.0", "name": "torture", "type": "macvlan", "ipam": i})


def env(command, cid):
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command,
            "CNI_CONTAINERID": cid, "CNI_NETNS": "/var/run/netns/" + cid, "CNI_IFNAME": "eth0",
            "CNI_PATH": "/nonexistent",
            "CNI_ARGS": f"IgnoreUnknown=true;K8S_POD_NAMESPACE=torture;K8S_POD_NAME=pod-{cid}"}


def run(store_conf, command, cid, timeout=HANG_GUARD):
    p = subprocess.run([WHEREABOUTS], input=store_conf, capture_output=True, text=True,
                       env=env(command, cid), timeout=timeout)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out


def address(out):
    return out["ips"][0]["address"].split("/")[0]


def pool_dir(store):
    return os.path.join(store, "_unnamed", POOL)


IP_NAME = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def records(store):
    """{address: record} of every allocation file; asserts that each one parses."""
    d = pool_dir(store)
    held = {}
    if not os.path.isdir(d):
        return held
    for name in os.listdir(d):
        path = os.path.join(d, name)
        if IP_NAME.match(name):
            with open(path) as f:
                text = f.read()
            rec = json.loads(text)  # every allocation file parses
            assert rec["ip"] == name and text.endswith("\n"), (name, text)
            assert all(isinstance(rec[k], str) for k in ("id", "podref", "ifname")), rec
            held[name] = rec
        else:
            assert name == "next" or name.startswith(("ctr:", "pod:", ".tmp-")), name
    return held


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="mgst")
    os.chmod(d, 0o700)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", os.path.join(d, "mnt")], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def test_concurrent_add_del_with_sigkill(tmp):
    store = os.path.join(tmp, "store")
    c = conf(store)
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    ids = [f"ctr{i:03d}" for i in range(120)]
    state = {cid: None for cid in ids}  # None: not held; "?": unknown (killed); else address
    locks = {cid: threading.Lock() for cid in ids}
    stats = {"ops": 0, "kills": 0, "killed_mid_op": 0, "errors": []}
    stats_lock = threading.Lock()

    def one_op(seed):
        r = random.Random(seed)
        cid = r.choice(ids)
        command = r.choice(["ADD", "ADD", "DEL"])
        kill = r.random() < 0.25
        with locks[cid]:
            p = subprocess.Popen([WHEREABOUTS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env(command, cid))
            if kill:
                threading.Timer(r.uniform(0, 0.008), lambda: p.poll() is None and p.kill()).start()
            out, err = p.communicate(c, timeout=HANG_GUARD)
            with stats_lock:
                stats["ops"] += 1
                stats["kills"] += kill
            if p.returncode == -signal.SIGKILL:
                with stats_lock:
                    stats["killed_mid_op"] += 1
                state[cid] = "?"
                return
            res = json.loads(out) if out.strip() else None
            if p.returncode != 0:
                with stats_lock:
                    stats["errors"].append((command, cid, res, err))
                state[cid] = "?"
                return
            if command == "DEL":
                state[cid] = None
                return
            got = address(res)
            prev = state[cid]
            if prev not in (None, "?"):
                assert got == prev, f"{cid}: a repeated ADD moved it from {prev} to {got}"
            state[cid] = got

    threads = []
    seeds = [rng.getrandbits(32) for _ in range(600)]
    chunks = [seeds[i::16] for i in range(16)]

    def worker(chunk):
        for s in chunk:
            one_op(s)

    for ch in chunks:
        t = threading.Thread(target=worker, args=(ch,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()

    assert stats["ops"] == 600
    assert not stats["errors"], stats["errors"][:3]
    assert stats["killed_mid_op"] > 0, "no kill landed inside an operation"
    held = records(store)
    # no address held twice, no container holding two
    owners = {}
    for ip, rec in held.items():
        assert rec["id"] not in owners, f"{rec['id']} holds {owners[rec['id']]} and {ip}"
        owners[rec["id"]] = ip
    # every ADD that answered success is held (unless a later DEL answered)
    for cid, s in state.items():
        if s not in (None, "?"):
            assert held.get(s, {}).get("id") == cid, f"{cid} was given {s}, now {held.get(s)}"
        if s is None:
            assert cid not in owners, f"{cid} was deleted but still holds {owners[cid]}"
    # the store serves: a fresh ADD, then DEL of everyone empties the pool
    rc, out = run(c, "ADD", "fresh")
    assert rc == 0, out
    assert address(out) not in held
    for cid in ids + ["fresh"]:
        rc, out = run(c, "DEL", cid)
        assert rc == 0, (cid, out)
    assert records(store) == {}, "allocations leaked after DEL of every container"
    print(f"\nstore torture: {stats['ops']} ops, {stats['kills']} kill -9 sent, "
          f"{stats['killed_mid_op']} landed mid-operation, {len(held)} held at the end")


def mount_tmpfs(tmp, size, inodes=4096):
    mnt = os.path.join(tmp, "mnt")
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},nr_inodes={inodes},mode=0700",
                    "tmpfs", mnt], check=True)
    return mnt


def test_full_filesystem(tmp):
    mnt = mount_tmpfs(tmp, "1m", inodes=256)
    store = os.path.join(mnt, "store")
    c = conf(store)
    before = {}
    for cid in ("a1", "a2", "a3"):
        rc, out = run(c, "ADD", cid)
        assert rc == 0, out
        before[address(out)] = cid
    # fill every block, then every inode
    with open(os.path.join(mnt, "fill"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    i = 0
    try:
        while True:
            open(os.path.join(mnt, f"inode{i}"), "w").close()
            i += 1
    except OSError:
        pass
    rc, out = run(c, "ADD", "a4")
    assert rc == 1 and out["code"] == 5, out
    assert "space" in out["msg"].lower() or "space" in out.get("details", "").lower(), out
    held = records(store)
    assert {ip: rec["id"] for ip, rec in held.items()} == before, "state changed on ENOSPC"
    rc, out = run(c, "ADD", "a1")  # the idempotent ADD of a holder needs no space
    assert rc == 0 and before[address(out)] == "a1", out
    os.unlink(os.path.join(mnt, "fill"))
    for j in range(i):
        os.unlink(os.path.join(mnt, f"inode{j}"))
    rc, out = run(c, "ADD", "a4")
    assert rc == 0, out


def test_read_only_store(tmp):
    mnt = mount_tmpfs(tmp, "4m")
    store = os.path.join(mnt, "store")
    c = conf(store)
    rc, out = run(c, "ADD", "r1")
    assert rc == 0, out
    held_addr = address(out)
    subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
    try:
        rc, out = run(c, "ADD", "r2")
        assert rc == 1 and out["code"] == 5, out
        assert "read-only" in json.dumps(out).lower(), out
        rc, out = run(c, "DEL", "r1")
        assert rc == 1 and out["code"] == 5, out
    finally:
        subprocess.run(["mount", "-o", "remount,rw", mnt], check=True)
    assert {ip: rec["id"] for ip, rec in records(store).items()} == {held_addr: "r1"}
    assert run(c, "DEL", "r1")[0] == 0


F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)


def test_lock_held_forever(tmp):
    store = os.path.join(tmp, "store")
    c = conf(store, lock_timeout_ms=500)
    assert run(c, "ADD", "l1")[0] == 0
    fd = os.open(os.path.join(store, "_unnamed", "lock"), os.O_RDWR)
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        for command, cid in (("ADD", "l2"), ("DEL", "l1")):
            rc, out = run(c, command, cid, timeout=30)
            assert rc == 1 and out["code"] == 11, out
            assert "lock" in out["msg"], out
    finally:
        os.close(fd)
    assert run(c, "DEL", "l1")[0] == 0


def test_symlinked_store_dir(tmp):
    real = os.path.join(tmp, "real")
    os.makedirs(real, mode=0o700)
    link = os.path.join(tmp, "link")
    os.symlink(real, link)
    rc, out = run(conf(link), "ADD", "s1")
    assert rc == 1 and out["code"] == 7 and "symbolic link" in out["msg"], out
    assert os.listdir(real) == []


def test_world_writable_store_dir(tmp):
    store = os.path.join(tmp, "ww")
    os.makedirs(store)
    os.chmod(store, 0o777)
    rc, out = run(conf(store), "ADD", "w1")
    assert rc == 1 and out["code"] == 7 and "writable" in out["msg"], out
    assert os.listdir(store) == []
