"""A quick measurement of a local model's generation speed, for a run's time estimate."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agents.llm.transformers_agent import TransformersAgent


@dataclass(frozen=True)
class BatchTiming:
    """One generated batch: how many responses, their tokens, and the wall time it took."""

    responses: int
    tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("inf")


def time_one_batch(agent: TransformersAgent, conversations: Sequence[Sequence[Mapping[str, str]]]) -> BatchTiming:
    """Generate one batch (up to `agent.batch_size` of `conversations`) and time it.

    A copy of the agent generates it: same model, tokenizer, sampling and batch size, but its own seed
    stream, so the agent's later responses are those it would give without this measurement.
    """
    probe = TransformersAgent(agent.model, agent.sampling, batch_size=agent.batch_size, tokenizer=agent.tokenizer)
    batch = list(conversations[: agent.batch_size])
    started = time.perf_counter()
    completions = probe.generate(batch)
    seconds = time.perf_counter() - started
    return BatchTiming(len(completions), sum(len(c.token_ids) for c in completions), seconds)
