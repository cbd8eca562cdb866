"""The FastAPI application: OpenEnv's HTTP reset/step shape over sessions of `CodeFeedbackEnv`.

See `codefeedback_env.server` for the contract. Handlers are plain functions (FastAPI runs them in its thread
pool), so many sessions step at once; their judging shares the process's judge.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from gymnasium.error import ResetNeeded

from codefeedback_env import __version__
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.errors import InvalidOptionsError, UnknownProblemError
from codefeedback_env.server import CONTRACT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SESSIONS
from codefeedback_env.server.messages import (
    Action,
    CloseRequest,
    Observation,
    ResetRequest,
    StepRequest,
    reset_answer,
    state_answer,
    step_answer,
    validation_problems,
)
from codefeedback_env.server.sessions import (
    CapacityError,
    SessionBusyError,
    SessionError,
    SessionStore,
    UnknownSessionError,
)
from codefeedback_env.server.websocket import add_websocket

logger = logging.getLogger(__name__)

JSON_BYTES_PER_CHAR = 12
"""Most bytes one character of a response takes in a JSON body (a `\\uXXXX\\uXXXX` surrogate pair)."""
BODY_SLACK_BYTES = 64 * 1024
"""Room for the rest of a request body (the episode id, field names)."""

_BODIES = {
    "/reset": '{"seed": 0, "options": {"problem_id": "..."}} (all optional; "episode_id" to reuse a session)',
    "/step": '{"episode_id": "...", "action": {"response": "<the model\'s text>"}}',
    "/close": '{"episode_id": "..."}',
    "/state": "GET /state?episode_id=...",
}


class _BodyTooLarge(HTTPException):
    """A request body over the server's limit (FastAPI passes an HTTPException raised while reading it through)."""

    def __init__(self, size: str) -> None:
        super().__init__(413)
        self.size = size


