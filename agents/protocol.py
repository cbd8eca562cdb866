"""The agent interface shared by every policy that plays the code environments.

An agent maps a batch of observations, together with the ``info`` dicts the environment returned
alongside them, to one response text per observation. Runners call ``act`` once per turn for all
episodes still running. An agent MAY also define ``reset(self) -> None``; runners call it (when
present) before starting a new batch of episodes, so an agent with per-episode state can clear it.

LLM agents read ``info["messages"]``: the OpenAI-style chat transcript of the episode so far
(``[{"role": "user", "content": ...}, {"role": "assistant", ...}, ...]``), ending with the user
turn to answer. They return the assistant text for that turn. :func:`conversations_from_infos`
checks and copies these transcripts for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["Agent", "conversations_from_infos"]

_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})


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
