"""The default dtype is the faster one a short timing of the model finds; timing a batch leaves samples alone."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from agents.llm import dtype_probe  # noqa: E402
from agents.llm.dtype_probe import choose_dtype, probe_cpu_dtype  # noqa: E402
from agents.llm.local_model import load_causal_lm  # noqa: E402
from agents.llm.sampling import SamplingConfig  # noqa: E402
from agents.llm.transformers_agent import TransformersAgent  # noqa: E402
from codefeedback_env.evaluation.plan import describe_estimate, describe_plan, planned_batches  # noqa: E402


def test_the_decision_keeps_float32_unless_bfloat16_is_clearly_faster():
    assert choose_dtype(1.0, 0.5) == "bfloat16"
    assert choose_dtype(1.0, 0.89) == "bfloat16"
    assert choose_dtype(1.0, 0.91) == "float32"  # within the 10% margin: exact arithmetic wins
    assert choose_dtype(1.0, 2.4) == "float32"  # bfloat16 without native kernels (emulated AVX2 here)
    assert choose_dtype(1.0, 0.95, margin=0.0) == "bfloat16"
    with pytest.raises(ValueError, match="positive"):
        choose_dtype(0.0, 1.0)
    with pytest.raises(ValueError, match="margin"):
        choose_dtype(1.0, 1.0, margin=1.5)


def _count_timings(monkeypatch) -> list[float]:
    calls: list[float] = []
    real = dtype_probe.time_decode

    def counted(*args, **kwargs):
        calls.append(real(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(dtype_probe, "time_decode", counted)
    return calls


def test_best_times_both_dtypes_and_keeps_the_decision(tiny_model_dir: Path, tmp_path: Path, monkeypatch):
    import torch

    calls = _count_timings(monkeypatch)
    model, _ = load_causal_lm(str(tiny_model_dir), dtype="best", cache_dir=tmp_path)
    probe = model.dtype_probe
    assert probe.dtype in ("float32", "bfloat16") and model.dtype == getattr(torch, probe.dtype)
    assert probe.float32_seconds > 0 and probe.bfloat16_seconds > 0 and not probe.cached
    assert probe.dtype == choose_dtype(probe.float32_seconds, probe.bfloat16_seconds)
    assert probe.key["threads"] == torch.get_num_threads() and probe.key["torch"] == torch.__version__
    assert len(calls) == 2 + 2 * 2  # a warm-up per dtype, then two rounds of both
    assert len(list((tmp_path / dtype_probe.PROBE_FOLDER).glob("*.json"))) == 1

    calls.clear()
    again, _ = load_causal_lm(str(tiny_model_dir), dtype="best", cache_dir=tmp_path)
    assert calls == [] and again.dtype_probe.cached  # the stored decision, no timing
    assert (again.dtype, again.dtype_probe.float32_seconds) == (model.dtype, probe.float32_seconds)

    fp32, _ = load_causal_lm(str(tiny_model_dir), dtype="float32")
    probe_cpu_dtype(fp32, "another model", tmp_path)
    assert len(calls) == 6  # another model: timed again
    calls.clear()
    monkeypatch.setattr(torch, "get_num_threads", lambda: 97)
    moved = probe_cpu_dtype(fp32, "another model", tmp_path)
    assert len(calls) == 6 and not moved.cached and moved.key["threads"] == 97  # another thread count
    assert len(list((tmp_path / dtype_probe.PROBE_FOLDER).glob("*.json"))) == 3


def test_the_probe_needs_a_float32_model(tiny_model_dir: Path):
    half, _ = load_causal_lm(str(tiny_model_dir), dtype="bfloat16")
    with pytest.raises(ValueError, match="float32"):
        probe_cpu_dtype(half, "tiny")


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
    argv += ["--model-cache", str(tmp_path / "cache")]
    assert main([*argv, "--max-new-tokens", "8", "--batch-size", "4", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert f"will run transformers {tiny_model_dir} on demo-quick (10 problems)" in out
    assert "dtype probe (measured now): float32 " in out
    assert "speed: a batch of 4 turn-1 responses took" in out and "at most 3 such batches" in out
    config = json.loads((output / "multi_turn" / "config.json").read_text())
    probe = config["dtype_probe"]
    assert config["dtype"] == probe["dtype"] and config["dataset"] == "demo-quick"
    assert f"model loaded with {probe['dtype']} weights (--dtype best)" in out
    assert probe["float32_seconds"] > 0 and probe["bfloat16_seconds"] > 0
