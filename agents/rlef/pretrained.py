"""Policies for the training examples, loaded through `agents.llm` and made trainable."""

from __future__ import annotations

from typing import Any

from agents.llm.local_model import SMOLLM2_ALIAS, load_causal_lm
from agents.llm.vllm_agent import is_vllm_available

__all__ = ["is_vllm_available", "load_policy"]


def load_policy(name: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) in train mode: a hub id or folder, or the offline SmolLM2 GGUF when `name` is None.

    GGUF weights are de-quantized on load; the quantizer flags are dropped so TRL treats the model as trainable.
    """
    model, tokenizer = load_causal_lm(name or SMOLLM2_ALIAS, dtype="float32")
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.train()
    return model, tokenizer
