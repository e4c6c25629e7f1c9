# SPDX-License-Identifier: Apache-2.0
"""Many whereabouts processes at once on one pool, and processes killed with SIGKILL at random
instants: afterwards no address is held twice, every allocation file is whole and indexed,
and the store still serves. No timing is asserted."""
import os
import random
import signal
import time

import pytest

from whereabouts_helpers import (WHEREABOUTS, add_ok, allocations, check_invariants, conf,
                                 finish, multus_args, spawn, wb)

N = 200


@pytest.fixture
def store(tmp_path):
    if not os.access(WHEREABOUTS, os.X_OK):
        pytest.fail(f"{WHEREABOUTS} not built (ninja -C build plugins/whereabouts/whereabouts)")
    return os.path.join(str(tmp_path), "store")


def run_all(procs):
    return [finish(p) for p in procs]


def test_parallel_adds_then_dels(store):
    c = conf({"range": "10.70.0.0/16", "ipRanges": [{"range": "fd70::/64"}], "store_dir": store,
              "lock_timeout_ms": 60000})
    procs = [spawn("ADD", c, f"ctr{i}", args=multus_args(pod=f"p{i}")) for i in range(N)]
    outs = run_all(procs)
    assert all(rc == 0 for rc, _, _ in outs), [o for o in outs if o[0]][:3]
    allocs = check_invariants(store)
    v4 = [k[2] for k in allocs if k[1] == "10.70.0.0_16"]
    v6 = [k[2] for k in allocs if k[1] == "fd70::_64"]
    assert len(v4) == N and len(v6) == N
    # lowest free, whatever the order: exactly the first N addresses of each range
    assert sorted(v4) == sorted(f"10.70.{i // 256}.{i % 256}" for i in range(1, N + 1))
    assert sorted(v6) == sorted(f"fd70::{i:x}" for i in range(1, N + 1))
    procs = [spawn("DEL", c, f"ctr{i}", args=multus_args(pod=f"p{i}")) for i in range(N)]
    outs = run_all(procs)
    assert all(rc == 0 for rc, _, _ in outs), [o for o in outs if o[0]][:3]
    assert allocations(store) == {}


def test_kill_9_during_parallel_add_del(store):
    rnd = random.Random(1234)
    c = conf({"range": "10.71.0.0/24", "store_dir": store, "lock_timeout_ms": 60000})
    live = set()
    for rnd_i in range(6):
        procs = []
        for i in range(40):
            cid = f"r{rnd_i}c{i}"
            if live and rnd.random() < 0.4:
                victim = rnd.choice(sorted(live))
                procs.append((spawn("DEL", c, victim), "DEL", victim))
            else:
                procs.append((spawn("ADD", c, cid), "ADD", cid))
        # kill a third of them at random instants while they run
        deadline = time.monotonic() + 0.05
        for p, _, _ in rnd.sample(procs, len(procs) // 3):
            time.sleep(max(0.0, min(rnd.random() * 0.004, deadline - time.monotonic())))
            try:
                p.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
        must_hold, must_not, targets = set(), set(), set()
        for p, verb, cid in procs:
            ok = finish(p)[0] == 0
            if verb == "ADD" and ok:
                must_hold.add(cid)
            elif verb == "DEL":
                targets.add(cid)
                if ok:
                    must_not.add(cid)
        allocs = check_invariants(store)
        held_by = {rec["id"] for rec in allocs.values()}
        # a completed ADD holds its address, a completed DEL released it, what no DEL aimed at
        # is still held; a killed ADD or DEL may have taken effect or not
        must_hold |= live - targets
        assert must_hold <= held_by, f"answered ADD but hold nothing: {must_hold - held_by}"
        assert not must_not & held_by, f"answered DEL but still hold: {must_not & held_by}"
        live = held_by
    # the store still serves: the lowest free address exactly, and DEL of everything empties it
    before = {k[2] for k in allocations(store)}
    lowest = next(f"10.71.0.{i}" for i in range(1, 255) if f"10.71.0.{i}" not in before)
    res = add_ok(c, containerid="after")
    assert res["ips"][0]["address"] == f"{lowest}/24"
    check_invariants(store)
    for rec in list(allocations(store).values()):
        assert wb("DEL", c, containerid=rec["id"])[0] == 0
    assert allocations(store) == {}
