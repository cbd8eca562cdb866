"""Finding agents by name: the `codefeedback.agents` entry-point group, or a `package.module:Factory` path.

An agent plugin is a factory `factory(problems, settings) -> Agent`: it gets the problems of the run and the
`AgentSettings` of `codefeedback eval` (reading the fields it needs) and returns an object following
`codefeedback_env.agent.Agent`. A package makes its agent available as `codefeedback eval --agent NAME` by
declaring it in its `pyproject.toml`:

    [project.entry-points."codefeedback.agents"]
    my-agent = "my_package.agents:make_agent"

The built-in agents (reference, random, replay, transformers, openai, vllm) are registered the same way by
this project. An agent that is not installed as a plugin is named by its path: `--agent my_package.agents:make_agent`.
Loading the factory imports its module; this is the only way this package reaches the `agents` package.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from codefeedback_env.sampling import SamplingConfig

__all__ = ["ENTRY_POINT_GROUP", "AgentFactory", "AgentNotFoundError", "AgentSettings", "agent_names", "find_agent"]

ENTRY_POINT_GROUP = "codefeedback.agents"


class AgentNotFoundError(LookupError):
    """No agent plugin of that name is installed, or a `module:Factory` path does not lead to one."""


@dataclass(frozen=True)
class AgentSettings:
    """What `codefeedback eval` passes to an agent factory; a factory reads the fields it needs."""

    seed: int = 0
    """The run's seed (sampling streams, random agents)."""
    sampling: SamplingConfig | None = None
    """Sampling settings of LLM agents."""
    model: str | None = None
    """Model path, hub id or alias (LLM agents)."""
    batch_size: int = 8
    """Prompts generated together (local models)."""
    dtype: str = "best"
    """Weights dtype of local models: "best" (on a CPU, float32 or bfloat16, whichever a short timing of the
    model finds faster), "bfloat16", "float32" or "auto"."""
    model_cache: str | None = None
    """Where converted model copies and "best" dtype decisions are kept; None redoes both every time."""
    reprobe_dtype: bool = False
    """With dtype "best": time the dtypes again instead of reading the decision kept in `model_cache`."""
    base_url: str | None = None
    """API root of an OpenAI-compatible server."""
    api_key: str | None = None
    """API key of that server."""
    timeout: float = 60.0
    """Seconds per request (remote agents)."""
    concurrency: int = 8
    """Requests in flight (remote agents)."""
    max_retries: int = 3
    """Retries of a failed request (remote agents)."""
    replay_file: str | None = None
    """JSONL of recorded responses (replay agents)."""


AgentFactory = Callable[[Sequence[Any], AgentSettings], Any]
"""(problems, settings) -> an agent."""


def _entry_points() -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def agent_names() -> list[str]:
    """Names of the installed agent plugins, sorted."""
    return sorted(_entry_points())


def find_agent(spec: str) -> AgentFactory:
    """The factory named `spec`: an installed plugin's name, or `package.module:attribute` for any other.

    Raises `AgentNotFoundError` naming what is installed (with a "did you mean") or what could not be imported;
    errors raised while importing the factory's own module pass through."""
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise AgentNotFoundError(f"--agent {spec!r}: expected package.module:Factory")
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is None or not module_name.startswith(error.name):
                raise  # the module exists but one of its own imports is missing
            raise AgentNotFoundError(
                f"--agent {spec!r}: no module {module_name!r} can be imported (is its package installed, or its "
                "folder on PYTHONPATH?)"
            ) from error
        for part in attribute.split("."):
            if not hasattr(target, part):
                raise AgentNotFoundError(f"--agent {spec!r}: module {module_name!r} has no attribute {attribute!r}")
            target = getattr(target, part)
        factory = target
    else:
        points = _entry_points()
        if spec not in points:
            close = difflib.get_close_matches(spec, points, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise AgentNotFoundError(
                f"no agent named {spec!r}.{hint} Installed agents: {', '.join(sorted(points)) or 'none'} (the "
                f"{ENTRY_POINT_GROUP!r} entry points); name any other as package.module:Factory. (If the "
                "built-in agents are missing, reinstall the package: pip install -e .)"
            )
        factory = points[spec].load()
    if not callable(factory):
        raise AgentNotFoundError(f"--agent {spec!r} is a {type(factory).__name__}, not a factory to call")
    return factory
