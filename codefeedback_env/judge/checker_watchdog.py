"""A deadline for trusted checker code, raised in the checker process's own thread.

Checker code is trusted, but the values it works on come from the program: a check such as
`for i in range(candidate(n))` would let a returned 10**12 hold the checker for hours. The watchdog
raises `CheckerTimeout` in the checker's thread if it is still inside the guarded block at the
deadline. It is delivered at the next bytecode, so one long C call (sorting a big list, `'x' * n`)
finishes first: for those the judge kills the whole checker process a little later
(`checker_process`); this watchdog ends the common Python-level overruns at once, with their verdict from
the checker process itself (which the judge then replaces: the interruption may have landed inside a call).
One watchdog thread per process serves every block.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

REPEAT_SECONDS = 0.05
"""After the deadline, the exception is raised again this often, in case checker code caught it
(a bare `except:`), until the block is left."""


class CheckerTimeout(BaseException):
    """Checker code ran past its deadline. A BaseException so that checker code's `except Exception`
    cannot swallow it."""


def _set_async_exception(thread_id: int, exception: type[BaseException] | None) -> None:
    """Raise `exception` in thread `thread_id` at its next bytecode; None drops one not yet delivered."""
    import ctypes  # only here: ctypes is not needed until a deadline hits

    target = ctypes.c_ulong(thread_id)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(target, ctypes.py_object(exception) if exception else None)


class CheckerDeadline:
    """`with CheckerDeadline(deadline): ...` raises CheckerTimeout inside the block at `deadline`
    (a `time.monotonic()` value), and again every `REPEAT_SECONDS` until the block is left. Leaving
    the block disarms it, even when an exception is delivered while leaving (it is dropped); one not yet
    delivered is dropped too. `fired` tells whether the deadline was reached."""

    def __init__(self, deadline: float) -> None:
        self.due = deadline
        self.thread_id = threading.get_ident()
        self.fired = False

    def __enter__(self) -> CheckerDeadline:
        _WATCHDOG.arm(self)
        return self

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the clock inside (before the deadline fired): time spent there, such as waiting for the
        program's answer, is not the checker's own, and the deadline moves on by it."""
        left = _WATCHDOG.pause(self)
        try:
            yield
        finally:
            _WATCHDOG.resume(self, left)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        while True:
            try:
                _WATCHDOG.disarm(self)
                return
            except CheckerTimeout:  # delivered while leaving, before the block was disarmed: disarm it still
                continue


class _Watchdog:
    """The thread that fires due deadlines. Arming, disarming and firing hold one lock, so a disarmed block
    is never fired at."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # the thread does not survive a fork; the lock may not

    def _reset(self) -> None:
        self._condition = threading.Condition()
        self._armed: dict[int, CheckerDeadline] = {}
        self._pid = 0
        self._wakes_at = math.inf
        """When the watchdog thread wakes next if nothing wakes it (guarded by the condition)."""

    def arm(self, block: CheckerDeadline) -> None:
        with self._condition:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="codefeedback-checker-watchdog", daemon=True).start()
            self._armed[id(block)] = block
            self._condition.notify()

    def disarm(self, block: CheckerDeadline) -> None:
        with self._condition:
            self._armed.pop(id(block), None)
            if block.fired:
                _set_async_exception(block.thread_id, None)

    def pause(self, block: CheckerDeadline) -> float | None:
        """Stop `block`'s clock; the seconds it had left (None if it fired already: it keeps firing)."""
        with self._condition:
            if block.fired:
                return None
            left = block.due - time.monotonic()
            block.due = math.inf
            return left

    def resume(self, block: CheckerDeadline, left: float | None) -> None:
        # Wake the watchdog only if it would sleep past the new due (a wake-up per call would cost a thread switch,
        # and the GIL, on every call); it usually sleeps until the older, sooner due, finds nothing and waits again.
        with self._condition:
            if left is not None and not block.fired:
                block.due = time.monotonic() + left
                if block.due < self._wakes_at:
                    self._condition.notify()

    def _run(self) -> None:
        condition = self._condition
        with condition:
            while condition is self._condition:
                now = time.monotonic()
                for block in self._armed.values():
                    if block.due <= now:
                        block.fired = True
                        _set_async_exception(block.thread_id, CheckerTimeout)
                        block.due = now + REPEAT_SECONDS
                soonest = min((block.due for block in self._armed.values() if block.due < math.inf), default=math.inf)
                self._wakes_at = soonest
                condition.wait(None if soonest == math.inf else soonest - now)


_WATCHDOG = _Watchdog()
