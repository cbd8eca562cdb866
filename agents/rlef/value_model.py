"""RLEF's turn-level value function V(c_t), read at the last token of each turn's prompt."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import safetensors.torch
import torch
from torch import nn
from transformers import PreTrainedModel

VALUE_ATTRIBUTE = "rlef_value"
VALUE_FOLDER = "rlef_value"
"""Sub-folder of a checkpoint holding the value network (outside the policy's weights, so servers ignore it)."""
VALUE_WEIGHTS = "model.safetensors"


class ValueHead(nn.Module):
    """A fresh linear head hidden -> scalar, zero-initialised so V starts at 0."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.summary = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.summary.weight)
        nn.init.zeros_(self.summary.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (...)."""
        return self.summary(hidden.to(self.summary.weight.dtype)).squeeze(-1)


class ValueModel(nn.Module):
    """A value network: a backbone (a copy of the policy's, or none when sharing) plus a `ValueHead`.

    With `backbone=None` the hidden states must be supplied by the caller (shared-backbone mode).
    """

    def __init__(self, backbone: nn.Module | None, hidden_size: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = ValueHead(hidden_size)

    @property
    def shares_backbone(self) -> bool:
        """Whether the value reads the policy's own hidden states."""
        return self.backbone is None

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        hidden_states: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Values at `positions` (B, T) of the sequences (B, L); all positions when `positions` is None."""
        if hidden_states is None:
            if self.backbone is None:
                raise ValueError("A shared-backbone value model needs hidden_states from the policy's forward.")
            hidden_states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if positions is not None:
            index = positions.clamp(min=0).unsqueeze(-1).expand(-1, -1, hidden_states.shape[-1])
            hidden_states = hidden_states.gather(1, index)
        return self.head(hidden_states)


def build_value_model(policy: PreTrainedModel, share_backbone: bool = False) -> ValueModel:
    """Value network initialised from the policy's weights (a copy of its backbone) with a fresh head, on the
    policy's device and in its dtype.

    `share_backbone=True` keeps only the head and reads the policy's last hidden state: half the memory,
    but the value loss then also moves the policy's weights.
    """
    hidden_size = policy.config.get_text_config().hidden_size
    backbone = None if share_backbone else copy.deepcopy(getattr(policy, policy.base_model_prefix))
    value = ValueModel(backbone, hidden_size)
    param = next(policy.parameters())
    return value.to(device=param.device, dtype=param.dtype)  # one dtype in one engine (ZeRO-3 needs it)


def attach_value_model(policy: PreTrainedModel, value: ValueModel) -> None:
    """Register `value` as a submodule of `policy` so one optimizer / DDP / DeepSpeed engine covers both."""
    policy.add_module(VALUE_ATTRIBUTE, value)


def get_value_model(model: nn.Module) -> ValueModel:
    """The value network attached to a (possibly wrapped) policy."""
    inner = model
    while not hasattr(inner, VALUE_ATTRIBUTE) and hasattr(inner, "module"):
        inner = inner.module
    return getattr(inner, VALUE_ATTRIBUTE)


def split_value_state(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(policy weights, value weights without their prefix) of a state dict of a policy with a value attached."""
    prefix = VALUE_ATTRIBUTE + "."
    policy = {k: v for k, v in state_dict.items() if not k.startswith(prefix)}
    value = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return policy, value


def save_value_state(value_state: dict[str, torch.Tensor], checkpoint: str | os.PathLike[str]) -> Path:
    """Write the value network's weights to `checkpoint/rlef_value/model.safetensors`."""
    folder = Path(checkpoint) / VALUE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in value_state.items()}
    safetensors.torch.save_file(tensors, folder / VALUE_WEIGHTS, metadata={"format": "pt"})
    return folder


def load_value_state(value: ValueModel, checkpoint: str | os.PathLike[str]) -> None:
    """Load `checkpoint/rlef_value/model.safetensors` into `value` (strict: every weight, nothing else)."""
    path = Path(checkpoint) / VALUE_FOLDER / VALUE_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: {checkpoint} holds no RLEF value network; resume from a checkpoint that RLEFTrainer "
            "saved, or start a new run."
        )
    value.load_state_dict(safetensors.torch.load_file(path, device="cpu"), strict=True)
