"""Per-problem and per-difficulty tables of a run, and what the agent's generation cost (`results.json`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from codefeedback_env.evaluation.metrics import RolloutOutcome, group_by_problem, solve_rate_by_turn
from codefeedback_env.problems import Problem

__all__ = ["generation_totals", "per_difficulty", "per_problem"]


def per_problem(outcomes: Sequence[RolloutOutcome], problems: Sequence[Problem], max_turns: int) -> list[dict]:
    """One row per problem with judged episodes, in dataset order: its difficulty, episodes, episodes
    solved and the fraction of its episodes solved within each turn 1..max_turns."""
    groups = group_by_problem(outcomes)
    rows = []
    for problem in problems:
        rolls = groups.get(problem.id)
        if not rolls:
            continue
        rows.append(
            {
                "problem_id": problem.id,
                "difficulty": problem.difficulty or None,
                "episodes": len(rolls),
                "solved": sum(o.solved for o in rolls),
                "solve_rate_by_turn": [round(x, 6) for x in solve_rate_by_turn(rolls, max_turns)],
            }
        )
    return rows


def per_difficulty(
    outcomes: Sequence[RolloutOutcome], problems: Sequence[Problem], max_turns: int
) -> dict[str, dict[str, Any]]:
    """Per-problem-averaged solve rate by turn for each difficulty label; empty when no problem has one."""
    difficulty = {p.id: p.difficulty for p in problems}
    if not any(difficulty.get(o.problem_id) for o in outcomes):
        return {}
    labels: dict[str, list[RolloutOutcome]] = {}
    for outcome in outcomes:
        labels.setdefault(difficulty.get(outcome.problem_id) or "unlabelled", []).append(outcome)
    return {
        label: {
            "problems": len(group_by_problem(rolls)),
            "episodes": len(rolls),
            "solve_rate_by_turn": [round(x, 6) for x in solve_rate_by_turn(rolls, max_turns)],
        }
        for label, rolls in sorted(labels.items())
    }


def generation_totals(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Generated tokens and stop reasons summed over the turns whose agent reported them
    (`turn["generated_tokens"]`, `turn["stop_reason"]`); None and an empty count when none did."""
    tokens = [t["generated_tokens"] for r in records for t in r["turns"] if t.get("generated_tokens") is not None]
    reasons = Counter(t["stop_reason"] for r in records for t in r["turns"] if t.get("stop_reason"))
    return {
        "generated_tokens": sum(tokens) if tokens else None,
        "turns_with_token_counts": len(tokens),
        "stop_reasons": dict(sorted(reasons.items())),
    }
