"""Evaluate any agent in the multi-turn environment: runner (resumable JSONL), metrics, the paper's analyses,
turn-limit sweeps, run comparisons and plots."""

from codefeedback_env.evaluation.analyses import analyze
from codefeedback_env.evaluation.compare import compare_runs, load_runs
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
from codefeedback_env.evaluation.sweep import run_sweep

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "Estimate",
    "EvalConfig",
    "RolloutOutcome",
    "RunResult",
    "analyze",
    "bootstrap_interval",
    "compare_runs",
    "evaluate_with_baseline",
    "format_summary",
    "load_runs",
    "n_at_k_problem",
    "pass_at_k",
    "read_episodes",
    "run_evaluation",
    "run_sweep",
    "samples_curve",
    "solve_rate_by_turn",
    "summarize",
]
