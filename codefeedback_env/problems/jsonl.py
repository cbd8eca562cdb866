"""The project's own JSONL format: one problem per line (documented in the README)."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from codefeedback_env.problems.errors import DatasetError
from codefeedback_env.problems.files import iter_rows
from codefeedback_env.problems.function_tests import function_code_error
from codefeedback_env.problems.records import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_TIME_LIMIT,
    Problem,
    ProblemKind,
    TestCase,
    float_tolerance_error,
    memory_limit_error,
    time_limit_error,
)

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("id", "statement", "public_tests", "hidden_tests")
OPTIONAL_FIELDS = (
    "kind", "solutions", "time_limit", "memory_limit", "float_tolerance", "difficulty",
    "entry_point", "test_setup", "code_prefix", "source", "incorrect_solutions", "generated_tests",
)  # fmt: skip
TEST_FIELDS = ("input", "output")


def _check_fields(keys: Iterable[str], known: Collection[str], source: str, row: int, where: str | None) -> None:
    """A field close to a known one is a misspelling (an error, with "did you mean"); others are warned about."""
    unknown = sorted(set(keys) - set(known))
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        if close:
            field = key if where is None else f"{where}.{key}"
            raise DatasetError(source, row, field, f"unknown field; did you mean {close[0]!r}?")
    if unknown:
        logger.warning(
            "%s, row %d%s: ignoring unknown field(s) %s (known: %s)",
            source, row, "" if where is None else f", {where}", ", ".join(map(repr, unknown)), ", ".join(known),
        )  # fmt: skip


def _tests(value: Any, source: str, row: int, field: str, kind: ProblemKind) -> tuple[TestCase, ...]:
    if not isinstance(value, list):
        raise DatasetError(source, row, field, f"expected a list of tests, got {type(value).__name__}")
    tests = []
    for position, item in enumerate(value):
        where = f"{field}[{position}]"
        if not isinstance(item, dict):
            raise DatasetError(source, row, where, f'expected {{"input": str, "output": str}}, got {item!r:.80}')
        _check_fields(item, TEST_FIELDS, source, row, where)
        if not isinstance(item.get("input"), str):
            raise DatasetError(source, row, f"{where}.input", "missing or not a string")
        if kind is ProblemKind.STDIO and "output" not in item:
            raise DatasetError(source, row, f"{where}.output", "missing: a stdio test needs its expected output")
        output = item.get("output", "")
        if not isinstance(output, str):
            raise DatasetError(source, row, f"{where}.output", "expected a string")
        tests.append(TestCase(item["input"], output))
    return tuple(tests)


def _limit(
    row: dict[str, Any], field: str, default: Any, check: Callable[[Any], str | None], source: str, number: int
) -> Any:
    """The row's value of a limit (`default` when absent or null), checked."""
    value = row.get(field)
    if value is None:
        return default
    error = check(value)
    if error:
        raise DatasetError(source, number, field, error)
    return value


def problem_from_row(row: dict[str, Any], source: str, number: int, id_prefix: str = "") -> Problem:
    """Build a Problem from one row of the project format; raises DatasetError naming the bad field."""
    _check_fields(row, REQUIRED_FIELDS + OPTIONAL_FIELDS, source, number, None)
    for field in REQUIRED_FIELDS:
        if field not in row:
            raise DatasetError(source, number, field, "missing")
    for field in ("id", "statement"):
        if not isinstance(row[field], str) or not row[field].strip():
            raise DatasetError(source, number, field, "expected a non-empty string")
    try:
        kind = ProblemKind(row.get("kind", "stdio"))
    except ValueError:
        raise DatasetError(source, number, "kind", f"expected 'stdio' or 'function', got {row.get('kind')!r}") from None
    solutions, incorrect = (row.get(field, []) for field in ("solutions", "incorrect_solutions"))
    for field, programs in (("solutions", solutions), ("incorrect_solutions", incorrect)):
        if not isinstance(programs, list) or not all(isinstance(program, str) for program in programs):
            raise DatasetError(source, number, field, "expected a list of program strings")
    try:
        problem = Problem(
            id=id_prefix + row["id"],
            statement=row["statement"],
            public_tests=_tests(row["public_tests"], source, number, "public_tests", kind),
            hidden_tests=_tests(row["hidden_tests"], source, number, "hidden_tests", kind),
            generated_tests=_tests(row.get("generated_tests", []), source, number, "generated_tests", kind),
            kind=kind,
            time_limit=float(_limit(row, "time_limit", DEFAULT_TIME_LIMIT, time_limit_error, source, number)),
            memory_limit=int(_limit(row, "memory_limit", DEFAULT_MEMORY_LIMIT, memory_limit_error, source, number)),
            float_tolerance=_limit(row, "float_tolerance", None, float_tolerance_error, source, number),
            solutions=tuple(solutions),
            incorrect_solutions=tuple(incorrect),
            entry_point=row.get("entry_point"),
            test_setup=row.get("test_setup", ""),
            code_prefix=row.get("code_prefix", ""),
            source=row.get("source", source),
            difficulty=str(row.get("difficulty", "")),
        )
    except DatasetError:
        raise
    except (TypeError, ValueError) as error:
        raise DatasetError(source, number, None, str(error)) from None
    if problem.kind is ProblemKind.FUNCTION:
        _check_function_code(problem, source, number)
    return problem


