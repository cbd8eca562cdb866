"""Episodes the judge cannot judge are run again; those that remain are counted, listed and left out of metrics."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest

from agents.baselines import fenced
from codefeedback_env.evaluation import EvalConfig, format_summary, run_evaluation
from codefeedback_env.evaluation.metrics import RolloutOutcome
from codefeedback_env.evaluation.runner import RESULTS_FILE
from codefeedback_env.judge import Judge
from tests.failing_backend import LOST_REASON, FailingBackend

PROGRAMS = {
    "demo/hello-world": fenced('print("Hello, World!")'),
    "demo/sum-two": fenced("a, b = map(int, input().split())\nprint(a + b)"),
}


class ScriptedAgent:
    """Answers each problem with its right program and counts the episodes it starts (turn-1 calls)."""

    def __init__(self) -> None:
        self.starts: Counter[str] = Counter()

    def act(self, observations, infos) -> list[str]:
        for info in infos:
            if info["turn"] == 0:
                self.starts[info["problem_id"]] += 1
        return [PROGRAMS[info["problem_id"]] for info in infos]


def evaluate(demo, fails, output: Path, **config):
    problems = [p for p in demo if p.id in PROGRAMS]
    agent = ScriptedAgent()
    with Judge(FailingBackend(fails), max_workers=2) as judge:
        run = run_evaluation(agent, problems, output, EvalConfig(progress=False, **config), judge=judge)
    return run, agent


def loses_hello(program: str, stdin: str) -> bool:
    return "Hello" in program


def test_unjudged_episodes_are_retried_then_counted_and_left_out(demo, tmp_path: Path) -> None:
    run, agent = evaluate(demo, loses_hello, tmp_path / "run", rollouts=2, max_turns=1, judge_error_retries=2)
    assert agent.starts == {"demo/hello-world": 2 * 3, "demo/sum-two": 2}, "each unjudged episode runs 3 times"
    summary = json.loads((tmp_path / "run" / RESULTS_FILE).read_text())
    assert summary["unjudged_episodes"] == 2
    assert {(u["problem_id"], u["rollout"]) for u in summary["unjudged"]} == {("demo/hello-world", r) for r in (0, 1)}
    assert all(LOST_REASON in u["judge_error"] for u in summary["unjudged"])
    assert (summary["problems"], summary["episodes"]) == (1, 2), "unjudged episodes are in no metric"
    assert [t["value"] for t in summary["solve_rate_by_turn"]] == [1.0]
    assert "2 episodes could not be judged" in format_summary(summary)
    unjudged = [r for r in run.records if r.get("judge_error")]
    assert len(unjudged) == 2 and run.unjudged == unjudged
    assert all(r["solved"] is None and r["hidden"] == {} for r in unjudged), "never silently a failure"
    assert len(run.outcomes) == 2
    with pytest.raises(ValueError, match="not judged"):
        RolloutOutcome.from_record(unjudged[0])


def test_an_episode_judged_on_a_retry_counts_normally(demo, tmp_path: Path) -> None:
    calls = Counter()
    lock = threading.Lock()

    def first_run_lost(program: str, stdin: str) -> bool:  # hello-world has 1 public test, tried twice
        with lock:
            calls[program] += 1
            return "Hello" in program and calls[program] <= 2

    run, agent = evaluate(demo, first_run_lost, tmp_path / "run", rollouts=1, max_turns=1)
    assert agent.starts["demo/hello-world"] == 2
    assert run.summary["unjudged_episodes"] == 0 and run.summary["episodes"] == 2
    assert all(r["solved"] is True for r in run.records)


def test_resuming_runs_the_unjudged_episodes_again(demo, tmp_path: Path) -> None:
    first, _ = evaluate(demo, loses_hello, tmp_path / "run", rollouts=1, max_turns=1, judge_error_retries=0)
    assert first.summary["unjudged_episodes"] == 1
    second, agent = evaluate(demo, lambda program, stdin: False, tmp_path / "run", rollouts=1, max_turns=1)
    assert agent.starts == {"demo/hello-world": 1} and second.new_episodes == 1
    assert second.summary["unjudged_episodes"] == 0 and second.summary["episodes"] == 2
