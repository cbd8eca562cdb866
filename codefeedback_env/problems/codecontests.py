"""CodeContests in the Hugging Face `deepmind/code_contests` schema, from the hub or local files."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from codefeedback_env.problems.errors import DatasetError
from codefeedback_env.problems.files import SPLIT_NAMES, iter_rows, iter_split_rows
from codefeedback_env.problems.jsonl import keep_judgeable
from codefeedback_env.problems.numbers import tolerance_for
from codefeedback_env.problems.records import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_TIME_LIMIT,
    Problem,
    TestCase,
    memory_limit_error,
    time_limit_error,
)

HUB_ID = "deepmind/code_contests"
SPLITS = SPLIT_NAMES
"""The dataset's splits (the paper trains on train and reports valid and test)."""
TRAIN_SPLIT = "train"
MAX_INCORRECT_SOLUTIONS = 8
"""Python 3 incorrect solutions kept per problem (the full train split has hundreds for some problems)."""
PYTHON3 = 3
"""`solutions.language` value of Python 3 in the dataset's enum."""
DEFAULT_FLOAT_TOLERANCE = 1e-6
"""CodeContests ships no checkers: problems whose expected outputs hold a real number get this tolerance."""


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
    for part in ("input", "output"):
        wrong = next((i for i, text in enumerate(value[part]) if not isinstance(text, str)), None)
        if wrong is not None:
            got = value[part][wrong]
            raise DatasetError(source, number, f"{field}.{part}[{wrong}]", f"expected a string, got {got!r:.60}")
    return tuple(TestCase(i, o) for i, o in zip(value["input"], value["output"], strict=True))


def _time_limit(value: Any, source: str, number: int) -> float:
    """`{"seconds": s, "nanos": n}` in seconds; null or all zero (the schema's "unknown") gives the default."""
    if value is None:
        return DEFAULT_TIME_LIMIT
    seconds = value  # a plain number of seconds is accepted too
    if isinstance(value, dict) and set(value) <= {"seconds", "nanos"}:
        parts = [value.get("seconds") or 0, value.get("nanos") or 0]
        if all(isinstance(part, (int, float)) and not isinstance(part, bool) for part in parts):
            seconds = parts[0] + parts[1] / 1e9
            if seconds == 0:
                return DEFAULT_TIME_LIMIT
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        error = time_limit_error(seconds)
        if error:
            raise DatasetError(source, number, "time_limit", error)
        return float(seconds)
    raise DatasetError(
        source, number, "time_limit", f'expected {{"seconds": int, "nanos": int}} or null, got {value!r:.80}'
    )


def _memory_limit(value: Any, source: str, number: int) -> int:
    """Bytes; null or 0 (the schema's "unknown") gives the default."""
    if value is None or (value == 0 and not isinstance(value, bool)):
        return DEFAULT_MEMORY_LIMIT
    error = memory_limit_error(value)
    if error:
        raise DatasetError(source, number, "memory_limit_bytes", error)
    return int(value)


def _python3_solutions(row: dict[str, Any], source: str, number: int, field: str = "solutions") -> tuple[str, ...]:
    value = row.get(field) or {"language": [], "solution": []}
    languages, programs = (
        value.get(part, []) if isinstance(value, dict) else None for part in ("language", "solution")
    )
    if not (isinstance(languages, list) and isinstance(programs, list) and len(languages) == len(programs)):
        raise DatasetError(source, number, field, 'expected {"language": [int], "solution": [str]} of equal length')
    for part, items, kind, what in (
        ("language", languages, int, "an integer"),
        ("solution", programs, str, "a string"),
    ):
        wrong = next((i for i, item in enumerate(items) if not isinstance(item, kind) or isinstance(item, bool)), None)
        if wrong is not None:
            got = items[wrong]
            raise DatasetError(source, number, f"{field}.{part}[{wrong}]", f"expected {what}, got {got!r:.60}")
    return tuple(program for language, program in zip(languages, programs, strict=True) if language == PYTHON3)


def problem_from_row(
    row: dict[str, Any], source: str, number: int, float_tolerance: float | None = DEFAULT_FLOAT_TOLERANCE
) -> Problem:
    """One CodeContests row as a Problem: hidden tests are the private tests, generated tests kept apart.

    `float_tolerance` applies only if some expected output (any test) holds a real-number token;
    a problem whose answers are all integers or words compares exactly.
    """
    if not isinstance(row.get("name"), str) or not row["name"].strip():
        raise DatasetError(source, number, "name", "missing or not a non-empty string")
    if not isinstance(row.get("description"), str):
        raise DatasetError(source, number, "description", "missing or not a string")
    public = _tests(row, "public_tests", source, number)
    hidden = _tests(row, "private_tests", source, number)
    generated = _tests(row, "generated_tests", source, number)
    return Problem(
        id=row["name"],
        statement=row["description"],
        public_tests=public,
        hidden_tests=hidden,
        generated_tests=generated,
        time_limit=_time_limit(row.get("time_limit"), source, number),
        memory_limit=_memory_limit(row.get("memory_limit_bytes"), source, number),
        float_tolerance=tolerance_for(public + hidden + generated, float_tolerance),
        solutions=_python3_solutions(row, source, number),
        incorrect_solutions=_python3_solutions(row, source, number, "incorrect_solutions")[:MAX_INCORRECT_SOLUTIONS],
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
    split: str | None = None,
    float_tolerance: float | None = DEFAULT_FLOAT_TOLERANCE,
    drop_without_public: bool | None = None,
) -> list[Problem]:
    """Load CodeContests from a local file/folder in the HF schema, or from the hub when `path` is None.

    `split` ("train", "valid" or "test") picks the split: of the hub dataset (default "train"), of a local
    folder holding several (a saved `DatasetDict`, or each split's files such as the hub's
    `data/valid-00000-of-00001.parquet`), or names the split a single file holds. Problems without public
    tests are dropped from the train split (the paper drops them: no feedback to learn from) and kept, with a
    warning, elsewhere; `drop_without_public` overrides that.
    """
    if split is not None and split not in SPLITS:
        close = difflib.get_close_matches(str(split), SPLITS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(SPLITS)}"
        raise DatasetError(str(path or HUB_ID), None, None, f"unknown split {split!r}; {hint}")
    if path is not None:
        source = str(path) if split is None else f"{path} [{split}]"
        rows = iter_rows(path) if split is None else iter_split_rows(path, split)
    else:
        import datasets

        split = split or TRAIN_SPLIT
        try:
            rows = enumerate(datasets.load_dataset(HUB_ID, split=split), start=1)
        except Exception as error:  # offline, unknown split, ...
            raise DatasetError(
                f"{HUB_ID} (hub)", None, None,
                f"could not load split {split!r} ({type(error).__name__}: {error}); "
                "without internet, download it elsewhere and pass a local file or folder as `path`",
            ) from error  # fmt: skip
        source = f"{HUB_ID}:{split}"
    drop = split == TRAIN_SPLIT if drop_without_public is None else drop_without_public
    return keep_judgeable(_problems(rows, source, float_tolerance), source, drop_without_public=drop)
