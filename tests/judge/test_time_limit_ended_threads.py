"""The time limit does not charge a program the CPU waiting of its threads that already ended (issue 10, class 8).

A run's waiting was its most-waiting *live* thread's: work done in threads one after another (each phase in a
thread of its own, joined before the next starts) kept only one phase's waiting, so on a busy core a program
was charged the others' and got `time_limit` where the same work in one thread passed. Each program here does
0.4 s of CPU in four threads in turn; three run at once on one core under a 0.8 s limit (each then waits about
0.8 s for the CPU in all). Threads waiting at the same time still count once: spinning threads time out.
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Judge, Limits, Verdict, cpu_wait
from codefeedback_env.judge.pool import WorkerPoolBackend
from codefeedback_env.judge.subprocess_backend import SubprocessBackend
from tests.judge.function_judges import function_problem
from tests.judge.processes import pinned_to_one_cpu
from tests.judge.test_pool_backend import _run_concurrently

LIMITS = Limits(0.8, 512 << 20, 1 << 20)
PHASES = (
    "import threading, time\n"
    "def burn():\n    t = time.process_time()\n    while time.process_time() - t < 0.1:\n        pass\n"
    "def phases():\n"
    "    for _ in range(4):\n"
    "        worker = threading.Thread(target=burn)\n        worker.start()\n        worker.join()\n"
)
STDIO = PHASES + "phases()\nprint('done')\n"
FUNCTION = PHASES + "def f(x):\n    phases()\n    return x\n"
SPINNERS = (
    "import threading\ndef spin():\n    while True:\n        pass\n"
    "for _ in range(8):\n    threading.Thread(target=spin, daemon=True).start()\nspin()\n"
)
BACKENDS = {"pool": lambda: WorkerPoolBackend(3), "subprocess": SubprocessBackend}


@pytest.mark.parametrize("backend_name", sorted(BACKENDS))
def test_threads_that_ended_keep_their_waiting(backend_name):
    with pinned_to_one_cpu(), BACKENDS[backend_name]() as backend:
        results = _run_concurrently(lambda k: backend.run_stdio(STDIO, "", LIMITS), 3)
        backstop = cpu_wait.wall_backstop(LIMITS.time)
        assert [r for r in results if r.timed_out and r.wall_time < backstop] == [], results
        finished = [r for r in results if not r.timed_out]
        assert all(r.stdout == b"done\n" for r in finished), finished
        assert any(r.wall_time > LIMITS.time for r in finished) or len(finished) < 3, "the core was not shared"
        # Threads runnable at the same time are not credited once each: busy threads still reach the limit.
        for outcome in _run_concurrently(lambda k: backend.run_stdio(SPINNERS, "", LIMITS), 2):
            assert outcome.timed_out and outcome.wall_time < backstop + 1.0, outcome


@pytest.mark.parametrize("backend", ["pool", "subprocess"])
def test_a_call_whose_threads_ended_keeps_their_waiting(backend):
    options = {"workers": 3} if backend == "pool" else {}
    problem = function_problem(["assert f(1) == 1"], time_limit=LIMITS.time)
    with pinned_to_one_cpu(), Judge(backend, max_workers=3, **options) as judge:
        results = _run_concurrently(lambda k: judge.judge(problem, FUNCTION, "hidden").results[0], 3)
    # Only the wall-clock backstop may end them: on a host loaded beyond this core, sharing can outlast it.
    backstop = cpu_wait.wall_backstop(LIMITS.time)
    assert [r for r in results if r.verdict is not Verdict.ACCEPTED and r.time < backstop - 0.05] == [], results
    assert all(r.verdict in (Verdict.ACCEPTED, Verdict.TIME_LIMIT) for r in results), results
