"""Time limits net of waiting for a CPU, and the time-out rule, for both backends.

A program's time is its wall time minus the time it spent runnable but waiting for a CPU (the scheduler's
`run_delay`, from /proc/<pid>/schedstat), so a loaded machine (more programs than cores, a trainer next to
the judge) does not turn a fast program into a time-limit verdict. Sleeping and blocking still count.
Without scheduler statistics the limit is plain wall time. A plain wall-clock backstop ends every run.

Standard library only: the pool's worker imports this module too.
"""

from __future__ import annotations

import math
import signal
import time

BACKSTOP_FACTOR = 3.0
"""A run is killed at the latest after this many times its limit (plus `BACKSTOP_SECONDS`) of wall time."""
BACKSTOP_SECONDS = 1.0
MAX_PROCESSES_COUNTED = 8
"""Processes of one run whose waiting is counted (the bootstrap, the program, a few it started)."""
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


def _run_delay(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


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
    the wall-clock backstop. The scheduler statistics are read only once the limit seems reached: most runs
    end long before."""

    def __init__(self, pid: int, started: float, limit: float) -> None:
        self.pid, self.started, self.limit = pid, started, limit
        self.backstop = started + wall_backstop(limit)
        self._waited = 0.0

    def remaining(self) -> float:
        """How long to wait for the run before looking again; 0 once its limit is reached."""
        now = time.monotonic()
        if now - self.started - self._waited >= self.limit:
            self._waited = seconds_waiting(self.pid)
        left = min(self.limit - (now - self.started - self._waited), self.backstop - now)
        return max(left, MIN_WAIT_SECONDS) if left > 0 else 0.0
