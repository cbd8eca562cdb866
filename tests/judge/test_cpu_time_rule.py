"""One CPU-time rule on both backends: a program whose CPU time is within its time limit is never a time-out,
one over it always is, and the reported `cpu_time` is the number the verdict went by (issue 10).

The kernel's CPU-time rlimit compares tick-sampled time: the task running at a scheduler tick is charged the
whole tick. Beside tasks that sleep and wake between ticks (and so run from the next tick on), a CPU-bound
program is charged for their time too: with the limit as the rlimit, a program that had used 0.73-0.90 s of
real CPU time was killed by SIGXCPU under a 1 s limit, 12 times out of 12 (both backends, one such task per
core). The rlimit is now a backstop with headroom (`cpu_wait.cpu_rlimit_seconds`); the limit is checked on the
kernel's precise count by the trusted side, while the run lasts and at its end (`cpu_wait.over_cpu_limit`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from codefeedback_env.judge import Judge, Limits, Verdict, cpu_wait
from codefeedback_env.judge.backend import RemoteTimeout, RunOutcome
from codefeedback_env.judge.pool import WorkerPoolBackend
from codefeedback_env.judge.subprocess_backend import SubprocessBackend
from tests.judge.function_judges import function_problem

LIMIT = 1.0
"""A whole second: the old rlimit was the limit itself, which the tick count reached first."""
LIMITS = Limits(LIMIT, 256 << 20, 1 << 16)
SPINS_TO = "import sys, time\nwhile time.process_time() < {seconds}:\n    pass\nprint('done')\n"
"""A program that uses `seconds` of its own CPU time (its process's precise clock) and says so."""
TICK_SKEWING_LOAD = """\
import os, time
for core in sorted(os.sched_getaffinity(0))[1:]:
    if os.fork() == 0:
        break
else:
    core = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {core})
end = time.monotonic() + 120
while time.monotonic() < end:  # 1 ms of work, 1 ms of sleep: woken between ticks, it runs from the next on
    start = time.perf_counter()
    while time.perf_counter() - start < 0.001:
        pass
    time.sleep(0.001)
"""
"""One task per core that sleeps and wakes between the kernel's ticks (its process group is killed after)."""
READING_SLACK = 0.3
"""CPU seconds two threads may use past the limit before the trusted side sees it: it reads every 50 ms, on
two cores, and the kill takes a moment (a loaded host gives them less, never more)."""


@contextlib.contextmanager
def tick_skewing_load() -> Iterator[None]:
    """`TICK_SKEWING_LOAD` for the block."""
    load = subprocess.Popen([sys.executable, "-c", TICK_SKEWING_LOAD], start_new_session=True)
    try:
        yield
    finally:
        os.killpg(load.pid, signal.SIGKILL)
        load.wait()


@pytest.fixture(params=["pool", "subprocess"])
def loaded_backend(request) -> Iterator[WorkerPoolBackend | SubprocessBackend]:
    """A backend whose runs share each core with a task that sleeps and wakes between ticks."""
    with WorkerPoolBackend(1) if request.param == "pool" else SubprocessBackend() as backend, tick_skewing_load():
        yield backend


def _ended_by_the_wall_backstop(outcome: RunOutcome) -> bool:
    """Whether the run lasted until the wall-clock backstop (a host too loaded to give it its CPU time)."""
    return outcome.wall_time >= cpu_wait.wall_backstop(LIMIT) - 0.05


def test_a_program_within_its_cpu_limit_is_never_a_time_out(loaded_backend):
    """0.8 of the limit, three times, beside a tick-skewing task: accepted each time, and its reported CPU time is
    what it used (red before on both backends: SIGXCPU at 0.73-0.90 s)."""
    judged = []
    for _ in range(3):
        outcome = loaded_backend.run_stdio(SPINS_TO.format(seconds=0.8 * LIMIT), "", LIMITS)
        if outcome.timed_out and _ended_by_the_wall_backstop(outcome):
            continue  # too little CPU for it on this host: no verdict on the rule either way
        assert (outcome.timed_out, outcome.signal, outcome.stdout) == (False, None, b"done\n"), outcome
        assert 0.8 * LIMIT <= outcome.cpu_time <= LIMIT, outcome
        judged.append(outcome)
    if not judged:
        pytest.skip("the host was too loaded: every run reached the wall-clock backstop")


def test_a_program_over_its_cpu_limit_is_a_time_out(each_backend):
    """1.2 of the limit in one thread: a time-out, without its output, its CPU time counted past the limit."""
    outcome = each_backend.run_stdio(SPINS_TO.format(seconds=1.2 * LIMIT), "", LIMITS)
    assert outcome.timed_out and outcome.stdout == b"", outcome
    assert 0.5 * LIMIT <= outcome.cpu_time <= 1.2 * LIMIT, outcome


THREADS_SPIN = """\
import threading, time
def spin():
    while True:
        pass
for _ in range(2):
    threading.Thread(target=spin, daemon=True).start()
time.sleep(30)
print('done')
"""


def test_threads_over_the_cpu_limit_end_near_it_not_at_the_kernels_backstop(each_backend):
    """Two threads on two cores use CPU time twice as fast as wall time: the run ends once their CPU time is
    over the limit (read every 50 ms), not at the kernel's rlimit backstop (3 s here)."""
    outcome = each_backend.run_stdio(THREADS_SPIN, "", LIMITS)
    assert outcome.timed_out and outcome.stdout == b"", outcome
    assert outcome.cpu_time <= LIMIT + READING_SLACK, outcome


THREADS_OFF_THE_LOCK = {
    "hashing": "def work():\n    while True:\n        hashlib.sha256(DATA)\n",
    "compressing": "def work():\n    while True:\n        zlib.compress(DATA, 9)\n",
    "ending": (  # each thread works 0.1 s and ends: its CPU time must stay counted
        "def burst():\n    end = time.thread_time() + 0.1\n    while time.thread_time() < end:\n"
        "        hashlib.sha256(DATA)\n"
        "def work():\n    while True:\n        thread = threading.Thread(target=burst)\n"
        "        thread.start()\n        thread.join()\n"
    ),
}
"""Threads whose work releases the interpreter lock, so that they use several cores at once (threads running
Python code take turns: their CPU time grows no faster than wall time, and the wall-time limit ends them)."""


@pytest.mark.parametrize("work", sorted(THREADS_OFF_THE_LOCK))
def test_threads_on_several_cores_end_near_the_cpu_limit(each_backend, work):
    """Four threads off the interpreter lock: the run ends once their CPU time is over the limit, read while it
    runs (red before on the pool: its worker read its child's CPU time from /proc, which it has hidden, so the
    run went on to the wall-clock backstop or the kernel's rlimit, its waiting for a CPU credited)."""
    program = (
        "import hashlib, threading, time, zlib\nDATA = bytes(range(256)) * 4096\n"
        + THREADS_OFF_THE_LOCK[work]
        + "for _ in range(4):\n    threading.Thread(target=work, daemon=True).start()\ntime.sleep(30)\nprint('done')\n"
    )
    outcome = each_backend.run_stdio(program, "", LIMITS)
    assert outcome.timed_out and outcome.stdout == b"", outcome
    assert outcome.cpu_time <= LIMIT + READING_SLACK, outcome
    if _ended_by_the_wall_backstop(outcome):
        assert outcome.cpu_time <= LIMIT + 2 * cpu_wait.READ_EVERY_SECONDS, outcome  # a host too loaded for it


@pytest.mark.parametrize("judge_backend", ["pool", "subprocess"])
def test_a_function_call_within_its_cpu_limit_passes_beside_a_tick_skewing_task(judge_backend):
    problem = function_problem(["assert f() == 'done'"], time_limit=LIMIT)
    program = "import time\ndef f():\n    while time.process_time() < 0.75:\n        pass\n    return 'done'\n"
    with Judge(judge_backend, max_workers=1) as judge, tick_skewing_load():
        results = [judge.judge(problem, program).results[0] for _ in range(3)]
    judged = [result for result in results if result.time < cpu_wait.wall_backstop(LIMIT) - 0.05]
    if not judged:
        pytest.skip("the host was too loaded: every call reached the wall-clock backstop")
    assert all(result.verdict is Verdict.ACCEPTED for result in judged), results


TESTS_OF_A_FUNCTION_PROBLEM = ["assert f(1) == 'done'", "assert f(0) == 'done'", "assert f(0) == 'done'"]
THREADS_IN_A_CALL = """\
import threading, time
def spin():
    end = time.thread_time() + 0.75
    while time.thread_time() < end:
        pass
def f(x):
    if x:
        threads = [threading.Thread(target=spin) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return 'done'
"""


@pytest.mark.parametrize("judge_backend", ["pool", "subprocess"])
def test_one_function_test_over_its_cpu_limit_in_threads_is_a_time_out(judge_backend):
    """Two threads using 0.75 s each in one test of three: 1.5 s of CPU under a 1 s limit, in about 0.75 s of wall
    time on two free cores. The session's limit covers all three tests (3 s), so each test's CPU time is checked
    on its own (on a loaded host the wall time decides first: a time-out too)."""
    problem = function_problem(TESTS_OF_A_FUNCTION_PROBLEM, time_limit=LIMIT)
    with Judge(judge_backend, max_workers=1) as judge:
        results = judge.judge(problem, THREADS_IN_A_CALL, "hidden").results
    assert [result.verdict for result in results] == [Verdict.TIME_LIMIT, Verdict.ACCEPTED, Verdict.ACCEPTED], results


@pytest.mark.parametrize("judge_backend", ["pool", "subprocess"])
def test_a_function_tests_cpu_limit_ends_a_call_whatever_its_wall_time(judge_backend):
    """The per-test CPU check alone (the wall-time deadline set far off): a call using 0.6 s of CPU under a CPU
    limit of 0.2 s is ended as a time-out (red before on the pool: it returned)."""
    program = "import time\ndef f():\n    while time.process_time() < 0.6:\n        pass\n    return 'done'\n"
    with WorkerPoolBackend(1) if judge_backend == "pool" else SubprocessBackend() as backend:
        session = backend.open_function_session(program, Limits(30.0, 256 << 20, 1 << 16))
        try:
            assert session.load_error is None
            session.limit_time(30.0)
            since, _, used_then = session._cpu_limit
            session._cpu_limit = (since, 0.2, used_then)
            with pytest.raises(RemoteTimeout):
                session.call("f", [], {})
        finally:
            outcome = session.close()
    assert outcome.cpu_time < 0.6, outcome


def test_a_pool_function_sessions_cpu_time_is_its_childs_only():
    """What a pool session's per-test check reads: its child's CPU time, not the worker's earlier runs'."""
    program = "import time\ndef f(x):\n    while time.process_time() < x:\n        pass\n    return time.process_time()"
    with WorkerPoolBackend(1) as backend:
        for _ in range(2):
            session = backend.open_function_session(program, Limits(10.0, 256 << 20, 1 << 16))
            used = session.call("f", [0.3], {})
            read = session._run.read_tree_cpu()
            session.close()
            assert used - 2 / cpu_wait.CLOCK_TICKS <= read <= used + 0.05, (used, read)


SPIN_A_THREAD = (
    "import threading, time\n"
    "def spin(seconds):\n    end = time.thread_time() + seconds\n    while time.thread_time() < end:\n        pass\n"
)
WORK_IN_THREADS = {
    "threads that ended before the wait": "def f():\n"
    "    threads = [threading.Thread(target=spin, args=(0.2,)) for _ in range(3)]\n"
    "    for thread in threads:\n        thread.start()\n    for thread in threads:\n        thread.join()\n"
    "    time.sleep(5)\n    return 'done'\n",
    "many short threads one after another": "def f():\n    for _ in range(60):\n"
    "        thread = threading.Thread(target=spin, args=(0.01,))\n        thread.start()\n        thread.join()\n"
    "    time.sleep(5)\n    return 'done'\n",
    "a thread left spinning": "def f():\n"
    "    threading.Thread(target=spin, args=(5,), daemon=True).start()\n    time.sleep(5)\n    return 'done'\n",
}


@pytest.mark.parametrize("work", WORK_IN_THREADS.values(), ids=WORK_IN_THREADS)
def test_a_pool_sessions_child_read_alone_counts_every_thread(work):
    """Once a pool session reads its child alone (`_PoolRun.read_tree_cpu`), that reading still counts the CPU time of
    every thread, ended ones included: a call using 0.6 s of CPU in threads (the main one idle) under a test's CPU
    limit of 0.2 s is a time-out, the wall-time deadline set far off."""
    with WorkerPoolBackend(1) as backend:
        session = backend.open_function_session(SPIN_A_THREAD + work, Limits(30.0, 256 << 20, 1 << 16))
        try:
            assert session.load_error is None
            session.limit_time(30.0)
            assert session._run._session_child is not None  # the reading below is of the child alone
            since, _, used_then = session._cpu_limit
            session._cpu_limit = (since, 0.2, used_then)
            with pytest.raises(RemoteTimeout):
                session.call("f", [], {})
        finally:
            session.close()


def test_the_rule():
    assert cpu_wait.cpu_rlimit_seconds(1.0) >= 2 * 1.0 and cpu_wait.cpu_rlimit_seconds(0.1) >= 1
    assert cpu_wait.cpu_rlimit_seconds(10.0) >= 1.5 * 10.0
    assert not cpu_wait.timed_out(False, None, LIMIT, LIMIT)
    assert cpu_wait.timed_out(False, None, LIMIT + 0.001, LIMIT)
    assert cpu_wait.timed_out(False, signal.SIGXCPU, 0.5, LIMIT)  # the backstop's signal
    assert cpu_wait.timed_out(True, None, 0.0, LIMIT)


def test_a_reading_over_the_cpu_limit_ends_the_wait():
    used = [0.5]
    limit = cpu_wait.TimeLimit(os.getpid(), time.monotonic() - 0.5, 10.0, lambda: used[0], 1.0)
    assert limit.remaining() > 0 and not limit.cpu_over
    used[0] = 1.01
    limit.waiting.last -= cpu_wait.READ_EVERY_SECONDS  # the next look is a reading
    assert limit.remaining() == 0.0 and limit.cpu_over


def test_another_processs_cpu_time_is_read_with_its_ended_threads():
    """What the pool's worker reads of its child: every thread's time, ended ones included, within two ticks."""
    program = (
        "import threading, time\n"
        "def spin():\n"
        "    end = time.thread_time() + 0.15\n"
        "    while time.thread_time() < end:\n"
        "        pass\n"
        "thread = threading.Thread(target=spin)\nthread.start()\nthread.join()\n"
        "print(time.process_time(), flush=True)\ninput()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", program], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        used = float(child.stdout.readline())
        read = cpu_wait.process_cpu_seconds(child.pid)
        assert used >= 0.15 and read is not None and used - 2 / cpu_wait.CLOCK_TICKS <= read <= used + 0.05
    finally:
        child.kill()
        child.wait()
    assert cpu_wait.process_cpu_seconds(child.pid) is None
