"""Sampling settings shared by every LLM backend (transformers, vLLM, OpenAI-compatible servers)."""

from __future__ import annotations

import random

from codefeedback_env.sampling import SamplingConfig

__all__ = ["PROGRAM_END_STOP", "SamplingConfig", "SeedStream"]

PROGRAM_END_STOP = "\n```\n"
"""Stop string for backends that match plain text (OpenAI API, vLLM): a fence alone on its line. It also
matches a bare opening fence, so agents check the text for a complete program after a stop (see
``codefeedback_env.extraction.program_end``)."""


class SeedStream:
    """Deterministic stream of per-call or per-request seeds drawn from one base seed.

    Seeding every request with the same base seed would make repeated prompts (a group of samples
    for one problem) identical; drawing from a stream keeps them distinct yet reproducible for the
    same sequence of calls. With ``seed=None`` every draw is ``None``.
    """

    def __init__(self, seed: int | None, bits: int = 31) -> None:
        self._rng = random.Random(seed) if seed is not None else None
        self._bits = bits

    def next(self) -> int | None:
        """Return the next seed, or None when the stream is unseeded."""
        return None if self._rng is None else self._rng.getrandbits(self._bits)

    def take(self, count: int) -> list[int | None]:
        """Return the next ``count`` seeds."""
        return [self.next() for _ in range(count)]
