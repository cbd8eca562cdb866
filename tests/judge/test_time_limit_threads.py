"""Work done in a thread gets the time limit's allowance for waiting for a CPU, as work in the main thread does
(issue 10, class 8: a legitimate program gets `python3`'s verdict, on a loaded host too).

Contest code often runs everything in a thread (`threading.stack_size(...)` for deep recursion) while the main
thread waits in `join`. The limit subtracted the main thread's waiting only, so on a busy core such a program
was charged its worker thread's waiting and got `time_limit` where the same work in the main thread was
accepted (0.6 s of CPU under a 1 s limit, sharing a core three ways: `time_limit` at 1.0 s in 2 of 2 runs on
each backend before the fix). Each program here burns 0.4 s of CPU in a thread; three run at once on one
core under a 0.8 s limit. Only the wall-clock backstop may end them (on a host loaded beyond this core).
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Limits, cpu_wait
from codefeedback_env.judge.pool import WorkerPoolBackend
from codefeedback_env.judge.subprocess_backend import SubprocessBackend
from tests.judge.processes import pinned_to_one_cpu
from tests.judge.test_pool_backend import _run_concurrently

LIMITS = Limits(0.8, 512 << 20, 1 << 20)
BURN = "import time\ndef burn():\n    t = time.process_time()\n    while time.process_time() - t < 0.4:\n        pass\n"
PROGRAMS = {
    "thread_joined": BURN + "import threading\nt = threading.Thread(target=burn)\nt.start()\nt.join()\nprint('done')\n",
    "big_stack_thread": (
        BURN + "import sys, threading\nsys.setrecursionlimit(10**6)\nthreading.stack_size(2**26)\n"
        "def main():\n    burn()\n    print('done')\nthreading.Thread(target=main).start()\n"
    ),
    "executor_result": (
        BURN + "from concurrent.futures import ThreadPoolExecutor\n"
        "with ThreadPoolExecutor(1) as pool:\n    pool.submit(burn).result()\nprint('done')\n"
    ),
    "main_waits_on_event": (
        BURN + "import threading\ndone = threading.Event()\n"
        "threading.Thread(target=lambda: (burn(), done.set())).start()\ndone.wait()\nprint('done')\n"
    ),
}
BACKENDS = {"pool": lambda: WorkerPoolBackend(3), "subprocess": SubprocessBackend}


@pytest.mark.parametrize("backend_name", sorted(BACKENDS))
def test_a_thread_waiting_for_a_cpu_is_not_charged(backend_name):
    with pinned_to_one_cpu(), BACKENDS[backend_name]() as backend:
        for name, program in PROGRAMS.items():
            results = _run_concurrently(lambda k, program=program: backend.run_stdio(program, "", LIMITS), 3)
            # Only the wall-clock backstop may end them: on a host loaded beyond this core, sharing can outlast it.
            backstop = cpu_wait.wall_backstop(LIMITS.time)
            assert [r for r in results if r.timed_out and r.wall_time < backstop] == [], name
            finished = [r for r in results if not r.timed_out]
            assert all(r.stdout == b"done\n" for r in finished), (name, finished)
            shared = any(r.wall_time > LIMITS.time for r in finished)
            assert shared or len(finished) < 3, f"{name}: the programs did not share the core"
        # Sleeping in a thread still counts.
        sleeper = "import threading, time\nthreading.Thread(target=time.sleep, args=(30,)).start()\n"
        outcome = backend.run_stdio(sleeper, "", LIMITS)
        assert outcome.timed_out and outcome.wall_time < 2 * LIMITS.time
