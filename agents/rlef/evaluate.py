"""Evaluate a policy being trained with the project's evaluation runner (episodes.jsonl, results.json, plots)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.llm import SamplingConfig, TransformersAgent
from codefeedback_env.evaluation.runner import EvalConfig, run_evaluation
from codefeedback_env.problems import Problem

from .rollout import generation_mode


def held_out_problems(training: Sequence[Problem], candidates: Sequence[Problem], limit: int) -> list[Problem]:
    """The first `limit` problems of `candidates` that are not among `training` (by id): evaluation on problems
    the policy did not train on."""
    seen = {problem.id for problem in training}
    held_out = [problem for problem in candidates if problem.id not in seen][:limit]
    if limit > 0 and not held_out:
        raise ValueError(
            f"no evaluation problems left: all {len(candidates)} candidates are training problems; pass an "
            "--eval_dataset with other problems or lower --max_problems."
        )
    return held_out


def evaluate_policy(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Problem],
    output_dir: str | Path,
    *,
    rollouts: int = 2,
    max_turns: int = 3,
    max_new_tokens: int = 512,
    sampling: SamplingConfig | None = None,
    batch_size: int = 8,
) -> list[float]:
    """Per-turn cumulative solve rates of `model` (in memory) over `rollouts` episodes of each problem.

    Runs `run_evaluation` with a `TransformersAgent` around the model, so the run is recorded (and resumable)
    in `output_dir` like any `codefeedback eval` run. Sampling defaults to the paper's 1@3 setting
    (temperature 0.2, top-p 0.95, `max_new_tokens`); a `sampling` given is used as is. The model runs in
    `generation_mode` (eval mode, no gradient checkpointing).
    """
    sampling = sampling or SamplingConfig(temperature=0.2, top_p=0.95, max_new_tokens=max_new_tokens, seed=0)
    with generation_mode(model):
        agent = TransformersAgent(model, sampling=sampling, batch_size=batch_size, tokenizer=tokenizer)
        result = run_evaluation(agent, problems, output_dir, EvalConfig(rollouts=rollouts, max_turns=max_turns))
    return [row["value"] for row in result.summary["solve_rate_by_turn"]]
