"""What an evaluation will run, and roughly how long it takes, said before it starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def describe_plan(
    *,
    agent: str,
    dataset: str,
    problems: int,
    rollouts: int,
    max_turns: int,
    modes: list[str],
    max_new_tokens: int | None,
) -> str:
    """One line: who answers what, how many episodes and responses at most."""
    episodes = problems * rollouts
    tokens = f" of up to {max_new_tokens} tokens" if max_new_tokens else ""
    return (
        f"will run {agent} on {dataset} ({problems} problems) x {rollouts} rollouts x up to {max_turns} turns, "
        f"{' then '.join(modes)}: {episodes * len(modes)} episodes, at most "
        f"{episodes * max_turns * len(modes)} responses{tokens}"
    )


@dataclass(frozen=True)
class GenerationSpeed:
    """How fast a local model generates here: the measured inputs of :func:`estimate_generation_seconds`."""

    prefill_token_seconds: float
    """Seconds per prompt token (padding included) of a batch's prefill."""
    decode_step_seconds: float
    """Seconds per decode step of a batch of `rows` rows."""
    rows: int
    """The batch size the decode step was timed at."""


TYPICAL_PROGRAM_TOKENS = 96
"""The assumed length of the longest response of a batch when generation stops at the end of the first program
(a small model's short program with a line of prose); without that stop, responses are assumed to use their
whole budget."""
FEEDBACK_TOKENS = 64
"""The assumed tokens a failed turn's feedback adds to the next prompt (failed test lines and the reminder)."""


def estimate_generation_seconds(
    speed: GenerationSpeed,
    prompt_tokens: Sequence[int],
    *,
    rollouts: int,
    max_turns: int,
    batch_size: int,
    modes: Sequence[str],
    response_tokens: int,
) -> float:
    """Seconds of generation for a run whose turn-1 prompts have `prompt_tokens` tokens (one per problem).

    Every episode is assumed to use all its turns and every batch to decode `response_tokens` steps; a
    "multi_turn" prompt grows by a response and its feedback each turn, an "independent" one stays the turn-1
    prompt. Batches are formed as `TransformersAgent.generate` forms them (sorted by length).
    """
    total = 0.0
    for mode in modes:
        for turn in range(max_turns):
            growth = 0 if mode == "independent" else turn * (response_tokens + FEEDBACK_TOKENS)
            lengths = sorted(length + growth for length in prompt_tokens for _ in range(rollouts))
            for start in range(0, len(lengths), batch_size):
                batch = lengths[start : start + batch_size]
                total += len(batch) * batch[-1] * speed.prefill_token_seconds
                total += response_tokens * speed.decode_step_seconds
    return total


def describe_estimate(
    typical: float, bound: float, speed: GenerationSpeed, typical_tokens: int, max_tokens: int
) -> str:
    """One line: the run's expected generation time, its bound, and the measured speed they rest on."""
    typical_text = "" if typical_tokens >= max_tokens else (
        f"about {_minutes(typical)} of generation if the longest response of a batch has ~{typical_tokens} tokens "
        "(usual when generation stops at the end of the program), "
    )  # fmt: skip
    return (
        f"estimate: {typical_text}at most {_minutes(bound)} if every response runs to {max_tokens} tokens "
        f"(measured here: {speed.prefill_token_seconds * 1000:.1f} ms per prompt token, "
        f"{speed.decode_step_seconds:.2f} s per decode step of {speed.rows} rows; loading and judging add a little)"
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"
