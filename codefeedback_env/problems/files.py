"""Reading rows from local dataset files: JSONL (optionally gzipped), Parquet, Arrow, or a saved dataset dir."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codefeedback_env.problems.errors import DatasetError

JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
ROW_FILE_SUFFIXES = (*JSONL_SUFFIXES, ".parquet", ".arrow")
SPLIT_NAMES = ("train", "valid", "test")
"""Split names looked for in a folder of split files (CodeContests' own)."""


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based line number, object) for each non-empty line."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(str(path), number, None, f"not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise DatasetError(str(path), number, None, f"expected a JSON object, got {type(row).__name__}")
            yield number, row


def iter_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a local file or saved Hugging Face dataset folder, numbered from 1."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset file {str(path)!r} does not exist")
    if path.is_file() and path.name.endswith(JSONL_SUFFIXES):
        yield from iter_jsonl(path)
        return
    import datasets  # only for the binary formats

    if path.is_dir():
        held = [split for split in SPLIT_NAMES if split_files(path, split)]
        if held and not (path / "dataset_info.json").is_file():
            raise DatasetError(str(path), None, None, f"holds the splits {held}; pick one (split=..., --split)")
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            raise DatasetError(
                str(path), None, None, f"holds several splits {sorted(loaded)}; pick one (split=..., --split)"
            )
    elif path.suffix == ".parquet":
        loaded = datasets.Dataset.from_parquet(str(path))
    elif path.suffix == ".arrow":
        loaded = datasets.Dataset.from_file(str(path))
    else:
        raise DatasetError(
            str(path),
            None,
            None,
            "unknown file type; use .jsonl, .jsonl.gz, .parquet, .arrow or a saved dataset folder",
        )
    yield from enumerate(loaded, start=1)


def split_files(folder: Path, split: str) -> list[Path]:
    """The files of one split in a folder of several, in name order: `{split}.jsonl`, `{split}-00000-of-00039.parquet`
    (the hub's layout) and the like, in the folder or its subfolders."""
    found = []
    for file in sorted(folder.rglob("*")):
        name = file.name
        if not file.is_file() or not name.endswith(ROW_FILE_SUFFIXES):
            continue
        stem = name.split(".", 1)[0]
        if stem == split or stem.startswith((f"{split}-", f"{split}_")):
            found.append(file)
    return found


def iter_split_rows(path: str | Path, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of one split of a local dataset, numbered from 1 across the split's files.

    `path` is a saved `DatasetDict` folder, a folder holding each split's files (`train-*.parquet`,
    `valid.jsonl`, ...), or a single file or saved `Dataset`, which is taken to be that split.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset file {str(path)!r} does not exist")
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        import datasets

        loaded = datasets.load_from_disk(str(path))
        if split not in loaded:
            raise DatasetError(str(path), None, None, f"has no split {split!r}; it holds {sorted(loaded)}")
        yield from enumerate(loaded[split], start=1)
        return
    if path.is_file() or (path / "dataset_info.json").is_file():
        yield from iter_rows(path)
        return
    files = split_files(path, split)
    if not files:
        raise DatasetError(
            str(path), None, None,
            f"holds no files of split {split!r} (looked for {split}.jsonl, {split}-*.parquet and the like); "
            "pass a split it has, or one file",
        )  # fmt: skip
    number = 0
    for file in files:
        for _, row in iter_rows(file):
            number += 1
            yield number, row
