"""CodeContests in the Hugging Face `deepmind/code_contests` schema, from the hub or local files."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from codefeedback_env.problems.errors import DatasetError
from codefeedback_env.problems.files import iter_rows
from codefeedback_env.problems.jsonl import keep_judgeable
from codefeedback_env.problems.records import DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT, Problem, TestCase

HUB_ID = "deepmind/code_contests"
PYTHON3 = 3
"""`solutions.language` value of Python 3 in the dataset's enum."""
DEFAULT_FLOAT_TOLERANCE = 1e-6
"""CodeContests ships no checkers; real-number answers are compared with this tolerance by default."""


def _tests(row: dict[str, Any], field: str, source: str, number: int) -> tuple[TestCase, ...]:
    value = row.get(field) or {"input": [], "output": []}
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("input"), list)
        or not isinstance(value.get("output"), list)
    ):
        raise DatasetError(source, number, field, 'expected {"input": [str, ...], "output": [str, ...]}')
    if len(value["input"]) != len(value["output"]):
        raise DatasetError(source, number, field, f"{len(value['input'])} inputs but {len(value['output'])} outputs")
    return tuple(TestCase(i, o) for i, o in zip(value["input"], value["output"], strict=True))


def _time_limit(value: Any, source: str, number: int) -> float:
    if not value:
        return DEFAULT_TIME_LIMIT
    if isinstance(value, dict):
        seconds = float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
        return seconds if seconds > 0 else DEFAULT_TIME_LIMIT
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    raise DatasetError(
        source, number, "time_limit", f'expected {{"seconds": int, "nanos": int}} or null, got {value!r}'
    )


def _python3_solutions(row: dict[str, Any], source: str, number: int) -> tuple[str, ...]:
    value = row.get("solutions") or {"language": [], "solution": []}
    if not isinstance(value, dict) or len(value.get("language", [])) != len(value.get("solution", [])):
        raise DatasetError(
            source, number, "solutions", 'expected {"language": [int], "solution": [str]} of equal length'
        )
    return tuple(s for lang, s in zip(value["language"], value["solution"], strict=True) if lang == PYTHON3)


def problem_from_row(
    row: dict[str, Any], source: str, number: int, float_tolerance: float | None = DEFAULT_FLOAT_TOLERANCE
) -> Problem:
    """One CodeContests row as a Problem: hidden tests are the private plus the generated tests."""
    if not isinstance(row.get("name"), str) or not row["name"].strip():
        raise DatasetError(source, number, "name", "missing or not a non-empty string")
    if not isinstance(row.get("description"), str):
        raise DatasetError(source, number, "description", "missing or not a string")
    memory = row.get("memory_limit_bytes") or 0
    if not isinstance(memory, int) or memory < 0:
        raise DatasetError(source, number, "memory_limit_bytes", f"expected a non-negative int, got {memory!r}")
    return Problem(
        id=row["name"],
        statement=row["description"],
        public_tests=_tests(row, "public_tests", source, number),
        hidden_tests=_tests(row, "private_tests", source, number) + _tests(row, "generated_tests", source, number),
        time_limit=_time_limit(row.get("time_limit"), source, number),
        memory_limit=memory or DEFAULT_MEMORY_LIMIT,
        float_tolerance=float_tolerance,
        solutions=_python3_solutions(row, source, number),
        source="codecontests",
        difficulty=str(row.get("difficulty", "")),
    )


def _problems(
    rows: Iterable[tuple[int, dict[str, Any]]], source: str, tolerance: float | None
) -> Iterator[tuple[int, Problem]]:
    for number, row in rows:
        yield number, problem_from_row(row, source, number, tolerance)


def load_codecontests(
    path: str | Path | None = None,
    *,
    split: str = "train",
    float_tolerance: float | None = DEFAULT_FLOAT_TOLERANCE,
) -> list[Problem]:
    """Load CodeContests from a local file/folder in the HF schema, or from the hub when `path` is None."""
    if path is not None:
        return keep_judgeable(_problems(iter_rows(path), str(path), float_tolerance), str(path))
    import datasets

    try:
        rows = datasets.load_dataset(HUB_ID, split=split)
    except Exception as error:  # offline, unknown split, ...
        raise DatasetError(
            f"{HUB_ID} (hub)", None, None,
            f"could not load split {split!r} ({type(error).__name__}: {error}); "
            "without internet, download it elsewhere and pass a local file or saved folder as `path`",
        ) from error  # fmt: skip
    source = f"{HUB_ID}:{split}"
    return keep_judgeable(_problems(enumerate(rows, start=1), source, float_tolerance), source)
