# SPDX-License-Identifier: Apache-2.0
"""Child servers that die with the test process.

A fixture's teardown kills what it started, but a run killed from outside (a `timeout`, a CI
job cancelled, SIGKILL) runs no teardown: its etcd members, receivers, fake servers would live
on, holding ports and data dirs, and poison the next run. Every long-lived child a test starts
gets PR_SET_PDEATHSIG = SIGKILL before it execs, so the kernel kills it when its parent dies:

    subprocess.Popen(cmd, preexec_fn=die_with_parent())
    subprocess.Popen(cmd, preexec_fn=die_with_parent(then=other_preexec))

or, for a child that may be started from a short-lived thread (a killer thread restarting an
etcd member), through popen(), which forks from one thread that lives as long as the process:

    die_with_test.popen(cmd, stdout=log)

Limits, from prctl(2): the "parent" is the thread that forked (hence popen()); the setting survives `ip netns exec` and
other plain execs, but is cleared by a change of uid/gid or by exec of a set-uid binary, so a
`setpriv --reuid` in the command needs its own `--pdeathsig KILL` (SETPRIV_DIE below, which
setpriv applies after the uid change).
"""
import ctypes
import os
import queue
import signal
import subprocess
import threading

PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl

SETPRIV_DIE = ["--pdeathsig", "KILL"]


def die_with_parent(then=None):
    """A preexec_fn: SIGKILL when the process that calls this dies; then @then(), if any."""
    parent = os.getpid()

    def preexec():
        if _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent:  # the test died before the prctl: nobody to outlive
            os._exit(126)
        if then:
            then()

    return preexec


_requests = queue.Queue()


def _spawner():
    while True:
        args, kw, done = _requests.get()
        try:
            done.append(subprocess.Popen(*args, **kw))
        except BaseException as e:  # handed to the caller, raised there
            done.append(e)
        done[0].set()


_spawner_thread = threading.Thread(target=_spawner, name="die-with-test-spawner", daemon=True)
_spawner_thread.start()


def popen(*args, **kw):
    """subprocess.Popen with die_with_parent(), forked from a thread that never exits, so the
    child dies with the test process and only with it, whichever thread asked for it."""
    kw["preexec_fn"] = die_with_parent(then=kw.get("preexec_fn"))
    done = [threading.Event()]
    _requests.put((args, kw, done))
    done[0].wait()
    if isinstance(done[1], BaseException):
        raise done[1]
    return done[1]
