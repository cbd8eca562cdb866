"""A function whose values are integers too long to print crosses the sandbox as python3 would see them.

Python refuses to convert an int of more than 4,300 decimal digits to text (`sys.get_int_max_str_digits()`),
and decimal conversion is quadratic, so such ints used to be refused (a runtime error) where a plain
interpreter compares them: `assert f(n) == 10 ** 6000` passes under `python3`. They now cross in base 16
(linear both ways, bounded by the reply's size cap), on both backends, as arguments and as returns.
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Verdict
from codefeedback_env.judge.subprocess_backend import MAX_REPLY_BYTES
from tests.judge.function_judges import assert_still_serving, function_problem
from tests.judge.test_function_replies import PROBLEM, TIME_LIMIT, crafted
from tests.judge.test_iterable_replies import python3_passes

BIG = "10 ** 6000"
CASES = {
    # name: (program, test); the verdict is what python3 gives the test after the program
    "returned": ("def f():\n    return 10 ** 6000\n", f"assert f() == {BIG}\n"),
    "returned_wrong": ("def f():\n    return 10 ** 6000 + 1\n", f"assert f() == {BIG}\n"),
    "negative": ("def f():\n    return -(3 ** 20000)\n", "assert f() == -(3 ** 20000)\n"),
    "argument_and_return": ("def f(n):\n    return 2 * n\n", f"assert f({BIG}) == 2 * {BIG}\n"),
    "argument_length": ("def f(n):\n    return n.bit_length()\n", "assert f(1 << 100_000) == 100_001\n"),
    "nested": (
        "def f():\n    return [{'k': (7 ** 9000, {11 ** 5000})}, -(2 ** 70000)]\n",
        "assert f() == [{'k': (7 ** 9000, {11 ** 5000})}, -(2 ** 70000)]\n",
    ),
    "huge": ("def f():\n    return 1 << 2_000_000\n", "assert f() == 1 << 2_000_000\n"),
    "just_under_the_print_bound": ("def f():\n    return 10 ** 4299\n", "assert f() == 10 ** 4299\n"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_long_integers_get_the_verdict_python3_gives(judge_and_processes, name):
    judge, processes = judge_and_processes
    program, test = CASES[name]
    expected = Verdict.ACCEPTED if python3_passes(program, test) else Verdict.WRONG_ANSWER
    (result,) = judge.judge(function_problem([test], time_limit=5.0), program, "hidden").results
    assert result.verdict is expected, result
    assert_still_serving(judge, processes)


CRAFTED = {
    # a reply written straight into the pipe, bypassing the child's encoder: (its plain-data JSON, verdict, detail)
    "maximal_base16_int": (f"'{{\"i\":\"' + 'f' * {MAX_REPLY_BYTES - 64} + '\"}}'", Verdict.WRONG_ANSWER, ""),
    "malformed_base16_int": ('\'{"i":"12z"}\'', Verdict.RUNTIME_ERROR, "refused"),
    "base16_int_not_a_string": ("'{\"i\":[1]}'", Verdict.RUNTIME_ERROR, "refused"),
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_a_crafted_base16_int_costs_linear_time(judge_and_processes, name):
    # The largest reply the caps allow is one base-16 int (16 MB, 64M bits): decoded in linear time, well within
    # the test's limit; a malformed one is refused.
    judge, processes = judge_and_processes
    value, verdict, detail = CRAFTED[name]
    first, second = judge.judge(PROBLEM, crafted(value), "hidden").results
    assert first.verdict is verdict, first
    assert detail in first.detail, first.detail
    assert first.time < TIME_LIMIT
    # After a refusal the next test gets a new session; a value taken stays in a session whose f(0) never returned.
    assert second.verdict is (Verdict.ACCEPTED if verdict is Verdict.RUNTIME_ERROR else Verdict.TIME_LIMIT)
    assert_still_serving(judge, processes)
