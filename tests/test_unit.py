# SPDX-License-Identifier: Apache-2.0
"""Every C unit test registered with meson (suite "unit") as one pytest case, so that one runner
reports everything. A test that exits non-zero fails with its output; exit 77 is meson's "skip".

The list comes from `meson introspect <build> --tests`; a missing or unconfigured build dir
is a failure (build first: scripts/build), never an empty, silently green run.
"""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("MIGNET_BUILD", os.path.join(ROOT, "build"))
SKIP_RC = 77


def _unit_tests():
    """([test dicts], None) or ([], reason why they cannot be listed)."""
    if not os.path.isdir(os.path.join(BUILD, "meson-info")):
        return [], f"{BUILD} is not a configured meson build dir (run scripts/build)"
    try:
        p = subprocess.run(["meson", "introspect", BUILD, "--tests"], capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [], f"meson introspect failed: {e}"
    if p.returncode != 0:
        return [], f"meson introspect {BUILD} --tests failed: {p.stderr.strip()}"
    tests = [t for t in json.loads(p.stdout)
             if any(s == "unit" or s.endswith(":unit") for s in t.get("suite", []))]
    if not tests:
        return [], f"no test of suite 'unit' registered in {BUILD}"
    return tests, None


UNIT_TESTS, PROBLEM = _unit_tests()


def test_unit_tests_listed():
    """Fails, with the reason, when the build dir or its unit tests are missing."""
    assert PROBLEM is None, PROBLEM


@pytest.mark.parametrize("t", UNIT_TESTS, ids=[t["name"] for t in UNIT_TESTS])
def test_unit(t):
    exe = t["cmd"][0]
    assert os.access(exe, os.X_OK), f"{exe} not built (run ninja -C {BUILD})"
    env = dict(os.environ)
    env.update(t.get("env") or {})
    timeout = t.get("timeout") or 30
    try:
        p = subprocess.run(t["cmd"], cwd=t.get("workdir") or BUILD, env=env,
                           capture_output=True, text=True, timeout=timeout * 2)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{t['name']} timed out after {timeout * 2}s\n{e.stdout or ''}{e.stderr or ''}")
    output = f"--- stdout ---\n{p.stdout}\n--- stderr ---\n{p.stderr}"
    if p.returncode == SKIP_RC:
        pytest.skip(f"{t['name']} skipped itself (exit 77): {p.stdout.strip()[-200:]}")
    should_fail = t.get("should_fail", False)
    if should_fail:
        assert p.returncode != 0, f"{t['name']} should fail but passed\n{output}"
    else:
        assert p.returncode == 0, f"{t['name']} exited {p.returncode}\n{output}"
