"""The small interface between the judge and whatever runs untrusted programs.

A backend only runs programs and reports plain facts (`RunOutcome`); it never decides a verdict.
`SubprocessBackend` is the portable implementation; a faster pool can replace it behind this interface.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from codefeedback_env.judge.results import TestResult
    from codefeedback_env.problems.records import Problem, TestCase


@dataclass(frozen=True)
class Limits:
    """Resource limits for one run."""

    time: float
    """Seconds: of wall time net of waiting for a CPU (`cpu_wait`), and of CPU time, counted precisely by the trusted
    side (the kernel's CPU-time rlimit is only a backstop above it: `cpu_wait.cpu_rlimit_seconds`)."""
    memory: int
    """Bytes of address space."""
    output: int
    """Bytes of stdout kept; more is an output-limit verdict. stderr is never a verdict: it may be as long as under
    `python3` (the judge keeps its end for feedback, and at most this many bytes of it at any time)."""


@dataclass(frozen=True)
class RunOutcome:
    """Plain facts about one finished run, observed by the parent."""

    stdout: bytes
    stderr: bytes
    exit_code: int | None
    """The exit status, or None when the process was killed by a signal."""
    signal: int | None
    wall_time: float
    cpu_time: float
    timed_out: bool
    """The time limit (wall time net of waiting for a CPU) or the CPU limit was reached."""
    output_exceeded: bool
    memory_exceeded: bool = False
    """The kernel ended the program for holding more memory than its limit (with the pool's memory cgroup:
    memory it allocated and the files it wrote together)."""


class BackendFailure(RuntimeError):
    """The backend could not run a test to the end for a reason of its own (a worker died or stopped answering,
    or could not be restarted): the test has no verdict. The judge retries it, then reports a judge error."""


class RemoteFailure(BaseException):
    """A function call could not complete (time limit, crash, broken channel).

    A BaseException so that checker code's `except Exception` cannot swallow it.
    """


class RemoteTimeout(RemoteFailure):
    """The time limit ran out during a call."""


class RemoteCrash(RemoteFailure):
    """The program died or broke the channel."""


class RemoteError(Exception):
    """The called function raised; `traceback` is the program's own traceback text."""

    def __init__(self, traceback: str, kind: str = "") -> None:
        super().__init__(traceback.strip().splitlines()[-1] if traceback.strip() else "error")
        self.traceback = traceback
        self.kind = kind
        """The first built-in exception class the program's error is, as the program's process reported it."""


NEVER_MIMICKED = frozenset({"StopIteration", "StopAsyncIteration"})
"""Exceptions a `RemoteError` never is: one would silently end a checker's `map` or `next` loop."""
_remote_classes: dict[str, type[RemoteError]] = {}
"""The classes made so far, by the built-in class name they mimic (only names of built-in exceptions: bounded)."""


def remote_error(traceback: str, kind: str = "") -> RemoteError:
    """The program's error as checker code sees it: a `RemoteError` that is also the built-in exception class
    `kind` (the first built-in class of the program's error), else the one named on the traceback's last line
    (`ValueError: ...`), so `except ValueError` in checker code catches it as it would in the program's process.
    A built-in that cannot be made this way gives a plain `RemoteError`."""
    lines = traceback.strip().splitlines()
    name = kind or (lines[-1].split(":", 1)[0].strip() if lines else "")
    made = _remote_classes.get(name)
    if made is None:
        builtin = getattr(builtins, name, None) if name.isidentifier() and name not in NEVER_MIMICKED else None
        if not (isinstance(builtin, type) and issubclass(builtin, Exception) and not issubclass(builtin, RemoteError)):
            return RemoteError(traceback, kind)  # not kept: the program chooses these names, one per call
        made = type(f"Remote{name}", (RemoteError, builtin), {"__module__": __name__})
        try:
            made(traceback)
        except TypeError:  # a built-in whose constructor needs more (UnicodeDecodeError's five arguments)
            made = RemoteError
        _remote_classes[name] = made
    return made(traceback, kind)


class FunctionSession(Protocol):
    """A loaded program that answers calls with plain data, within one deadline."""

    names: tuple[str, ...]
    """Callable top-level names the program defines."""
    load_error: str | None
    """The traceback if loading the program failed."""
    failure: RemoteFailure | None
    """The time-out or crash that ended the conversation; every later call raises it again."""
    deadline: float
    """The `time.monotonic()` by which the current calls must be answered (see `limit_time`)."""

    def limit_time(self, seconds: float, *, since_start: bool = False) -> None:
        """Give the next calls `seconds` from now (or from the session's start) to answer."""
        ...

    def call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Call `name` in the program; raises RemoteError, RemoteTimeout or RemoteCrash."""
        ...

    def call_encoded(self, payload: bytes) -> Any:
        """`call` with its message already encoded (`plaindata` of {"call", "args", "kwargs"}): the judge
        passes a checker process's calls on without decoding them."""
        ...

    def close(self) -> RunOutcome:
        """Stop the program (killing what is left) and report its outcome."""
        ...


@runtime_checkable
class ExecutionBackend(Protocol):
    """Runs untrusted programs. Implementations must be safe to call from several threads."""

    def run_stdio(self, program: str, stdin: str, limits: Limits) -> RunOutcome:
        """Run `program` with `stdin` as standard input; raises `BackendFailure` if it could not."""
        ...

    def open_function_session(self, program: str, limits: Limits) -> FunctionSession:
        """Start `program` for function calls; the caller must `close()` the session.

        Opening or closing raises `BackendFailure` if the backend lost the run."""
        ...

    def close(self) -> None:
        """Release resources (workers, temporary folders)."""
        ...


@runtime_checkable
class ProgramBackend(Protocol):
    """Judges all the tests of one program somewhere else (e.g. `RayBackend`: on a judge actor holding its own
    pool), deciding verdicts exactly as a local `Judge` would. The local judge hands it whole programs."""

    def judge_tests(
        self, problem: Problem, program: str, cases: Sequence[TestCase], stop_on_failure: bool
    ) -> list[TestResult]:
        """The results of `program` (prefix included, compiled) on `cases`, in order; raises `BackendFailure`
        if the run was lost (the judge retries it once, then reports judge errors)."""
        ...

    def close(self) -> None:
        """Release resources (remote judges, connections)."""
        ...
