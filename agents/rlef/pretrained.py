"""Policies for the training examples, loaded through `agents.llm` and made trainable, in the training dtype."""

from __future__ import annotations

import logging
import os
from typing import Any

from agents.llm.local_model import SMOLLM2_ALIAS, load_causal_lm
from agents.llm.vllm_agent import is_vllm_available

__all__ = ["POLICY_DTYPES", "default_policy_dtype", "is_vllm_available", "load_policy", "policy_dtype"]

logger = logging.getLogger(__name__)

POLICY_DTYPES = ("float32", "bfloat16", "auto")
"""Weight dtypes a policy can be loaded in ("auto": the checkpoint's own; a GGUF file de-quantizes to float32)."""


def uses_deepspeed(config: Any) -> bool:
    """Whether the run trains under DeepSpeed (a `--deepspeed` file, or `accelerate launch` with a DeepSpeed config)."""
    return bool(getattr(config, "deepspeed", None)) or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"


def default_policy_dtype(config: Any) -> str:
    """The dtype to load the policy in when none is asked for: TRL's default, float32, except under DeepSpeed with
    `bf16` on a GPU that supports bfloat16, where DeepSpeed keeps float32 master weights in its optimizer and casts
    the model to bfloat16 anyway, so a float32 copy per process would only cost memory."""
    import torch

    cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return "bfloat16" if config.bf16 and uses_deepspeed(config) and cuda_bf16 else "float32"


def policy_dtype(requested: str | None, config: Any) -> str:
    """`requested` checked against `POLICY_DTYPES`, or `default_policy_dtype(config)` when None.

    A 16-bit policy outside DeepSpeed is allowed but warned about: the optimizer then updates 16-bit weights
    directly, and an update much smaller than a weight (the paper's learning rate is 2e-7) rounds away.
    """
    dtype = default_policy_dtype(config) if requested is None else requested
    _check_dtype(dtype, " (or leave it unset)")
    if dtype == "bfloat16" and not uses_deepspeed(config):
        logger.warning(
            "the policy's weights are bfloat16 and no DeepSpeed optimizer keeps float32 master weights: updates much "
            "smaller than a weight are rounded away; prefer --dtype float32 (with --bf16 true for bfloat16 compute)"
        )
    return dtype


def _check_dtype(dtype: str, hint: str = "") -> None:
    """Raise ValueError naming `POLICY_DTYPES` when `dtype` is not one of them."""
    if dtype not in POLICY_DTYPES:
        raise ValueError(f"dtype={dtype!r} is invalid: use one of {', '.join(POLICY_DTYPES)}{hint}.")


def load_policy(name: str | None = None, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) in train mode, weights in `dtype` (`POLICY_DTYPES`): a hub id or folder, or the
    offline SmolLM2 GGUF when `name` is None.

    GGUF weights are de-quantized on load; the quantizer flags are dropped so TRL treats the model as trainable.
    """
    _check_dtype(dtype)
    model, tokenizer = load_causal_lm(name or SMOLLM2_ALIAS, dtype=dtype)
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.train()
    return model, tokenizer
