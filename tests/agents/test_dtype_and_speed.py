"""The default dtype follows the CPU's native bfloat16 support; the speed probe leaves the run's samples alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from agents.llm.local_model import best_cpu_dtype, load_causal_lm  # noqa: E402
from agents.llm.sampling import SamplingConfig  # noqa: E402
from agents.llm.transformers_agent import TransformersAgent  # noqa: E402
from codefeedback_env.evaluation.plan import describe_estimate, describe_plan, planned_batches  # noqa: E402

PROBE = "from agents.llm.local_model import best_cpu_dtype; print(best_cpu_dtype())"


def _dtype_in_subprocess(**env: str) -> str:
    root = str(Path(__file__).resolve().parents[2])
    environment = os.environ | env | {"PYTHONPATH": root}
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()


def test_bfloat16_only_where_the_cpu_computes_it_natively():
    import torch

    native = torch.backends.cpu.get_cpu_capability() == "AVX512" and (
        torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    )
    assert best_cpu_dtype() == ("bfloat16" if native else "float32")
    # An AVX2-only CPU, as torch's and oneDNN's kernel limits emulate it here.
    assert _dtype_in_subprocess(ATEN_CPU_CAPABILITY="avx2") == "float32"
    assert _dtype_in_subprocess(ONEDNN_MAX_CPU_ISA="AVX2") == "float32"


def test_best_dtype_loads_the_model_in_that_dtype(tiny_model_dir: Path):
    model, _ = load_causal_lm(str(tiny_model_dir), dtype="best")
    assert str(model.dtype) == f"torch.{best_cpu_dtype()}"


def test_timing_a_batch_does_not_change_the_agents_samples(tiny_model_dir: Path):
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=10, seed=7)
    conversations = [[{"role": "user", "content": f"Write program {i}."}] for i in range(3)]
    untouched = TransformersAgent(str(tiny_model_dir), sampling, batch_size=2)
    probed = TransformersAgent(untouched.model, sampling, batch_size=2, tokenizer=untouched.tokenizer)
    responses, tokens, seconds = probed.time_one_batch(conversations)
    assert responses == 2 and 2 <= tokens <= 20 and seconds > 0
    assert [c.text for c in probed.generate(conversations)] == [c.text for c in untouched.generate(conversations)]


def test_plan_and_estimate_lines():
    assert planned_batches(20, 3, 8, modes=2) == 2 * 3 * 3
    plan = describe_plan(
        agent="transformers smollm2", dataset="demo-quick", problems=10, rollouts=2, max_turns=3,
        modes=["multi-turn", "independent"], max_new_tokens=256,
    )  # fmt: skip
    assert plan == (
        "will run transformers smollm2 on demo-quick (10 problems) x 2 rollouts x up to 3 turns, "
        "multi-turn then independent: 40 episodes, at most 120 responses of up to 256 tokens"
    )
    estimate = describe_estimate(8, 400, 10.0, 18)
    assert "took 10.0 s (400 tokens, 40 tokens/s)" in estimate and "at most 18 such batches: about 3.0 min" in estimate


def test_eval_says_what_will_run_and_how_long_it_takes(tiny_model_dir: Path, tmp_path: Path, capsys):
    import json

    from codefeedback_env.cli import main

    output = tmp_path / "run"
    argv = ["eval", "--model", str(tiny_model_dir), "--rollouts", "1", "--turns", "1", "--no-independent"]
    assert main([*argv, "--max-new-tokens", "8", "--batch-size", "4", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert f"will run transformers {tiny_model_dir} on demo-quick (10 problems)" in out
    assert f"model loaded with {best_cpu_dtype()} weights (--dtype best)" in out
    assert "speed: a batch of 4 turn-1 responses took" in out and "at most 3 such batches" in out
    config = json.loads((output / "multi_turn" / "config.json").read_text())
    assert config["dtype"] == best_cpu_dtype() and config["dataset"] == "demo-quick"
