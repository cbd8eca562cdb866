"""A real judge backend that loses the runs a predicate selects, as a pool whose worker keeps dying would."""

from __future__ import annotations

import threading
from collections.abc import Callable

from codefeedback_env.judge import BackendFailure, Limits, RunOutcome
from codefeedback_env.judge.backend import FunctionSession
from codefeedback_env.judge.subprocess_backend import SubprocessBackend

LOST_REASON = "the worker was lost (test backend)"


class FailingBackend:
    """Runs programs on a `SubprocessBackend`, except that runs where `fails(program, stdin)` is true raise
    `BackendFailure` (function sessions are checked with stdin ""). `lost` counts the runs it refused."""

    def __init__(self, fails: Callable[[str, str], bool] = lambda program, stdin: True) -> None:
        self.inner = SubprocessBackend()
        self.fails = fails
        self.lost = 0
        self._lock = threading.Lock()

    def _check(self, program: str, stdin: str) -> None:
        if self.fails(program, stdin):
            with self._lock:
                self.lost += 1
            raise BackendFailure(LOST_REASON)

    def run_stdio(self, program: str, stdin: str, limits: Limits) -> RunOutcome:
        self._check(program, stdin)
        return self.inner.run_stdio(program, stdin, limits)

    def open_function_session(self, program: str, limits: Limits) -> FunctionSession:
        self._check(program, "")
        return self.inner.open_function_session(program, limits)

    def close(self) -> None:
        self.inner.close()
