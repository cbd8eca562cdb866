"""Metrics of an evaluation run: pass@k, n@k with RLEF's sample accounting, per-turn solve rates, bootstrap CIs.

Intervals are percentile bootstraps of the mean over problems; `BOOTSTRAP_UNITS` says what may be resampled.

Sample accounting (RLEF, Gehring et al. 2024): every turn is a sample, so a rollout of up to `T` turns
costs `T` samples. `n@k` therefore draws `k // T` rollouts of a problem (1@3 = one rollout of 3 turns;
10@100 = 33 rollouts of 3 turns) and submits `n` of their final programs, preferring those that passed
the public tests (chosen at random among them, then at random among the rest). The estimate is the exact
expectation over which rollouts are drawn and which are submitted, given the recorded rollouts.

A rollout counts as solved at turn `t` when it ended at or before turn `t` (public tests passed or turn
limit) and its last program passed every hidden test: hidden tests are only judged on the final program.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from math import comb

import numpy as np

logger = logging.getLogger(__name__)

BOOTSTRAP_RESAMPLES = 200
"""Resamples of the bootstrap intervals (as in the paper)."""
BOOTSTRAP_UNITS = ("problems", "rollouts")
"""What a bootstrap resample draws with replacement. "problems": the problems (each with its own estimate),
so the interval covers which problems a benchmark happens to hold. "rollouts": each problem's rollouts, the
problems fixed, so it covers only the sampling of the model; the paper's setting, as we read it (a fixed
benchmark, 200 rollouts per problem, 200 resamples; the paper does not name the unit)."""


@dataclass(frozen=True)
class RolloutOutcome:
    """What the metrics need from one finished episode."""

    problem_id: str
    num_turns: int
    """Turns taken (1..max_turns)."""
    public_passed: bool
    """The last program passed the public tests."""
    solved: bool
    """The last program passed every hidden test."""

    @classmethod
    def from_record(cls, record: Mapping) -> RolloutOutcome:
        """Build from an `episodes.jsonl` record (see `codefeedback_env.evaluation.runner`).

        Raises ValueError for an episode the judge could not judge: it has no outcome to count."""
        if record.get("judge_error"):
            raise ValueError(
                f"episode {record.get('problem_id')!r} rollout {record.get('rollout')} was not judged "
                f"({record['judge_error']}); leave unjudged episodes out of the metrics"
            )
        turns = record["turns"]
        return cls(
            problem_id=str(record["problem_id"]),
            num_turns=len(turns),
            public_passed=bool(turns[-1]["public_passed"]) if turns else False,
            solved=bool(record["hidden"]["all_passed"]),
        )


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): 1 - C(n-c, k) / C(n, k) for n samples with c correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, n={n}], got {k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def _hypergeom(counts: Sequence[int], drawn: Sequence[int]) -> float:
    """P(drawing exactly `drawn[i]` of each category), sampling sum(drawn) items without replacement."""
    numerator = 1
    for total, take in zip(counts, drawn, strict=False):
        numerator *= comb(total, take)
    return numerator / comb(sum(counts), sum(drawn))


def n_at_k_problem(outcomes: Sequence[RolloutOutcome], n: int, k: int, max_turns: int) -> float:
    """Expected n@k of one problem from its recorded rollouts (each costs `max_turns` samples).

    Raises ValueError when `k` buys no rollout or more rollouts than were recorded.
    """
    m = k // max_turns
    if m < 1:
        raise ValueError(f"k={k} samples buy no rollout of {max_turns} turns")
    if m > len(outcomes):
        raise ValueError(f"{k}@ needs {m} rollouts per problem, only {len(outcomes)} recorded")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    # Categories: passed public & solved (a), passed public & unsolved (b), failed public & solved (c), else (d).
    counts = [0, 0, 0, 0]
    for o in outcomes:
        counts[(0 if o.solved else 1) if o.public_passed else (2 if o.solved else 3)] += 1
    total_fail = 0.0
    for a in range(min(counts[0], m) + 1):
        for b in range(min(counts[1], m - a) + 1):
            for c in range(min(counts[2], m - a - b) + 1):
                d = m - a - b - c
                if d > counts[3]:
                    continue
                prob = _hypergeom(counts, (a, b, c, d))
                if prob == 0.0:
                    continue
                passing = a + b
                if passing >= n:
                    fail = comb(b, n) / comb(passing, n)
                elif a > 0:
                    fail = 0.0
                else:
                    rest = min(n - passing, c + d)
                    fail = comb(d, rest) / comb(c + d, rest) if rest else 1.0
                total_fail += prob * fail
    return 1.0 - total_fail


def group_by_problem(outcomes: Sequence[RolloutOutcome]) -> dict[str, list[RolloutOutcome]]:
    """Outcomes per problem id, in first-seen order."""
    groups: dict[str, list[RolloutOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.problem_id, []).append(outcome)
    return groups


def solve_rate_by_turn(outcomes: Sequence[RolloutOutcome], max_turns: int) -> list[float]:
    """Per-problem-averaged cumulative solve rate after each turn 1..max_turns."""
    per_problem = _per_problem(outcomes, lambda rolls: _turn_rates(rolls, max_turns))
    return [float(x) for x in per_problem.mean(axis=0)] if len(per_problem) else [0.0] * max_turns


def solved_within(rolls: Sequence[RolloutOutcome], turn: int | None = None) -> float:
    """The fraction of one problem's rollouts solved by turn `turn` (any turn when None)."""
    return sum(o.solved and (turn is None or o.num_turns <= turn) for o in rolls) / len(rolls)


