"""Issue classes 1 and 6: checker code's work on returned values costs the judge's process nothing unbounded.

Trusted checker code runs in a checker process of its own (`checker_process`). A check that does C-level work
on a value the program returned (`'x' * f()`, `math.prod(f())`, `sorted` of a big list, `3 ** f()`) is one C
call no in-process deadline can interrupt: in the judge's own process it would hold the GIL (every judge thread)
for minutes, or grow the judge by gigabytes. Each check here is the first test of a problem whose second test is
ordinary: the first must fail (time or memory limit) within its deadline while the judge's other threads keep
running and its memory stays put, the second must pass, and the judge must keep serving with nothing left
running but its checker processes.
"""

from __future__ import annotations

import os
import resource
import threading
import time

import pytest

from codefeedback_env.judge import Judge, Verdict
from codefeedback_env.judge.backend import Limits
from codefeedback_env.judge.checker_process import CHECKER_GRACE_SECONDS, KILL_AFTER_SECONDS, CheckerProcess
from codefeedback_env.judge.subprocess_backend import SubprocessBackend
from tests.judge.function_judges import ECHO, ECHO_CODE, assert_still_serving, function_problem
from tests.judge.processes import descendants, wait_until

TIME_LIMIT = 2.0
PROGRAM = """
def f(x):
    if x == 0:
        return 2 * 10**9
    if x == 1:
        return [99991] * 300_000
    if x == 2:
        return [[i * 7919 % 10_007, i] for i in range(10_000)]
    if x == 3:
        return 300
    if x == 4:
        return 10**8
    if x == 5:
        return 2 * 10**8
    return 1
"""
# In the judge's own process (before the checker process), each of these held the GIL or grew the judge:
# 'x' * 2e9 and [0] * 2e8 grow it by 2 GB / 1.6 GB; math.prod of 300k ints, sorting 30M pairs and 3 ** 1e8 hold
# every judge thread for 25 s to minutes.
C_LEVEL_CHECKS = {
    "repeat_string": ("assert len('x' * f(0)) == 1\n", Verdict.MEMORY_LIMIT),
    "repeat_list": ("assert len([0] * f(5)) == 1\n", Verdict.MEMORY_LIMIT),
    "product": ("import math\nassert math.prod(f(1)) == 1\n", Verdict.TIME_LIMIT),
    # 30M references to 10k pairs: about 13 s of CPU to sort (30M ints took 4-5 s, which a fast quiet host
    # finished inside the checker's time); the program's own reply stays small, so its calls stay far within
    # the time limit on the portable backend too
    "sort_big_list": ("assert sorted(f(2) * (f(3) * 10))[0] == [0, 0]\n", Verdict.TIME_LIMIT),
    "power": ("assert 3 ** f(4) % 7 == 1\n", Verdict.TIME_LIMIT),
}
MAX_JUDGE_GROWTH_KB = 512 << 10
"""How much the judge's peak resident memory may grow while judging one such program (kilobytes)."""
MAX_TICK_GAP_SECONDS = 2.0
"""The longest a thread of the judge's process may go without running while checker code works."""


