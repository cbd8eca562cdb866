"""Checks of `Judge.judge`'s arguments, made before anything is started, so bad calls fail clearly and leak nothing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from codefeedback_env.problems.records import Problem, TestCase

SPLITS = ("public", "hidden", "generated", "all")


def checked_tests(problem: Any, code: Any, tests: Any, stop_on_failure: Any) -> tuple[TestCase, ...]:
    """The tests to run, after checking every argument's type; raises TypeError or ValueError naming the fix."""
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a codefeedback_env.problems.Problem, got {type(problem).__name__}")
    if not isinstance(code, str):
        hint = "; decode it first, e.g. code.decode('utf-8')" if isinstance(code, (bytes, bytearray)) else ""
        raise TypeError(f"code must be the program's text (str), got {type(code).__name__}{hint}")
    if not isinstance(stop_on_failure, bool):
        raise TypeError(f"stop_on_failure must be a bool, got {type(stop_on_failure).__name__}")
    if isinstance(tests, str):
        if tests not in SPLITS:
            raise ValueError(f"tests must be one of {SPLITS} or a sequence of TestCase, got {tests!r}")
        return problem.tests(tests)
    if isinstance(tests, (bytes, bytearray, dict)) or not isinstance(tests, Iterable):
        raise TypeError(f"tests must be one of {SPLITS} or a sequence of TestCase, got {type(tests).__name__}")
    cases = tuple(tests)
    for position, case in enumerate(cases):
        if not isinstance(case, TestCase):
            raise TypeError(f"tests[{position}] must be a TestCase, got {type(case).__name__} {case!r:.60}")
    return cases
