# SPDX-License-Identifier: Apache-2.0
"""What the valgrind tests share (test_valgrind.py: macvlan; test_valgrind_whereabouts.py:
whereabouts and `mignet ipam`): the valgrind command line, picking a binary valgrind can run
(not an AddressSanitizer build), reading the logs back and judging them.

No suppression file is used anywhere: a report is either fixed or the test fails.
"""
import glob
import os
import re

VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--error-exitcode=99", "--track-origins=yes"]


def is_asan(path):
    """True when the binary is built with AddressSanitizer (valgrind cannot run it)."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def non_asan(candidates, exclude=()):
    """The first executable candidate that is not an ASan build and is not (a link to) one of
    the paths in exclude; None when there is none."""
    excluded = {os.path.realpath(e) for e in exclude}
    for c in candidates:
        if not c or os.path.realpath(c) in excluded:
            continue
        if os.path.isfile(c) and os.access(c, os.X_OK) and not is_asan(c):
            return c
    return None


def valgrind_cmd(logdir, extra=()):
    """The valgrind prefix of a command, one log file per process in logdir."""
    return VALGRIND + list(extra) + ["--log-file=" + os.path.join(logdir, "vg.%p.log")]


def read_logs(logdir):
    """{path: text} of every valgrind log in logdir."""
    logs = {}
    for path in glob.glob(os.path.join(logdir, "vg.*.log")):
        with open(path) as f:
            logs[path] = f.read()
    return logs


def assert_clean(rc, logs, what):
    """No error of any kind, no definitely lost block, in every log. A log without an ERROR
    SUMMARY is a child that exec'd something else (checked up to its exec)."""
    assert rc != 99, f"{what}: valgrind found errors:\n" + "\n".join(logs.values())
    assert logs, f"{what}: valgrind wrote no log"
    for path, text in logs.items():
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if not m:
            # the child forked to exec the IPAM plugin: its log ends at the exec
            assert not re.search(r"Invalid|uninitialised|Conditional jump|lost|Mismatched", text), \
                f"{what}: {path}:\n{text}"
            continue
        assert m.group(1) == "0", f"{what}: {path}:\n{text}"
        assert "Invalid read" not in text and "Invalid write" not in text, text
        m = re.search(r"definitely lost: ([\d,]+) bytes", text)
        assert not m or m.group(1) == "0", f"{what}: {path}:\n{text}"


def heap_usage(text):
    """(allocs, frees, bytes allocated, bytes in use at exit) from a valgrind log."""
    m = re.search(r"total heap usage: ([\d,]+) allocs, ([\d,]+) frees, ([\d,]+) bytes allocated",
                  text)
    u = re.search(r"in use at exit: ([\d,]+) bytes", text)
    assert m and u, text
    num = lambda s: int(s.replace(",", ""))  # noqa: E731
    return num(m.group(1)), num(m.group(2)), num(m.group(3)), num(u.group(1))
