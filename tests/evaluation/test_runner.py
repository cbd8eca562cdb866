"""The runner: recorded-run metrics computed by hand, the episode record format, and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.baselines import ReferenceAgent, ReplayAgent, fenced
from codefeedback_env.evaluation import EvalConfig, read_episodes, run_evaluation
from codefeedback_env.evaluation.runner import CONFIG_FILE, EPISODES_FILE, RESULTS_FILE

RIGHT_HELLO = fenced('print("Hello, World!")')
WRONG = fenced("print('nope')")
RIGHT_SUM = fenced("a, b = map(int, input().split())\nprint(a + b)")
OVERFIT_SUM = fenced("print({'1 2': 3, '-7 3': -4}[input().strip()])")  # passes public, fails hidden


def recorded_run(demo) -> tuple[list, list[dict]]:
    """Two problems x 3 rollouts x up to 2 turns, with outcomes chosen by hand."""
    problems = [p for p in demo if p.id in ("demo/hello-world", "demo/sum-two")]
    script = {
        "demo/hello-world": [[RIGHT_HELLO], [WRONG, RIGHT_HELLO], [WRONG, WRONG]],
        "demo/sum-two": [[WRONG, WRONG], [OVERFIT_SUM], ["I give up.", RIGHT_SUM]],
    }
    rows = [
        {"problem_id": pid, "rollout": r, "turn": t + 1, "response": text}
        for pid, rollouts in script.items()
        for r, turns in enumerate(rollouts)
        for t, text in enumerate(turns)
    ]
    return problems, rows


def test_hand_computed_metrics_on_a_recorded_run(demo, judge, tmp_path: Path) -> None:
    problems, rows = recorded_run(demo)
    replay_file = tmp_path / "replay.jsonl"
    replay_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = EvalConfig(rollouts=3, max_turns=2, progress=False, n_at_k=[(1, 2), (1, 4), (2, 4), (1, 6)])
    run = run_evaluation(ReplayAgent(replay_file), problems, tmp_path / "run", config, judge=judge)
    summary = run.summary
    # hello-world solved at turns 1 and 2 in two of three rollouts; sum-two solved at turn 2 once.
    assert [t["value"] for t in summary["solve_rate_by_turn"]] == pytest.approx([1 / 6, 1 / 2])
    nk = {name: est["value"] for name, est in summary["n_at_k"].items()}
    assert nk["1@2"] == pytest.approx(0.5)
    # 1@4 (two rollouts, one submission): hello 1; sum: {fail, overfit}=0, {fail, solved}=1, {overfit, solved}=1/2.
    assert nk["1@4"] == pytest.approx((1 + 0.5) / 2)
    assert nk["2@4"] == pytest.approx((1 + 2 / 3) / 2)
    assert nk["1@6"] == pytest.approx((1 + 0.5) / 2)  # all three rollouts, one of two public-passing ones
    assert summary["pass_at_k"]["pass@2"]["value"] == pytest.approx((1 + 2 / 3) / 2)
    assert json.loads((tmp_path / "run" / RESULTS_FILE).read_text())["n_at_k"]["1@4"]["value"] == pytest.approx(0.75)
    assert (tmp_path / "run" / "solve_rate_by_turn.png").stat().st_size > 1000

    by_key = {(r["problem_id"], r["rollout"]): r for r in run.records}
    overfit = by_key[("demo/sum-two", 1)]
    assert overfit["num_turns"] == 1 and overfit["turns"][0]["public_passed"] and not overfit["solved"]
    assert overfit["hidden"]["total"] == 6 and overfit["hidden"]["passed"] < 6
    gave_up = by_key[("demo/sum-two", 2)]
    first, second = gave_up["turns"]
    assert first["code"] is None and not first["valid_response"] and first["reward"] == pytest.approx(-0.2)
    assert first["messages"][-1]["role"] == "user" and len(first["messages"]) == 1
    assert second["messages"][-1]["content"] == first["feedback"]  # the turn-2 prompt is the turn-1 feedback
    assert second["public_results"][0]["verdict"] == "accepted" and gave_up["solved"]
    assert gave_up["return"] == pytest.approx(-0.2 + 1.0)
    assert {"seed", "mode", "max_turns", "feedback", "elapsed"} <= set(gave_up)

    # The recorded run replays into the same outcomes (episode records are valid replay files).
    again = run_evaluation(
        ReplayAgent(tmp_path / "run" / EPISODES_FILE), problems, tmp_path / "again", config, judge=judge
    )
    assert again.summary["n_at_k"] == summary["n_at_k"]


class Interrupting(ReferenceAgent):
    def __init__(self, problems, stop_after: int) -> None:
        super().__init__(problems)
        self.calls = 0
        self.stop_after = stop_after
        self.batches: list[list[tuple[str, int]]] = []

    def act(self, observations, infos):
        self.calls += 1
        if self.calls > self.stop_after:
            raise KeyboardInterrupt
        self.batches.append([(i["problem_id"], i["rollout"]) for i in infos])
        return super().act(observations, infos)


def test_resume_after_an_interrupted_run(demo, judge, tmp_path: Path) -> None:
    problems = demo[:6]  # fixed-output problems: one hidden test each
    config = EvalConfig(rollouts=2, max_active=2, progress=False)
    first = Interrupting(problems, stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(first, problems, tmp_path, config, judge=judge)
    assert all(len(batch) == 2 for batch in first.batches)  # one act call per turn over all active episodes
    episodes = tmp_path / EPISODES_FILE
    assert len(read_episodes(episodes)) == 4
    with open(episodes, "a") as stream:  # a write torn by a kill
        stream.write('{"problem_id": "demo/hello')

    second = Interrupting(problems, stop_after=100)
    run = run_evaluation(second, problems, tmp_path, config, judge=judge)
    done_first = {key for batch in first.batches for key in batch}
    done_second = {key for batch in second.batches for key in batch}
    assert not done_first & done_second and len(done_first | done_second) == 12
    assert run.new_episodes == 8 and len(run.records) == 12
    assert len(read_episodes(episodes)) == 12  # the torn line is gone

    third = Interrupting(problems, stop_after=0)
    assert run_evaluation(third, problems, tmp_path, config, judge=judge).new_episodes == 0  # nothing left to run
    more = run_evaluation(
        Interrupting(problems, 100), problems, tmp_path, EvalConfig(rollouts=3, progress=False), judge=judge
    )
    assert more.new_episodes == 6 and more.summary["rollouts_per_problem"] == 3


def test_resume_refuses_different_settings(demo, judge, tmp_path: Path) -> None:
    run_evaluation(ReferenceAgent(demo[:1]), demo[:1], tmp_path, EvalConfig(rollouts=1, progress=False), judge=judge)
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["max_turns"] == 3
    with pytest.raises(ValueError, match="max_turns"):
        run_evaluation(ReferenceAgent(demo[:1]), demo[:1], tmp_path, EvalConfig(rollouts=1, max_turns=2), judge=judge)


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="rollouts"):
        EvalConfig(rollouts=0)
    with pytest.raises(ValueError, match="max_turns"):
        EvalConfig(max_turns=0)


def test_random_feedback_ablation_runs_through_the_config(demo, judge, tmp_path: Path) -> None:
    wrong = {(p.id, 0, t): WRONG for p in demo[6:8] for t in (1, 2)}
    config = EvalConfig(rollouts=1, max_turns=2, feedback="random", progress=False)
    run = run_evaluation(ReplayAgent(wrong), demo[6:8], tmp_path, config, judge=judge)
    assert {r["feedback"] for r in run.records} == {"random"}
    first, second = sorted(run.records, key=lambda r: r["problem_id"])
    assert all(r["num_turns"] == 2 and not r["solved"] for r in run.records)
    assert first["turns"][0]["feedback"] != "" and second["turns"][0]["feedback"] != ""


def test_the_agents_sampling_is_recorded_in_the_results(demo, judge, tmp_path: Path) -> None:
    from agents.llm.sampling import SamplingConfig

    agent = ReferenceAgent(demo[:1])
    agent.sampling = SamplingConfig(temperature=0.2, stop_at_program_end=True)  # type: ignore[attr-defined]
    run = run_evaluation(agent, demo[:1], tmp_path, EvalConfig(rollouts=1, max_turns=1, independent=True), judge=judge)
    assert run.summary["run"]["sampling"]["stop_at_program_end"] is True  # the run's identity
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["sampling"]["stop_at_program_end"] is True
