"""RLEF's central claim in miniature: a tiny policy learns to use execution feedback.

Secret-word problems: the statement never names the word, the public test's expected output (shown
in the feedback after a failed turn) does. A tiny random policy gets a supervised warm start standing in
for an instruct LLM: it answers in the fenced format, guesses a uniformly random word at turn 1, can copy
a quoted word when asked to, and after a failed turn mostly repeats its wrong guess (it reads the
feedback in a quarter of the warm-start examples), so within 3 turns it does about as well as guessing
independently (1 - 0.8^3 = 0.49), like the LLMs in the paper before RLEF. It is then trained with the
same `RLEFTrainer` code path in the real CodeFeedback environment (the judge runs every program).
Afterwards it should solve >= 0.9 of episodes within 3 turns, while the same policy under independent
sampling (every turn a fresh turn-1 sample, no feedback) stays <= 0.6.
"""

from __future__ import annotations

import json
import logging
import math

import gymnasium as gym
import pytest
import torch
from datasets import Dataset

import codefeedback_env  # noqa: F401
from agents.rlef import RLEFConfig, RLEFTrainer, solve_rates
from agents.rlef.toy import SECRET_STATEMENT, SECRET_WORDS, build_policy, cpu_run_settings, warm_start
from codefeedback_env.envs import TRAINING_FINAL_TESTS
from codefeedback_env.problems.records import Problem, TestCase

logger = logging.getLogger(__name__)


def secret_problems(words: tuple[str, ...] = SECRET_WORDS, per_word: int = 2) -> list[Problem]:
    """Stdio problems "Print the secret word." whose public and hidden tests expect the word."""
    return [
        Problem(
            id=f"secret/{word}-{k}",
            statement=SECRET_STATEMENT,
            public_tests=(TestCase(input="", output=f"{word}\n"),),
            hidden_tests=(TestCase(input="", output=f"{word}\n"), TestCase(input="\n", output=f"{word}\n")),
            solutions=(f"print('{word}')\n",),
            source="synthetic",
        )
        for word in words
        for k in range(per_word)
    ]


def env_factory(problems: list[Problem]):
    options = {"max_turns": 3, "final_tests": TRAINING_FINAL_TESTS}
    return lambda: gym.make("CodeFeedback/CodeFeedback-v0", dataset=problems, **options)


def train(
    tokenizer,
    tmp_path,
    *,
    rl_steps: int,
    warm_steps: int,
    batch: int,
    lr: float,
    eval_per_problem: int,
    hidden: int = 64,
    layers: int = 2,
    seed: int = 0,
    log_every: int = 5,
    instruction_fraction: float = 0.4,
    feedback_fraction: float = 0.3,
    feedback_use: float = 0.0,
    copy_prior_steps: int = 0,
    lr_scheduler: str = "constant",
) -> dict[str, list[float]]:
    torch.manual_seed(seed)
    problems = secret_problems()
    ids = [p.id for p in problems]
    make_env = env_factory(problems)
    policy = build_policy(tokenizer, hidden=hidden, layers=layers, seed=seed)
    if copy_prior_steps:  # generic "print the quoted word" skill first (stands in for an instruct LLM)
        warm_start(policy, tokenizer, steps=copy_prior_steps, seed=seed + 1, instruction_fraction=1.0)
    warm_start(
        policy,
        tokenizer,
        steps=warm_steps,
        seed=seed + 2,
        instruction_fraction=instruction_fraction,
        feedback_fraction=feedback_fraction,
        feedback_use=feedback_use,
    )
    eval_ids = ids * eval_per_problem

    def evaluate(model, stage: str) -> dict[str, list[float]]:
        """Solve rates at the paper's 1@3 sampling (T=0.2, top-p 0.95) and at the training temperature 1.0."""
        rates = {}
        for suffix, sampling in (("", {"temperature": 0.2, "top_p": 0.95}), ("_t1", {"temperature": 1.0})):
            rates[f"{stage}_multi_turn{suffix}"] = solve_rates(
                model, tokenizer, make_env, eval_ids, max_new_tokens=16, **sampling
            )
            rates[f"{stage}_independent{suffix}"] = solve_rates(
                model, tokenizer, make_env, eval_ids, independent=True, max_new_tokens=16, **sampling
            )
        return rates

    results = evaluate(policy, "initial")
    config = RLEFConfig(
        **cpu_run_settings(
            str(tmp_path / "rlef"),
            max_steps=rl_steps,
            per_device_train_batch_size=batch,
            num_generations=4,
            max_completion_length=16,
            learning_rate=lr,
            lr_scheduler_type=lr_scheduler,
            logging_steps=log_every,
            seed=seed,
        )
    )
    dataset = Dataset.from_dict({"prompt": ids * (rl_steps * batch // len(ids) + 1)})
    trainer = RLEFTrainer(policy, make_env, config, dataset, processing_class=tokenizer)
    trainer.train()
    results |= evaluate(trainer.model, "trained")
    results["initial_independent_expected"] = [1 - (1 - 1 / len(SECRET_WORDS)) ** t for t in (1, 2, 3)]
    results["train_log"] = [
        {k: v for k, v in row.items() if k.startswith(("rollout/", "rlef/", "step"))}
        for row in trainer.state.log_history
    ]
    logger.info("learning results: %s", json.dumps(results))
    (tmp_path / "learning.json").write_text(json.dumps(results, indent=1))
    return results


def test_rlef_smoke_on_real_environment(tokenizer, tmp_path) -> None:
    """Two RLEF steps against the subprocess judge: the loop runs and logs finite metrics."""
    results = train(
        tokenizer,
        tmp_path,
        rl_steps=2,
        warm_steps=10,
        batch=4,
        lr=1e-3,
        eval_per_problem=1,
        hidden=32,
        layers=1,
        log_every=1,
    )
    row = results["train_log"][0]
    assert all(math.isfinite(v) for v in row.values() if isinstance(v, float) and not math.isnan(v))
    assert "rollout/solve_rate_turn_3" in row and len(results["trained_multi_turn"]) == 3


LEARN_STEPS = 400


@pytest.fixture(scope="module")
def learned(tokenizer, tmp_path_factory) -> dict[str, list[float]]:
    """One training run (about 7 minutes on one core): warm start, 400 RLEF steps of 32 episodes, evaluation."""
    results = train(
        tokenizer,
        tmp_path_factory.mktemp("learning"),
        rl_steps=LEARN_STEPS,
        copy_prior_steps=1000,
        warm_steps=800,
        instruction_fraction=0.2,
        feedback_fraction=0.6,
        feedback_use=0.25,
        batch=32,
        lr=3e-4,
        eval_per_problem=10,
    )
    print(json.dumps({k: v for k, v in results.items() if k != "train_log"}))
    return results


@pytest.mark.slow
def test_rlef_learns_to_use_feedback(learned) -> None:
    """At the paper's 1@3 sampling, the trained policy solves >= 0.9 within 3 turns, far above its initial self
    and its own feedback-free sampling (<= 0.6); the initial policy does no better than independent guessing.
    At the training temperature (1.0) the trained policy still uses the feedback."""
    multi, independent = learned["trained_multi_turn"][2], learned["trained_independent"][2]
    assert learned["initial_multi_turn"][2] <= 0.6
    assert multi >= 0.9
    assert independent <= 0.6
    assert multi >= learned["initial_multi_turn"][2] + 0.3
    assert learned["trained_multi_turn_t1"][2] >= learned["trained_independent_t1"][2] + 0.3
