"""Sandbox files in memory: what the copy costs (build, memory), and pool start and per-test cost against pools
that bind the host's files, measured in the same run, alternating.

    PYTHONPATH=. python benchmarks/sandbox_files.py [--rounds 5] [--tests 200]

Prints one line per measurement and, last, one JSON object with the numbers (ratios are copy / host-bound).
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


def build_cost() -> dict:
    """Listing the allow-list and writing a copy of it into a fresh folder of the copy's file system."""
    files = namespaces.sandbox_files(sys.executable, JUDGE_DIR)
    started, cpu = time.perf_counter(), _cpu()
    entries, _, size = memory_files.inventory(files)
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


def pool_start(files_in_memory: bool) -> tuple[float, float]:
    """Wall and CPU seconds from making a 1-worker pool to the end of its first trivial test, and closing it."""
    started, cpu = time.perf_counter(), _cpu()
    with WorkerPoolBackend(1, options=PoolOptions(files_in_memory=files_in_memory)) as pool:
        outcome = pool.run_stdio("print(1)", "", LIMITS)
        assert outcome.stdout == b"1\n" and pool.isolation_layers()["files_in_memory"] is files_in_memory
    return time.perf_counter() - started, _cpu() - cpu


def per_test(files_in_memory: bool, tests: int) -> float:
    """Seconds per trivial test (importing a few modules) on a started 1-worker pool."""
    program = "import collections, heapq, bisect, fractions\nprint(1)"
    with WorkerPoolBackend(1, options=PoolOptions(files_in_memory=files_in_memory)) as pool:
        pool.run_stdio(program, "", LIMITS)
        started = time.perf_counter()
        for _ in range(tests):
            assert pool.run_stdio(program, "", LIMITS).stdout == b"1\n"
        return (time.perf_counter() - started) / tests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tests", type=int, default=200)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    build = build_cost()
    print("copy:", build)
    memory_files.acquire(namespaces.sandbox_files(sys.executable, JUDGE_DIR))  # held: pools below reuse it
    starts: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    runs: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.rounds):
        for in_memory in (False, True):
            starts[in_memory].append(pool_start(in_memory))
            runs[in_memory].append(per_test(in_memory, args.tests))
    result = {"copy": build, "load": os.getloadavg()[0]}
    for in_memory, name in ((False, "host_bound"), (True, "in_memory")):
        result[name] = {
            "start_wall_s": round(statistics.median(w for w, _ in starts[in_memory]), 4),
            "start_cpu_s": round(statistics.median(c for _, c in starts[in_memory]), 4),
            "per_test_ms": round(1000 * statistics.median(runs[in_memory]), 3),
        }
        print(name, result[name])
    for key in ("start_wall_s", "start_cpu_s", "per_test_ms"):
        result[f"ratio_{key}"] = round(result["in_memory"][key] / result["host_bound"][key], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
