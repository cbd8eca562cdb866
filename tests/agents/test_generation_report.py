"""An LLM agent reports what each response cost, and the evaluation runner totals it in results.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from codefeedback_env.evaluation import EvalConfig, run_evaluation
from codefeedback_env.problems import load_problems

pytest.importorskip("transformers")

from agents.llm.sampling import SamplingConfig  # noqa: E402
from agents.llm.transformers_agent import TransformersAgent  # noqa: E402


def test_transformers_tokens_and_stop_reasons_reach_results(tiny_model_dir: Path, tmp_path: Path) -> None:
    agent = TransformersAgent(str(tiny_model_dir), SamplingConfig(temperature=0.0, max_new_tokens=6), batch_size=2)
    problems = load_problems("demo")[:2]
    result = run_evaluation(agent, problems, tmp_path, EvalConfig(rollouts=1, max_turns=2, progress=False))
    turns = [t for r in result.records for t in r["turns"]]
    assert all(1 <= t["generated_tokens"] <= 6 and t["stop_reason"] in ("stop", "length") for t in turns)
    assert result.summary["generated_tokens"] == sum(t["generated_tokens"] for t in turns)
    assert sum(result.summary["stop_reasons"].values()) == len(turns)
    assert result.summary["run"]["sampling"]["max_new_tokens"] == 6 and result.summary["run"]["model"]
