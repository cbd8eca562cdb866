"""Wrappers that turn any agent into the paper's comparison baselines.

- `IndependentSampling(agent)`: the agent never sees feedback. Every turn it is shown the turn-1
  observation and transcript of its episode, so each turn is a fresh turn-1 sample; the environment
  still stops at the first program that passes the public tests (sampling with public-test filtering).
- Random feedback (ablation): not a wrapper, an environment option. The feedback shown after a failed
  turn is the execution feedback of an unrelated problem's program. See `random_feedback_env_kwargs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["IndependentSampling", "random_feedback_env_kwargs", "turn_one_view"]


def turn_one_view(observation: Mapping[str, Any], info: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The observation and info as they were at turn 1: no feedback, the transcript cut after the first user message."""
    messages = list(info.get("messages") or [])
    first_user = next((i for i, m in enumerate(messages) if m.get("role") == "user"), None)
    if first_user is None:
        raise ValueError("info['messages'] holds no user message; cannot rebuild the turn-1 prompt")
    obs = dict(observation) | {"feedback": "", "turn": 0}
    new_info = dict(info) | {"turn": 0, "messages": [dict(m) for m in messages[: first_user + 1]]}
    return obs, new_info


class IndependentSampling:
    """Shows `agent` only turn-1 prompts, so it samples independently every turn (never sees feedback).

    The true turn is kept in `info["true_turn"]` (replay agents keyed by turn should key on it).
    """

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def reset(self) -> None:
        """Forward to the wrapped agent's `reset`, if it has one."""
        reset = getattr(self.agent, "reset", None)
        if callable(reset):
            reset()

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """The wrapped agent's responses to the turn-1 views of the observations."""
        views = [turn_one_view(obs, info) for obs, info in zip(observations, infos, strict=True)]
        new_infos = [
            view_info | {"true_turn": info.get("turn", 0)} for (_, view_info), info in zip(views, infos, strict=False)
        ]
        return self.agent.act([obs for obs, _ in views], new_infos)


def random_feedback_env_kwargs(**env_kwargs: Any) -> dict[str, Any]:
    """Environment keyword arguments for the random-feedback ablation: `feedback="random"`.

    Example: `gym.make("CodeFeedback/Demo-v0", **random_feedback_env_kwargs(max_turns=3))`, or
    `run_evaluation(..., feedback="random")`, or `codefeedback eval --feedback random`.
    """
    return env_kwargs | {"feedback": "random"}
