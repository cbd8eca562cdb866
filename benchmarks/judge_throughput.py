"""Judge throughput: the worker pool (all isolation on) versus one fresh `python -I -S` per test.

    python benchmarks/judge_throughput.py [--trivial 400] [--heavy 8] [--workers N] [--threads N]

Workloads, measured in one run on this machine:
  (a) trivial stdin/stdout tests (`print(input())`), run from N threads (default: as many as `Judge`
      runs at once on the pool, two per worker), for both backends;
  (b) a CPU-heavy program (a 10^6-iteration loop), run one at a time, interleaved: median wall time
      and median CPU time (the child's rusage; robust when other jobs load the machine). The bare
      interpreter's numbers include its own start-up, which the pool does not pay.
Prints a table, then as its last line a JSON object with both throughputs and their ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from codefeedback_env.judge.backend import Limits
from codefeedback_env.judge.pool import WorkerPoolBackend

TRIVIAL = "print(input())\n"
HEAVY = "s = 0\nfor i in range(10 ** 6):\n    s += i * i % 7\nprint(s)\n"
LIMITS = Limits(time=10.0, memory=1 << 30, output=1 << 20)


def fresh_interpreter(program: str, stdin: str) -> bytes:
    """The baseline: one fresh `python -I -S` per test."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", program], input=stdin.encode(), capture_output=True, timeout=30, check=True
    )
    return done.stdout


def throughput(run, count: int, threads: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as executor:
        outputs = list(executor.map(lambda i: run(TRIVIAL, f"{i}\n"), range(count)))
    elapsed = time.perf_counter() - started
    assert outputs == [f"{i}\n".encode() for i in range(count)], "wrong output"
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trivial", type=int, default=400, help="trivial tests per backend")
    parser.add_argument("--heavy", type=int, default=10, help="CPU-heavy runs per backend")
    parser.add_argument("--workers", type=int, default=None, help="pool workers (default: the pool's, two per core)")
    parser.add_argument(
        "--threads", type=int, default=None, help="concurrent callers, both backends (default: what Judge uses)"
    )
    args = parser.parse_args()

    with WorkerPoolBackend(args.workers) as pool:
        pool.start()
        workers = len(pool.worker_pids())
        args.threads = args.threads or pool.concurrency  # what Judge uses: two per worker, each has one queued
        layers = pool.isolation_layers()

        def pooled(program: str, stdin: str) -> bytes:
            return pool.run_stdio(program, stdin, LIMITS).stdout

        throughput(pooled, 50, args.threads)  # warm-up
        pool_tps = throughput(pooled, args.trivial, args.threads)
        base_tps = throughput(fresh_interpreter, max(40, args.trivial // 4), args.threads)
        pool_times, bare_times, pool_cpu, bare_cpu = [], [], [], []
        expected = fresh_interpreter(HEAVY, "")
        for _ in range(args.heavy):  # interleaved, one at a time, so load changes hit both alike
            started = time.perf_counter()
            outcome = pool.run_stdio(HEAVY, "", LIMITS)
            pool_times.append(time.perf_counter() - started)
            assert outcome.stdout == expected
            pool_cpu.append(outcome.cpu_time)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            fresh_interpreter(HEAVY, "")
            bare_times.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            bare_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    pool_heavy, bare_heavy = statistics.median(pool_times), statistics.median(bare_times)
    pool_heavy_cpu, bare_heavy_cpu = statistics.median(pool_cpu), statistics.median(bare_cpu)

    print(f"isolation layers: {layers}; {workers} workers, {args.threads} concurrent callers")
    print(f"{'workload':<26}{'pool':>14}{'fresh python -I -S':>22}{'ratio':>10}")
    print(f"{'trivial (tests/s)':<26}{pool_tps:>14.1f}{base_tps:>22.1f}{pool_tps / base_tps:>10.2f}")
    print(f"{'10^6-loop wall s/run':<26}{pool_heavy:>14.4f}{bare_heavy:>22.4f}{pool_heavy / bare_heavy:>10.3f}")
    print(
        f"{'10^6-loop CPU s/run':<26}{pool_heavy_cpu:>14.4f}{bare_heavy_cpu:>22.4f}"
        f"{pool_heavy_cpu / bare_heavy_cpu:>10.3f}"
    )
    print(
        json.dumps(
            {
                "trivial": {
                    "pool_tests_per_s": round(pool_tps, 1),
                    "subprocess_tests_per_s": round(base_tps, 1),
                    "ratio": round(pool_tps / base_tps, 2),
                },
                "cpu_heavy": {
                    "pool_runs_per_s": round(1 / pool_heavy, 3),
                    "bare_interpreter_runs_per_s": round(1 / bare_heavy, 3),
                    "time_ratio": round(pool_heavy / bare_heavy, 3),
                    "cpu_time_ratio": round(pool_heavy_cpu / bare_heavy_cpu, 3),
                },
                "isolation": layers,
            }
        )
    )


if __name__ == "__main__":
    main()
