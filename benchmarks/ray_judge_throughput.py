"""Judge throughput: the local worker pool versus the Ray backend on a local Ray cluster, on this machine.

    python benchmarks/ray_judge_throughput.py [--real 30] [--trivial 200] [--threads N] [--address ADDR]

Both judges have the same workers (the pool's default, two per core): locally one `WorkerPoolBackend`, on Ray
one judge actor per node (here, the one node) holding the same pool. Workloads, measured in one run:
  (a) real programs: the reference solutions of the first problems of the CodeContests sample (../shared/data)
      on all their tests, from N callers at once (skipped when the data is absent);
  (b) trivial programs: distinct `print(input())` variants with three tests each, from N callers (what one
      program costs to route, ship and answer).
Verdicts must agree. On one machine Ray can only add cost (serialization, an extra process hop); the
benchmark says how much, i.e. what a remote judge node must win back. Prints a table, then as its last line a
JSON object with the throughputs and their ratios (Ray / local).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from codefeedback_env.judge import Judge
from codefeedback_env.judge.pool import WorkerPoolBackend
from codefeedback_env.problems import load_problems
from codefeedback_env.problems.records import Problem, TestCase

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "codecontests_train_sample.jsonl"
ECHO = Problem("echo", "", tuple(TestCase(f"{i}\n", f"{i}\n") for i in range(3)), (), time_limit=5.0)


def judge_all(judge: Judge, cases: list[tuple[Problem, str]], threads: int) -> tuple[float, list[list[str]]]:
    """Seconds to judge every (problem, program) on all its tests from `threads` callers, and the verdicts."""
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda case: judge.judge(case[0], case[1], "all"), cases))
    return time.perf_counter() - started, [[r.verdict.value for r in result.results] for result in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=int, default=30, help="CodeContests problems (reference solutions)")
    parser.add_argument("--trivial", type=int, default=200, help="trivial programs of three tests each")
    parser.add_argument("--threads", type=int, default=8, help="concurrent callers")
    parser.add_argument("--address", default=None, help="an existing Ray cluster (default: start a local one)")
    args = parser.parse_args()

    import ray

    started = time.perf_counter()
    if args.address:
        ray.init(address=args.address, configure_logging=False)
    else:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, configure_logging=False)
    cluster_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ray_judge = Judge("ray")  # one actor per node, reserving all its CPUs
    actors_seconds = time.perf_counter() - started
    local_judge = Judge(WorkerPoolBackend())
    local_judge.backend.start()

    workloads: dict[str, list[tuple[Problem, str]]] = {}
    if DATA.exists() and args.real:
        problems = [p for p in load_problems(str(DATA)) if p.solutions][: args.real]
        workloads["real_programs"] = [(p, p.solutions[0]) for p in problems]
    workloads["trivial_programs"] = [(ECHO, f"print(input())  # {i}\n") for i in range(args.trivial)]

    summary: dict[str, object] = {
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "ray_cluster_start_s": round(cluster_seconds, 2),
        "ray_actors_ready_s": round(actors_seconds, 2),
    }
    print(f"Ray cluster started in {cluster_seconds:.1f} s, judge actors ready in {actors_seconds:.1f} s")
    print(f"{'workload':<18}{'programs':>9}{'tests':>7}{'local prog/s':>14}{'ray prog/s':>12}{'ray/local':>11}")
    try:
        for name, cases in workloads.items():
            judge_all(ray_judge, cases[:2], 2)  # warm both before timing
            judge_all(local_judge, cases[:2], 2)
            local_seconds, local_verdicts = judge_all(local_judge, cases, args.threads)
            ray_seconds, ray_verdicts = judge_all(ray_judge, cases, args.threads)
            tests = sum(len(v) for v in local_verdicts)
            differ = sum(a != b for a, b in zip(local_verdicts, ray_verdicts, strict=True))
            local_rate, ray_rate = len(cases) / local_seconds, len(cases) / ray_seconds
            ratio = ray_rate / local_rate
            print(f"{name:<18}{len(cases):>9}{tests:>7}{local_rate:>14.1f}{ray_rate:>12.1f}{ratio:>10.2f}x")
            summary[name] = {
                "programs": len(cases),
                "tests": tests,
                "local_programs_per_s": round(local_rate, 2),
                "ray_programs_per_s": round(ray_rate, 2),
                "ratio": round(ratio, 3),
                "programs_with_different_verdicts": differ,
            }
    finally:
        ray_judge.close()
        local_judge.close()
        ray.shutdown()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
