"""MBPP+'s comparisons (`_cf_close`, `_cf_same_set`) accept what EvalPlus accepts, and nothing more.

EvalPlus compares a float result that is not exactly equal with `type(out) == type(exp)` and
`np.allclose(out, exp, rtol=1e-07, atol=atol)`, where an infinity is close only to itself. The published
MBPP+ expected outputs hold infinities (Mbpp/137 and Mbpp/300: 37 extra inputs whose reference result
overflows): with `abs(a - b) <= atol + 1e-7 * abs(b)` alone, the tolerance there is infinite and any number
passes. Every wrong answer below must fail, on both backends, and every right one pass.

EvalPlus compares the results of eight tasks whose items come in any order (`MBPP_OUTPUT_SET_EQ_TASKS`:
Mbpp/2's `similar_elements`, Mbpp/769's `Diff`, ...) as sets; their extra tests asked for the canonical
solution's own order (its sets' iteration order), so a correct program listing the items in another order
failed them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from codefeedback_env.judge import Verdict
from codefeedback_env.problems.mbpp import OUTPUT_SET_EQ_TASKS, PLUS_TEST_SETUP, plus_assert
from tests.judge.function_judges import function_problem

INF = math.inf

WRONG = [  # (returned, expected): numbers no tolerance makes close
    (0, INF),
    (0.0, INF),
    (1e308, INF),
    (-INF, INF),
    (5.0, -INF),
    (math.nan, INF),
    ([0.0, 1.0], [INF, 1.0]),
    ((0.0, 1.0), (INF, 1.0)),
    ([[0.0], [1.0]], [[INF], [1.0]]),
    (complex(0, 0), complex(INF, 0)),
    (complex(1, 2), complex(1, -INF)),
    (1, 1.0 + 1e-9),  # close, but an int where a float is expected: EvalPlus checks the type
    ((1.0, 2.0000001), [1.0, 2.0]),
    ([1.0, 2.0000001], (1.0, 2.0)),
]
RIGHT = [
    (INF, INF),
    (-INF, -INF),
    ([INF, 1.0000001], [INF, 1.0]),
    ((1.0, -INF), (1.0, -INF)),
    (math.nan, math.nan),  # the reference's own result (EvalPlus's exact-match step misses it: nan != nan)
    (1.0000001, 1.0),
    ([1.0, 2.0000001], [1.0, 2.0]),
    (complex(1, INF), complex(1, INF)),
    (2, 2.0),  # exactly equal: no type check
]


def evalplus_accepts(out: object, expected: object, atol: float) -> bool:
    """EvalPlus 0.3.1's rule for a result whose expected value is a float or a list of floats (nan equal to nan)."""
    if out == expected:
        return True
    if type(out) is not type(expected):
        return False
    if isinstance(expected, (list, tuple)) and len(out) != len(expected):  # type: ignore[arg-type]
        return False
    try:
        return bool(np.allclose(out, expected, rtol=1e-07, atol=atol, equal_nan=True))
    except (TypeError, ValueError):
        return False


def close_helper():
    namespace: dict = {}
    exec(PLUS_TEST_SETUP, namespace)
    return namespace["_cf_close"]


@pytest.mark.parametrize(
    ("out", "expected", "want"), [(*pair, False) for pair in WRONG] + [(*pair, True) for pair in RIGHT], ids=repr
)
def test_close_helper_agrees_with_evalplus(out, expected, want):
    assert evalplus_accepts(out, expected, 1e-4) is want  # the oracle itself reads the table as meant
    assert close_helper()(out, expected, 1e-4) is want


PROGRAMS = {  # what `f(1000)` returns, for an expected result that overflowed to inf
    "int_zero": ("return 0", False),
    "float_zero": ("return 0.0", False),
    "largest_float": ("return 1.7976931348623157e308", False),
    "minus_inf": ("return float('-inf')", False),
    "huge_int": ("return 2 ** 2000", False),
    "nan": ("return float('nan')", False),
    "right": ("return float('inf')", True),
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_an_infinite_expected_value_accepts_only_itself(judge_and_processes, name):
    judge, _ = judge_and_processes
    body, passes = PROGRAMS[name]
    problem = function_problem(
        ["assert _cf_close(f(3), 8.0, 0.0001)\n", "assert _cf_close(f(1000), inf, 0.0001)\n"], setup=PLUS_TEST_SETUP
    )
    code = f"def f(n):\n    if n < 10:\n        return 2.0 ** n\n    {body}\n"
    result = judge.judge(problem, code, "hidden")
    assert result.results[0].verdict is Verdict.ACCEPTED
    assert result.results[1].verdict is (Verdict.ACCEPTED if passes else Verdict.WRONG_ANSWER)


SAME_SET = [  # (returned, expected, accepted): EvalPlus's `set(out) == set(exp)`
    ((4, 3), (3, 4), True),
    ([3, 4], (3, 4), True),
    ([10, 15, 20, 30], [10, 20, 30, 15], True),
    ((3, 3, 4), (3, 4), True),  # EvalPlus compares sets: repeats do not count
    ((4,), (3, 4), False),
    ((3, 4, 5), (3, 4), False),
    ((), (3,), False),
    ([0.5, 1.0], [1.0, 0.5], True),
    ([0.5, 1.0000001], [0.5, 1.0], True),  # not the same set, but close in order (a float result)
    ([1.0000001, 0.5], [0.5, 1.0], False),
]


@pytest.mark.parametrize(("out", "expected", "accepted"), SAME_SET, ids=repr)
def test_set_tasks_compare_as_evalplus_does(out, expected, accepted):
    namespace: dict = {}
    exec(PLUS_TEST_SETUP, namespace)
    atol = 1e-6 if isinstance(expected[0], float) else 0.0
    evalplus = set(out) == set(expected) or bool(atol) and evalplus_accepts(out, expected, atol)
    assert evalplus is accepted
    assert namespace["_cf_same_set"](out, expected, atol) is accepted


def test_extra_tests_of_set_tasks_ask_for_the_items_in_any_order(judge_and_processes):
    judge, _ = judge_and_processes
    assert "Diff" in OUTPUT_SET_EQ_TASKS and "similar_elements" in OUTPUT_SET_EQ_TASKS
    line = plus_assert("Diff", [[10, 15, 20, 25, 30, 35, 40], [25, 40, 35]], [10, 20, 30, 15], 0.0)
    problem = function_problem([line + "\n"], entry_point="Diff", setup=PLUS_TEST_SETUP)
    programs = {
        "def Diff(a, b):\n    return [x for x in a if x not in b] + [x for x in b if x not in a]\n": True,
        "def Diff(a, b):\n    return sorted(set(a) ^ set(b))\n": True,
        "def Diff(a, b):\n    return list(set(a) - set(b)) + list(set(b) - set(a))\n": True,
        "def Diff(a, b):\n    return [x for x in a if x not in b]\n": True,  # b has nothing a lacks here
        "def Diff(a, b):\n    return [10, 20]\n": False,
        "def Diff(a, b):\n    return None\n": False,
    }
    for program, passes in programs.items():
        assert judge.judge(problem, program, "hidden").passed is passes, program
    assert plus_assert("f", [1], [1, 2], 0.0) == "assert f(1) == [1, 2]"  # other tasks: order still counts
