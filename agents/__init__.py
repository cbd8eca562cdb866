"""Agents that play the codefeedback environments, decoupled from them by the `Agent` protocol.

- `agents.protocol`: the `Agent` protocol (`act(observations, infos) -> list[str]`).
- `agents.baselines`: reference solution, replay of recorded responses, random programs.
- `agents.wrappers`: the paper's comparisons for any agent (independent sampling).
- `agents.llm`: transformers, vLLM (GPU) and OpenAI-compatible backends (heavy imports inside).
- `agents.rlef`, `agents.grpo`: training on TRL (import torch, transformers and trl).

Importing this package imports none of torch, transformers, vllm or openai.
"""

from agents.baselines import RandomAgent, ReferenceAgent, ReplayAgent
from agents.protocol import Agent
from agents.wrappers import IndependentSampling

__all__ = ["Agent", "IndependentSampling", "RandomAgent", "ReferenceAgent", "ReplayAgent"]
