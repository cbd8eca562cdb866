"""Check a loaded dataset before training or evaluating on it: every problem's reference solutions are
judged on all its tests, and problems the environment cannot use well are flagged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from codefeedback_env.judge import Judge
from codefeedback_env.problems import Problem

__all__ = ["Finding", "validate_problems"]


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one problem."""

    problem_id: str
    severity: str
    """"error" (a reference solution fails: the tests or the limits are wrong) or "warning"."""
    message: str


def _check(problem: Problem, judge: Judge, max_solutions: int) -> list[Finding]:
    found = []
    if not problem.hidden_tests:
        found.append(Finding(problem.id, "warning", "no hidden tests: episodes cannot be scored"))
    if not problem.public_tests:
        found.append(Finding(problem.id, "warning", "no public tests: the model gets no execution feedback"))
    if not problem.solutions:
        found.append(Finding(problem.id, "warning", "no reference solution to check the tests with"))
    for number, solution in enumerate(problem.solutions[:max_solutions]):
        result = judge.judge(problem, solution, "all")
        if result.judge_error:
            found.append(Finding(problem.id, "error", f"solution {number}: the judge failed: {result.judge_error}"))
        elif not result.passed:
            failures = result.failures
            first = failures[0] if failures else None
            where = f"test {first.index} ({first.verdict.value})" if first is not None else "no test passed"
            found.append(
                Finding(
                    problem.id,
                    "error",
                    f"solution {number} fails {len(failures)} of {len(result.results)} tests, first {where}",
                )
            )
    return found


def validate_problems(
    problems: Sequence[Problem],
    judge: Judge,
    *,
    max_solutions: int = 1,
    workers: int = 2,
    on_problem: Callable[[Problem, list[Finding]], None] | None = None,
) -> list[Finding]:
    """Judge up to `max_solutions` reference solutions of every problem on all its tests (`workers`
    problems at a time) and return what is wrong, in dataset order; `on_problem` sees each problem's findings."""
    findings: list[Finding] = []
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="codefeedback-validate") as threads:
        for problem, found in zip(
            problems, threads.map(lambda p: _check(p, judge, max_solutions), problems), strict=True
        ):
            findings.extend(found)
            if on_problem is not None:
                on_problem(problem, found)
    return findings
