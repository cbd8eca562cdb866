"""`codefeedback eval` with the fast agents, run as a subprocess (the LLM backends are tested elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.evaluation.test_cli import cli


@pytest.mark.parametrize("agent", ["reference", "random"])
def test_eval_with_fast_agents(agent: str, tmp_path: Path) -> None:
    out = tmp_path / agent
    args = (
        "eval",
        "--agent",
        agent,
        "--limit",
        "4",
        "--rollouts",
        "1",
        "--turns",
        "2",
        "--output",
        str(out),
        "--quiet",
    )
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert "multi-turn" in done.stdout and "independent sampling" in done.stdout and "1@2" in done.stdout
    results = json.loads((out / "results.json").read_text())
    expected = 1.0 if agent == "reference" else 0.0
    assert results["multi_turn"]["n_at_k"]["1@2"]["value"] == expected
    assert results["independent"]["solve_rate_by_turn"][0]["value"] == expected
    for name in ("solve_rate_by_turn.png", "solve_rate_by_samples.png", "multi_turn/episodes.jsonl"):
        assert (out / name).exists()
    if agent == "reference":  # resumable: the second run has nothing left to do and reports the same
        again = cli(*args)
        assert again.returncode == 0
        assert _timeless(json.loads((out / "results.json").read_text())) == _timeless(results)


def _timeless(results: dict) -> dict:
    """results.json without this invocation's wall time."""
    return {mode: {k: v for k, v in summary.items() if k != "wall_seconds"} for mode, summary in results.items()}


@pytest.mark.parametrize(("flags", "stops"), [([], True), (["--full-responses"], False)])
def test_eval_stops_at_the_program_end_unless_full_responses(flags: list[str], stops: bool) -> None:
    from codefeedback_env.cli import _sampling, build_parser

    args = build_parser().parse_args(["eval", "--agent", "openai", "--base-url", "http://127.0.0.1:9/v1", *flags])
    assert _sampling(args).stop_at_program_end is stops  # the sampling every LLM agent of `eval` gets
