"""The agent interface shared by every policy that plays the code environments (defined in
`codefeedback_env.agent`, re-exported here so `from agents.protocol import Agent` keeps working)."""

from __future__ import annotations

from codefeedback_env.agent import Agent, conversations_from_infos

__all__ = ["Agent", "conversations_from_infos"]
