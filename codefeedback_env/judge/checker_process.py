"""The judge's side of the checker processes: checker code runs where it can be killed.

A function problem's checker code (its asserts and `test_setup`) is trusted, but what it computes on the
program's return values is not bounded by anything the checker controls. It therefore runs in a checker
process (`checker_host`), one per judge thread that needs one, started once and reused for every test:

- calls the checker makes go through the judge, which passes each to the program's session (under the
  session's deadline) and answers with the decoded, plain-data value;
- checker code has its own time: what is left of the test's time when it starts plus `CHECKER_GRACE_SECONDS`,
  counted only while the checker works (its calls to the program are bounded by the program's deadline, which
  credits the program's waiting for a CPU). At its end checker code is interrupted inside the checker
  process; if one C call holds that process, the judge kills it `KILL_AFTER_SECONDS` later, so the judge's own
  threads never wait longer than that. Either way a new one is started for the next test (an interruption
  can land inside a call, between a reply's header and its body);
- the checker process's address space is capped (`checker_host.MEMORY_HEADROOM_BYTES` beyond its start).

Whose fault an incident is (the test's verdict):
- the checker overran its deadline, was killed, or ran out of memory *after the program answered a call in
  this test*: the program's return value drove it, so the verdict is `time_limit` (over time, or killed),
  `memory_limit` (out of memory) or `runtime_error` (the checker process died otherwise);
- the same *before the program answered anything*: the problem's checker is at fault, the verdict is
  `judge_error` (a checker process that died is a lost run: `BackendFailure`, retried by the judge).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from codefeedback_env.judge import descriptors, plaindata
from codefeedback_env.judge.backend import BackendFailure, FunctionSession, RemoteError, RemoteTimeout
from codefeedback_env.judge.checker_host import (
    CALL,
    HEADER_BYTES,
    MAX_CALL_BYTES,
    OUTCOME,
    READY,
    REPLY,
    TEST,
    THREAD_VARIABLES,
    send_frame,
)
from codefeedback_env.judge.function_checker import (
    CHECKER_MEMORY_MESSAGE,
    CHECKER_TIME_OUT_MESSAGE,
    TIME_OUT_MESSAGE,
    CheckOutcome,
    failure_outcome,
    is_memory_error,
)
from codefeedback_env.judge.results import Verdict
from codefeedback_env.judge.subprocess_backend import kill_group
from codefeedback_env.problems.records import Problem

logger = logging.getLogger(__name__)

CHECKER_GRACE_SECONDS = 2.0
"""How much longer than the test's time left the checker's own work may take; beyond it the test is a
time-out, e.g. a check looping `range(candidate(n))` times."""
KILL_AFTER_SECONDS = 1.0
"""How long past the checker's deadline the judge waits before killing a checker process that did not stop
(one C call holds it: `'x' * candidate(n)`, `math.prod(candidate(n))`)."""
START_TIMEOUT_SECONDS = 60.0
"""How long a new checker process may take to start (import the judge's checker code) on a loaded machine."""
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
"""The folder holding the `codefeedback_env` package, put first on the checker process's import path."""
BOOTSTRAP = f"""
import sys, types
for name in ("codefeedback_env", "codefeedback_env.judge", "codefeedback_env.judge.pool", "codefeedback_env.problems"):
    package = types.ModuleType(name)
    package.__path__ = [{PACKAGE_ROOT!r} + "/" + name.replace(".", "/")]
    sys.modules[name] = package
from codefeedback_env.judge.checker_host import main
main(sys.argv)
"""
"""The checker process's start: the checker's modules from this checkout, without running the packages'
`__init__` (which imports the judge, the datasets and the environments' registration), which a start does
not need. Run with `-P`: `python -c` would put the judge's working folder first on the import path, and a
`json.py` there would run in the trusted checker."""
CHECKER_FAULT = "The problem's checker ran out of {what} before the program answered any call: the checker is at fault."


class CheckerLost(BackendFailure):
    """A checker process died or could not start before the program answered in the test."""


class _Overrun(Exception):
    """The checker process did not answer by its kill time, or died: it was killed and reaped."""

    def __init__(self, died: bool) -> None:
        super().__init__("died" if died else "overran")
        self.died = died


class CheckerProcess:
    """One checker process and the socket to it; used by one judge thread at a time."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.process: subprocess.Popen | None = None
        self._start()

    def _start(self) -> None:
        """Start a new process (the previous one, if any, was killed)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        command = [sys.executable, "-P", "-c", BOOTSTRAP, str(theirs.fileno()), str(os.getpid())]
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")},
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            ours.close()
            raise CheckerLost(f"the checker process did not start: {error}") from None
        finally:
            theirs.close()
        self.sock = ours
        try:
            tag, _ = self._receive(time.monotonic() + START_TIMEOUT_SECONDS)
        except _Overrun:
            raise CheckerLost("the checker process did not start") from None
        if tag != READY:
            self.kill()
            raise CheckerLost(f"the checker process sent {tag!r} instead of its greeting")

    def ensure_started(self) -> None:
        """Start a new process if the last one was killed: call it before a test's time starts, since a
        start (importing the judge's checker code) takes a while."""
        if not self.alive:
            self.kill()
            self._start()

    @property
    def alive(self) -> bool:
        return self.sock is not None and self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """Kill the process (its whole group) and reap it, then close the socket: closed first, it could break a
        send under the still-running process, whose traceback would reach the judge's stderr. Idempotent."""
        process, self.process = self.process, None
        if process is not None:
            kill_group(process)
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def detach(self) -> None:
        """In a forked child: forget the process (it is the parent's) without touching it."""
        if self.sock is not None:
            self.sock.close()
        self.sock = self.process = None

    def _read_exact(self, size: int, kill_at: float) -> bytes:
        chunks, missing = [], size
        while missing:
            ready = descriptors.ready([self.sock.fileno()], kill_at - time.monotonic())
            chunk = self.sock.recv(min(missing, 1 << 20)) if ready else None
            if not chunk:
                raise self._lost(died=chunk is not None)
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def _send(self, tag: bytes, payload: bytes, kill_at: float) -> None:
        """Send a frame, killing the process if it has not taken it all by `kill_at`: a checker interrupted inside
        a call may stop reading mid-reply, and a send without a deadline would hold this judge thread for good."""
        self.sock.settimeout(max(kill_at - time.monotonic(), 0.001))
        try:
            send_frame(self.sock, tag, payload)
        except TimeoutError:
            raise self._lost(died=False) from None

    def _lost(self, *, died: bool) -> _Overrun:
        """Kill the process that died or overran; the exception to raise."""
        pid = self.process.pid if self.process is not None else None
        logger.warning("checker process %s %s; starting a new one", pid, "died" if died else "overran: killed")
        self.kill()
        return _Overrun(died)

    def _receive(self, kill_at: float) -> tuple[bytes, bytes]:
        header = self._read_exact(HEADER_BYTES, kill_at)
        size = int.from_bytes(header[:8], "little")
        if size > MAX_CALL_BYTES:  # the checker process caps what it sends: it is broken
            self.kill()
            raise _Overrun(True)
        return header[8:], self._read_exact(size, kill_at)

    def check(self, session: FunctionSession, problem: Problem, test_code: str) -> CheckOutcome:
        """Run one test's checker code here, passing its calls to `session`."""
        assert problem.entry_point is not None  # guaranteed by Problem.__post_init__
        self.ensure_started()
        own_seconds = max(0.0, session.deadline - time.monotonic()) + CHECKER_GRACE_SECONDS
        task = {
            "problem_id": problem.id,
            "test_setup": problem.test_setup,
            "entry_point": problem.entry_point,
            "test_code": test_code,
            "seconds": own_seconds,
        }
        answered = 0
        try:
            self._send(TEST, plaindata.dumps(task), time.monotonic() + own_seconds + KILL_AFTER_SECONDS)
            while True:  # the checker's own time runs only while the judge waits for it, not during its calls
                waiting_since = time.monotonic()
                tag, body = self._receive(waiting_since + own_seconds + KILL_AFTER_SECONDS)
                own_seconds -= time.monotonic() - waiting_since
                if tag == OUTCOME:
                    break
                if tag != CALL:
                    self.kill()
                    raise _Overrun(True)
                reply, answered = self._answer(session, body, answered)
                self._send(REPLY, plaindata.dumps(reply), time.monotonic() + own_seconds + KILL_AFTER_SECONDS)
        except OSError:  # the socket broke under a send: the process died
            self.kill()
            return _incident(session, answered, died=True, out_of_memory=False)
        except _Overrun as overrun:
            return _incident(session, answered, died=overrun.died, out_of_memory=False)
        except BaseException:  # the checker process waits for a reply it will never get: it is out of step
            self.kill()
            raise
        message = plaindata.loads(body)
        # A fresh process for the next test after an overrun (an interruption delivered inside a call, when checker
        # code carried on past its deadline, can leave part of a reply unread: the next test would read it as its
        # frame) or running out of memory (this one may hold fragmented memory).
        if message["overran"] or message["out_of_memory"]:
            self.kill()
        if session.failure is not None:  # the program timed out or crashed during a call (caught or not)
            return failure_outcome(session.failure)
        if message["overran"] or message["out_of_memory"]:
            return _incident(session, answered, died=False, out_of_memory=message["out_of_memory"])
        return CheckOutcome(Verdict(message["verdict"]), str(message["detail"]), str(message["returned"]))

    @staticmethod
    def _answer(session: FunctionSession, payload: bytes, answered: int) -> tuple[dict, int]:
        """The program's answer to one call, as the reply to the checker; and how many calls it has answered."""
        try:
            value = session.call_encoded(payload)
        except RemoteError as error:
            return {"raise": error.traceback, "kind": error.kind}, answered + 1
        except RemoteTimeout as failure:
            return {"failure": "timeout", "message": str(failure)}, answered
        except BaseException as failure:  # RemoteCrash (or a refused reply): the session is over
            if session.failure is None:
                raise
            return {"failure": "crash", "message": str(failure)}, answered
        return {"value": value}, answered + 1


def _incident(session: FunctionSession, answered: int, *, died: bool, out_of_memory: bool) -> CheckOutcome:
    """The verdict when the checker overran, died or ran out of memory (see the module's docstring)."""
    if session.failure is not None:
        return failure_outcome(session.failure)
    # The program's session is still in step, but its time is spent: end it, as a time-out in a call does.
    session.failure = RemoteTimeout(TIME_OUT_MESSAGE)
    if not answered:
        if died:
            raise CheckerLost("the checker process died before the program answered a call")
        what = "memory" if out_of_memory else "time"
        return CheckOutcome(Verdict.JUDGE_ERROR, CHECKER_FAULT.format(what=what))
    if out_of_memory:
        return CheckOutcome(Verdict.MEMORY_LIMIT, CHECKER_MEMORY_MESSAGE)
    if died:
        return CheckOutcome(Verdict.RUNTIME_ERROR, "The checker process died on what the program returned.")
    return CheckOutcome(Verdict.TIME_LIMIT, CHECKER_TIME_OUT_MESSAGE)


class CheckerPool:
    """Checker processes, started on first use and lent to one judge thread at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[CheckerProcess] = []
        self._all: list[CheckerProcess] = []
        self._closed = False
        self._finalizer = weakref.finalize(self, _kill_all, self._all)

    @contextmanager
    def lease(self) -> Iterator[CheckerProcess]:
        """A checker process for the caller alone (started if none is idle; restarted by `check` if it died)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the checker pool is closed")
            checker = self._idle.pop() if self._idle else None
        if checker is None:
            checker = CheckerProcess()
            with self._lock:
                self._all.append(checker)
        try:
            yield checker
        finally:
            with self._lock:
                if self._closed:
                    checker.kill()
                else:
                    self._idle.append(checker)

    def pids(self) -> list[int]:
        """Process ids of the running checker processes."""
        with self._lock:
            return [c.process.pid for c in self._all if c.process is not None and c.alive]

    def after_fork_in_child(self) -> None:
        """In a forked child: a pool of its own; the parent's processes stay untouched."""
        for checker in self._all:
            checker.detach()
        self._finalizer.detach()
        self.__init__()  # type: ignore[misc]

    def close(self) -> None:
        """Kill every checker process. Idempotent."""
        with self._lock:
            self._closed = True
        self._finalizer()


def _kill_all(checkers: list[CheckerProcess]) -> None:
    for checker in list(checkers):
        checker.kill()
    checkers.clear()


def run_checker(checker: CheckerProcess, session: FunctionSession, problem: Problem, test_code: str) -> CheckOutcome:
    """One test's outcome: the program's load failure, or its checker code's verdict (run in `checker`)."""
    if session.load_error is not None:
        if session.load_error.startswith(TIME_OUT_MESSAGE):
            return CheckOutcome(Verdict.TIME_LIMIT, session.load_error)
        verdict = Verdict.MEMORY_LIMIT if is_memory_error(session.load_error) else Verdict.RUNTIME_ERROR
        return CheckOutcome(verdict, session.load_error)
    return checker.check(session, problem, test_code)