def _check_function_code(problem: Problem, source: str, number: int) -> None:
    """A function row's set-up, prefix and tests must be valid Python, and each test must call the program."""
    assert problem.entry_point is not None  # Problem checks it for function problems
    tests = [
        (f"{field}[{position}].input", test)
        for field in ("public_tests", "hidden_tests", "generated_tests")
        for position, test in enumerate(getattr(problem, field))
    ]
    found = function_code_error(problem.test_setup, problem.code_prefix, tests, problem.entry_point)
    if found is not None:
        raise DatasetError(source, number, *found)


EMPTY_OUTPUTS = "hidden tests that all expect empty output (a program printing nothing would pass them)"


def keep_judgeable(
    problems: Iterable[tuple[int, Problem]], source: str, *, drop_without_public: bool = False
) -> list[Problem]:
    """Drop problems that cannot be posed or judged (no statement, no hidden tests, a stdio problem whose hidden tests,
    which every choice of final tests judges, all expect empty output: a program printing nothing would pass them),
    warning with counts.

    Problems without public tests are dropped when `drop_without_public` (the paper drops them from its
    training set: there is no feedback to learn from), else kept with a warning: an episode on one ends at
    turn 1. Duplicate ids are an error: results are keyed by problem id.
    """
    kept: dict[str, Problem] = {}
    skipped: dict[str, list[int]] = {"no hidden tests": [], "an empty statement": [], EMPTY_OUTPUTS: []}
    no_public: list[int] = []
    for number, problem in problems:
        if not problem.hidden_tests:
            skipped["no hidden tests"].append(number)
        elif not problem.statement.strip():
            skipped["an empty statement"].append(number)
        elif problem.kind is ProblemKind.STDIO and not any(case.output.strip() for case in problem.hidden_tests):
            skipped[EMPTY_OUTPUTS].append(number)
        elif problem.id in kept:
            raise DatasetError(source, number, "id", f"duplicate problem id {problem.id!r}")
        elif not problem.public_tests and drop_without_public:
            no_public.append(number)
        else:
            kept[problem.id] = problem
            if not problem.public_tests:
                no_public.append(number)
    for reason, rows in skipped.items():
        if rows:
            logger.warning("%s: skipped %d problem(s) with %s (rows %s)", source, len(rows), reason, _rows(rows))
    if no_public and drop_without_public:
        logger.warning(
            "%s: dropped %d problem(s) without public tests (rows %s), as the paper does for training: there is "
            "no feedback to learn from (keep them: drop_without_public=False; codefeedback: --without-public keep)",
            source, len(no_public), _rows(no_public),
        )  # fmt: skip
    elif no_public:
        logger.warning(
            "%s: %d problem(s) have no public tests (rows %s): their episodes end at turn 1, with no feedback "
            "(the paper drops them from training: drop_without_public=True; codefeedback: --without-public drop)",
            source, len(no_public), _rows(no_public),
        )  # fmt: skip
    return list(kept.values())


def _rows(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:10])) + (" ..." if len(numbers) > 10 else "")


def load_jsonl(path: str | Path, id_prefix: str = "") -> list[Problem]:
    """Load problems in the project's JSONL format."""
    source = str(path)
    problems = ((number, problem_from_row(row, source, number, id_prefix)) for number, row in iter_rows(path))
    return keep_judgeable(problems, source)
