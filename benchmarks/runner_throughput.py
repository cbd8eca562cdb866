"""Throughput of the evaluation runner: does batching episodes keep every judge worker busy?

A replay agent plays the CodeContests sample for 3 turns (turns 1-2: another problem's solution,
turn 3: the problem's own reference solution), once with all episodes batched (`max_active` episodes
stepped concurrently) and once sequentially (`max_active=1`), on the same judge. Reports problems/s,
judge utilisation = time with a run in flight / (wall time * judge slots), and the share of the machine's
CPU time that was busy (from /proc/stat; all cores, so other jobs count too).

    PYTHONPATH=. python benchmarks/runner_throughput.py [--limit 40] [--max-active 64] [--workers N]

The last line of the output is one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from agents.baselines import ReplayAgent, fenced
from codefeedback_env.evaluation import EvalConfig, run_evaluation
from codefeedback_env.judge import Judge, Limits, RunOutcome, make_backend
from codefeedback_env.problems import Problem, load_problems

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "codecontests_train_sample.jsonl"
TURNS = 3


class TimingBackend:
    """The default judge backend, adding up the wall time its runs keep a judge worker busy."""

    def __init__(self) -> None:
        self.inner = make_backend()
        self.busy = 0.0
        self.runs = 0
        self._lock = threading.Lock()

    def run_stdio(self, program: str, stdin: str, limits: Limits) -> RunOutcome:
        started = time.monotonic()
        try:
            return self.inner.run_stdio(program, stdin, limits)
        finally:
            with self._lock:
                self.busy += time.monotonic() - started
                self.runs += 1

    @property
    def concurrency(self) -> int | None:
        """The inner backend's, so that `Judge` sizes itself as it would without the timer."""
        return getattr(self.inner, "concurrency", None)

    def open_function_session(self, program: str, limits: Limits) -> Any:  # not used by CodeContests
        return self.inner.open_function_session(program, limits)

    def close(self) -> None:
        self.inner.close()


def replay_records(problems: list[Problem], seed: int = 0) -> dict[tuple[str, int, int], str]:
    """Two wrong turns (other problems' solutions), then the reference solution."""
    rng = random.Random(seed)
    records = {}
    for problem in problems:
        others = [p for p in problems if p.id != problem.id and p.solutions]
        for turn in (1, 2):
            records[(problem.id, 0, turn)] = fenced(rng.choice(others).solutions[0])
        records[(problem.id, 0, 3)] = fenced(problem.solutions[0]) if problem.solutions else "no code"
    return records


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine so far, from /proc/stat (zeros where absent)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def measure(problems: list[Problem], records: dict, max_active: int, workers: int | None) -> dict[str, float]:
    backend = TimingBackend()
    with Judge(backend, max_workers=workers) as judge:
        with tempfile.TemporaryDirectory() as folder:
            config = EvalConfig(rollouts=1, max_turns=TURNS, max_active=max_active, progress=False)
            busy_before, total_before = cpu_ticks()
            started = time.monotonic()
            run = run_evaluation(ReplayAgent(records), problems, folder, config, judge=judge)
            wall = time.monotonic() - started
            busy_after, total_after = cpu_ticks()
        slots = judge.max_workers
    turns = sum(r["num_turns"] for r in run.records)
    return {
        "wall_s": round(wall, 3),
        "problems_per_s": round(len(problems) / wall, 4),
        "turns_per_s": round(turns / wall, 4),
        "judge_utilisation": round(backend.busy / (wall * slots), 4),
        "judge_slots": slots,
        "machine_cpu_busy": round((busy_after - busy_before) / max(total_after - total_before, 1), 3),
        "test_runs": backend.runs,
        "solved": sum(r["solved"] for r in run.records),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=40, help="problems of the sample (default 40; 0 = all)")
    parser.add_argument("--max-active", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="judge slots (default: the backend's own)")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is absent; this benchmark needs ../shared/data (see its README)")
    workers = args.workers
    problems = load_problems(DATA)
    problems = problems[: args.limit] if args.limit else problems
    records = replay_records(problems)
    print(f"{len(problems)} CodeContests problems x {TURNS} turns, judge slots: {workers or 'the backend default'}")
    batched = measure(problems, records, args.max_active, workers)
    print(f"batched (max_active={args.max_active}): {batched}")
    sequential = measure(problems, records, 1, workers)
    print(f"sequential (max_active=1):  {sequential}")
    speedup = batched["problems_per_s"] / sequential["problems_per_s"]
    print(f"speed-up of batching: {speedup:.2f}x")
    print(
        json.dumps(
            {
                "benchmark": "runner_throughput",
                "problems": len(problems),
                "turns": TURNS,
                "workers": workers,
                "batched": batched,
                "sequential": sequential,
                "speedup": round(speedup, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
