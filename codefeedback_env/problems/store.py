"""Problems in an Arrow file: written once, memory-mapped by every process, decoded one problem at a time.

A training job on one machine runs several processes that all need the same problems. Loaded by each, the
problems are held once per process; a `ProblemStore` holds them once per machine: the Arrow file is
memory-mapped, so its pages are shared through the page cache, and a process keeps only the problem ids.
`problem_store` converts a dataset into such a file (by the process that builds it) or opens it (the others).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, overload

from codefeedback_env.problems.errors import DatasetError
from codefeedback_env.problems.records import Problem, ProblemKind, TestCase

STORE_FORMAT = 1
"""Version of the file layout; part of every store's key, so a layout change never reads an old file."""
_BATCH = 256
"""Problems per Arrow record batch while writing (bounds the writer's extra memory)."""


def _arrow_type(name: str, annotation: str) -> Any:
    import pyarrow as pa

    tests = pa.list_(pa.struct([("input", pa.string()), ("output", pa.string())]))
    types = {
        "str": pa.string(),
        "str | None": pa.string(),
        "ProblemKind": pa.string(),
        "float": pa.float64(),
        "float | None": pa.float64(),
        "int": pa.int64(),
        "tuple[str, ...]": pa.list_(pa.string()),
        "tuple[TestCase, ...]": tests,
    }
    if annotation not in types:
        raise TypeError(f"Problem.{name}: no Arrow column type for {annotation!r}; add it to problems/store.py")
    return types[annotation]


def store_schema() -> Any:
    """The Arrow schema of a store: one column per `Problem` field."""
    import pyarrow as pa

    return pa.schema([(f.name, _arrow_type(f.name, str(f.type))) for f in fields(Problem)])


def _row(problem: Problem) -> dict[str, Any]:
    row = {f.name: getattr(problem, f.name) for f in fields(Problem)}
    for name, value in row.items():
        if isinstance(value, tuple):
            row[name] = [{"input": t.input, "output": t.output} if isinstance(t, TestCase) else t for t in value]
    row["kind"] = str(problem.kind)
    return row


def _problem(row: dict[str, Any]) -> Problem:
    for name, value in row.items():
        if isinstance(value, list):
            row[name] = tuple(TestCase(**t) if isinstance(t, dict) else t for t in value)
    row["kind"] = ProblemKind(row["kind"])
    return Problem(**row)


def write_problem_store(problems: Iterable[Problem], path: str | os.PathLike[str]) -> Path:
    """Write `problems` to the Arrow file `path`, atomically (a reader sees no file or the whole file)."""
    import pyarrow as pa

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = store_schema()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with pa.OSFile(temporary, "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            batch: list[dict[str, Any]] = []
            for problem in problems:
                batch.append(_row(problem))
                if len(batch) == _BATCH:
                    writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                    batch.clear()
            if batch:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


class ProblemStore(Sequence[Problem]):
    """A read-only sequence of the problems in a store file, memory-mapped; `store[i]` decodes problem i.

    Slicing and `select` give views over the same mapping. `ids` (every problem's id, in order) is the only
    per-problem data a store holds in this process's own memory. A store pickles as its path and row numbers.
    """

    def __init__(self, path: str | os.PathLike[str], rows: Sequence[int] | None = None) -> None:
        import pyarrow as pa

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"problem store {str(self.path)!r} does not exist")
        self._table = pa.ipc.open_file(pa.memory_map(str(self.path), "r")).read_all()
        if self._table.schema != store_schema():
            raise ValueError(
                f"problem store {str(self.path)!r} has another layout than this version writes; delete it so it is "
                "rebuilt"
            )
        self._rows: Sequence[int] = range(self._table.num_rows) if rows is None else rows
        all_ids = self._table.column("id").to_pylist()
        self.ids: list[str] = [all_ids[row] for row in self._rows]

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Problem: ...
    @overload
    def __getitem__(self, index: slice) -> ProblemStore: ...
    def __getitem__(self, index: int | slice) -> Problem | ProblemStore:
        if isinstance(index, slice):
            return self.select(range(len(self))[index])
        row = self._rows[index]
        return _problem(self._table.slice(row, 1).to_pylist()[0])

    def __iter__(self) -> Iterator[Problem]:
        return (self[i] for i in range(len(self)))

    def select(self, positions: Iterable[int]) -> ProblemStore:
        """A view of the problems at `positions` (indices into this store), in that order."""
        positions = list(positions)
        view = object.__new__(ProblemStore)
        view.path, view._table = self.path, self._table
        view._rows = [self._rows[i] for i in positions]
        view.ids = [self.ids[i] for i in positions]
        return view

    def list_lengths(self, column: str) -> list[int]:
        """Length of a list field (`public_tests`, `incorrect_solutions`, ...) of each problem, without decoding it."""
        import pyarrow.compute as pc

        lengths = pc.list_value_length(self._table.column(column)).to_pylist()
        return [lengths[row] or 0 for row in self._rows]

    def __reduce__(self) -> tuple[Any, ...]:
        return (ProblemStore, (self.path, list(self._rows)))

    def __repr__(self) -> str:
        return f"ProblemStore({str(self.path)!r}, {len(self)} problems)"


