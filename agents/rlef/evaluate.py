"""Evaluate a policy being trained with the project's evaluation runner (episodes.jsonl, results.json, plots)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.llm import SamplingConfig, TransformersAgent
from codefeedback_env.evaluation.runner import EvalConfig, run_evaluation
from codefeedback_env.problems import Problem


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
    (temperature 0.2, top-p 0.95). The model is put in eval mode for the run (a model fresh out of a trainer
    may have gradient checkpointing on, which disables the KV cache) and restored after.
    """
    sampling = sampling or SamplingConfig(temperature=0.2, top_p=0.95, max_new_tokens=max_new_tokens, seed=0)
    was_training = model.training
    checkpointing = getattr(model, "is_gradient_checkpointing", False)
    if checkpointing:
        model.gradient_checkpointing_disable()
    model.eval()
    try:
        agent = TransformersAgent(
            model, sampling=sampling or SamplingConfig(), batch_size=batch_size, tokenizer=tokenizer
        )
        result = run_evaluation(agent, problems, output_dir, EvalConfig(rollouts=rollouts, max_turns=max_turns))
    finally:
        if checkpointing:
            model.gradient_checkpointing_enable()
        model.train(was_training)
    return [row["value"] for row in result.summary["solve_rate_by_turn"]]
