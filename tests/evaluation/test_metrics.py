"""Metrics against closed-form cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codefeedback_env.evaluation.metrics import (
    RolloutOutcome,
    bootstrap_interval,
    n_at_k_problem,
    pass_at_k,
    samples_curve,
    solve_rate_by_turn,
    summarize,
)


def outcome(solved: bool, public: bool | None = None, turns: int = 1, pid: str = "p") -> RolloutOutcome:
    return RolloutOutcome(pid, turns, solved if public is None else public, solved)


@pytest.mark.parametrize("n", [1, 3, 10])
def test_pass_at_k_extremes(n: int) -> None:
    assert pass_at_k(n, 0, n) == 0.0
    assert pass_at_k(n, n, n) == 1.0
    assert pass_at_k(n, 1, n) == 1.0  # n = k: any correct sample is drawn
    assert pass_at_k(n, n, 1) == 1.0


def test_pass_at_k_known_values() -> None:
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 = c / n
    assert pass_at_k(5, 1, 2) == pytest.approx(1 - math.comb(4, 2) / math.comb(5, 2))  # 0.4
    assert pass_at_k(5, 1, 2) == pytest.approx(0.4)
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)


def test_pass_at_k_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_one_at_t_is_the_fraction_of_solved_rollouts() -> None:
    rolls = [outcome(True), outcome(False), outcome(False, public=True), outcome(True, turns=3)]
    assert n_at_k_problem(rolls, 1, 3, 3) == pytest.approx(0.5)
    assert n_at_k_problem(rolls, 1, 5, 3) == pytest.approx(0.5)  # 5 samples still buy one 3-turn rollout


def test_n_at_k_prefers_public_passing_rollouts() -> None:
    # One rollout passed public and hidden, three failed public: any draw holding it submits it.
    rolls = [outcome(True), outcome(False), outcome(False), outcome(False)]
    # 10@... needs 2 rollouts here: P(the solved one is among 2 of 4) = 1 - C(3,2)/C(4,2) = 0.5
    assert n_at_k_problem(rolls, 1, 6, 3) == pytest.approx(0.5)
    # With all rollouts drawn and one submission, the public-passing (solved) one is chosen.
    assert n_at_k_problem(rolls, 1, 12, 3) == pytest.approx(1.0)
    # A public-passing but wrong rollout competes for the single submission.
    decoy = [outcome(True), outcome(False, public=True)]
    assert n_at_k_problem(decoy, 1, 6, 3) == pytest.approx(0.5)
    assert n_at_k_problem(decoy, 2, 6, 3) == pytest.approx(1.0)


def test_n_at_k_equals_pass_at_k_without_public_signal() -> None:
    # If every rollout passes public, n@(n*T) with n rollouts is pass@n over rollouts.
    rolls = [outcome(s, public=True) for s in (True, False, False, True, False)]
    for n in (1, 2, 3):
        assert n_at_k_problem(rolls, n, 3 * n, 3) == pytest.approx(pass_at_k(5, 2, n))


def test_n_at_k_needs_enough_rollouts() -> None:
    with pytest.raises(ValueError):
        n_at_k_problem([outcome(True)], 1, 6, 3)
    with pytest.raises(ValueError):
        n_at_k_problem([outcome(True)], 1, 2, 3)


def test_solve_rate_by_turn_is_cumulative_and_per_problem_averaged() -> None:
    outcomes = [
        outcome(True, turns=1, pid="a"),
        outcome(True, turns=2, pid="a"),
        outcome(False, turns=3, pid="b"),
        outcome(True, turns=3, pid="b"),
        outcome(False, turns=3, pid="b"),
        outcome(False, turns=3, pid="b"),
    ]
    assert solve_rate_by_turn(outcomes, 3) == pytest.approx([0.25, 0.5, 0.625])
    curve = samples_curve(outcomes, 3)
    assert [p["samples"] for p in curve] == [1, 2, 3, 6]
    assert curve[3]["solve_rate"] == pytest.approx((1.0 + pass_at_k(4, 1, 2)) / 2)


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    values = np.array([0.0, 1.0] * 20)
    low, high = bootstrap_interval(values, seed=3)
    assert (low, high) == bootstrap_interval(values, seed=3)
    assert low < 0.5 < high and 0.25 < low and high < 0.75
    assert bootstrap_interval(np.ones(7)) == (1.0, 1.0)


def test_summarize_reports_every_metric() -> None:
    outcomes = [outcome(i % 2 == 0, pid=f"p{i % 3}") for i in range(12)]
    summary = summarize(outcomes, 3)
    assert summary["problems"] == 3 and summary["episodes"] == 12 and summary["rollouts_per_problem"] == 4
    assert set(summary["n_at_k"]) == {"1@3", "1@9"}
    assert set(summary["pass_at_k"]) == {"pass@1", "pass@2", "pass@4"}
    for est in summary["solve_rate_by_turn"]:
        assert est["low"] <= est["value"] <= est["high"]


def test_the_bootstrap_unit_decides_what_varies() -> None:
    # Each problem always solved or never: resampling its rollouts changes nothing, resampling problems does.
    steady = [outcome(i % 2 == 0, pid=f"p{i % 2}") for i in range(20)]
    by_problem = summarize(steady, 1)
    by_rollout = summarize(steady, 1, bootstrap="rollouts")
    assert by_problem["bootstrap"] == {"unit": "problems", "resamples": 200, "level": 0.95}
    assert by_rollout["bootstrap"]["unit"] == "rollouts"
    assert by_rollout["solve_rate_by_turn"][0] == {"value": 0.5, "low": 0.5, "high": 0.5, "turn": 1}
    assert by_rollout["n_at_k"]["1@1"]["low"] == by_rollout["n_at_k"]["1@1"]["high"] == 0.5
    low, high = by_problem["solve_rate_by_turn"][0]["low"], by_problem["solve_rate_by_turn"][0]["high"]
    assert low == 0.0 and high == 1.0  # two problems: a resample holds one of them twice half the time
    # One problem, solved in half its rollouts: only the rollouts can vary.
    coin = [outcome(i % 2 == 0, pid="p") for i in range(40)]
    assert summarize(coin, 1)["pass_at_k"]["pass@1"] == {"value": 0.5, "low": 0.5, "high": 0.5}
    interval = summarize(coin, 1, bootstrap="rollouts")["pass_at_k"]["pass@1"]
    assert 0.25 < interval["low"] < 0.5 < interval["high"] < 0.75
    with pytest.raises(ValueError, match="bootstrap must be one of"):
        summarize(coin, 1, bootstrap="episodes")


def test_plot_captions_name_the_resampled_unit() -> None:
    from codefeedback_env.evaluation.plots import caption

    coin = [outcome(i % 2 == 0, pid="p") for i in range(4)]
    assert caption(summarize(coin, 1, bootstrap="rollouts")).endswith("95% bootstrap intervals, rollouts resampled")
    assert caption(summarize(coin, 1)).endswith("problems resampled")
