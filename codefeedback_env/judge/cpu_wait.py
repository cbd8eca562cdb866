"""Time limits net of waiting for a CPU, and the time-out rule, for both backends.

A program's time is its wall time minus the time it spent runnable but waiting for a CPU (the scheduler's
`run_delay`, from /proc/<pid>/task/<tid>/schedstat), so a loaded machine (more programs than cores, a trainer
next to the judge) does not turn a fast program into a time-limit verdict. Sleeping and blocking still count.
A process's waiting is that of the thread of it that waited most: contest code often does all its work in a
thread (for a bigger stack) while the main thread sleeps in `join`, and counting the main thread alone
charged that thread's waiting to the program. Taking one thread (not the sum) never subtracts more than the
run's wall time, so threads waiting on each other cannot buy time; the CPU-time rlimit bounds their work.
Without scheduler statistics the limit is plain wall time. A plain wall-clock backstop ends every run.

Standard library only: the pool's worker imports this module too.
"""

from __future__ import annotations

import math
import os
import signal
import time

BACKSTOP_FACTOR = 3.0
"""A run is killed at the latest after this many times its limit (plus `BACKSTOP_SECONDS`) of wall time."""
BACKSTOP_SECONDS = 1.0
MAX_PROCESSES_COUNTED = 8
"""Processes of one run whose waiting is counted (the bootstrap, the program, a few it started)."""
MAX_THREADS_READ = 64
"""Threads of one process whose waiting is read (the pool caps a run's threads at 64 anyway)."""
LOOK_FROM = 0.5
"""Fraction of its limit (net of waiting) after which a run's waiting is read, every `READ_EVERY_SECONDS`."""
READ_EVERY_SECONDS = 0.05
MIN_WAIT_SECONDS = 0.002
"""The shortest wait between two looks at a run near its limit (no busy loop while the limit moves on)."""


def cpu_seconds(time_limit: float) -> int:
    """The CPU-time rlimit for a run with `time_limit` seconds: the same number of seconds, rounded up."""
    return math.ceil(time_limit)


def timed_out(deadline_hit: bool, signal_number: int | None, cpu_time: float, cpu_limit: int) -> bool:
    """Whether a run ended by its time limit: the deadline, the CPU rlimit's SIGXCPU, or its hard limit's
    SIGKILL (a SIGKILL after at least `cpu_limit` CPU seconds)."""
    return (
        deadline_hit or signal_number == signal.SIGXCPU or (signal_number == signal.SIGKILL and cpu_time >= cpu_limit)
    )


def _thread_delay(pid: int, tid: str) -> float:
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _run_delay(pid: int) -> float:
    """Seconds the live thread of `pid` that waited most for a CPU has waited (see the module docstring)."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    return max((_thread_delay(pid, tid) for tid in threads[:MAX_THREADS_READ]), default=0.0)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as listing:
            return [int(child) for child in listing.read().split()]
    except (OSError, ValueError):
        return []


def seconds_waiting(pid: int) -> float:
    """Seconds `pid` and its descendants (the first `MAX_PROCESSES_COUNTED`) have spent runnable but waiting
    for a CPU: the portable backend's program runs below its bootstrap. 0 where the kernel does not say."""
    total, frontier, counted = 0.0, [pid], 0
    while frontier and counted < MAX_PROCESSES_COUNTED:
        current = frontier.pop()
        counted += 1
        total += _run_delay(current)
        frontier += _children(current)
    return total


def wall_backstop(limit: float) -> float:
    """Seconds of wall time after which a run with a `limit`-second time limit is killed, however long it waited."""
    return limit * BACKSTOP_FACTOR + BACKSTOP_SECONDS


class TimeLimit:
    """The limit of one run started at `started` (monotonic): `limit` seconds net of waiting for a CPU, and
    the wall-clock backstop. The scheduler statistics are read only from half the limit on: most runs end
    long before."""

    def __init__(self, pid: int, started: float, limit: float) -> None:
        self.pid, self.started, self.limit = pid, started, limit
        self.backstop = started + wall_backstop(limit)
        self._waited = 0.0

    def remaining(self) -> float:
        """How long to wait for the run before looking again; 0 once its limit is reached.

        From half its limit on, a run's waiting is read every `READ_EVERY_SECONDS`: a thread's (or a process's)
        waiting goes with it when it ends, so a thread that worked and ended between two far-apart readings
        would have its waiting charged to the program."""
        now = time.monotonic()
        used = now - self.started - self._waited
        if used >= self.limit * LOOK_FROM:  # waiting only grows: a lower reading lost a thread that ended
            self._waited = max(self._waited, seconds_waiting(self.pid))
            used = now - self.started - self._waited
        left = min(self.limit - used, self.backstop - now)
        if left <= 0:
            return 0.0
        until_next_look = max(self.limit * LOOK_FROM - used, READ_EVERY_SECONDS)
        return max(min(left, until_next_look), MIN_WAIT_SECONDS)
