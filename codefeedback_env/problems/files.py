"""Reading rows from local dataset files: JSONL (optionally gzipped), Parquet, Arrow, or a saved dataset dir."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codefeedback_env.problems.errors import DatasetError

JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")


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
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            raise DatasetError(str(path), None, None, f"holds several splits {sorted(loaded)}; pass one split's folder")
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
