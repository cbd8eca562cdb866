"""A run's CPU time must not reach the next run through the scheduler's own state (issue 10, class 4).

The kernel shows each thread its place in the fair scheduler (`/proc/self/sched`: `se.vruntime`, in ms of CPU),
and a new thread starts at the virtual time of the scheduler group it joins, on its CPU. The pool's children
used to share their worker's session, so its scheduler group (an autogroup per session): that virtual time was
the sum of the CPU every earlier run on the worker had used there. A program spinning until its own
`se.vruntime` reached a value of its choosing (modulo 64 ms, say) left that value to the next program, which
read it back at its start: three bits per run in a measurement (8 bins of 8 ms: every reading on the same CPU
decoded, and a reader can start threads to see the other CPU), from a hidden input to the next test's feedback.
Each child now starts a session of its own (`setsid`), so a group of its own, whose virtual time starts at zero:
what a run reads there is its own CPU time. The portable backend's runs each start a session already.

Each reader reports, over the threads it looks at, the most any thread's virtual time exceeds that thread's own
CPU time (ms). After a run that spun on both CPUs, that was the writer's CPU time (hundreds of ms); now it is
bounded by what the reader's own process used (its start, under 100 ms of CPU even on a loaded host).
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Limits

LIMITS = Limits(time=6.0, memory=256 << 20, output=1 << 20)
SPIN_MS = 600
"""CPU time each of a writer's threads uses: far above what a reader's start costs (`BOUND_MS`)."""
BOUND_MS = 200.0
"""The most a reader's threads may be ahead of their own CPU time: the reader's process (and, on the portable
backend, its bootstrap's start in the same session) used at most this much CPU before it read."""

_MEASURE = r"""
import os, re, threading
def ahead(path):
    text = open(path).read()
    field = lambda name: float(re.search(name + r'\s*:\s*(\S+)', text).group(1))
    return field('se.vruntime') - field('se.sum_exec_runtime')
"""
READERS = {
    "main_thread": _MEASURE + "print(ahead('/proc/self/sched'))\n",
    "thread_self": _MEASURE + "print(ahead('/proc/thread-self/sched'))\n",
    "new_threads": _MEASURE + "seen = []\n"
    "def look():\n    seen.append(ahead('/proc/thread-self/sched'))\n"
    "for _ in range(4):\n    thread = threading.Thread(target=look)\n    thread.start()\n    thread.join()\n"
    "print(max(seen))\n",
    "every_task": _MEASURE + "stop = threading.Event()\n"
    "threads = [threading.Thread(target=stop.wait) for _ in range(3)]\n"
    "for thread in threads:\n    thread.start()\n"
    "print(max(ahead(f'/proc/self/task/{tid}/sched') for tid in os.listdir('/proc/self/task')))\n"
    "stop.set()\n",
}
WRITERS = {
    "main_thread": (
        "import time\nstart = time.thread_time()\nwhile time.thread_time() - start < {seconds}:\n    pass\n"
    ),
    "one_thread_per_cpu": (
        "import threading, time\n"
        "def spin():\n    start = time.thread_time()\n    while time.thread_time() - start < {seconds}:\n        pass\n"
        "threads = [threading.Thread(target=spin) for _ in range(2)]\n"
        "for thread in threads:\n    thread.start()\nfor thread in threads:\n    thread.join()\n"
    ),
}


# Each test runs on each_backend_showing_proc (conftest): the readers read /proc/self/sched.


def _ahead(backend, program: str) -> float:
    outcome = backend.run_stdio(program, "", LIMITS)
    assert outcome.exit_code == 0, outcome.stderr.decode(errors="replace")
    return float(outcome.stdout)


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_run_cannot_read_the_cpu_time_earlier_runs_used(each_backend_showing_proc, writer, reader):
    """After a run that spun on the CPUs, the next run's threads start where its own process left them."""
    spun = each_backend_showing_proc.run_stdio(WRITERS[writer].format(seconds=SPIN_MS / 1000), "", LIMITS)
    assert spun.exit_code == 0, spun.stderr.decode(errors="replace")
    assert _ahead(each_backend_showing_proc, READERS[reader]) < BOUND_MS


PROGRAM_OF_BOTH = (
    _MEASURE + "if input() == 'spin':\n"
    "    import time\n    start = time.thread_time()\n    while time.thread_time() - start < {seconds}:\n"
    "        pass\n"
    "print(ahead('/proc/self/sched'))\n"
)


def test_a_test_cannot_read_the_cpu_time_the_previous_test_of_its_program_used(each_backend_showing_proc):
    """Tests of one program queued in a row (the pool's zygote makes their children): the same holds."""
    from concurrent.futures import ThreadPoolExecutor

    program = PROGRAM_OF_BOTH.format(seconds=SPIN_MS / 1000)
    inputs = ["spin", "read", "spin", "read", "spin", "read"]
    with ThreadPoolExecutor(2) as callers:
        outcomes = list(callers.map(lambda stdin: each_backend_showing_proc.run_stdio(program, stdin, LIMITS), inputs))
    for stdin, outcome in zip(inputs, outcomes, strict=True):
        assert outcome.exit_code == 0, outcome.stderr.decode(errors="replace")
        if stdin == "read":
            assert float(outcome.stdout) < BOUND_MS
