"""The CPU learning demo: RLEF teaches a tiny policy to repair its program from execution feedback.

One run: a tiny random Qwen2 policy, a supervised warm start on the repair task
(`agents.rlef.repair_task.warm_start`: the program forms, no repair), solve rates on held-out problem
instances, RLEF steps with `RLEFTrainer` in the real CodeFeedback environment (every program run by the
judge) on the training instances, and the same solve rates again. Training instances use the public and
hidden input words `TRAIN_INPUTS`, evaluation instances `HELD_OUT_INPUTS`: no test is shared.
Used by `tests/rlef/test_learning.py` (one seed) and `benchmarks/repair_demo.py` (several).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from datasets import Dataset

import codefeedback_env  # noqa: F401  (registers the environments)
from agents.rlef.repair_task import (
    HELD_OUT_INPUTS,
    TRAIN_INPUTS,
    PriorKind,
    answer_variant,
    build_repair_tokenizer,
    independent_ceiling,
    instance_variant,
    repair_problems,
    warm_start,
)
from agents.rlef.rlef_config import RLEFConfig
from agents.rlef.rlef_trainer import RLEFTrainer
from agents.rlef.rollout import Trajectory, sampled_episodes, solve_rates
from agents.rlef.toy import build_policy, cpu_run_settings
from codefeedback_env.problems.records import Problem

logger = logging.getLogger(__name__)

MAX_TURNS = 3
SAMPLINGS: dict[str, dict[str, float]] = {
    "": {"temperature": 0.2, "top_p": 0.95},  # the paper's 1@3 sampling
    "_t1": {"temperature": 1.0},  # the training temperature
}


@dataclass(frozen=True)
class DemoSettings:
    """One run of the demo."""

    seed: int = 0
    rl_steps: int = 400
    """RLEF optimiser steps."""
    batch: int = 32
    """Episodes per step (8 problems x 4 generations)."""
    lr: float = 1e-3
    kl_coef: float = 0.05
    """Per-response KL penalty to the warm-started policy (`RLEFConfig.kl_coef`; the paper's 0.05)."""
    prior_steps: int = 600
    """Warm-start steps on generic instructions only (the instruct prior), before the mixed warm start."""
    warm_steps: int = 600
    """Mixed warm-start steps: instructions, the task's prompt, failed turns with feedback (random answers)."""
    prior: PriorKind = "example"
    instruction_fraction: float = 0.3
    feedback_fraction: float = 0.4
    repeat_fraction: float = 0.0
    """Of the warm start's answers after feedback, the fraction that repeats the last wrong program. 0: a
    repeat-heavy warm start teaches a copy of the previous answer's word that competes with the copy of the
    revealed word, and as the KL reference it holds some seeds on a plateau where only the order is learned."""
    eval_per_problem: int = 2
    """Episodes per held-out problem in each evaluation (60 problems)."""
    hidden: int = 64
    layers: int = 2
    log_every: int = 5


def env_factory(problems: list[Problem], **options: Any):
    """Environments on `problems`: by default as evaluated (3 turns); training passes `config.env_kwargs()`."""
    options = {"max_turns": MAX_TURNS} | options
    return lambda: gym.make("CodeFeedback/CodeFeedback-v0", dataset=problems, **options)


def _evaluate(model, tokenizer, make_env, ids: list[str], stage: str) -> dict[str, list[float]]:
    rates = {}
    for suffix, sampling in SAMPLINGS.items():
        for mode, independent in (("multi_turn", False), ("independent", True)):
            rates[f"{stage}_{mode}{suffix}"] = solve_rates(
                model, tokenizer, make_env, ids, MAX_TURNS, independent=independent, max_new_tokens=8, **sampling
            )
    return rates


def repair_breakdown(model, tokenizer, make_env, ids: list[str]) -> dict[str, float]:
    """What the policy answers after a failed turn, at the training temperature (`after_failure_breakdown` of
    multi-turn episodes on `ids`). Tells which half of the repair a policy has learned when it has not learned
    both."""
    with torch.random.fork_rng():  # leaves the run's random stream as it was
        return after_failure_breakdown(sampled_episodes(model, tokenizer, make_env, ids, MAX_TURNS, max_new_tokens=8))


def after_failure_breakdown(episodes: Iterable[Trajectory]) -> dict[str, float]:
    """The fractions of the answers after a failed turn (each response but an episode's first) that write the
    revealed secret word, the revealed order, both, the previous answer's word, and none of the K program
    forms; and how many such answers there were."""
    counts = dict.fromkeys(("word", "order", "both", "previous_word", "other_program"), 0)
    answers = 0
    for traj in episodes:
        word, order = instance_variant(traj.problem_id)
        parsed = [answer_variant(r) for r in traj.responses]
        for before, now in zip(parsed, parsed[1:], strict=False):
            answers += 1
            if now is None:
                counts["other_program"] += 1
                continue
            counts["word"] += now[0] == word
            counts["order"] += now[1] == order
            counts["both"] += now == (word, order)
            counts["previous_word"] += before is not None and now[0] == before[0]
    return {key: round(n / max(answers, 1), 3) for key, n in counts.items()} | {"answers": answers}


def run_demo(settings: DemoSettings, output_dir: str | Path) -> dict[str, Any]:
    """Warm start, evaluate, train, evaluate; returns (and writes to `output_dir/repair_demo.json`) the solve
    rates within 1..3 turns by stage, mode and sampling, the independent-sampling ceiling, the settings
    and the training log."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    tokenizer = build_repair_tokenizer()
    train_problems, eval_problems = repair_problems(TRAIN_INPUTS), repair_problems(HELD_OUT_INPUTS)
    policy = build_policy(tokenizer, hidden=settings.hidden, layers=settings.layers, seed=settings.seed)
    warm = {"steps": settings.prior_steps, "inputs": TRAIN_INPUTS, "prior": settings.prior}
    warm_start(policy, tokenizer, **warm, instruction_fraction=1.0, seed=settings.seed + 1)
    warm |= {"steps": settings.warm_steps, "instruction_fraction": settings.instruction_fraction}
    mixed = {"feedback_fraction": settings.feedback_fraction, "repeat_fraction": settings.repeat_fraction}
    warm_start(policy, tokenizer, **warm, **mixed, seed=settings.seed + 2)

    eval_env = env_factory(eval_problems)
    eval_ids = [p.id for p in eval_problems] * settings.eval_per_problem
    results: dict[str, Any] = {"settings": dataclasses.asdict(settings)}
    results |= _evaluate(policy, tokenizer, eval_env, eval_ids, "initial")
    results["initial_after_failure"] = repair_breakdown(policy, tokenizer, eval_env, eval_ids)

    config = RLEFConfig(
        **cpu_run_settings(
            str(output_dir / "rlef"),
            max_steps=settings.rl_steps,
            per_device_train_batch_size=settings.batch,
            num_generations=4,
            max_completion_length=8,
            learning_rate=settings.lr,
            kl_coef=settings.kl_coef,
            lr_scheduler_type="constant",
            logging_steps=settings.log_every,
            seed=settings.seed,
        )
    )
    train_ids = [p.id for p in train_problems]
    prompts = [train_ids[i % len(train_ids)] for i in range(settings.rl_steps * settings.batch)]
    random.Random(settings.seed).shuffle(prompts)
    trainer = RLEFTrainer(
        policy,
        env_factory(train_problems, **config.env_kwargs()),
        config,
        Dataset.from_dict({"prompt": prompts}),
        processing_class=tokenizer,
    )
    trainer.train()
    results |= _evaluate(trainer.model, tokenizer, eval_env, eval_ids, "trained")
    results["trained_after_failure"] = repair_breakdown(trainer.model, tokenizer, eval_env, eval_ids)
    results["independent_ceiling"] = independent_ceiling(MAX_TURNS)
    results["train_log"] = [
        {k: v for k, v in row.items() if k.startswith(("rollout/", "rlef/", "policy/", "losses/", "value/", "step"))}
        for row in trainer.state.log_history
    ]
    logger.info("repair demo results: %s", json.dumps({k: v for k, v in results.items() if k != "train_log"}))
    (output_dir / "repair_demo.json").write_text(json.dumps(results, indent=1))
    return results
