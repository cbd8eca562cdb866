"""transformers stopping criteria: end each row of a batch just after its first complete program; report the
tokens a batch has generated while it runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
from transformers import StoppingCriteria

from codefeedback_env.extraction import program_end

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["ProgramEndCriteria", "TokenProgress"]


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


class TokenProgress(StoppingCriteria):
    """Stops nothing: counts the tokens of a batch's unfinished rows and passes the count to ``report``.

    A row is finished after a stop token or, with ``program_end``, once its program ended; the token that
    finishes it is counted (it is part of the completion). ``report(tokens)`` gets the tokens generated since
    its previous call, at most every ``interval`` seconds, so a progress bar moves during a long batch.
    """

    def __init__(
        self,
        report: Callable[[int], None],
        stop_ids: Iterable[int],
        program_end: ProgramEndCriteria | None = None,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.report = report
        self.stop_ids = torch.tensor(sorted(stop_ids), dtype=torch.long)
        self.program_end = program_end
        self.interval = interval
        self.clock = clock
        self.pending = 0
        self._finished: torch.Tensor | None = None
        self._last_report = clock()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        last = input_ids[:, -1].cpu()
        finished = self._finished if self._finished is not None else torch.zeros(len(last), dtype=torch.bool)
        self.pending += int((~finished).sum())
        finished = finished | torch.isin(last, self.stop_ids)
        if self.program_end is not None:
            finished = finished | torch.tensor([end is not None for end in self.program_end.ends], dtype=torch.bool)
        self._finished = finished
        now = self.clock()
        if self.pending and now - self._last_report >= self.interval:
            self.report(self.pending)
            self.pending = 0
            self._last_report = now
        return torch.zeros(len(last), dtype=torch.bool, device=input_ids.device)
