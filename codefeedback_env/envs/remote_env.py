"""The CodeFeedback environment served by `codefeedback serve`, as a Gymnasium environment in this process."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import httpx
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from codefeedback_env.envs.code_feedback_env import MAX_TEXT_CHARS, render_transcript
from codefeedback_env.errors import (
    InvalidActionError,
    InvalidOptionsError,
    RemoteEnvError,
    ServerBusyError,
    SessionExpiredError,
    UnknownProblemError,
)
from codefeedback_env.rewards import UNJUDGED_REWARD
from codefeedback_env.server import CONTRACT
from codefeedback_env.spaces import UnicodeText

logger = logging.getLogger(__name__)


class CodeFeedbackRemoteEnv(gym.Env[dict[str, Any], str]):
    """`CodeFeedbackEnv` running in an environment server (`codefeedback serve`), driven over HTTP.

    ## Description
    The same episodes as `CodeFeedbackEnv`: each `reset` and `step` is one request to the server, which
    runs the environment and its judge; hidden tests stay on the server. The first `reset` opens a session
    (an environment of its own on the server); later resets start the next episode in it. A session the
    server expired while this environment idled is replaced at the next `reset`.

    ## Action space
    `UnicodeText(0, max_response_chars)` (the server's limit): the response text; UTF-8 `bytes` are decoded.
    Anything else raises `InvalidActionError`.

    ## Observation space
    `Dict(problem=UnicodeText, feedback=UnicodeText, turn=Discrete(max_turns + 1))`, as `CodeFeedbackEnv`.

    ## Rewards
    The server's environment's rewards, unchanged.

    ## Episode end
    As `CodeFeedbackEnv`. Also `truncated`, reward 0 and `info["judge_error"]` when the step could not be
    served (the server unreachable after the HTTP client's connection retries, a timeout, a server error):
    like a judge error, an infrastructure failure that trainers leave out of the loss.

    ## Info
    `CodeFeedbackEnv`'s keys (the server's wire allow-list), plus `episode_id` (str): the server session.

    ## Arguments
    - `base_url`: the server's root, e.g. `http://127.0.0.1:8000`
    - `timeout`: seconds to wait for one answer (a step judges a program: allow for the hidden tests)
    - `connect_retries`: connection attempts the HTTP client retries before a request fails

    ## Version history
    - v0: initial version (OpenEnv's HTTP reset/step shape, with sessions).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 600.0,
        connect_retries: int = 3,
        render_mode: str | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be the server's root, e.g. 'http://127.0.0.1:8000'; got {base_url!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.base_url = base_url.rstrip("/")
        self.render_mode = render_mode
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=httpx.HTTPTransport(retries=connect_retries),
        )
        try:
            server = self._http.get("/metadata")
        except httpx.TransportError as error:
            self._http.close()
            raise RemoteEnvError(
                f"cannot reach an environment server at {self.base_url} ({error}); start one with "
                "`codefeedback serve DATASET --port PORT` or check base_url"
            ) from error
        metadata = _body(server)
        if server.status_code != 200 or metadata.get("contract") != CONTRACT:
            self._http.close()
            raise RemoteEnvError(
                f"{self.base_url}/metadata did not describe a codefeedback server (HTTP {server.status_code}); "
                "check base_url"
            )
        self.server_metadata: dict[str, Any] = metadata
        self.max_turns: int = self.server_metadata["max_turns"]
        self.max_response_chars: int = self.server_metadata["max_response_chars"]
        self.problem_ids: tuple[str, ...] = tuple(self.server_metadata["problem_ids"])

        self.action_space = UnicodeText(self.max_response_chars)
        self.observation_space = spaces.Dict(
            {
                "problem": UnicodeText(MAX_TEXT_CHARS),
                "feedback": UnicodeText(MAX_TEXT_CHARS),
                "turn": spaces.Discrete(self.max_turns + 1),
            }
        )
        self.episode_id: str | None = None
        self.done = True
        self._observation: dict[str, Any] = {}
        self._info: dict[str, Any] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode on the server: same options as `CodeFeedbackEnv.reset`."""
        super().reset(seed=seed)
        body: dict[str, Any] = {"seed": seed, "options": _plain(options)}
        if self.episode_id is not None:
            answer = self._post("/reset", body | {"episode_id": self.episode_id})
            if answer.status_code == 404 and _body(answer).get("code") == "unknown_session":
                logger.info("the server dropped session %s (%s); opening a new one", self.episode_id, _detail(answer))
                self.episode_id = None
        if self.episode_id is None:
            answer = self._post("/reset", body)
        result = self._result(answer)
        self.episode_id = result["episode_id"]
        self.done = False
        self._observation, self._info = result["observation"], result["info"]
        return self._observation, self._info | {"episode_id": self.episode_id}

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.done or self.episode_id is None:
            raise ResetNeeded("the episode is over; call reset() before step()")
        if isinstance(action, (bytes, bytearray)):
            try:
                action = bytes(action).decode("utf-8")
            except UnicodeDecodeError as error:
                raise InvalidActionError(f"the response bytes are not UTF-8 ({error}); send text") from None
        if not isinstance(action, str):
            raise InvalidActionError(
                f"step() expects the response text as str (or UTF-8 bytes), got {type(action).__name__}"
            )
        try:
            answer = self._send("/step", {"episode_id": self.episode_id, "action": {"response": action}})
        except httpx.TransportError as error:
            return self._unserved(f"the environment server did not answer the step: {type(error).__name__}: {error}")
        if answer.status_code >= 500:
            return self._unserved(f"the environment server failed the step (HTTP {answer.status_code}): {answer.text}")
        result = self._result(answer)
        self.done = bool(result["done"])
        self._observation, self._info = result["observation"], result["info"]
        return (
            self._observation,
            float(result["reward"]),
            bool(result["terminated"]),
            bool(result["truncated"]),
            self._info | {"episode_id": self.episode_id},
        )

    def _unserved(self, reason: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """End the episode truncated and unscored, as the server's environment does on a judge error."""
        logger.warning("%s (episode %s truncated unscored)", reason, self.episode_id)
        self.done = True
        observation = self._observation | {"feedback": ""}
        info = self._info | {"judge_error": reason, "episode_id": self.episode_id}
        return observation, UNJUDGED_REWARD, False, True, info

    def _send(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST `body` as ASCII JSON: a lone surrogate in a response travels as a `\\ud800` escape, so the server's
        environment makes it the invalid turn it is in-process (UTF-8 JSON cannot encode it at all)."""
        return self._http.post(path, content=json.dumps(body), headers={"content-type": "application/json"})

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return self._send(path, body)
        except httpx.TransportError as error:
            raise RemoteEnvError(f"the environment server at {self.base_url} did not answer {path}: {error}") from error

    def _result(self, answer: httpx.Response) -> dict[str, Any]:
        """The answer's body, or the server's error raised as this package's exception for it."""
        if answer.status_code == 200:
            return answer.json()
        detail, code = _detail(answer), _body(answer).get("code")
        if code == "unknown_problem":
            raise UnknownProblemError(detail)
        if code in ("invalid_options", "invalid_request") and answer.request.url.path.endswith("/reset"):
            raise InvalidOptionsError(detail)
        if code == "episode_over":
            self.done = True
            raise ResetNeeded(detail)
        if code == "unknown_session":
            self.done, self.episode_id = True, None
            raise SessionExpiredError(f"{detail} (this episode is lost: call reset() to start another)")
        if code == "capacity":
            retry_after = answer.headers.get("Retry-After")
            raise ServerBusyError(detail, float(retry_after) if retry_after else None)
        raise RemoteEnvError(f"HTTP {answer.status_code} from {answer.request.url}: {detail}")

    def render(self) -> str | None:
        """The transcript as text ("ansi" mode)."""
        if self.render_mode != "ansi":
            return None
        return render_transcript(self._info.get("messages", ()))

    def close(self) -> None:
        """Close the server session (its environment) and the connection."""
        if self.episode_id is not None:
            try:
                self._send("/close", {"episode_id": self.episode_id})
            except httpx.TransportError as error:
                logger.info("could not close session %s: %s", self.episode_id, error)
            self.episode_id = None
        self._http.close()
        super().close()


def _plain(options: Mapping[str, Any] | None) -> Any:
    """Reset options as JSON values (numpy integers, e.g. a problem index drawn with numpy, become ints)."""
    if not isinstance(options, Mapping):
        return options
    return {key: value.item() if hasattr(value, "item") else value for key, value in options.items()}


def _body(answer: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; empty when the body is not one (e.g. another server's HTML page)."""
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail(answer: httpx.Response) -> str:
    return str(_body(answer).get("detail", answer.text))
