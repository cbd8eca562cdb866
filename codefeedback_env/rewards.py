"""Rewards, as named constants in one configurable place (the paper's values by default)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RewardConfig:
    """Per-turn rewards. Gamma is 1: the episode return is the plain sum."""

    solved: float = 1.0
    """At episode end, when the final program passes every hidden test."""
    failed: float = -1.0
    """At episode end, otherwise."""
    invalid_response: float = -0.2
    """On any turn whose response holds no valid code."""


UNJUDGED_REWARD = 0.0
"""The reward of a step the judge could not judge (a `judge_error`): no signal, whatever the configuration."""


def turn_reward(config: RewardConfig, *, valid: bool, final: bool, hidden_passed: bool) -> float:
    """The reward of one turn: the invalid-response penalty, plus the hidden-test outcome on the last turn."""
    reward = 0.0 if valid else config.invalid_response
    if final:
        reward += config.solved if hidden_passed else config.failed
    return reward
