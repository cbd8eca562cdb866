"""The default dtype is the faster one a short timing of the model finds (float32 when the timing disagrees with
itself); the eval command says what will run and how long it should take."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from agents.llm import dtype_probe  # noqa: E402
from agents.llm.dtype_probe import choose_dtype, probe_cpu_dtype  # noqa: E402
from agents.llm.local_model import load_causal_lm  # noqa: E402
from codefeedback_env.evaluation.plan import (  # noqa: E402
    FEEDBACK_TOKENS,
    GenerationSpeed,
    describe_estimate,
    describe_plan,
    estimate_generation_seconds,
)


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
    model, _ = load_causal_lm(str(tiny_model_dir), dtype="best", cache_dir=tmp_path)  # real timings
    probe = model.dtype_probe
    assert probe.dtype in ("float32", "bfloat16") and model.dtype == getattr(torch, probe.dtype)
    assert probe.float32_seconds > 0 and probe.bfloat16_seconds > 0 and not probe.cached
    assert probe.key["threads"] == torch.get_num_threads() and probe.key["torch"] == torch.__version__
    # a warm-up per dtype, then two rounds of both; two more when they disagree (a busy machine)
    assert len(calls) in (2 + 2 * 2, 2 + 2 * 2 * 2) and (probe.agreed or len(calls) == 10)

    fp32, _ = load_causal_lm(str(tiny_model_dir), dtype="float32")
    _scripted_timings(monkeypatch, [1, 1, 1.0, 0.5, 1.0, 0.6])
    first = probe_cpu_dtype(fp32, "tiny", tmp_path)
    assert (first.dtype, first.agreed, first.cached) == ("bfloat16", True, False)
    again = probe_cpu_dtype(fp32, "tiny", tmp_path)  # no timing left: the stored decision
    assert again.cached and (again.dtype, again.float32_seconds) == ("bfloat16", 1.0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 97)
    _scripted_timings(monkeypatch, [1, 1, 1.0, 2.0, 1.0, 2.0])
    moved = probe_cpu_dtype(fp32, "tiny", tmp_path)
    assert not moved.cached and moved.key["threads"] == 97 and moved.dtype == "float32"  # another thread count
    _scripted_timings(monkeypatch, [1, 1, 1.0, 2.0, 1.0, 2.0])
    assert not probe_cpu_dtype(fp32, "another model", tmp_path).cached  # another model
    stored = len(list((tmp_path / dtype_probe.PROBE_FOLDER).glob("*.json")))
    assert stored == 3 + probe.agreed


def test_the_probe_needs_a_float32_model(tiny_model_dir: Path):
    half, _ = load_causal_lm(str(tiny_model_dir), dtype="bfloat16")
    with pytest.raises(ValueError, match="float32"):
        probe_cpu_dtype(half, "tiny")


def _scripted_timings(monkeypatch, seconds: list[float]) -> list[float]:
    """Make the probe's timings `seconds`, in call order (warm-ups included)."""
    remaining = list(seconds)
    monkeypatch.setattr(dtype_probe, "time_decode", lambda *args, **kwargs: remaining.pop(0))
    return remaining


def test_rounds_that_disagree_are_timed_again_then_give_float32_unstored(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch
):
    model, _ = load_causal_lm(str(tiny_model_dir), dtype="float32")
    # warm-ups, then per round (float32, bfloat16): round 1 says bfloat16, round 2 float32, twice over
    left = _scripted_timings(monkeypatch, [1, 1, 1.0, 0.5, 1.0, 1.5, 1.0, 0.5, 1.0, 1.5])
    probe = probe_cpu_dtype(model, "tiny", tmp_path)
    assert left == [] and (probe.dtype, probe.agreed, probe.cached) == ("float32", False, False)
    assert (probe.float32_seconds, probe.bfloat16_seconds) == (1.0, 0.5)  # the best of each, for the record
    assert not (tmp_path / dtype_probe.PROBE_FOLDER).exists()  # nothing stored: the next run probes again

    left = _scripted_timings(monkeypatch, [1, 1, 1.0, 0.5, 1.0, 1.5, 1.0, 0.5, 1.0, 0.6])  # the second try agrees
    agreed = probe_cpu_dtype(model, "tiny", tmp_path)
    assert left == [] and (agreed.dtype, agreed.agreed) == ("bfloat16", True)
    assert probe_cpu_dtype(model, "tiny", tmp_path).cached  # stored


