"""A transformers stopping criterion that ends each sequence of a batch just after its first complete program."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from transformers import StoppingCriteria

from codefeedback_env.extraction import program_end

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["ProgramEndCriteria"]


class ProgramEndCriteria(StoppingCriteria):
    """Stops a row once its generated text holds a complete ```python block with code.

    Plain stop strings cannot say "the second fence, after an opening one"; this criterion decodes a row
    (only when its newest token contains a backtick) and asks :func:`program_end`. ``ends[row]`` records
    how many tokens the row had generated when its program ended, so the caller can cut the padding that
    follows a stopped row.

    Args:
        tokenizer: the tokenizer that decodes the generated ids.
        prompt_length: length of the (left-padded) prompt part of every row.
        batch_size: number of rows.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, prompt_length: int, batch_size: int) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.ends: list[int | None] = [None] * batch_size
        self._backtick_tokens: dict[int, bool] = {}

    def _has_backtick(self, token: int) -> bool:
        known = self._backtick_tokens.get(token)
        if known is None:
            known = self._backtick_tokens[token] = "`" in self.tokenizer.decode([token])
        return known

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        generated = input_ids[:, self.prompt_length :]  # (batch, generated so far)
        count = generated.shape[1]
        for row, token in enumerate(generated[:, -1].tolist()):
            if self.ends[row] is None and self._has_backtick(token):
                text = self.tokenizer.decode(generated[row], skip_special_tokens=True)
                if program_end(text) is not None:
                    self.ends[row] = count
        return torch.tensor([end is not None for end in self.ends], dtype=torch.bool, device=input_ids.device)
