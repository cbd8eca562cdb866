"""Throughput of the environment behind `codefeedback serve` against the same environment in this process.

Replayed episodes of 3 turns (no code; a wrong program; the problem's reference solution) are played by
`--threads` threads, one environment per episode: once with in-process `CodeFeedbackEnv`s sharing one judge,
once with `CodeFeedback/Remote-v0` clients of a `codefeedback serve` subprocess on the same machine. Every
program carries the episode's number, so no verdict cache hit makes either side faster. Episodes whose return
differs between the sides are counted (only a time limit hit under load should make one).

    PYTHONPATH=. python benchmarks/server_throughput.py [--dataset FILE|demo] [--episodes 60] [--threads 16]

The last line of the output is one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium as gym

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the server helper lives in tests/server, and the package comes from this checkout

from codefeedback_env import REMOTE_ENV_ID, Judge, load_problems  # noqa: E402
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv  # noqa: E402
from codefeedback_env.problems import Problem  # noqa: E402
from tests.server.process import CLI, Server  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "codecontests_train_sample.jsonl"


def responses(problem: Problem, episode: int) -> list[str]:
    """The replayed turns, each program unique to the episode."""
    return [
        "I will think about it.",
        f"```python\nprint('WRONG {episode}')\n```",
        f"```python\n{problem.solutions[0]}\n# episode {episode}\n```",
    ]


def play(env: gym.Env, problem: Problem, episode: int) -> tuple[int, float]:
    """(steps, return) of one episode."""
    env.reset(seed=episode, options={"problem_id": problem.id})
    steps, total = 0, 0.0
    for response in responses(problem, episode):
        _, reward, terminated, truncated, _ = env.step(response)
        steps, total = steps + 1, total + reward
        if terminated or truncated:
            break
    return steps, total


def measure(make_env: Callable[[], gym.Env], problems: list[Problem], episodes: int, threads: int) -> dict[str, Any]:
    envs = [make_env() for _ in range(episodes)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda i: play(envs[i], problems[i % len(problems)], i), range(episodes)))
    wall = time.perf_counter() - started
    for env in envs:
        env.close()
    steps = sum(s for s, _ in results)
    return {
        "episodes_per_s": episodes / wall,
        "steps_per_s": steps / wall,
        "wall_s": wall,
        "returns": [r for _, r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default=str(DATA) if DATA.exists() else "demo", help="dataset name or file")
    parser.add_argument("--episodes", type=int, default=60, help="episodes per side")
    parser.add_argument("--threads", type=int, default=16, help="episodes played at once")
    args = parser.parse_args()

    problems = [p for p in load_problems(args.dataset) if p.solutions]
    dataset = str(Path(args.dataset).resolve()) if Path(args.dataset).exists() else args.dataset  # a name, e.g. demo
    server = Server([*CLI, dataset], start_timeout=300)
    try:
        with Judge() as judge:  # no verdict cache (the server's has one, and every program here is new)
            local = measure(lambda: CodeFeedbackEnv(problems, judge=judge), problems, args.episodes, args.threads)
        remote = measure(lambda: gym.make(REMOTE_ENV_ID, base_url=server.url), problems, args.episodes, args.threads)
    finally:
        server.stop()
    differ = sum(a != b for a, b in zip(local["returns"], remote["returns"], strict=True))
    ratio = remote["episodes_per_s"] / local["episodes_per_s"]
    print(f"{args.episodes} episodes of {args.dataset}, {args.threads} at a time, {os.cpu_count()} cores")
    print(f"{'':12} {'episodes/s':>11} {'steps/s':>9} {'wall s':>8}")
    for name, row in (("in-process", local), ("served", remote)):
        print(f"{name:12} {row['episodes_per_s']:11.2f} {row['steps_per_s']:9.2f} {row['wall_s']:8.2f}")
    print(f"served / in-process: {ratio:.2f}x; episodes whose return differs: {differ} (a time limit under load)")
    summary = {
        "episodes": args.episodes,
        "threads": args.threads,
        "solved": sum(r > 0 for r in local["returns"]),
        "in_process_episodes_per_s": local["episodes_per_s"],
        "served_episodes_per_s": remote["episodes_per_s"],
        "ratio": ratio,
        "returns_differ": differ,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