def rollouts_pass_at_k(rolls: Sequence[RolloutOutcome], k: int) -> float:
    """pass@k of one problem, each rollout's final program being one sample."""
    return pass_at_k(len(rolls), sum(o.solved for o in rolls), k)


def _turn_rates(rolls: Sequence[RolloutOutcome], max_turns: int) -> list[float]:
    return [solved_within(rolls, t) for t in range(1, max_turns + 1)]


def _per_problem(outcomes: Sequence[RolloutOutcome], metric: Callable[[list[RolloutOutcome]], object]) -> np.ndarray:
    return np.array([metric(rolls) for rolls in group_by_problem(outcomes).values()], dtype=np.float64)


def bootstrap_interval(
    per_problem: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over problems (rows resampled with replacement)."""
    values = np.asarray(per_problem, dtype=np.float64)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    return float(low), float(high)


@dataclass(frozen=True)
class Estimate:
    """A mean over problems with its bootstrap 95% interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def rollout_bootstrap_interval(
    groups: Sequence[Sequence[RolloutOutcome]],
    metric: Callable[[Sequence[RolloutOutcome]], float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over problems of `metric`, each resample drawing every
    problem's rollouts with replacement (as many as it has) and keeping the problems fixed."""
    if not groups:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for r in range(resamples):
        means[r] = np.mean([metric([rolls[i] for i in rng.integers(0, len(rolls), len(rolls))]) for rolls in groups])
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _estimate(
    per_problem: np.ndarray,
    seed: int,
    unit: str = "problems",
    groups: Sequence[Sequence[RolloutOutcome]] = (),
    metric: Callable[[Sequence[RolloutOutcome]], float] | None = None,
) -> Estimate:
    """The mean of `per_problem` with its interval, resampling problems, or each problem's rollouts
    (`groups`, re-scored by `metric`)."""
    if unit == "rollouts" and metric is not None:
        low, high = rollout_bootstrap_interval(groups, metric, seed=seed)
    else:
        low, high = bootstrap_interval(per_problem, seed=seed)
    return Estimate(float(per_problem.mean()) if len(per_problem) else float("nan"), low, high)


def default_n_at_k(max_turns: int, rollouts: int) -> list[tuple[int, int]]:
    """The (n, k) pairs a run of `rollouts` per problem supports: 1@T, and 10@100 style pairs when possible."""
    pairs = [(1, max_turns)]
    for n, k in ((1, 3 * max_turns), (10, 100)):
        if k // max_turns <= rollouts and (n, k) not in pairs and k // max_turns >= n:
            pairs.append((n, k))
    return pairs


def summarize(
    outcomes: Sequence[RolloutOutcome],
    max_turns: int,
    *,
    n_at_k: Sequence[tuple[int, int]] | None = None,
    pass_ks: Sequence[int] | None = None,
    seed: int = 0,
    bootstrap: str = "problems",
) -> dict:
    """All metrics of a run as plain data (for `results.json`), each with a bootstrap 95% interval whose
    resampled unit is `bootstrap` (see `BOOTSTRAP_UNITS`).

    `pass@k` treats each rollout's final program as one sample; `k` up to the fewest rollouts of a problem.
    """
    if bootstrap not in BOOTSTRAP_UNITS:
        raise ValueError(f"bootstrap must be one of {BOOTSTRAP_UNITS}, got {bootstrap!r}")
    groups = group_by_problem(outcomes)
    if not groups:
        return {
            "problems": 0,
            "episodes": 0,
            "max_turns": max_turns,
            "solve_rate_by_turn": [],
            "n_at_k": {},
            "pass_at_k": {},
        }
    fewest = min(len(rolls) for rolls in groups.values())
    rollouts = list(groups.values())

    def estimate(values: np.ndarray, metric: Callable[[Sequence[RolloutOutcome]], float]) -> dict[str, float]:
        return _estimate(values, seed, bootstrap, rollouts, metric).to_dict()

    per_turn = np.array([_turn_rates(rolls, max_turns) for rolls in rollouts])
    by_turn = [
        estimate(per_turn[:, t], lambda rolls, t=t: _turn_rates(rolls, max_turns)[t]) | {"turn": t + 1}
        for t in range(max_turns)
    ]
    pairs = list(n_at_k) if n_at_k is not None else default_n_at_k(max_turns, fewest)
    nk: dict[str, dict] = {}
    for n, k in pairs:
        if not 1 <= k // max_turns <= fewest:
            logger.info("skipping %d@%d: needs %d rollouts per problem, have %d", n, k, k // max_turns, fewest)
            continue
        values = np.array([n_at_k_problem(rolls, n, k, max_turns) for rolls in rollouts])
        nk[f"{n}@{k}"] = estimate(values, lambda rolls, n=n, k=k: n_at_k_problem(rolls, n, k, max_turns))
    ks = list(pass_ks) if pass_ks is not None else sorted({k for k in (1, 2, 5, 10, fewest) if k <= fewest})
    pk: dict[str, dict] = {}
    for k in ks:
        if 1 <= k <= fewest:
            values = np.array([rollouts_pass_at_k(r, k) for r in rollouts])
            pk[f"pass@{k}"] = estimate(values, lambda r, k=k: rollouts_pass_at_k(r, k))
    return {
        "problems": len(groups),
        "episodes": len(outcomes),
        "rollouts_per_problem": fewest,
        "max_turns": max_turns,
        "bootstrap": {"unit": bootstrap, "resamples": BOOTSTRAP_RESAMPLES, "level": 0.95},
        "solve_rate_by_turn": by_turn,
        "samples_curve": samples_curve(outcomes, max_turns),
        "n_at_k": nk,
        "pass_at_k": pk,
        "valid_public_pass_rate": float(np.mean([o.public_passed for o in outcomes])),
    }


def samples_curve(outcomes: Sequence[RolloutOutcome], max_turns: int) -> list[dict[str, float]]:
    """Solve rate versus samples: turn t of one rollout is t samples; m rollouts (pass@m) are m * T samples."""
    groups = group_by_problem(outcomes)
    if not groups:
        return []
    points = [{"samples": t + 1, "solve_rate": rate} for t, rate in enumerate(solve_rate_by_turn(outcomes, max_turns))]
    fewest = min(len(rolls) for rolls in groups.values())
    for m in range(2, fewest + 1):
        rate = float(np.mean([rollouts_pass_at_k(r, m) for r in groups.values()]))
        points.append({"samples": m * max_turns, "solve_rate": rate})
    return points
