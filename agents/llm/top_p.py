"""Nucleus (top-p) filtering without sorting the whole vocabulary at every decode step.

transformers' ``TopPLogitsWarper`` sorts every row's full vocabulary (49k entries for SmolLM2) at each step,
about a tenth of a CPU decode step's time. The nucleus is almost always a handful of tokens, so
:class:`TopPFromCandidates` looks at the ``candidates`` most likely tokens first and applies the same rule
there; a batch with a row whose candidates hold less than ``top_p`` of the mass falls back to the full sort.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor, TopPLogitsWarper

__all__ = ["TopPFromCandidates"]


class TopPFromCandidates(LogitsProcessor):
    """Keep the smallest set of most likely tokens whose probability reaches ``top_p`` (at least one).

    The rule is ``TopPLogitsWarper``'s: a token is kept when the tokens more likely than it hold less than
    ``top_p`` of the probability. When a row's ``candidates`` most likely tokens hold at least ``top_p``,
    every other token is dropped by that rule, so only the candidates need ordering; a batch with any other row
    goes through ``TopPLogitsWarper`` itself. Results can differ from the full sort's only where a cumulative
    probability is within float rounding of ``top_p``.
    """

    def __init__(self, top_p: float, candidates: int = 64, filter_value: float = -float("inf")) -> None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {candidates!r}")
        self.top_p = float(top_p)
        self.candidates = candidates
        self.filter_value = filter_value
        self._full_sort = TopPLogitsWarper(top_p, filter_value=filter_value)
        self.full_sorts = 0
        """Calls that fell back to the full sort (for tests and benchmarks)."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        count = min(self.candidates, scores.shape[-1])
        top_probs, top_index = scores.softmax(dim=-1).topk(count, dim=-1)  # most likely first
        before = top_probs.cumsum(dim=-1) - top_probs  # mass of the more likely candidates
        if bool(((before[:, -1] + top_probs[:, -1]) < self.top_p).any()) and count < scores.shape[-1]:
            self.full_sorts += 1
            return self._full_sort(input_ids, scores)
        drop = before >= self.top_p
        drop[:, 0] = False
        dropped = torch.ones_like(scores, dtype=torch.bool).scatter_(1, top_index, drop)
        return scores.masked_fill(dropped, self.filter_value)
