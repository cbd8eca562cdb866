"""Comparing two runs: known per-problem differences, the paired bootstrap, old run folders, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codefeedback_env.evaluation.compare import CompareError, compare_runs, load_runs, pair_runs
from codefeedback_env.evaluation.metrics import bootstrap_interval


def record(pid: str, rollout: int, solved_at: int | None, max_turns: int = 2, **extra: Any) -> dict[str, Any]:
    """An episode record as an old run wrote it (no problem hash, no analyses): solved at `solved_at`, or
    unsolved after `max_turns` turns when None."""
    turns = solved_at or max_turns
    return {
        "problem_id": pid,
        "rollout": rollout,
        "mode": "multi_turn",
        "max_turns": max_turns,
        "turns": [{"turn": t, "code": "print(0)", "public_passed": t == solved_at} for t in range(1, turns + 1)],
        "hidden": {"all_passed": solved_at is not None},
        "solved": solved_at is not None,
    } | extra


def write_run(folder: Path, records: list[dict[str, Any]], results: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))
    return folder


def only(path: Path):
    (run,) = load_runs(path).values()
    return run


def rows(comparison: dict) -> dict[str, dict]:
    return {row["metric"]: row for row in comparison["rows"]}


def test_known_differences_with_a_paired_interval(tmp_path: Path) -> None:
    # solved within turn 1 / any turn, per problem: A p1 1/1, p2 0/0.5, p3 0/0, p4 0/0
    a = write_run(
        tmp_path / "a",
        [record("p1", 0, 1), record("p1", 1, 1), record("p2", 0, 2), record("p2", 1, None)]
        + [record(p, r, None) for p in ("p3", "p4") for r in (0, 1)],
    )
    # B p1 1/1, p2 1/1, p3 0/0.5, p4 0/0; listed in another order
    b = write_run(
        tmp_path / "b",
        [record("p4", r, None) for r in (0, 1)]
        + [record("p3", 0, 2), record("p3", 1, None), record("p2", 0, 1), record("p2", 1, 1)]
        + [record("p1", 0, 1), record("p1", 1, 1)],
        results={"run": {"agent": "replay", "max_turns": 2, "feedback": "none", "seed": 0}},
    )
    comparison = compare_runs(only(a), only(b), resamples=300, seed=4)
    table = rows(comparison)
    assert list(table) == ["solved by turn 1", "solved by turn 2", "solved (any turn)", "1@2"]
    turn1, final = table["solved by turn 1"], table["solved (any turn)"]
    assert (turn1["a"]["value"], turn1["b"]["value"], turn1["difference"]["value"]) == (0.25, 0.5, 0.25)
    assert (final["a"]["value"], final["b"]["value"], final["difference"]["value"]) == (0.375, 0.625, 0.25)
    assert table["1@2"]["difference"]["value"] == 0.25
    # Paired: the interval of the per-problem differences (problems in A's order), resampled with one seed.
    assert (final["difference"]["low"], final["difference"]["high"]) == bootstrap_interval(
        np.array([0.0, 0.5, 0.5, 0.0]), resamples=300, seed=4
    )
    assert comparison["bootstrap"] == {"unit": "problem", "paired": True, "resamples": 300, "seed": 4, "level": 0.95}
    assert comparison["problems"] == 4 and "run" not in comparison["a"] and "agent replay" in comparison["b"]["run"]


def test_a_constant_difference_has_a_degenerate_paired_interval(tmp_path: Path) -> None:
    # A solves half of p2 and p4; B solves half of p1 and p3 more than A everywhere: B - A = 0.5 on every problem.
    problems, rollouts = ("p1", "p2", "p3", "p4"), (0, 1)
    a = write_run(
        tmp_path / "a", [record(p, r, 1 if p in ("p2", "p4") and r == 0 else None) for p in problems for r in rollouts]
    )
    b = write_run(
        tmp_path / "b", [record(p, r, 1 if p in ("p2", "p4") or r == 0 else None) for p in problems for r in rollouts]
    )
    final = rows(compare_runs(only(a), only(b)))["solved (any turn)"]
    assert final["difference"] == {"value": 0.5, "low": 0.5, "high": 0.5}
    assert final["a"]["low"] < final["a"]["high"]  # each run alone varies across resamples; the difference does not


def test_different_turn_limits_compare_at_equal_samples(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", [record("p1", r, 2 if r == 0 else None) for r in (0, 1)])
    b = write_run(tmp_path / "b", [record("p1", r, 1 if r == 1 else None, max_turns=1) for r in (0, 1)])
    table = rows(compare_runs(only(a), only(b)))
    assert list(table) == ["solved by turn 1", "solved (any turn)", "1@2"]  # 1@1 needs a 1-turn rollout of A
    # 1@2: one 2-turn rollout of A (1/2 solved) against two 1-turn rollouts of B (the one solved is public-passing)
    assert (table["1@2"]["a"]["value"], table["1@2"]["b"]["value"]) == (0.5, 1.0)


def test_unjudged_problems_are_left_out_and_counted(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", [record("p1", 0, 1), record("p2", 0, 1)])
    b = write_run(tmp_path / "b", [record("p1", 0, None), record("p2", 0, None, judge_error="lost", solved=None)])
    comparison = compare_runs(only(a), only(b))
    assert comparison["problems"] == 1 and comparison["problems_left_out"] == 1
    assert rows(comparison)["solved (any turn)"]["difference"]["value"] == -1.0


def test_refusals_name_the_problem(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", [record("p1", 0, 1), record("p2", 0, 1)])
    b = write_run(tmp_path / "b", [record("p1", 0, 1), record("p3", 0, 1)])
    with pytest.raises(CompareError, match=r"different problems: 1 only in A \['p2'\], 1 only in B \['p3'\]"):
        compare_runs(only(a), only(b))
    c = write_run(tmp_path / "c", [record("p1", 0, 1, problem_sha256="x"), record("p2", 0, 1, problem_sha256="y")])
    d = write_run(tmp_path / "d", [record("p1", 0, 1, problem_sha256="x"), record("p2", 0, 1, problem_sha256="z")])
    with pytest.raises(CompareError, match="problem 'p2' differs between the runs"):
        compare_runs(only(c), only(d))
    compare_runs(only(a), only(c))  # a hash known on one side only is no difference
    with pytest.raises(CompareError, match="no episodes.jsonl"):
        load_runs(tmp_path)
    with pytest.raises(CompareError, match="is not a folder"):
        load_runs(tmp_path / "absent")
    with pytest.raises(CompareError, match="resamples"):
        compare_runs(only(a), only(a), resamples=0)


def test_pairing_of_evaluation_folders(tmp_path: Path) -> None:
    both = tmp_path / "eval"
    write_run(both / "multi_turn", [record("p1", 0, 1)])
    write_run(both / "independent", [record("p1", 0, None, mode="independent")])
    single = write_run(tmp_path / "single", [record("p1", 0, 2)])
    runs = load_runs(both)
    assert sorted(runs) == ["independent", "multi_turn"]
    assert [(a.mode, b.mode) for a, b in pair_runs(runs, runs)] == [("multi_turn",) * 2, ("independent",) * 2]
    assert [(a.path.name, b.path.name) for a, b in pair_runs(runs, load_runs(single))] == [("multi_turn", "single")]
    assert [a.mode for a, _ in pair_runs(runs, runs, "independent")] == ["independent"]
    with pytest.raises(CompareError, match="share no mode 'independent'"):
        pair_runs(runs, load_runs(single), "independent")