def test_reprobe_replaces_the_stored_decision_or_drops_it(tiny_model_dir: Path, tmp_path: Path, monkeypatch):
    model, _ = load_causal_lm(str(tiny_model_dir), dtype="float32")
    _scripted_timings(monkeypatch, [1, 1, 1.0, 0.5, 1.0, 0.5])
    assert probe_cpu_dtype(model, "tiny", tmp_path).dtype == "bfloat16"
    _scripted_timings(monkeypatch, [1, 1, 1.0, 2.0, 1.0, 2.0])
    assert probe_cpu_dtype(model, "tiny", tmp_path).cached  # stored: no timing
    fresh = probe_cpu_dtype(model, "tiny", tmp_path, reprobe=True)
    assert (fresh.dtype, fresh.cached) == ("float32", False)
    assert probe_cpu_dtype(model, "tiny", tmp_path).dtype == "float32"  # the new decision replaced the old
    _scripted_timings(monkeypatch, [1, 1] + [1.0, 0.5, 1.0, 1.5] * 2)
    assert not probe_cpu_dtype(model, "tiny", tmp_path, reprobe=True).agreed
    assert list((tmp_path / dtype_probe.PROBE_FOLDER).glob("*.json")) == []  # a disagreeing re-probe keeps none


def test_plan_and_estimate_lines():
    plan = describe_plan(
        agent="transformers smollm2", dataset="demo-quick", problems=10, rollouts=2, max_turns=3,
        modes=["multi-turn", "independent"], max_new_tokens=256,
    )  # fmt: skip
    assert plan == (
        "will run transformers smollm2 on demo-quick (10 problems) x 2 rollouts x up to 3 turns, "
        "multi-turn then independent: 40 episodes, at most 120 responses of up to 256 tokens"
    )
    speed = GenerationSpeed(prefill_token_seconds=0.01, decode_step_seconds=0.5, rows=4)
    # independent: 2 turns x 2 batches (4 rows of 10 tokens, then 2 rows of 20) prefilled, 8 decode steps each
    independent = estimate_generation_seconds(
        speed, [10, 10, 20], rollouts=2, max_turns=2, batch_size=4, modes=["independent"], response_tokens=8
    )
    assert independent == pytest.approx(2 * ((4 * 10 + 2 * 20) * 0.01 + 2 * 8 * 0.5))
    multi = estimate_generation_seconds(
        speed, [10, 10, 20], rollouts=2, max_turns=2, batch_size=4, modes=["multi_turn"], response_tokens=8
    )  # turn 2's prompts are longer by a response and its feedback
    grown = 8 + FEEDBACK_TOKENS
    assert multi == pytest.approx(independent + (4 * grown + 2 * grown) * 0.01)
    line = describe_estimate(150.0, 600.0, speed, 96, 256)
    assert line.startswith("estimate: about 2.5 min of generation if the longest response of a batch has ~96 tokens")
    assert (
        "at most 10.0 min if every response runs to 256 tokens" in line and "0.50 s per decode step of 4 rows" in line
    )
    assert describe_estimate(600.0, 600.0, speed, 256, 256).startswith("estimate: at most 10.0 min")


def test_eval_says_what_will_run_and_how_long_it_takes(tiny_model_dir: Path, tmp_path: Path, capsys, monkeypatch):
    import json

    import torch

    from codefeedback_env.cli import main

    # steady timings (bfloat16 twice as slow), so the decision is stored whatever the machine's load
    monkeypatch.setattr(dtype_probe, "time_decode", lambda model, **_: 2.0 if model.dtype == torch.bfloat16 else 1.0)

    output = tmp_path / "run"
    argv = ["eval", "--model", str(tiny_model_dir), "--rollouts", "1", "--turns", "1", "--no-independent"]
    argv += ["--model-cache", str(tmp_path / "cache")]
    assert main([*argv, "--max-new-tokens", "8", "--batch-size", "4", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert f"will run transformers {tiny_model_dir} on demo-quick (8 problems)" in out
    assert "dtype probe (measured now): float32 " in out
    assert "estimate: at most " in out and "per decode step of 4 rows" in out  # 8 tokens: no "typical" length
    config = json.loads((output / "multi_turn" / "config.json").read_text())
    probe = config["dtype_probe"]
    assert config["dtype"] == probe["dtype"] and config["dataset"] == "demo-quick"
    assert f"model loaded with {probe['dtype']} weights (--dtype best)" in out
    assert probe["float32_seconds"] > 0 and probe["bfloat16_seconds"] > 0
    assert main([*argv, "--max-new-tokens", "8", "--output", str(tmp_path / "again")]) == 0
    assert "dtype probe (stored decision" in capsys.readouterr().out
    assert main([*argv, "--max-new-tokens", "8", "--reprobe-dtype", "--output", str(tmp_path / "again2")]) == 0
    assert "dtype probe (measured now" in capsys.readouterr().out