class _BodyLimit:
    """Refuses a request body over `max_body` bytes: by its Content-Length before reading it, and, for a body
    sent without one (chunked), as soon as the bytes read pass the limit, so no body is ever held whole."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            receive = _refuse(length.decode())
        received = 0

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise _BodyTooLarge(f"more than {self.max_body}")
            return message

        await self.app(scope, counted, send)


def _refuse(size: str) -> Callable[[], Awaitable[dict]]:
    """A `receive` that refuses the body (of `size` bytes, by its header) without reading any of it."""

    async def receive() -> dict:
        raise _BodyTooLarge(size)

    return receive


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def create_app(
    make_env: Callable[[], CodeFeedbackEnv],
    *,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> FastAPI:
    """The server of the environments `make_env` builds, one per session."""
    store = SessionStore(make_env, max_sessions=max_sessions, idle_timeout=idle_timeout)
    probe = make_env()
    metadata = {
        "name": "CodeFeedback",
        "description": (probe.__doc__ or "").strip().split("\n")[0],
        "version": __version__,
        "contract": CONTRACT,
        "max_turns": probe.max_turns,
        "max_response_chars": probe.max_response_chars,
        "feedback": probe.feedback_mode.value,
        "max_sessions": max_sessions,
        "idle_timeout": idle_timeout,
        "problem_ids": [problem.id for problem in probe.problems],
    }
    probe.close()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A thread per live session, so no session's request waits for another session's step to end.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, max_sessions)
        yield
        store.close_all()

    app = FastAPI(title="codefeedback environment server", version=__version__, lifespan=lifespan)
    app.state.sessions = store
    # A body this long cannot hold a response within max_response_chars (a character is at most 12 bytes of
    # JSON, as an escaped surrogate pair), so it is refused before it is read.
    max_body = JSON_BYTES_PER_CHAR * metadata["max_response_chars"] + BODY_SLACK_BYTES

    def too_large(size: str) -> JSONResponse:
        detail = (
            f"the request body has {size} bytes, more than this server reads ({max_body}): a response "
            f"is at most {metadata['max_response_chars']} characters (GET /metadata); send a shorter one"
        )
        return _error(413, "body_too_large", detail)

    app.add_middleware(_BodyLimit, max_body=max_body)
    app.state.max_body = max_body
    add_websocket(app, store, max_body)

    @app.exception_handler(_BodyTooLarge)
    async def body_too_large(request: Request, error: _BodyTooLarge) -> JSONResponse:
        return too_large(error.size)

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = validation_problems(error.errors())
        expected = _BODIES.get(request.url.path, "a JSON object")
        detail = f"bad request: {'; '.join(problems)}; send {expected}"
        return _error(422, "invalid_request", detail)

    @app.exception_handler(SessionError)
    async def session_error(request: Request, error: SessionError) -> JSONResponse:
        if isinstance(error, CapacityError):
            return _error(503, error.code, str(error), {"Retry-After": f"{error.retry_after:.0f}"})
        status = 404 if isinstance(error, UnknownSessionError) else 409 if isinstance(error, SessionBusyError) else 400
        return _error(status, error.code, str(error))

    @app.exception_handler(UnknownProblemError)
    async def unknown_problem(request: Request, error: UnknownProblemError) -> JSONResponse:
        return _error(404, "unknown_problem", f"{error}; GET /metadata lists the problem ids")

    @app.exception_handler(InvalidOptionsError)
    async def invalid_options(request: Request, error: InvalidOptionsError) -> JSONResponse:
        return _error(422, "invalid_options", str(error))

    @app.exception_handler(ResetNeeded)
    async def episode_over(request: Request, error: ResetNeeded) -> JSONResponse:
        detail = "the episode is over; POST /reset with this episode_id to start the next one in the same session"
        return _error(409, "episode_over", detail)

    # Answered on the event loop, so they answer while every worker thread is judging.
    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "healthy", "sessions": len(store), "max_sessions": max_sessions}

    @app.get("/metadata")
    async def get_metadata() -> dict[str, Any]:
        return metadata

    @app.get("/schema")
    async def schema() -> dict[str, Any]:
        return {"action": Action.model_json_schema(), "observation": Observation.model_json_schema()}

    @app.get("/state")
    async def state(episode_id: str) -> dict[str, Any]:
        return state_answer(episode_id, store.get(episode_id).env)  # read without waiting for a step in progress

    @app.post("/reset")
    def reset(request: Annotated[ResetRequest, Body(default_factory=ResetRequest)]) -> dict[str, Any]:
        if request.episode_id is None:
            session = store.open()
            try:
                with store.use(session.id) as held:
                    observation, info = held.env.reset(seed=request.seed, options=request.options)
            except BaseException:
                store.close(session.id)  # a session whose first reset failed is of no use to anyone
                raise
        else:
            with store.use(request.episode_id) as session:
                observation, info = session.env.reset(seed=request.seed, options=request.options)
        return reset_answer(session.id, observation, info)

    @app.post("/step")
    def step(request: StepRequest) -> dict[str, Any]:
        with store.use(request.episode_id) as session:
            result = session.env.step(request.action.response)
        return step_answer(session.id, result)

    @app.post("/close")
    def close(request: CloseRequest) -> dict[str, Any]:
        store.close(request.episode_id)
        return {"episode_id": request.episode_id, "closed": True}

    return app


def listen(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A socket bound to (host, port) (port 0: a free one); `OSError` if the address is taken or invalid."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    make_env: Callable[[], CodeFeedbackEnv],
    sock: socket.socket,
    *,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    log_level: str = "warning",
) -> None:
    """Serve `make_env`'s environments over HTTP on `sock` (see `listen`) with uvicorn until interrupted."""
    import uvicorn

    app = create_app(make_env, max_sessions=max_sessions, idle_timeout=idle_timeout)
    # A /ws message over max_body characters gets an error naming the limit; far longer ones (in bytes) end the
    # connection at the protocol level (close code 1009) before they are held whole.
    config = uvicorn.Config(app, log_level=log_level, ws_max_size=2 * app.state.max_body)
    uvicorn.Server(config).run(sockets=[sock])
