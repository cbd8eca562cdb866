"""`codefeedback prepare mbpp+`: MBPP+'s expected outputs, computed by its canonical solutions in the sandbox.

MBPP+ rows give extra inputs (`plus_input`) without outputs. This step calls each canonical solution
on them in the judge's sandbox and writes, per input, the assert that checks the result (or why the
input is dropped) to the cache file `load_mbpp_plus` reads.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from codefeedback_env.judge import plaindata
from codefeedback_env.judge.backend import ExecutionBackend, Limits, RemoteCrash, RemoteError, RemoteTimeout
from codefeedback_env.problems.mbpp import (
    MAX_ASSERT_CHARS,
    REFERENCE_INPUT_SECONDS,
    PlusRow,
    plus_assert,
    plus_cache_path,
    plus_rows,
    write_plus_cache,
)
from codefeedback_env.problems.records import DEFAULT_MEMORY_LIMIT

logger = logging.getLogger(__name__)

REFERENCE_SESSION_SECONDS = 3.0
"""Time limit of one sandbox session computing expected outputs; an input that hits it is retried alone."""


def reference_outputs(
    backend: ExecutionBackend,
    program: str,
    function: str,
    inputs: Sequence[Sequence[Any]],
    *,
    memory: int = DEFAULT_MEMORY_LIMIT,
    session_seconds: float = REFERENCE_SESSION_SECONDS,
) -> list[dict[str, Any]]:
    """Call `function` of the trusted `program` in the sandbox on each input, in one session where possible.

    Returns one record per input: {"ok": True, "value": ..., "time": seconds} or {"ok": False,
    "error": str}. A session lasts at most `session_seconds` (wall and CPU); the input running when
    it ends, or when the program crashes, is recorded as failed if it had run for
    `REFERENCE_INPUT_SECONDS` already, else retried once in a fresh session.
    """
    limits = Limits(session_seconds, memory, 1 << 20)
    records: list[dict[str, Any]] = []
    position = 0
    while position < len(inputs):
        fresh = True
        session = backend.open_function_session(program, limits)
        try:
            if session.load_error is not None:
                failed = {"ok": False, "error": f"the program did not load: {session.load_error.strip()[-300:]}"}
                return records + [failed] * (len(inputs) - position)
            while position < len(inputs):
                started = time.monotonic()
                try:
                    value = session.call(function, list(inputs[position]), {})
                except RemoteError as error:
                    records.append({"ok": False, "error": str(error)})
                except plaindata.PlainDataError as error:
                    records.append({"ok": False, "error": f"input is not plain data: {error}"})
                except (RemoteTimeout, RemoteCrash) as failure:
                    if not fresh and time.monotonic() - started < REFERENCE_INPUT_SECONDS:
                        break  # the session ran out during this input: retry it alone in a new one
                    records.append({"ok": False, "error": f"{type(failure).__name__}: {failure}"})
                    position += 1
                    break
                else:
                    records.append({"ok": True, "value": value, "time": time.monotonic() - started})
                position += 1
                fresh = False
        finally:
            session.close()
    return records


def cached_inputs(row: PlusRow, records: list[dict[str, Any]]) -> list[list[Any]]:
    """Per extra input, `[assert, seconds]` to test it, or `[None, reason]` when it is dropped."""
    entries: list[list[Any]] = []
    for arguments, record in zip(row.plus_inputs, records, strict=True):
        if not record.get("ok"):
            entries.append([None, str(record.get("error", "failed"))[:300]])
            continue
        seconds = float(record["time"])
        if seconds > REFERENCE_INPUT_SECONDS:
            entries.append([None, f"the canonical solution took {seconds:.2f} s"])
            continue
        try:
            line = plus_assert(row.entry_point, arguments, record["value"], row.atol)
        except ValueError as error:  # a result that cannot be written as a literal
            entries.append([None, f"result not writable as a literal: {error}"[:300]])
            continue
        if len(line) > MAX_ASSERT_CHARS:
            entries.append([None, f"assert of {len(line)} characters"])
            continue
        entries.append([line, seconds])
    return entries


def prepare_mbpp_plus(
    path: str | Path,
    *,
    cache_dir: str | Path | None = None,
    backend: ExecutionBackend | None = None,
    workers: int | None = None,
) -> Path:
    """Compute the expected outputs of MBPP+'s extra inputs and write the cache `load_mbpp_plus` reads.

    Runs each canonical solution in `backend` (default a fresh SubprocessBackend), `workers` problems
    at a time (default: the number of cores). Returns the cache file's path; a file already prepared
    is recomputed, so this is also how a damaged cache is repaired.
    """
    rows = plus_rows(path)
    cache = plus_cache_path(path, cache_dir)
    own_backend = backend is None
    if backend is None:
        from codefeedback_env.judge.subprocess_backend import SubprocessBackend

        backend = SubprocessBackend()
    logger.info("computing MBPP+ expected outputs for %d problem(s) into %s", len(rows), cache)
    try:
        with ThreadPoolExecutor(
            max(1, workers or os.cpu_count() or 1), thread_name_prefix="codefeedback-mbpp+"
        ) as pool:

            def entries(row: PlusRow) -> list[list[Any]]:
                records = reference_outputs(backend, row.reference_program(), row.reference_function(), row.plus_inputs)
                return cached_inputs(row, records)

            tasks = {row.task_id: computed for row, computed in zip(rows, pool.map(entries, rows), strict=True)}
    finally:
        if own_backend:
            backend.close()
    write_plus_cache(cache, path, tasks)
    return cache
