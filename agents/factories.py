"""The built-in agents as plugins: one factory `(problems, settings) -> agent` each.

They are registered under the `codefeedback.agents` entry points in `pyproject.toml`, exactly as a third-party
agent would be (see `codefeedback_env.agent_plugins`), and found by `codefeedback eval --agent NAME`. A factory
raises ValueError (or OSError, ImportError) with a one-line message when a setting it needs is missing or wrong.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codefeedback_env.agent_plugins import AgentSettings
from codefeedback_env.sampling import SamplingConfig

__all__ = ["openai", "random", "reference", "replay", "transformers", "vllm"]

HUB_HOST = ("huggingface.co", 443)


def reference(problems: Sequence[Any], settings: AgentSettings) -> Any:
    """Answers every problem with its reference solution."""
    from agents.baselines import ReferenceAgent

    return ReferenceAgent(list(problems))


def random(problems: Sequence[Any], settings: AgentSettings) -> Any:
    """Answers with programs drawn at random (seeded by the run's seed)."""
    from agents.baselines import RandomAgent

    return RandomAgent(list(problems), seed=settings.seed)


def replay(problems: Sequence[Any], settings: AgentSettings) -> Any:
    """Replays recorded responses from `settings.replay_file`."""
    if not settings.replay_file:
        raise ValueError("--agent replay needs --replay-file FILE (JSONL of recorded responses)")
    if not Path(settings.replay_file).is_file():
        raise ValueError(f"replay file {settings.replay_file!r} does not exist")
    from agents.baselines import ReplayAgent

    return ReplayAgent(settings.replay_file, missing_response="")


def openai(problems: Sequence[Any], settings: AgentSettings) -> Any:
    """An OpenAI-compatible server at `settings.base_url`; fails at once when nothing answers there."""
    if not settings.base_url:
        raise ValueError("--agent openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
    from agents.llm.openai_agent import OpenAICompatibleAgent

    agent = OpenAICompatibleAgent(
        settings.base_url,
        settings.model,
        api_key=settings.api_key,
        sampling=_sampling(settings),
        max_concurrency=settings.concurrency,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
    )
    _probe_server(agent)
    return agent


def transformers(problems: Sequence[Any], settings: AgentSettings) -> Any:
    """A local model run with transformers (`settings.model`: a folder, a hub id, a .gguf file or 'smollm2')."""
    model = settings.model or "smollm2"
    _check_hub_model(model)
    from agents.llm.transformers_agent import TransformersAgent

    return TransformersAgent(
        model,
        sampling=_sampling(settings),
        batch_size=settings.batch_size,
        dtype=settings.dtype,
        cache_dir=settings.model_cache,
        reprobe_dtype=settings.reprobe_dtype,
    )


def vllm(problems: Sequence[Any], settings: AgentSettings) -> Any:
    """A local model served by vLLM (GPU)."""
    from agents.llm.vllm_agent import VLLMAgent

    return VLLMAgent(settings.model or "smollm2", sampling=_sampling(settings))


def _sampling(settings: AgentSettings) -> SamplingConfig:
    return settings.sampling or SamplingConfig(seed=settings.seed)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _probe_server(agent: Any) -> None:
    """Fail fast, before any retry, when nothing answers at the agent's base URL (a server that answers
    but does not list models is fine)."""
    import openai as client

    try:
        agent.client.with_options(max_retries=0, timeout=min(agent.timeout, 10.0)).models.list()
    except client.APIConnectionError as error:  # also a timeout
        raise ValueError(
            f"nothing answers at --base-url {agent.base_url} ({_one_line(error)}); start the server or fix the URL "
            "(it usually ends in /v1)"
        ) from error
    except client.APIError:
        pass


def _check_hub_model(model: str) -> None:
    """Refuse at once a hub id that is not in the local cache when the hub cannot be reached, instead of
    letting the hub client retry for about a minute (an HTTPS proxy, if set, is trusted to reach it)."""
    if model == "smollm2" or Path(model).expanduser().exists() or os.environ.get("HTTPS_PROXY"):
        return
    repo = model.partition(":")[0]
    if "/" not in repo:
        return  # not a hub id; the loader explains what it expected
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:  # pragma: no cover - transformers brings huggingface_hub
        return
    if (Path(HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}").is_dir():
        return
    try:
        socket.create_connection(HUB_HOST, timeout=3).close()
    except OSError as error:
        raise ValueError(
            f"model {model!r} is neither a local folder or .gguf file nor in the Hugging Face cache, and "
            f"{HUB_HOST[0]} cannot be reached ({error}); pass a local model or 'smollm2' (bundled offline)"
        ) from error
