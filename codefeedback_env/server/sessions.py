"""The server's sessions: one environment per session, a bound on how many, and expiry after idling."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from codefeedback_env.errors import CodeFeedbackError

FORGOTTEN_IDS = 4096
"""How many expired or closed session ids are remembered, to tell "expired" from "never existed"."""


class SessionError(CodeFeedbackError):
    """A request names a session the store cannot serve; `code` is the error's machine-readable name."""

    code = "session_error"


class UnknownSessionError(SessionError, KeyError):
    """No live session has this id (it never existed, was closed, or expired)."""

    code = "unknown_session"

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])


class SessionBusyError(SessionError):
    """Another request of the same session is still being served."""

    code = "session_busy"


class CapacityError(SessionError):
    """The store already holds `max_sessions` live sessions."""

    code = "capacity"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Session:
    """A live session: its environment, the lock that serialises its requests, and when it was last used."""

    id: str
    env: Any
    last_used: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class SessionStore:
    """Sessions by id, each with its own environment from `make_env`.

    At most `max_sessions` are live; a session that no request touched for `idle_timeout` seconds is closed
    (checked at every request, so an idle server holds them until its next request). Ids are random and
    unguessable, so one client cannot drive another's episode. Thread-safe.
    """

    def __init__(
        self,
        make_env: Callable[[], Any],
        *,
        max_sessions: int,
        idle_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {max_sessions}")
        if not idle_timeout > 0:
            raise ValueError(f"idle_timeout must be greater than 0 seconds, got {idle_timeout}")
        self.make_env = make_env
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._forgotten: OrderedDict[str, str] = OrderedDict()  # id -> why it is gone
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def open(self) -> Session:
        """A new session with a fresh environment; `CapacityError` when `max_sessions` are live."""
        with self._lock:
            self._expire_idle()
            if len(self._sessions) >= self.max_sessions:
                now = self.clock()
                idle = [now - s.last_used for s in self._sessions.values() if not s.lock.locked()]
                retry_after = max(1.0, self.idle_timeout - max(idle, default=0.0))
                raise CapacityError(
                    f"the server already holds its maximum of {self.max_sessions} sessions; close finished ones "
                    f"(POST /close), retry after {retry_after:.0f} s (idle sessions expire after "
                    f"{self.idle_timeout:g} s), or start the server with a larger --max-sessions",
                    retry_after,
                )
            session_id = secrets.token_urlsafe(16)
            session = Session(session_id, None, self.clock())
            self._sessions[session_id] = session  # reserved while the environment is built
        try:
            session.env = self.make_env()
        except BaseException:
            with self._lock:
                self._sessions.pop(session_id, None)
            raise
        return session

    @contextmanager
    def use(self, session_id: str) -> Iterator[Session]:
        """Hold `session_id` for one request: `UnknownSessionError`, or `SessionBusyError` if it is in use."""
        with self._lock:
            session = self._live(session_id)
            if not session.lock.acquire(blocking=False):
                raise SessionBusyError(
                    f"session {session_id!r} is still serving another request; send one request at a time per "
                    "session (wait for its answer), or reset without an episode_id for a session of its own"
                )
            session.last_used = self.clock()
        try:
            yield session
        finally:
            session.last_used = self.clock()
            session.lock.release()

    def get(self, session_id: str) -> Session:
        """A live session without holding it (for reading its state); `UnknownSessionError` if there is none."""
        with self._lock:
            return self._live(session_id)

    def close(self, session_id: str) -> None:
        """Close a session (`UnknownSessionError` if there is none by this id)."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is None:
                raise UnknownSessionError(self._unknown_message(session_id))
            self._forget(session_id, "was closed")
        _close_env(session)

    def close_all(self) -> None:
        """Close every session (at server shutdown)."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            _close_env(session)

    def _live(self, session_id: str) -> Session:
        """The live session `session_id`, after closing idle ones (the caller holds `_lock`); else
        `UnknownSessionError` (a session still being opened has no environment yet: not live)."""
        self._expire_idle()
        session = self._sessions.get(session_id)
        if session is None or session.env is None:
            raise UnknownSessionError(self._unknown_message(session_id))
        return session

    def _expire_idle(self) -> None:
        """Close sessions idle for longer than `idle_timeout` (the caller holds `_lock`)."""
        now = self.clock()
        expired = [s for s in self._sessions.values() if not s.lock.locked() and now - s.last_used > self.idle_timeout]
        for session in expired:
            del self._sessions[session.id]
            self._forget(session.id, f"expired after {self.idle_timeout:g} s without a request")
            _close_env(session)

    def _forget(self, session_id: str, why: str) -> None:
        self._forgotten[session_id] = why
        while len(self._forgotten) > FORGOTTEN_IDS:
            self._forgotten.popitem(last=False)

    def _unknown_message(self, session_id: str) -> str:
        why = self._forgotten.get(session_id)
        state = f"session {session_id!r} {why}" if why else f"no session has the id {session_id!r}"
        return f"{state}; POST /reset without an episode_id to open a new session"


def _close_env(session: Session) -> None:
    if session.env is not None:
        session.env.close()
