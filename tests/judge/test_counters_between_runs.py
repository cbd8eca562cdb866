"""Counters a run can move and the next run can read must not carry data from one run to the next (issue 10,
class 4: fresh state per run).

The pool's children live in their worker's pid namespace. Its pid counter was shared by every run: a program
starting N threads moved it by N, and the next program on that worker read N back from its own pid or its
threads' ids (a program judged on hidden tests could so pass their inputs to the next episode's feedback).
Each writer here moves the counter as far as it can in a fraction of a second; each reader prints what it
sees; the reader's output must be the same after any writer as after a reader.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from codefeedback_env.judge import Judge, Limits
from codefeedback_env.judge.pool import WorkerPoolBackend
from codefeedback_env.problems import Problem, TestCase
from tests.judge.function_judges import function_problem

LIMITS = Limits(time=5.0, memory=256 << 20, output=1 << 20)

MOVE_THREADS = (
    "import threading\nfor _ in range(300):\n    t = threading.Thread(target=int)\n    t.start()\n    t.join()\n"
)
WRITERS = {
    "threads_one_by_one": MOVE_THREADS,
    "threads_at_once": (
        "import threading, time\nthreads = [threading.Thread(target=time.sleep, args=(0.01,)) for _ in range(40)]\n"
        "for t in threads:\n    t.start()\nfor t in threads:\n    t.join()\n"
    ),
    "threads_left_running": (  # ended by the worker's clean-up, not joined
        "import threading, time\nfor _ in range(30):\n"
        "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    ),
    "threads_then_crash": MOVE_THREADS + "raise SystemExit(3)\n",
}
READERS = {
    "own_pid": "import os\nprint(os.getpid(), os.getppid())\n",
    "thread_ids": (
        "import threading\nids = []\nfor _ in range(3):\n    t = threading.Thread(target=int)\n    t.start()\n"
        "    t.join()\n    ids.append(t.native_id)\nprint(ids)\n"
    ),
    "proc_listing": (
        "import os\nprint(sorted(os.listdir('/proc/self/task')), open('/proc/self/stat').read().split()[:1])\n"
    ),
}


# Each test runs on each_backend_showing_proc (conftest): the thread programs list /proc/self/task.


def _output(backend, program: str) -> bytes:
    outcome = backend.run_stdio(program, "", LIMITS)
    assert outcome.exit_code == 0 and not outcome.timed_out, outcome
    return outcome.stdout


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_run_cannot_move_a_counter_the_next_run_reads(each_backend_showing_proc, writer):
    # The portable backend runs each program as pid 2 of a namespace of its own, but shows it the host's /proc
    # (it is not a security boundary: README), so only the pool's /proc is read.
    pool = isinstance(each_backend_showing_proc, WorkerPoolBackend)
    readers = READERS.values() if pool else [READERS["own_pid"], READERS["thread_ids"]]
    for reader in readers:
        before = _output(each_backend_showing_proc, reader)
        assert _output(each_backend_showing_proc, reader) == before, "a reader alone changes nothing"
        each_backend_showing_proc.run_stdio(WRITERS[writer], "", LIMITS)
        assert _output(each_backend_showing_proc, reader) == before, f"{writer} moved what the next run sees"


def test_tests_of_one_program_in_a_row_see_the_same_ids():
    """Several tests of one program in a row go through the pool's per-program zygote: each test's child
    must see the same ids whatever the test before it did."""
    problem = Problem(
        id="ids",
        statement="",
        public_tests=tuple(TestCase(f"{i}\n", "x\n") for i in range(6)),
        hidden_tests=(),
        time_limit=5.0,
        memory_limit=256 << 20,
    )
    program = READERS["thread_ids"].replace("print(ids)", "import os\nprint(os.getpid(), ids)") + MOVE_THREADS
    with Judge(WorkerPoolBackend(1), max_workers=2) as judge:
        for _ in range(2):
            outputs = {result.stdout for result in judge.judge(problem, program).results}
            assert len(outputs) == 1, outputs


def test_a_run_alone_and_a_run_through_a_zygote_see_the_same_ids():
    """A test's child has the same pid and thread ids whether the worker forked it (the test came alone) or a
    zygote did (a test of the same program was queued behind it), so the tests of one program print the same
    ids however they were routed. (Its parent's pid still differs: the worker is 1, a zygote 2.)"""
    program = READERS["thread_ids"].replace("print(ids)", "import os\nprint(os.getpid(), ids)")
    with WorkerPoolBackend(1) as pool:
        alone = pool.run_stdio(program, "", LIMITS).stdout
        with ThreadPoolExecutor(2) as executor:  # the second waits in the queue: a zygote forks most of them
            queued = set(executor.map(lambda _: pool.run_stdio(program, "", LIMITS).stdout, range(8)))
        assert queued == {alone}, (alone, queued)


@pytest.mark.parametrize("name", ["pool", "subprocess"])
def test_a_function_session_cannot_move_what_the_next_session_sees(name):
    """A function program's calls get checker values (hidden inputs among them); what it learns must not
    reach the next program through the counter either."""
    reader = (
        "import os, threading\ndef f(x):\n    t = threading.Thread(target=int)\n    t.start()\n    t.join()\n"
        "    return [os.getpid(), t.native_id]\n"
    )
    writer = "def f(x):\n    " + MOVE_THREADS.replace("\n", "\n    ").replace("range(300)", "range(x)") + "return 0\n"
    seen = function_problem(["assert f(0) == [0, 0]"])
    moved = function_problem(["assert f(200) == 1"])
    with Judge(name, max_workers=1, **({"workers": 1} if name == "pool" else {})) as judge:
        before = judge.judge(seen, reader).results[0].stdout
        judge.judge(moved, writer)
        assert judge.judge(seen, reader).results[0].stdout == before
