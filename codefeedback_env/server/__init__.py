"""The environment behind an HTTP server, for trainers in other processes, languages or frameworks.

`codefeedback serve DATASET` starts it; `gym.make("CodeFeedback/Remote-v0", base_url=...)` is its client,
itself a Gymnasium environment. Importing this package imports neither FastAPI nor uvicorn (the `serve`
extra): `codefeedback_env.server.app` does, and only the server imports it.

## Contract: OpenEnv's HTTP reset/step shape
The request and response fields are OpenEnv's (meta-pytorch/OpenEnv, `openenv.core.env_server`):
`POST /reset` takes `seed` and `episode_id`; `POST /step` takes `action` (an object); both answer
`observation`, `reward` and `done`; `GET /health`, `GET /metadata`, `GET /schema` and `GET /state` (the
session's `episode_id` and `step_count`) describe the server and a session.
Two extensions, because OpenEnv's HTTP endpoints are stateless (its sessions live on a WebSocket) and a
multi-turn episode needs a session:
- `episode_id` names a session. `POST /reset` without one opens a session and answers its id; with one, it
  starts the next episode in that session. `POST /step` must name it; `POST /close` ends it.
- Responses also carry Gymnasium's `terminated`, `truncated` (`done` is their "or") and `info`.

OpenEnv's WebSocket session is served too: `/ws`, one connection per session, OpenEnv's message types
(`reset`, `step`, `state`, `close`), `data` envelopes and error codes, with the HTTP endpoints' answers (see
`codefeedback_env.server.websocket`).

NeMo Gym's resources servers (`POST /seed_session`, tool endpoints, `POST /verify`, a session cookie) fit
tool-calling agents that the server scores once at the end; this environment answers every turn with
feedback and a reward, which is OpenEnv's reset/step.

    POST /reset {"seed": 0, "options": {"problem_id": "demo/sum-two"}}
      -> {"episode_id": "...", "observation": {"problem", "feedback", "turn"}, "reward": null,
          "done": false, "info": {...}}
    POST /step {"episode_id": "...", "action": {"response": "```python\\nprint(1)\\n```"}}
      -> {"episode_id", "observation", "reward", "done", "terminated", "truncated", "info"}
    POST /close {"episode_id": "..."}
    GET /health, GET /metadata (max_turns, max_response_chars, problem ids, limits), GET /schema
    GET /state?episode_id=... -> {"episode_id", "step_count", "problem_id", "done"}
    /ws: {"type": "reset" | "step" | "state" | "close", "data": ...} -> {"type": "observation" | "state" | "error",
         "data": ...}

Observations, rewards and info are the in-process `CodeFeedbackEnv`'s, including a judge error (truncated,
reward 0, `info["judge_error"]`). Only an allow-list of observation and info fields is sent
(`codefeedback_env.server.wire`): hidden tests never leave the server. Errors are JSON
`{"detail": "<what is wrong and how to fix it>", "code": "<name>"}`: 404 unknown or expired session and
unknown problem, 409 a step after the episode ended or while the session is busy, 422 a malformed body or
reset options, 413 a body too long to hold a response of at most `max_response_chars`, 503 (with
`Retry-After`) when `max_sessions` sessions are live. A session idle for
`idle_timeout` seconds is closed.
"""

CONTRACT = "openenv-http"
"""The contract the server follows and its client expects (reported by GET /metadata)."""
DEFAULT_MAX_SESSIONS = 256
"""Live sessions a server holds at most, unless told otherwise."""
DEFAULT_IDLE_TIMEOUT = 600.0
"""Seconds without a request after which a server closes a session, unless told otherwise."""
