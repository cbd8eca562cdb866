"""Per-token log-probabilities of completions through TRL's fused LM head, never the whole logits.

A plain forward materialises (batch, length, vocabulary) logits, and autograd keeps them for the backward: for
8 episodes of 5k tokens and a 150k vocabulary that is 24 GB in float32. TRL's fused head
(`trl.trainer.utils.add_fused_lm_head`, which `GRPOTrainer` installs on the policy) projects the hidden states
in tiles of positions and vocabulary entries, keeps only running log-sum-exp statistics, and recomputes each
tile in the backward, so memory holds one tile (4096 positions x 32768 entries) whatever the episode length.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def completion_logps(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    width: int,
    backbone: nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs (B, width) of the last `width` tokens of each row (B, L), and the backbone's last hidden state.

    `model` (possibly wrapped by DDP or DeepSpeed) must carry TRL's fused LM head. Padded positions get 0. With
    `backbone` (the policy's base model), its last hidden state (B, L, H) is captured during the same forward,
    for a value head that shares it; else None.
    """
    if width < 1:
        raise ValueError(f"width={width}: a completion has at least one token")
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    labels[:, :-width] = -100
    captured: list[torch.Tensor] = []
    hook = None
    if backbone is not None:
        hook = backbone.register_forward_hook(lambda module, args, output: captured.append(output.last_hidden_state))
    try:
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True)
    finally:
        if hook is not None:
            hook.remove()
    return out.log_probs[:, -width:], (captured[-1] if backbone is not None else None)
