"""Run a function problem's trusted checker code in the parent, calling the program through a session.

The checker (for example `assert add(1, 2) == 3`) executes here, in the judge's process; every call
to a function the program defines is forwarded to the sandboxed program and only its plain-data
result comes back. Expected values never enter the program's process, and a returned object cannot
fake equality because only built-in values cross the boundary.
"""

from __future__ import annotations

import logging
import reprlib
from dataclasses import dataclass
from typing import Any

from codefeedback_env.judge.backend import FunctionSession, RemoteCrash, RemoteError, RemoteTimeout
from codefeedback_env.judge.results import Verdict
from codefeedback_env.problems.records import Problem

logger = logging.getLogger(__name__)

_short_repr = reprlib.Repr()
_short_repr.maxstring = 200
_short_repr.maxother = 200


class RemoteFunction:
    """Stands for a function of the sandboxed program inside checker code."""

    def __init__(self, session: FunctionSession, name: str, returned: list[str]) -> None:
        self._session = session
        self._name = name
        self._returned = returned
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        value = self._session.call(self._name, list(args), kwargs)
        self._returned.append(_short_repr.repr(value))
        return value

    def __repr__(self) -> str:
        return f"<sandboxed function {self._name}>"


@dataclass(frozen=True)
class CheckOutcome:
    verdict: Verdict
    detail: str = ""
    returned: str = ""
    """Repr of the last value the program returned, for feedback."""


def is_memory_error(text: str) -> bool:
    """Whether a traceback ends in MemoryError (the address-space limit was hit)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return bool(lines) and lines[-1].startswith("MemoryError")


def run_checker(session: FunctionSession, problem: Problem, test_code: str) -> CheckOutcome:
    """Execute one test's checker code against the program behind `session`."""
    if session.load_error is not None:
        if session.load_error.startswith("Execution took too long"):
            return CheckOutcome(Verdict.TIME_LIMIT, session.load_error)
        verdict = Verdict.MEMORY_LIMIT if is_memory_error(session.load_error) else Verdict.RUNTIME_ERROR
        return CheckOutcome(verdict, session.load_error)
    returned: list[str] = []
    namespace: dict[str, Any] = {"__name__": "codefeedback_checker"}
    try:
        exec(compile(problem.test_setup, "<test setup>", "exec"), namespace)
    except Exception as error:  # the dataset's own code is broken: say so rather than crash the judge
        logger.warning("problem %s: test setup failed: %s", problem.id, error)
        return CheckOutcome(Verdict.RUNTIME_ERROR, f"The test setup failed ({type(error).__name__}: {error}).")
    for name in session.names:
        namespace.setdefault(name, RemoteFunction(session, name, returned))
    assert problem.entry_point is not None  # guaranteed by Problem.__post_init__
    entry = RemoteFunction(session, problem.entry_point, returned)
    namespace[problem.entry_point] = entry
    namespace["candidate"] = entry
    last = lambda: returned[-1] if returned else ""  # noqa: E731
    try:
        exec(compile(test_code, "<test>", "exec"), namespace)
    except RemoteTimeout:
        return CheckOutcome(Verdict.TIME_LIMIT, "Execution took too long.")
    except RemoteCrash as crash:
        return CheckOutcome(Verdict.RUNTIME_ERROR, str(crash))
    except RemoteError as error:
        verdict = Verdict.MEMORY_LIMIT if is_memory_error(error.traceback) else Verdict.RUNTIME_ERROR
        return CheckOutcome(verdict, error.traceback)
    except AssertionError as failure:
        message = f"AssertionError: {failure}" if str(failure) else "AssertionError"
        return CheckOutcome(Verdict.WRONG_ANSWER, message, last())
    except Exception as error:  # the checker could not use what the program returned
        return CheckOutcome(Verdict.WRONG_ANSWER, f"{type(error).__name__}: {error}", last())
    return CheckOutcome(Verdict.ACCEPTED, returned=last())
