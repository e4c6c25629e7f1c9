# SPDX-License-Identifier: Apache-2.0
"""Timed waits measure durations, so they must not run on the wall clock: a condition variable
from pthread_cond_init(NULL) times pthread_cond_timedwait() against CLOCK_REALTIME, and a clock
stepped back by NTP or an admin then stretches the wait by the step (the etcd lease keepalive
stopped renewing). Every C file that waits with a deadline makes its condition variables with
mig_cond_init() (CLOCK_MONOTONIC, tests/unit/migration/test_clock.c) and takes its deadlines
from mig_deadline(); this checks the sources keep to that, including files added later.
"""
import os
import re

ROOT = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(ROOT)
SKIP = {"build", ".git", "tests"}


def c_sources():
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith("build")]
        for f in files:
            if f.endswith((".c", ".h")):
                yield os.path.join(top, f)


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)


def test_timed_waits_use_the_monotonic_clock():
    waits, bad = [], []
    for path in c_sources():
        with open(path, errors="replace") as f:
            code = strip_comments(f.read())
        if "pthread_cond_timedwait" not in code:
            continue
        rel = os.path.relpath(path, ROOT)
        waits.append(rel)
        if "pthread_cond_init(" in code:
            bad.append(f"{rel}: pthread_cond_init() (CLOCK_REALTIME): use mig_cond_init()")
        if "CLOCK_REALTIME" in code or "gettimeofday" in code:
            bad.append(f"{rel}: a wall-clock deadline: use mig_deadline()")
    assert waits, "no pthread_cond_timedwait found: is ROOT right?"
    assert not bad, bad
