"""The server's requests and answers, shared by its HTTP endpoints and its WebSocket (`codefeedback_env.server`).

Requests are checked by strict models (unknown fields refused); answers are built from the environment's
results through the wire allow-list (`codefeedback_env.server.wire`), so both transports send the same fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from codefeedback_env.server.wire import wire_info, wire_observation


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResetRequest(_Strict):
    """OpenEnv's ResetRequest fields (`seed`, `episode_id`), plus Gymnasium's reset `options`."""

    seed: StrictInt | None = Field(default=None, ge=0)
    episode_id: StrictStr | None = Field(default=None, max_length=255)
    options: dict[str, Any] | None = None


class Action(_Strict):
    """The action: the model's response text, as `CodeFeedbackEnv.step` takes it."""

    response: StrictStr


class Observation(_Strict):
    """The observation, as `CodeFeedbackEnv` returns it (for GET /schema)."""

    problem: str
    feedback: str
    turn: int


class StepRequest(_Strict):
    """OpenEnv's StepRequest (`action`), plus the session's `episode_id`."""

    episode_id: StrictStr = Field(max_length=255)
    action: Action


class CloseRequest(_Strict):
    episode_id: StrictStr = Field(max_length=255)


def reset_answer(session_id: str, observation: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to a reset: OpenEnv's `observation`, `reward`, `done`, plus the session and `info`."""
    return {
        "episode_id": session_id,
        "observation": wire_observation(observation),
        "reward": None,
        "done": False,
        "info": wire_info(info),
    }


def step_answer(session_id: str, result: tuple[Any, Any, Any, Any, Mapping[str, Any]]) -> dict[str, Any]:
    """The answer to a step (`env.step`'s 5-tuple): OpenEnv's fields plus Gymnasium's `terminated`/`truncated`."""
    observation, reward, terminated, truncated, info = result
    return {
        "episode_id": session_id,
        "observation": wire_observation(observation),
        "reward": float(reward),
        "done": bool(terminated or truncated),
        "terminated": bool(terminated),
        "truncated": bool(truncated),
        "info": wire_info(info),
    }


def state_answer(session_id: str, env: Any) -> dict[str, Any]:
    """A session's state: OpenEnv's `episode_id` and `step_count`, plus the problem and whether it ended."""
    problem = env.problem
    return {
        "episode_id": session_id,
        "step_count": env.turn,
        "problem_id": problem.id if problem is not None else None,
        "done": env.done,
    }


def validation_problems(errors: Iterable[Mapping[str, Any]], skip: tuple[str, ...] = ("body",)) -> list[str]:
    """Pydantic's errors as short phrases naming the field and what is wrong (`skip`: location parts to leave
    out, such as FastAPI's "body")."""
    problems = []
    for item in errors:
        if item["type"] == "json_invalid":
            problems.append(f"the body is not valid JSON ({item.get('ctx', {}).get('error', 'unparsable')})")
            continue
        where = ".".join(str(part) for part in item["loc"] if part not in skip) or "body"
        got = "" if item["type"] == "missing" else f" (got {type(item.get('input')).__name__})"
        problems.append(f"{where}: {item['msg']}{got}")
    return problems
