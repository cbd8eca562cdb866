"""Grouped-query attention without copying the KV cache, for batched generation on a CPU.

transformers' ``sdpa`` attention repeats a grouped-query model's keys and values to one head per query head
whenever an attention mask is given, which left-padded batches always have: a copy of the whole KV cache in
every layer at every decode step. torch's ``scaled_dot_product_attention(..., enable_gqa=True)`` computes the
same result from the shared heads directly. :func:`use_gqa_attention` switches a loaded model to it; the
outputs are those of ``sdpa`` (tested equal), only the copy is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

__all__ = ["GQA_ATTENTION", "gqa_sdpa_attention", "use_gqa_attention"]

GQA_ATTENTION = "sdpa_gqa"
"""The name the attention function is registered under with transformers."""


def gqa_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' ``sdpa`` attention, with grouped key/value heads passed to torch as they are."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    special = kwargs.get("position_bias") is not None or kwargs.get("output_attentions", False)
    if groups <= 1 or special or key.shape[-1] != value.shape[-1] or torch.jit.is_tracing():
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    causal = query.shape[2] > 1 and attention_mask is None and bool(causal)
    output = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling, is_causal=causal, enable_gqa=True
    )
    return output.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(GQA_ATTENTION, gqa_sdpa_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(GQA_ATTENTION, sdpa_mask)


def use_gqa_attention(model: PreTrainedModel) -> bool:
    """Switch `model` from ``sdpa`` to :data:`GQA_ATTENTION` when it has grouped key/value heads; return
    whether it was switched (models on other attention implementations are left alone)."""
    config = model.config
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    if getattr(config, "_attn_implementation", None) != "sdpa" or not heads or kv_heads == heads:
        return False
    _register()
    model.set_attn_implementation(GQA_ATTENTION)
    return model.config._attn_implementation == GQA_ATTENTION
