"""Plots from summaries: captions say what produced the run and what the bands are; old summaries still plot."""

from __future__ import annotations

from pathlib import Path

from codefeedback_env.evaluation.analyses import analyze
from codefeedback_env.evaluation.plots import caption, write_comparison_plots, write_run_plots
from tests.evaluation.test_analyses import RECORDS

RUN = {"agent": "replay", "dataset": "demo", "problems": 3, "max_turns": 3, "feedback": "none", "seed": 1}


def summary(**extra: object) -> dict:
    rows = [{"turn": t, "value": 0.5, "low": 0.25, "high": 0.75} for t in (1, 2, 3)]
    return {
        "run": RUN,
        "problems": 3,
        "episodes": 5,
        "rollouts_per_problem": 1,
        "max_turns": 3,
        "config": {"mode": "multi_turn"},
        "solve_rate_by_turn": rows,
        "samples_curve": [{"samples": t, "solve_rate": 0.5} for t in (1, 2, 3)],
    } | extra


def test_caption_names_the_run_and_the_resampled_unit() -> None:
    text = caption(summary())
    assert text.startswith("agent replay; dataset demo (3 problems)") and "3 turns, feedback none, seed 1" in text
    assert "3 problems x 1 rollouts (5 episodes)" in text and text.endswith("problems resampled")
    assert caption(summary(bootstrap={"unit": "rollouts"})).endswith("rollouts resampled")
    assert "bands" not in caption(summary(), intervals=False)


def test_run_and_comparison_plots_are_written(tmp_path: Path) -> None:
    with_analyses = summary(analyses=analyze(RECORDS, 3))
    names = write_run_plots(with_analyses, tmp_path / "run")
    assert names == ["solve_rate_by_turn.png", "verdict_mix.png", "fixes_and_changes.png"]
    old = summary()  # a run written before the analyses existed: no verdicts to draw, but no error either
    combined = write_comparison_plots({"multi_turn": with_analyses, "independent": old}, tmp_path / "both")
    for path in [tmp_path / "run" / n for n in names] + [tmp_path / "both" / n for n in combined]:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    assert write_run_plots(summary(max_turns=1, analyses=analyze(RECORDS, 1)), tmp_path / "one") == [
        "solve_rate_by_turn.png",
        "verdict_mix.png",
    ]
