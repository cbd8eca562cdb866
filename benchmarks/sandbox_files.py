"""Sandbox files in memory: what the copy costs (build, memory), and pool start and per-test cost against pools
that bind the host's files, measured in the same run, alternating.

Three kinds of pool: `host_bound` (`PoolOptions(files_in_memory=False)`, the baseline), `in_memory` (the
default: the copy, with the interpreter and its libraries locked in memory on the host) and `copy_everything`
(what a user who may not lock memory gets: the libraries copied too). Per-test cost is CPU seconds of the
workers and their children (they are waited for when the pool closes), which a loaded host changes less than
wall time.

    PYTHONPATH=. python benchmarks/sandbox_files.py [--rounds 5] [--tests 300]

Prints one line per measurement and, last, one JSON object with the numbers (ratios against `host_bound`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import stat
import statistics
import sys
import tempfile
import time

from codefeedback_env.judge import Limits
from codefeedback_env.judge.pool import PoolOptions, WorkerPoolBackend, memory_files, namespaces
from codefeedback_env.judge.pool.backend import JUDGE_DIR

LIMITS = Limits(time=5.0, memory=256 << 20, output=1 << 20)


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (workers, bubblewrap)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def build_cost(everything: bool) -> dict:
    """Listing the allow-list and writing a copy of it into a fresh folder of the copy's file system."""
    files = namespaces.sandbox_files(sys.executable, JUDGE_DIR)
    started, cpu = time.perf_counter(), _cpu()
    entries, _, size = memory_files.inventory(files, () if everything else memory_files.executables(files))
    listed = time.perf_counter() - started
    base, reason = memory_files.choose_base("", size)
    if base is None:
        raise SystemExit(f"no memory file system for the copy: {reason}")
    folder = tempfile.mkdtemp(dir=base, prefix="codefeedback-benchmark-")
    try:
        started = time.perf_counter()
        memory_files._copy(entries, folder + "/copy")
        copied, cpu = time.perf_counter() - started, _cpu() - cpu
    finally:
        memory_files._remove(folder)
    files_count = sum(1 for _, _, info in entries if stat.S_ISREG(info.st_mode))
    return {"entries": len(entries), "files": files_count, "megabytes": round(size / 1e6, 1),
            "list_s": round(listed, 4), "copy_s": round(copied, 4), "cpu_s": round(cpu, 4)}  # fmt: skip


KINDS = ("host_bound", "in_memory", "copy_everything")


def _copies() -> dict[str, dict]:
    """The `_held` table `memory_files.acquire` finds for each kind of pool (made now, held to the end)."""
    files = namespaces.sandbox_files(sys.executable, JUDGE_DIR)
    tables: dict[str, dict] = {"host_bound": {}}
    for kind in ("in_memory", "copy_everything"):
        memory_files._held.clear()
        if kind == "copy_everything":  # as where this process may not lock memory
            lock, memory_files.lock_in_memory = memory_files.lock_in_memory, lambda paths: False
        copy, reason = memory_files.acquire(files)
        if kind == "copy_everything":
            memory_files.lock_in_memory = lock
        if copy is None:
            raise SystemExit(f"no copy in memory: {reason}")
        tables[kind] = dict(memory_files._held)
    return tables


def _pool(kind: str, tables: dict[str, dict]) -> WorkerPoolBackend:
    memory_files._held.clear()
    memory_files._held.update(tables[kind])
    return WorkerPoolBackend(1, options=PoolOptions(files_in_memory=kind != "host_bound"))


def pool_start(kind: str, tables: dict[str, dict]) -> tuple[float, float]:
    """Wall and CPU seconds from making a 1-worker pool to the end of its first trivial test, and closing it."""
    started, cpu = time.perf_counter(), _cpu()
    with _pool(kind, tables) as pool:
        outcome = pool.run_stdio("print(1)", "", LIMITS)
        assert outcome.stdout == b"1\n" and pool.isolation_layers()["files_in_memory"] is (kind != "host_bound")
    return time.perf_counter() - started, _cpu() - cpu


def per_test(kind: str, tables: dict[str, dict], tests: int, program: str) -> float:
    """CPU seconds per test of `program` on a started 1-worker pool (the start's own cost taken off)."""
    start_cpu = pool_start(kind, tables)[1]
    cpu = _cpu()
    with _pool(kind, tables) as pool:
        for _ in range(tests):
            assert pool.run_stdio(program, "", LIMITS).stdout == b"1\n"
    return (_cpu() - cpu - start_cpu) / tests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tests", type=int, default=300)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    result: dict = {"load_before": os.getloadavg()[0]}
    for kind in ("in_memory", "copy_everything"):
        result[f"build_{kind}"] = build_cost(kind == "copy_everything")
        print(f"building the copy ({kind}):", result[f"build_{kind}"])
    tables = _copies()
    programs = {"trivial": "print(1)", "imports": "import collections, heapq, bisect, fractions, decimal, re\nprint(1)"}
    starts: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    runs: dict[tuple[str, str], list[float]] = {(kind, name): [] for kind in KINDS for name in programs}
    for _ in range(args.rounds):
        for kind in KINDS:
            starts[kind].append(pool_start(kind, tables))
            for name, program in programs.items():
                runs[kind, name].append(per_test(kind, tables, args.tests, program))
    for kind in KINDS:
        result[kind] = {
            "start_wall_s": round(statistics.median(w for w, _ in starts[kind]), 4),
            "start_cpu_s": round(statistics.median(c for _, c in starts[kind]), 4),
            **{f"{name}_cpu_ms": round(1000 * statistics.median(runs[kind, name]), 3) for name in programs},
        }
        print(kind, result[kind])
    for kind in KINDS[1:]:
        result[f"ratio_{kind}"] = {
            key: round(value / result["host_bound"][key], 3) for key, value in result[kind].items()
        }
        print(f"{kind} / host_bound:", result[f"ratio_{kind}"])
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
