"""A run folder records what produced it, refuses a resume by another setup, and reports per problem."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from agents.baselines import RandomAgent, ReferenceAgent
from codefeedback_env import cli
from codefeedback_env.evaluation import EvalConfig, format_summary, run_evaluation
from codefeedback_env.evaluation.identity import RunIdentityError, problem_sha256
from codefeedback_env.judge import Judge
from codefeedback_env.problems import Problem
from codefeedback_env.rewards import RewardConfig
from codefeedback_env.templates import PAPER_TEMPLATES

CONFIG = EvalConfig(rollouts=1, max_turns=1, progress=False)


def test_resuming_with_another_agent_is_refused(demo: list[Problem], judge: Judge, tmp_path: Path) -> None:
    problems = demo[:2]
    first = run_evaluation(ReferenceAgent(problems), problems, tmp_path, CONFIG, judge=judge)
    recorded = json.loads((tmp_path / "config.json").read_text())
    assert recorded["agent_class"] == "agents.baselines.ReferenceAgent"
    assert recorded["problems"] == 2 and len(recorded["problems_sha256"]) == 64
    assert recorded["codefeedback_version"] and "git_commit" in recorded
    refused = r"agent_class='agents\.baselines\.ReferenceAgent' \(now '.*RandomAgent'\)"
    with pytest.raises(RunIdentityError, match=refused):
        run_evaluation(RandomAgent(problems), problems, tmp_path, CONFIG, judge=judge)
    named = tmp_path / "named"
    run_evaluation(ReferenceAgent(problems), problems, named, CONFIG, judge=judge, identity={"agent": "reference"})
    with pytest.raises(RunIdentityError, match=r"agent='reference' \(now 'openai'\)"):
        run_evaluation(ReferenceAgent(problems), problems, named, CONFIG, judge=judge, identity={"agent": "openai"})
    again = run_evaluation(ReferenceAgent(problems), problems, tmp_path, CONFIG, judge=judge)  # same setup: resumes
    assert again.new_episodes == 0 and again.summary["solve_rate_by_turn"] == first.summary["solve_rate_by_turn"]


def test_resuming_with_other_final_tests_is_refused(demo: list[Problem], judge: Judge, tmp_path: Path) -> None:
    problems = demo[:2]
    public = dataclasses.replace(CONFIG, env_kwargs={"final_tests": ["public"]})
    run_evaluation(ReferenceAgent(problems), problems, tmp_path, public, judge=judge)
    assert json.loads((tmp_path / "config.json").read_text())["final_tests"] == ["public"]
    with pytest.raises(RunIdentityError, match=r"final_tests=\['public'\] \(now \['hidden', 'generated'\]\)"):
        run_evaluation(ReferenceAgent(problems), problems, tmp_path, CONFIG, judge=judge)  # the env's default
    again = run_evaluation(ReferenceAgent(problems), problems, tmp_path, public, judge=judge)
    assert again.new_episodes == 0


@pytest.mark.parametrize(
    ("env_kwargs", "named"),
    [
        ({"feedback_max_chars": 100}, r"env\.feedback_max_chars=1000 \(now 100\)"),
        ({"max_response_chars": 50}, r"env\.max_response_chars=200000 \(now 50\)"),
        ({"stop_hidden_on_failure": False}, r"env\.stop_hidden_on_failure=True \(now False\)"),
        ({"rewards": RewardConfig(invalid_response=0.0)}, r"env\.rewards="),
        ({"templates": dataclasses.replace(PAPER_TEMPLATES, retry="Again.")}, r"env\.templates="),
    ],
)
def test_resuming_with_other_environment_settings_is_refused(
    demo: list[Problem], judge: Judge, tmp_path: Path, env_kwargs: dict, named: str
) -> None:
    """What the agent sees (feedback length, templates) and how episodes are scored (rewards, hidden-test counts)
    are part of a run: a folder never mixes episodes of two settings."""
    problems = demo[:2]
    run_evaluation(ReferenceAgent(problems), problems, tmp_path, CONFIG, judge=judge)
    other = dataclasses.replace(CONFIG, env_kwargs=env_kwargs)
    with pytest.raises(RunIdentityError, match=named):
        run_evaluation(ReferenceAgent(problems), problems, tmp_path, other, judge=judge)
    explicit_defaults = dataclasses.replace(
        CONFIG, env_kwargs={"feedback_max_chars": 1000, "rewards": RewardConfig(), "templates": PAPER_TEMPLATES}
    )
    assert (
        run_evaluation(ReferenceAgent(problems), problems, tmp_path, explicit_defaults, judge=judge).new_episodes == 0
    )


def test_a_changed_problem_is_refused(demo: list[Problem], judge: Judge, tmp_path: Path) -> None:
    problems = demo[:2]
    run_evaluation(ReferenceAgent(problems), problems, tmp_path, CONFIG, judge=judge)
    records = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert {r["problem_sha256"] for r in records} == {problem_sha256(p) for p in problems}
    edited = [dataclasses.replace(problems[0], statement=problems[0].statement + " (edited)"), problems[1]]
    with pytest.raises(RunIdentityError, match=f"problem '{problems[0].id}' changed since"):
        run_evaluation(ReferenceAgent(edited), edited, tmp_path, CONFIG, judge=judge)


def test_an_old_run_without_identity_still_resumes(demo: list[Problem], judge: Judge, tmp_path: Path) -> None:
    problems = demo[:2]
    run_evaluation(ReferenceAgent(problems), problems, tmp_path, CONFIG, judge=judge)
    old = {"max_turns": 1, "feedback": "execution", "independent": False, "seed": 0, "rollouts": 1, "problems": 2}
    (tmp_path / "config.json").write_text(json.dumps(old))
    episodes = tmp_path / "episodes.jsonl"
    records = [json.loads(line) for line in episodes.read_text().splitlines()]
    stripped = [{k: v for k, v in r.items() if k != "problem_sha256"} for r in records]
    episodes.write_text("".join(json.dumps(r) + "\n" for r in stripped))
    resumed = run_evaluation(RandomAgent(problems), problems, tmp_path, CONFIG, judge=judge)  # identity unknown
    assert resumed.new_episodes == 0
    assert json.loads((tmp_path / "config.json").read_text())["episodes_before_identity"] == 2
    (tmp_path / "config.json").write_text(json.dumps(old | {"max_turns": 3}))  # known to differ: refused
    with pytest.raises(RunIdentityError, match=r"max_turns=3 \(now 1\)"):
        run_evaluation(RandomAgent(problems), problems, tmp_path, CONFIG, judge=judge)


def test_results_name_the_run_and_report_per_problem(demo: list[Problem], judge: Judge, tmp_path: Path) -> None:
    problems = [dataclasses.replace(p, difficulty=d) for p, d in zip(demo[:3], ("easy", "easy", "hard"), strict=True)]
    agent = ReferenceAgent(problems[:2])  # the third problem is not answered: unsolved
    identity = {"agent": "reference", "dataset": "demo"}
    result = run_evaluation(agent, problems, tmp_path, CONFIG, judge=judge, identity=identity)
    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["run"]["agent"] == "reference" and summary["run"]["dataset"] == "demo"
    assert summary["wall_seconds"] > 0 and summary["episode_seconds"] > 0
    assert summary["generated_tokens"] is None and summary["stop_reasons"] == {}  # the agent reports none
    assert [(r["problem_id"], r["solved"], r["solve_rate_by_turn"]) for r in summary["per_problem"]] == [
        (problems[0].id, 1, [1.0]),
        (problems[1].id, 1, [1.0]),
        (problems[2].id, 0, [0.0]),
    ]
    assert summary["per_difficulty"] == {
        "easy": {"problems": 2, "episodes": 2, "solve_rate_by_turn": [1.0]},
        "hard": {"problems": 1, "episodes": 1, "solve_rate_by_turn": [0.0]},
    }
    assert "agent reference; dataset demo (3 problems); 1 turns, feedback execution" in format_summary(result.summary)


class _CountingAgent(ReferenceAgent):
    """Reports generated tokens and stop reasons as an LLM agent does."""

    def act(self, observations, infos):  # type: ignore[no-untyped-def]
        responses = super().act(observations, infos)
        self.last_generation = [{"generated_tokens": len(r), "stop_reason": "stop"} for r in responses]
        return responses


def test_generation_totals_where_the_agent_reports_them(demo: list[Problem], judge: Judge, tmp_path: Path) -> None:
    problems = demo[:2]
    result = run_evaluation(_CountingAgent(problems), problems, tmp_path, CONFIG, judge=judge)
    turns = [t for r in result.records for t in r["turns"]]
    assert result.summary["generated_tokens"] == sum(len(t["response"]) for t in turns) > 0
    assert result.summary["stop_reasons"] == {"stop": 2}


def test_cli_resume_with_another_agent_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    common = ["eval", "--limit", "2", "--rollouts", "1", "--turns", "1", "--output", str(tmp_path), "--quiet"]
    assert cli.main([*common, "--agent", "reference"]) == 0
    assert "agent reference; dataset demo-quick (2 problems)" in capsys.readouterr().out
    assert cli.main([*common, "--agent", "random"]) == cli.USAGE_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "agent='reference' (now 'random')" in err and "another --output" in err