def problem_ids(problems: Iterable[Problem]) -> list[str]:
    """The problems' ids, in order (a store's without decoding its problems)."""
    return list(problems.ids) if isinstance(problems, ProblemStore) else [problem.id for problem in problems]


def _source_state(dataset: str) -> list[Any]:
    """What identifies a dataset's current content cheaply: each local file's path, size and modification time."""
    path = Path(dataset).expanduser()
    if not path.exists():
        return []
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def _loader_code() -> str:
    """A digest of the problem loaders' source, so a store written by other loader code is never reused."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def store_key(dataset: str, options: dict[str, Any]) -> str:
    """The file name of `dataset` loaded with `options` in a store folder: a digest of the dataset's name or
    path, the options, its files' sizes and modification times, the loaders' code and the store layout."""
    state = {
        "format": STORE_FORMAT,
        "dataset": str(dataset),
        "options": options,
        "files": _source_state(str(dataset)),
        "code": _loader_code(),
    }
    text = json.dumps(state, sort_keys=True, default=str)
    name = "".join(c if c.isalnum() else "-" for c in Path(str(dataset)).name)[:40]
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.arrow"


def problem_store(
    dataset: str | os.PathLike[str], folder: str | os.PathLike[str], *, build: bool = True, **options: Any
) -> ProblemStore:
    """`load_problems(dataset, **options)` as a `ProblemStore` file in `folder`, written if absent.

    The file is written by a child process, so the caller's memory never holds the whole dataset (a training
    rank keeps what its allocator once held). With `build=False` the file must already be there: in a
    multi-process job the node's main process builds it while the others wait, e.g. under accelerate's
    `local_main_process_first()`. A file for the same dataset, options, source files and loader code is reused.
    """
    path = Path(folder) / store_key(str(dataset), options)
    if not path.is_file():
        if not build:
            raise FileNotFoundError(
                f"problem store {str(path)!r} for {str(dataset)!r} is missing: the process that builds it "
                "(build=True, the node's main process) must run first"
            )
        _build_in_child(str(dataset), path, options)
    return ProblemStore(path)


def _build_in_child(dataset: str, path: Path, options: dict[str, Any]) -> None:
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    # -P: `-c` would put the working folder first on the import path, and a `json.py` there would run here.
    command = [sys.executable, "-P", "-c", _CHILD, dataset, str(path), json.dumps(options)]
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(done.stderr)  # the loaders' warnings (problems skipped, ...)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise DatasetError(dataset, None, None, f"not converted into a problem store ({last})")


_CHILD = "import sys; from codefeedback_env.problems.store import _main; _main(sys.argv[1:])"


def _main(argv: list[str]) -> None:
    """The child process of `problem_store`: DATASET PATH OPTIONS_JSON; writes one store."""
    import logging

    from codefeedback_env.problems.registry import load_problems

    logging.basicConfig(format="%(message)s")
    dataset, path, options = argv
    try:
        write_problem_store(load_problems(dataset, **json.loads(options)), path)
    except (OSError, ValueError) as error:  # DatasetError is a ValueError: its message names the file and row
        sys.exit(f"{type(error).__name__}: {error}")
