"""Episodes the judge could not judge are left out of the loss: rollout, RLEF and GRPO on the tiny model.

The environment is the real `CodeFeedbackEnv` with a judge whose backend loses every run of the "river"
problem; generation is scripted (every turn answers `print('apple')`) so the outcome of each episode is known.
"""

from __future__ import annotations

import math

import pytest
import torch
from datasets import Dataset

from agents.grpo import make_grpo_config, make_grpo_trainer
from agents.rlef import RLEFConfig, RLEFTrainer, rollout
from agents.rlef.rollout import TurnTokenizer, episode_return_reward, run_episodes, trajectories_to_rollout
from agents.rlef.toy import SECRET_STATEMENT, SECRET_WORDS, build_policy, cpu_run_settings, secret_response
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.judge import Judge
from codefeedback_env.problems import Problem, TestCase
from tests.failing_backend import LOST_REASON, FailingBackend

PROBLEMS = [
    Problem(f"secret/{w}", SECRET_STATEMENT, (TestCase(f"{w}\n", f"{w}\n"),), (TestCase(f"{w}\n", f"{w}\n"),))
    for w in SECRET_WORDS
]
ROWS = [{"prompt": p} for p in ("secret/apple", "secret/stone", "secret/river", "secret/river")]


@pytest.fixture(scope="module")
def judge():
    with Judge(FailingBackend(lambda program, stdin: stdin == "river\n"), max_workers=2) as shared:
        yield shared


def answers_apple(tokenizer):
    ids = tokenizer(secret_response("apple"), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return lambda contexts: ([list(ids) for _ in contexts], [[-0.5] * len(ids) for _ in contexts])


def test_rollout_masks_out_an_unjudged_episode(tokenizer, judge) -> None:
    envs = [CodeFeedbackEnv(PROBLEMS, judge=judge) for _ in range(3)]
    ids = ["secret/apple", "secret/river", "secret/stone"]
    trajs = run_episodes(envs, ids, answers_apple(tokenizer), TurnTokenizer(tokenizer), 3)
    assert [t.judge_error is not None for t in trajs] == [False, True, False]
    assert LOST_REASON in (trajs[1].judge_error or "")
    assert (trajs[1].num_turns, trajs[1].turn_rewards, trajs[1].solved) == (1, [0.0], False)
    out = trajectories_to_rollout(trajs)
    assert set(out["env_mask"][1]) == {0} and 1 in out["env_mask"][0] and 1 in out["env_mask"][2]
    assert out["judge_error"] == [None, trajs[1].judge_error, None]
    rewards = episode_return_reward([""] * 3, out["episode_return"], judge_error=out["judge_error"])
    assert rewards == [1.0, None, -1.0]


def _model_tokens(batch) -> torch.Tensor:
    return (batch["completion_mask"] * batch["tool_mask"]).bool()


def test_rlef_leaves_unjudged_episodes_out_of_the_loss(tokenizer, judge, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(rollout, "trainer_generator", lambda trainer: answers_apple(tokenizer))
    torch.manual_seed(0)
    policy = build_policy(tokenizer, hidden=32, layers=1)
    args = RLEFConfig(**cpu_run_settings(str(tmp_path)))
    dataset = Dataset.from_dict({"prompt": [row["prompt"] for row in ROWS]})
    env_factory = lambda: CodeFeedbackEnv(PROBLEMS, judge=judge, **args.env_kwargs())  # noqa: E731
    trainer = RLEFTrainer(policy, env_factory, args, dataset, tokenizer)
    trainer.model.train()
    batch = trainer._generate_and_score_completions(ROWS)
    unjudged = torch.tensor([False, False, True, True])
    assert not batch["turn_mask"][unjudged].any() and batch["turn_mask"][~unjudged].any()
    assert not _model_tokens(batch)[unjudged].any()
    assert torch.all(batch["advantages"][unjudged] == 0) and batch["advantages"][~unjudged].abs().sum() > 0
    loss = trainer._compute_loss(trainer.model, batch)
    assert math.isfinite(loss.item())
    loss.backward()
    assert trainer._metrics["train"]["rollout/judge_error_rate"] == [0.5]
    assert trainer._metrics["train"]["rollout/solve_rate_turn_1"] == [0.5], "solve rates count judged episodes"


def test_grpo_leaves_unjudged_episodes_out_of_the_loss(tokenizer, judge, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(rollout, "trainer_generator", lambda trainer: answers_apple(tokenizer))
    policy = build_policy(tokenizer, hidden=32, layers=1)
    config = make_grpo_config(**cpu_run_settings(str(tmp_path)))
    dataset = Dataset.from_dict({"prompt": [row["prompt"] for row in ROWS]})
    env_factory = lambda: CodeFeedbackEnv(PROBLEMS, judge=judge)  # noqa: E731
    trainer = make_grpo_trainer(policy, env_factory, config, dataset, processing_class=tokenizer)
    trainer.model.train()
    batch = trainer._generate_and_score_completions(ROWS)
    assert not _model_tokens(batch)[2:].any() and _model_tokens(batch)[:2].any()
    assert torch.all(batch["advantages"][2:] == 0) and torch.all(batch["advantages"][:2] != 0)
    trainer.train()  # a real step over the same environments: unjudged rows are NaN-free and add no loss
    assert math.isfinite(trainer.state.log_history[0]["loss"])
