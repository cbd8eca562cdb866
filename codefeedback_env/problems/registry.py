"""`load_problems`: one entry point for every dataset, by name or by file (format detected from its rows)."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codefeedback_env.problems.errors import DatasetError
from codefeedback_env.problems.files import iter_rows, iter_split_rows
from codefeedback_env.problems.records import Problem

_LOADERS = {
    "demo": "codefeedback_env.problems.demo:load_demo",
    "demo-quick": "codefeedback_env.problems.demo:load_demo_quick",
    "codecontests": "codefeedback_env.problems.codecontests:load_codecontests",
    "humaneval": "codefeedback_env.problems.humaneval:load_humaneval",
    "mbpp": "codefeedback_env.problems.mbpp:load_mbpp",
    "mbpp+": "codefeedback_env.problems.mbpp:load_mbpp_plus",
}
DATASET_NAMES = tuple(_LOADERS)


def loader(name: str) -> Callable[..., list[Problem]]:
    """The loader function of a dataset name (imported only when asked for)."""
    module, function = _LOADERS[name].split(":")
    return getattr(importlib.import_module(module), function)


def detect_format(path: str | Path, split: str | None = None) -> str:
    """Which loader reads this file (or this split of a folder): "codecontests", "humaneval", "mbpp", "mbpp+"
    or "jsonl" (ours)."""
    for number, row in iter_rows(path) if split is None else iter_split_rows(path, split):
        keys = set(row)
        if {"description", "public_tests"} <= keys:
            return "codecontests"
        if {"entry_point", "canonical_solution", "plus_input"} <= keys:
            return "mbpp+"
        if {"entry_point", "canonical_solution", "test"} <= keys:
            return "humaneval"
        if {"text", "test_list"} <= keys:
            return "mbpp"
        if {"statement", "public_tests"} <= keys:
            return "jsonl"
        raise DatasetError(
            str(path), number, None,
            f"unknown dataset format (fields {sorted(keys)[:8]}); see the README's dataset formats",
        )  # fmt: skip
    raise DatasetError(str(path), None, None, "the file holds no rows")


def load_problems(dataset: str | Path, **options: Any) -> list[Problem]:
    """Load a dataset by name (`DATASET_NAMES`) or from a local file or folder in any supported format."""
    name = str(dataset)
    if name.lower() in _LOADERS:
        return loader(name.lower())(**options)
    path = Path(name).expanduser()
    if not path.exists():
        close = difflib.get_close_matches(name.lower(), DATASET_NAMES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known names: {', '.join(DATASET_NAMES)}"
        raise DatasetError(name, None, None, f"is neither a dataset name nor an existing file{hint}")
    kind = detect_format(path, options.get("split"))
    if options.get("split") is not None and kind != "codecontests":
        raise DatasetError(name, None, None, f"holds {kind!r} data; only CodeContests has splits to pick")
    if kind == "jsonl":
        from codefeedback_env.problems.jsonl import load_jsonl

        return load_jsonl(path, **options)
    return loader(kind)(path, **options)
