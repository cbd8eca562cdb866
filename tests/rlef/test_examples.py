"""The example training scripts run end to end (tiny local model, one step) and print before/after rates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.rlef.toy import build_policy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_model_folder(tokenizer, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-model")
    build_policy(tokenizer, hidden=32, layers=1).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("script", ["train_rlef.py", "train_grpo.py"])
def test_example_trains_and_evaluates_with_the_runner(script, tiny_model_folder, tmp_path) -> None:
    output = tmp_path / "run"
    command = [
        sys.executable, str(ROOT / "examples" / script), "--model", str(tiny_model_folder),
        "--max_problems", "2", "--eval_rollouts", "1", "--max_steps", "1", "--per_device_train_batch_size", "2",
        "--num_generations", "2", "--max_completion_length", "8", "--output_dir", str(output),
        "--save_steps", "1", "--disable_tqdm", "true",
    ]  # fmt: skip
    env = os.environ | {"TRL_EXPERIMENTAL_SILENCE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "solve rate by turn  before: [" in done.stdout and "after: [" in done.stdout
    for stage in ("before", "after"):  # recorded by the evaluation runner
        results = json.loads((output / f"eval-{stage}" / "results.json").read_text())
        assert results["episodes"] == 2 and len(results["solve_rate_by_turn"]) == 3
    assert (output / "checkpoint-1").is_dir()
