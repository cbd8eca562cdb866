"""The portable backend counts the CPU time of children the kernel reaps itself (issue 10).

A program that ignores SIGCHLD (`SIG_IGN`, or `SA_NOCLDWAIT`) has its children reaped by the kernel: their CPU
time is in no parent's `cutime`, and the process-tree reading (`process_tree`) misses them once they are gone.
Forking 30 ms workers for 0.9 s under a 1 s limit was accepted with a CPU time of 0.09 s. Where the judge can
make one, each run has a cpuacct cgroup (`run_cgroups`) whose usage counts every process the program started,
reaped by anyone or by no one.
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Limits, run_cgroups
from codefeedback_env.judge.backend import RemoteTimeout
from codefeedback_env.judge.subprocess_backend import SubprocessBackend

LIMITS = Limits(1.0, 256 << 20, 1 << 16)
WORKER_SECONDS = 0.03
READING_SLACK = 0.3
"""CPU seconds the workers may use past what the backend last read (as in test_cpu_limit_of_process_trees)."""
WORKER = f"""
import ctypes, os, signal, threading, time
def worker():
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        while time.process_time() < {WORKER_SECONDS}:
            pass
        os.write(2, b'w\\n')
        os._exit(0)
    os.close(w)
    os.read(r, 1)  # the worker has ended (and the kernel reaped it)
    os.close(r)
def workers(n):
    for _ in range(n):
        worker()
class Sigaction(ctypes.Structure):
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16), ("flags", ctypes.c_int),
                ("restorer", ctypes.c_void_p)]
def no_child_wait():
    action = Sigaction(None, (ctypes.c_ulong * 16)(), 2, None)  # SIG_DFL, SA_NOCLDWAIT
    assert ctypes.CDLL(None, use_errno=True).sigaction(signal.SIGCHLD, ctypes.byref(action), None) == 0
def threads_of_a_child():
    r, w = os.pipe()
    if os.fork() == 0:
        threads = [threading.Thread(target=workers, args=(40,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        os._exit(0)
    os.close(w)
    os.read(r, 1)
"""
SHAPES = {
    "sig_ign": "    signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n    workers(80)\n",
    "sa_nocldwait": "    no_child_wait()\n    workers(80)\n",
    "threads_of_a_child": "    signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n    threads_of_a_child()\n",
}
"""80 workers of 30 ms each (2.4 s of CPU under a 1 s limit), none of them ever waited for, as `main`'s body."""

needs_a_cpuacct_cgroup = pytest.mark.skipif(
    run_cgroups.hierarchy("cpuacct") is None, reason="no writable cpuacct cgroup here (the judge is not root)"
)


@pytest.fixture(scope="module")
def backend():
    with SubprocessBackend() as backend:
        yield backend


def assert_counted(outcome) -> None:
    """The run's CPU time counts what the workers said they used."""
    used = outcome.stderr.count(b"w\n") * WORKER_SECONDS
    assert used >= 0.1 and outcome.cpu_time >= min(used, LIMITS.time) - READING_SLACK, outcome


@needs_a_cpuacct_cgroup
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_auto_reaped_children_of_a_stdio_run_count(backend, shape):
    program = f"{WORKER}def main():\n{SHAPES[shape]}    print('done')\nmain()\n"
    outcome = backend.run_stdio(program, "", LIMITS)
    assert outcome.timed_out and outcome.stdout == b"", outcome
    assert_counted(outcome)


@needs_a_cpuacct_cgroup
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_auto_reaped_children_started_in_a_call_count(backend, shape):
    session = backend.open_function_session(f"{WORKER}def f():\n{SHAPES[shape]}    return 'done'\n", LIMITS)
    try:
        with pytest.raises(RemoteTimeout):
            session.call("f", [], {})
    finally:
        outcome = session.close()
    assert_counted(outcome)
