"""Compare two evaluation runs of the same problems: per-turn solve rates, n@k, and the difference with a
paired bootstrap interval.

The unit resampled is the problem: each metric is first averaged over a problem's rollouts (rollouts are not
resampled), then the same resampled list of problems is used for both runs, so the interval of `B - A` is
that of the mean per-problem difference. Runs are read from their `episodes.jsonl` (results.json is not
needed, so runs written before the analyses existed compare too). Both runs must hold the same problem ids
(and, where recorded, the same problem contents); a problem whose episodes could not be judged in either
run is left out and counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from codefeedback_env.evaluation.metrics import (
    BOOTSTRAP_RESAMPLES,
    RolloutOutcome,
    bootstrap_interval,
    default_n_at_k,
    group_by_problem,
    n_at_k_problem,
    solved_within,
)
from codefeedback_env.evaluation.runner import EPISODES_FILE, RESULTS_FILE, describe_run, read_episodes

MODES = ("multi_turn", "independent")


class CompareError(ValueError):
    """Two runs that cannot be compared, or a folder that holds no run."""


@dataclass(frozen=True)
class LoadedRun:
    """The episodes of one run (one mode) and what produced it."""

    path: Path
    mode: str
    max_turns: int
    records: list[dict[str, Any]]
    run: dict[str, Any]
    """The recorded identity (`results.json`'s `run`, else `config.json`); empty for old runs."""

    @property
    def name(self) -> str:
        return f"{self.path} ({self.mode})"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _load_one(folder: Path) -> LoadedRun:
    records = read_episodes(folder / EPISODES_FILE)
    if not records:
        raise CompareError(f"{folder / EPISODES_FILE} holds no episode; give a finished evaluation's folder")
    results = _read_json(folder / RESULTS_FILE)
    run = results.get("run") or _read_json(folder / "config.json")
    turns = {int(r.get("max_turns") or 0) for r in records} - {0}
    if len(turns) > 1:
        raise CompareError(f"{folder / EPISODES_FILE} mixes turn limits {sorted(turns)}; one run has one limit")
    max_turns = turns.pop() if turns else int((results.get("config") or {}).get("max_turns") or 0)
    if max_turns < 1:
        max_turns = max(len(r["turns"]) for r in records)
    mode = str(records[0].get("mode") or (results.get("config") or {}).get("mode") or folder.name)
    return LoadedRun(folder, mode, max_turns, records, dict(run))


def load_runs(path: str | Path) -> dict[str, LoadedRun]:
    """The runs in an evaluation folder by mode: the folder itself when it holds `episodes.jsonl`, else its
    `multi_turn/` and `independent/` folders (what `codefeedback eval --output` writes)."""
    folder = Path(path)
    if not folder.is_dir():
        raise CompareError(f"{str(folder)!r} is not a folder; give an evaluation's output folder")
    if (folder / EPISODES_FILE).exists():
        run = _load_one(folder)
        return {run.mode: run}
    runs = {mode: _load_one(folder / mode) for mode in MODES if (folder / mode / EPISODES_FILE).exists()}
    if not runs:
        raise CompareError(
            f"no {EPISODES_FILE} in {str(folder)!r} or in its {'/ or '.join(MODES)}/ folders; give the --output "
            "folder of `codefeedback eval` or one of its mode folders"
        )
    return runs


def pair_runs(
    a: Mapping[str, LoadedRun], b: Mapping[str, LoadedRun], mode: str | None = None
) -> list[tuple[LoadedRun, LoadedRun]]:
    """The (A, B) pairs to compare: the two runs when each folder holds one, else the modes both hold (or
    `mode` only)."""
    if mode is None and len(a) == 1 and len(b) == 1:
        return [(next(iter(a.values())), next(iter(b.values())))]
    modes = [m for m in MODES if m in a and m in b and (mode is None or m == mode)]
    if not modes:
        wanted = f"mode {mode!r}" if mode else "a mode"
        raise CompareError(f"the runs share no {wanted}: A has {sorted(a)}, B has {sorted(b)}; pick runs with --mode")
    return [(a[m], b[m]) for m in modes]


def _check_same_problems(a: LoadedRun, b: LoadedRun) -> None:
    ids_a = {str(r["problem_id"]) for r in a.records}
    ids_b = {str(r["problem_id"]) for r in b.records}
    if ids_a != ids_b:
        only_a, only_b = sorted(ids_a - ids_b), sorted(ids_b - ids_a)
        raise CompareError(
            f"the runs cover different problems: {len(only_a)} only in A {only_a[:3]}, {len(only_b)} only in B "
            f"{only_b[:3]}; compare runs of the same problems (same dataset and selection)"
        )
    digests_a = {str(r["problem_id"]): r.get("problem_sha256") for r in a.records}
    for record in b.records:
        theirs, ours = record.get("problem_sha256"), digests_a.get(str(record["problem_id"]))
        if theirs and ours and theirs != ours:
            raise CompareError(
                f"problem {record['problem_id']!r} differs between the runs (its content hash); compare runs of "
                "the same dataset version"
            )


def _groups(run: LoadedRun) -> dict[str, list[RolloutOutcome]]:
    return group_by_problem([RolloutOutcome.from_record(r) for r in run.records if not r.get("judge_error")])


def _estimate(values: np.ndarray, resamples: int, seed: int) -> dict[str, float]:
    low, high = bootstrap_interval(values, resamples=resamples, seed=seed)
    return {"value": float(values.mean()), "low": low, "high": high}


def compare_runs(a: LoadedRun, b: LoadedRun, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict:
    """Metrics of A and B on the problems judged in both, and B - A with a paired bootstrap 95% interval.

    Per-turn rates cover turns 1..min(turn limits); n@k pairs are those both runs support, each run costing
    its own turn limit per rollout (so 1@3 compares one 3-turn rollout with three 1-turn rollouts)."""
    if resamples < 1:
        raise CompareError(f"resamples must be at least 1, got {resamples}")
    _check_same_problems(a, b)
    groups_a, groups_b = _groups(a), _groups(b)
    problems = [p for p in groups_a if p in groups_b]
    if not problems:
        raise CompareError("no problem has a judged episode in both runs")
    rollouts_a = min(len(groups_a[p]) for p in problems)
    rollouts_b = min(len(groups_b[p]) for p in problems)

    def per_problem(groups: Mapping[str, list[RolloutOutcome]], metric: Any) -> np.ndarray:
        return np.array([metric(groups[p]) for p in problems], dtype=np.float64)

    metrics: list[tuple[str, Any, Any]] = []
    for turn in range(1, min(a.max_turns, b.max_turns) + 1):
        solved_by = partial(solved_within, turn=turn)
        metrics.append((f"solved by turn {turn}", solved_by, solved_by))
    metrics.append(("solved (any turn)", solved_within, solved_within))
    pairs = dict.fromkeys(default_n_at_k(a.max_turns, rollouts_a) + default_n_at_k(b.max_turns, rollouts_b))
    for n, k in pairs:
        if all(1 <= k // run.max_turns <= fewest for run, fewest in ((a, rollouts_a), (b, rollouts_b))):
            metrics.append(
                (
                    f"{n}@{k}",
                    lambda rolls, n=n, k=k: n_at_k_problem(rolls, n, k, a.max_turns),
                    lambda rolls, n=n, k=k: n_at_k_problem(rolls, n, k, b.max_turns),
                )
            )
    rows = []
    for name, metric_a, metric_b in metrics:
        values_a, values_b = per_problem(groups_a, metric_a), per_problem(groups_b, metric_b)
        rows.append(
            {
                "metric": name,
                "a": _estimate(values_a, resamples, seed),
                "b": _estimate(values_b, resamples, seed),
                "difference": _estimate(values_b - values_a, resamples, seed),
            }
        )
    recorded = {str(r["problem_id"]) for r in a.records}
    return {
        "a": {"path": str(a.path), "mode": a.mode, "max_turns": a.max_turns, "rollouts_per_problem": rollouts_a}
        | ({"run": describe_run(a.run)} if a.run else {}),
        "b": {"path": str(b.path), "mode": b.mode, "max_turns": b.max_turns, "rollouts_per_problem": rollouts_b}
        | ({"run": describe_run(b.run)} if b.run else {}),
        "problems": len(problems),
        "problems_left_out": len(recorded) - len(problems),
        "bootstrap": {"unit": "problem", "paired": True, "resamples": resamples, "seed": seed, "level": 0.95},
        "rows": rows,
    }


def format_comparison(comparison: Mapping[str, Any]) -> str:
    """A plain-text table of a `compare_runs` result."""
    a, b = comparison["a"], comparison["b"]
    boot = comparison["bootstrap"]
    lines = [
        f"A: {a['path']} ({a['mode']}, {a['max_turns']} turns, {a['rollouts_per_problem']} rollouts per problem)",
        *([f"   {a['run']}"] if a.get("run") else []),
        f"B: {b['path']} ({b['mode']}, {b['max_turns']} turns, {b['rollouts_per_problem']} rollouts per problem)",
        *([f"   {b['run']}"] if b.get("run") else []),
        f"{comparison['problems']} problems"
        + (
            f" ({comparison['problems_left_out']} left out: not judged in both)"
            if comparison["problems_left_out"]
            else ""
        )
        + f"; B - A with a paired bootstrap 95% interval ({boot['resamples']} resamples of the problems, "
        "each averaged over its rollouts)",
        f"{'metric':>18}  {'A':>6}  {'B':>6}  {'B - A':>7}  {'95% CI':>17}",
    ]
    for row in comparison["rows"]:
        diff = row["difference"]
        lines.append(
            f"{row['metric']:>18}  {row['a']['value']:>6.3f}  {row['b']['value']:>6.3f}  {diff['value']:>+7.3f}  "
            f"[{diff['low']:+.3f}, {diff['high']:+.3f}]"
        )
    return "\n".join(lines)
