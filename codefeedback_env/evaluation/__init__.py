"""Evaluate any agent in the multi-turn environment: runner (resumable JSONL), metrics and plots."""

from codefeedback_env.evaluation.metrics import (
    BOOTSTRAP_RESAMPLES,
    Estimate,
    RolloutOutcome,
    bootstrap_interval,
    n_at_k_problem,
    pass_at_k,
    samples_curve,
    solve_rate_by_turn,
    summarize,
)
from codefeedback_env.evaluation.runner import (
    EvalConfig,
    RunResult,
    evaluate_with_baseline,
    format_summary,
    read_episodes,
    run_evaluation,
)

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "Estimate",
    "EvalConfig",
    "RolloutOutcome",
    "RunResult",
    "bootstrap_interval",
    "evaluate_with_baseline",
    "format_summary",
    "n_at_k_problem",
    "pass_at_k",
    "read_episodes",
    "run_evaluation",
    "samples_curve",
    "solve_rate_by_turn",
    "summarize",
]
