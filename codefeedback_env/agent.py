"""What an agent is to the environment: the `Agent` protocol, and the independent-sampling view of any agent.

An agent maps a batch of observations, together with the ``info`` dicts the environment returned
alongside them, to one response text per observation. Runners call ``act`` once per turn for all
episodes still running. An agent MAY also define ``reset(self) -> None``; runners call it (when
present) before starting a new batch of episodes, so an agent with per-episode state can clear it.

LLM agents read ``info["messages"]``: the OpenAI-style chat transcript of the episode so far
(``[{"role": "user", "content": ...}, {"role": "assistant", ...}, ...]``), ending with the user
turn to answer. They return the assistant text for that turn. :func:`conversations_from_infos`
checks and copies these transcripts for them.

`IndependentSampling(agent)` is the paper's baseline: the agent never sees feedback. Every turn it is shown
the turn-1 observation and transcript of its episode, so each turn is a fresh turn-1 sample; the environment
still stops at the first program that passes the public tests (sampling with public-test filtering).

The agents themselves (baselines, LLM backends, trainers) live in the separate `agents` package, which this
package never imports: the CLI finds agents by name through the `codefeedback.agents` entry points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["Agent", "AgentError", "IndependentSampling", "conversations_from_infos", "turn_one_view"]

_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})


class AgentError(RuntimeError):
    """An agent cannot answer for a reason its user can fix (a dead server, an unknown model); the CLI reports
    it in one line. Agents raise subclasses of it."""


@runtime_checkable
class Agent(Protocol):
    """Maps a batch of observations (with their info dicts) to one response text each.

    Optional: ``reset(self) -> None``, called by runners before a new batch of episodes.
    """

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """Return one response text per observation, in order."""
        ...


def conversations_from_infos(
    observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]
) -> list[list[dict[str, str]]]:
    """Return a checked copy of ``info["messages"]`` for each info dict.

    Raises ``ValueError`` when the batch sizes differ, when a transcript is missing or malformed,
    or when it does not end with a turn for the agent to answer (it ends with an assistant turn).
    """
    if len(observations) != len(infos):
        raise ValueError(
            f"act() got {len(observations)} observations but {len(infos)} info dicts; "
            "pass the info dict returned with each observation"
        )
    conversations: list[list[dict[str, str]]] = []
    for index, info in enumerate(infos):
        messages = info.get("messages") if isinstance(info, Mapping) else None
        if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
            keys = sorted(info) if isinstance(info, Mapping) else type(info).__name__
            raise ValueError(
                f"infos[{index}] has no non-empty 'messages' list (keys: {keys}); LLM agents need "
                "the chat transcript the environment puts in info['messages']"
            )
        conversation: list[dict[str, str]] = []
        for position, message in enumerate(messages):
            role = message.get("role") if isinstance(message, Mapping) else None
            content = message.get("content") if isinstance(message, Mapping) else None
            if role not in _ROLES or not isinstance(content, str):
                raise ValueError(
                    f"infos[{index}]['messages'][{position}] must be a dict with 'role' in "
                    f"{sorted(_ROLES)} and a string 'content'; got {message!r:.200}"
                )
            conversation.append({"role": role, "content": content})
        if conversation[-1]["role"] == "assistant":
            raise ValueError(
                f"infos[{index}]['messages'] ends with an assistant turn; it must end with the "
                "user turn the agent should answer"
            )
        conversations.append(conversation)
    return conversations


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
