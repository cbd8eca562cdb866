"""Wrappers that turn any agent into the paper's comparison baselines.

- `IndependentSampling(agent)` (defined in `codefeedback_env.agent`): the agent never sees feedback. Every
  turn it is shown the turn-1 observation and transcript of its episode, so each turn is a fresh turn-1
  sample; the environment still stops at the first program that passes the public tests.
- Random feedback (ablation): not a wrapper, an environment option. The feedback shown after a failed
  turn is the execution feedback of an unrelated problem's program. See `random_feedback_env_kwargs`.
"""

from __future__ import annotations

from typing import Any

from codefeedback_env.agent import IndependentSampling, turn_one_view

__all__ = ["IndependentSampling", "random_feedback_env_kwargs", "turn_one_view"]


def random_feedback_env_kwargs(**env_kwargs: Any) -> dict[str, Any]:
    """Environment keyword arguments for the random-feedback ablation: `feedback="random"`.

    Example: `gym.make("CodeFeedback/Demo-v0", **random_feedback_env_kwargs(max_turns=3))`, or
    `run_evaluation(..., feedback="random")`, or `codefeedback eval --feedback random`.
    """
    return env_kwargs | {"feedback": "random"}
