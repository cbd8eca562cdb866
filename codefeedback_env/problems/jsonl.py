"""The project's own JSONL format: one problem per line (documented in the README)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codefeedback_env.problems.errors import DatasetError
from codefeedback_env.problems.files import iter_rows
from codefeedback_env.problems.records import DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT, Problem, ProblemKind, TestCase

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("id", "statement", "public_tests", "hidden_tests")


def _tests(value: Any, source: str, row: int, field: str) -> tuple[TestCase, ...]:
    if not isinstance(value, list):
        raise DatasetError(source, row, field, f"expected a list of tests, got {type(value).__name__}")
    tests = []
    for position, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("input"), str):
            raise DatasetError(source, row, f"{field}[{position}]", 'expected {"input": str, "output": str}')
        output = item.get("output", "")
        if not isinstance(output, str):
            raise DatasetError(source, row, f"{field}[{position}].output", "expected a string")
        tests.append(TestCase(item["input"], output))
    return tuple(tests)


def problem_from_row(row: dict[str, Any], source: str, number: int, id_prefix: str = "") -> Problem:
    """Build a Problem from one row of the project format; raises DatasetError naming the bad field."""
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
    solutions = row.get("solutions", [])
    if not isinstance(solutions, list) or not all(isinstance(s, str) for s in solutions):
        raise DatasetError(source, number, "solutions", "expected a list of program strings")
    try:
        return Problem(
            id=id_prefix + row["id"],
            statement=row["statement"],
            public_tests=_tests(row["public_tests"], source, number, "public_tests"),
            hidden_tests=_tests(row["hidden_tests"], source, number, "hidden_tests"),
            kind=kind,
            time_limit=float(row.get("time_limit") or DEFAULT_TIME_LIMIT),
            memory_limit=int(row.get("memory_limit") or DEFAULT_MEMORY_LIMIT),
            float_tolerance=None if row.get("float_tolerance") is None else float(row["float_tolerance"]),
            solutions=tuple(solutions),
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


def keep_judgeable(problems: Iterable[tuple[int, Problem]], source: str) -> list[Problem]:
    """Drop problems that cannot be posed or judged (no statement, no hidden tests), warning with counts.

    Duplicate ids are an error: episodes and results are keyed by problem id.
    """
    kept: dict[str, Problem] = {}
    skipped: dict[str, list[int]] = {"no hidden tests": [], "an empty statement": []}
    for number, problem in problems:
        if not problem.hidden_tests:
            skipped["no hidden tests"].append(number)
        elif not problem.statement.strip():
            skipped["an empty statement"].append(number)
        elif problem.id in kept:
            raise DatasetError(source, number, "id", f"duplicate problem id {problem.id!r}")
        else:
            kept[problem.id] = problem
    for reason, rows in skipped.items():
        if rows:
            listed = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
            logger.warning("%s: skipped %d problem(s) with %s (rows %s)", source, len(rows), reason, listed)
    return list(kept.values())


def load_jsonl(path: str | Path, id_prefix: str = "") -> list[Problem]:
    """Load problems in the project's JSONL format."""
    source = str(path)
    problems = ((number, problem_from_row(row, source, number, id_prefix)) for number, row in iter_rows(path))
    return keep_judgeable(problems, source)