class Ticker:
    """A thread of the judge's process that notes the longest gap between its runs (the GIL held elsewhere)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.01):
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            last = now

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("name", sorted(C_LEVEL_CHECKS))
def test_c_level_checker_work_on_a_returned_value_is_bounded(judge_and_processes, name):
    judge, processes = judge_and_processes
    check, verdict = C_LEVEL_CHECKS[name]
    problem = function_problem([check, "assert f(9) == 1\n"], time_limit=TIME_LIMIT)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with Ticker() as ticker:
        first, second = judge.judge(problem, PROGRAM, "hidden").results
    seconds = time.monotonic() - started
    assert first.verdict is verdict and "checker" in first.detail, first
    assert second.verdict is Verdict.ACCEPTED, second
    assert ticker.longest < MAX_TICK_GAP_SECONDS, f"a judge thread was held {ticker.longest:.1f} s"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < MAX_JUDGE_GROWTH_KB
    # the test's deadline, the checker's grace, the kill, and a new checker process on a loaded machine
    assert seconds < 2 * TIME_LIMIT + CHECKER_GRACE_SECONDS + KILL_AFTER_SECONDS + 30, seconds
    assert_still_serving(judge, processes)


@pytest.mark.parametrize(
    "check",
    [
        "x = 0\nwhile True:\n    x += 1\n",  # interrupted inside the checker process
        "assert sum(range(10**12)) == 0\n",  # one C call: the checker process is killed
    ],
)
def test_a_checker_that_overruns_before_the_program_answers_is_a_judge_error(judge_and_processes, check):
    judge, processes = judge_and_processes
    problem = function_problem([check + "assert f(9) == 1\n", "assert f(9) == 1\n"], time_limit=TIME_LIMIT)
    first, second = judge.judge(problem, PROGRAM, "hidden").results
    assert first.verdict is Verdict.JUDGE_ERROR and "checker is at fault" in first.detail, first
    assert second.verdict is Verdict.ACCEPTED, second
    assert_still_serving(judge, processes)


def test_a_checker_process_that_dies_on_a_returned_value_is_the_programs_runtime_error(judge_and_processes):
    judge, processes = judge_and_processes
    crash = "import os, signal\nif f(9) == 1:\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    problem = function_problem([crash, "assert f(9) == 1\n"], time_limit=TIME_LIMIT)
    first, second = judge.judge(problem, PROGRAM, "hidden").results
    assert first.verdict is Verdict.RUNTIME_ERROR and "checker process died" in first.detail, first
    assert second.verdict is Verdict.ACCEPTED, second
    assert_still_serving(judge, processes)


def test_a_checker_process_that_dies_before_the_program_answers_is_a_judge_error(judge_and_processes):
    judge, processes = judge_and_processes
    crash = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    problem = function_problem([crash, "assert f(9) == 1\n"], time_limit=TIME_LIMIT)
    results = judge.judge(problem, PROGRAM, "hidden").results
    assert [r.verdict for r in results] == [Verdict.JUDGE_ERROR] * 2, results  # retried once, then unjudged
    assert "checker process died" in results[0].detail
    assert_still_serving(judge, processes)


def test_the_checker_runs_in_a_checker_process_not_the_judges(judge_and_processes):
    judge, processes = judge_and_processes
    check = f"import os\nassert os.getpid() != {os.getpid()}\nassert os.getpid() in {judge.checker_pids()!r}\n"
    problem = function_problem([check + "assert f(9) == 1\n"], time_limit=3.0)
    (result,) = judge.judge(problem, PROGRAM, "hidden").results
    assert result.verdict is Verdict.ACCEPTED, result


def test_closing_the_judge_stops_its_checker_processes():
    before = set(descendants())
    judge = Judge("subprocess")
    assert judge.judge(ECHO, ECHO_CODE, "all").passed
    checkers = set(judge.checker_pids())
    assert checkers and checkers <= set(descendants())
    judge.close()
    assert wait_until(lambda: not checkers & set(descendants())), checkers & set(descendants())
    assert wait_until(lambda: set(descendants()) <= before)


class ShortClock:
    """A program's session whose deadline, as the checker process reads it, is `seconds` away: the checker's
    own time runs out while the program still has time to answer."""

    def __init__(self, session: object, seconds: float) -> None:
        self._session = session
        self.deadline = time.monotonic() + seconds
        self.failure = None

    def __getattr__(self, name: str) -> object:
        return getattr(self._session, name)


def test_a_checker_that_carries_on_past_its_deadline_leaves_the_next_test_in_step():
    # Checker code that catches CheckerTimeout (a bare `except`) and calls the program again is interrupted again
    # in that call, after it read the reply's header and before its body: a checker process kept after that would
    # read the rest of the reply as the next test's frame, and wait for bytes that never come (a judge error).
    program = PROGRAM + "\nimport time\n\ndef g(x):\n    time.sleep(0.3)\n    return x\n"
    carry_on = (
        "try:\n    for _ in range(f(0)):\n        pass\nexcept BaseException:\n    pass\n"
        "try:\n    g(1)\nexcept BaseException:\n    pass\n"
    )
    problem = function_problem([carry_on, "assert f(9) == 1\n"], time_limit=TIME_LIMIT)
    checker = CheckerProcess()
    backend = SubprocessBackend()
    session = backend.open_function_session(program, Limits(60.0, problem.memory_limit, 1 << 20))
    try:
        first = checker.check(ShortClock(session, 0.0), problem, carry_on)
        second = checker.check(ShortClock(session, 0.0), problem, "assert f(9) == 1\n")
    finally:
        session.close()
        checker.kill()
        backend.close()
    assert first.verdict is Verdict.TIME_LIMIT and "checker" in first.detail, first
    assert second.verdict is Verdict.ACCEPTED, second


def test_a_checker_that_stops_reading_mid_reply_costs_the_judge_its_kill_time():
    # Interrupted after a big reply's header, checker code that swallows every interruption never reads the rest:
    # the judge's send of that reply must end at the checker's kill time, not hold the judge's thread for good.
    program = PROGRAM + "\nimport time\n\ndef g(x):\n    time.sleep(0.3)\n    return 'x' * 4_000_000\n"
    swallow = (
        "try:\n    for _ in range(f(0)):\n        pass\nexcept BaseException:\n    pass\n"
        "try:\n    g(1)\nexcept BaseException:\n    pass\n"
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"
    )
    problem = function_problem([swallow], time_limit=TIME_LIMIT)
    checker = CheckerProcess()
    backend = SubprocessBackend()
    session = backend.open_function_session(program, Limits(60.0, problem.memory_limit, 1 << 20))
    outcomes: list = []
    judging = threading.Thread(
        target=lambda: outcomes.append(checker.check(ShortClock(session, 0.0), problem, swallow))
    )
    judging.start()
    judging.join(CHECKER_GRACE_SECONDS + KILL_AFTER_SECONDS + 30)
    try:
        assert outcomes, "the judge's thread is still sending the reply"
        assert outcomes[0].verdict is Verdict.TIME_LIMIT, outcomes[0]
    finally:
        checker.kill()  # ends a send still blocked, if any
        judging.join(10)
        session.close()
        backend.close()


@pytest.mark.parametrize("module", ["json", "hashlib", "base64", "logging", "dataclasses"])
def test_modules_in_the_judges_working_folder_do_not_reach_the_checker_process(tmp_path, monkeypatch, module):
    # `python -c` puts the working folder first on the import path: a module there named like one the checker
    # process imports (its bootstrap, plaindata, the checker's own modules) would run in the trusted checker, and
    # could pass every test. Here it refuses to load, so a checker process importing it never starts.
    (tmp_path / f"{module}.py").write_text("raise SystemExit('the working folder reached the checker process')\n")
    monkeypatch.chdir(tmp_path)
    with Judge("subprocess") as judge:
        results = judge.judge(ECHO, ECHO_CODE, "all").results
    assert [r.verdict for r in results] == [Verdict.ACCEPTED] * len(results), results
