"""Baseline agents and the independent-sampling wrapper, played through the runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.baselines import RandomAgent, ReferenceAgent, ReplayAgent, fenced, read_replay_file
from agents.protocol import Agent
from agents.wrappers import IndependentSampling, random_feedback_env_kwargs, turn_one_view
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.evaluation import EvalConfig, run_evaluation


def test_reference_agent_solves_every_demo_problem_at_turn_one(demo, judge, tmp_path: Path) -> None:
    run = run_evaluation(ReferenceAgent(demo), demo, tmp_path, EvalConfig(rollouts=1, progress=False), judge=judge)
    assert len(run.records) == len(demo)
    unsolved = [r["problem_id"] for r in run.records if not (r["solved"] and r["num_turns"] == 1)]
    assert unsolved == []
    assert run.summary["solve_rate_by_turn"][0]["value"] == 1.0
    assert run.summary["n_at_k"]["1@3"]["value"] == 1.0


def test_agents_follow_the_protocol(demo) -> None:
    for agent in (ReferenceAgent(demo), RandomAgent(demo), ReplayAgent({}), IndependentSampling(ReferenceAgent(demo))):
        assert isinstance(agent, Agent)


def test_random_agent_answers_with_other_problems_solutions_reproducibly(demo) -> None:
    infos = [{"problem_id": p.id} for p in demo] * 3
    first = RandomAgent(demo, seed=1).act([{}] * len(infos), infos)
    assert first == RandomAgent(demo, seed=1).act([{}] * len(infos), infos)
    own = {p.id: fenced(p.solutions[0]) for p in demo}
    assert all(response != own[info["problem_id"]] for response, info in zip(first, infos, strict=False))
    with pytest.raises(ValueError):
        RandomAgent(demo[:1])


def test_replay_file_formats_and_missing_records(tmp_path: Path) -> None:
    path = tmp_path / "replay.jsonl"
    rows = [
        {"problem_id": "p", "rollout": 0, "turn": 1, "response": "a"},
        {"problem_id": "p", "rollout": 1, "turn": 2, "response": "b"},
        {"problem_id": "q", "rollout": 0, "turns": [{"turn": 1, "response": "c"}]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert read_replay_file(path) == {("p", 0, 1): "a", ("p", 1, 2): "b", ("q", 0, 1): "c"}
    agent = ReplayAgent(path)
    infos = [
        {"problem_id": "p", "turn": 0},
        {"problem_id": "p", "rollout": 1, "turn": 1},
        {"problem_id": "q", "turn": 0},
    ]
    assert agent.act([{}] * 3, infos) == ["a", "b", "c"]
    with pytest.raises(KeyError, match="no recorded response"):
        agent.act([{}], [{"problem_id": "p", "turn": 5}])
    assert ReplayAgent(path, missing_response="").act([{}], [{"problem_id": "z", "turn": 0}]) == [""]
    path.write_text('{"problem_id": "p"}\n')
    with pytest.raises(ValueError, match="line 1"):
        read_replay_file(path)


class Recorder:
    """Always wrong; remembers everything it was shown."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def act(self, observations, infos) -> list[str]:
        self.seen += [(dict(o), dict(i)) for o, i in zip(observations, infos, strict=False)]
        return [fenced("print('wrong')")] * len(infos)


def test_independent_sampling_never_shows_feedback(demo, judge, tmp_path: Path) -> None:
    recorder = Recorder()
    problems = demo[6:8]  # stdio problems whose wrong answers get feedback
    config = EvalConfig(rollouts=2, max_turns=3, independent=True, progress=False)
    run = run_evaluation(recorder, problems, tmp_path, config, judge=judge)
    assert len(recorder.seen) == 2 * 2 * 3  # every episode used all three turns
    assert {info["true_turn"] for _, info in recorder.seen} == {0, 1, 2}
    for obs, info in recorder.seen:
        assert obs["feedback"] == "" and obs["turn"] == 0 and info["turn"] == 0
        assert [m["role"] for m in info["messages"]] == ["user"]
        assert "failed" not in info["messages"][0]["content"]
    # The environment itself did give feedback (recorded), the agent just never saw it.
    assert all(r["mode"] == "independent" for r in run.records)
    assert "failed" in run.records[0]["turns"][0]["feedback"]


def test_turn_one_view_and_random_feedback_helper() -> None:
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    obs, info = turn_one_view(
        {"problem": "x", "feedback": "f", "turn": 1}, {"messages": messages + [messages[1]], "turn": 1}
    )
    assert obs == {"problem": "x", "feedback": "", "turn": 0} and info["messages"] == messages[:2]
    kwargs = random_feedback_env_kwargs(max_turns=2)
    assert kwargs == {"max_turns": 2, "feedback": "random"}
    assert CodeFeedbackEnv("demo", **kwargs).feedback_mode.value == "random"
