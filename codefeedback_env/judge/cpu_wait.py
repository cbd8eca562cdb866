"""Time limits net of waiting for a CPU, for both backends.

A program's time is its wall time minus the time it spent runnable but waiting for a CPU (the scheduler's
`run_delay`, from /proc/<pid>/schedstat), so a loaded machine (more programs than cores, a trainer next to
the judge) does not turn a fast program into a time-limit verdict. Sleeping and blocking still count.
Without scheduler statistics the limit is plain wall time. A plain wall-clock backstop ends every run.

Standard library only: the pool's worker imports this module too.
"""

from __future__ import annotations

import time

BACKSTOP_FACTOR = 3.0
"""A run is killed at the latest after this many times its limit (plus `BACKSTOP_SECONDS`) of wall time."""
BACKSTOP_SECONDS = 1.0
MIN_WAIT_SECONDS = 0.002
"""The shortest wait between two looks at a run near its limit (no busy loop while the limit moves on)."""


def seconds_waiting(pid: int) -> float:
    """Seconds `pid` has spent runnable but waiting for a CPU; 0 where the kernel does not say."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class TimeLimit:
    """The limit of one run started at `started` (monotonic): `limit` seconds net of waiting for a CPU, and
    the wall-clock backstop. The scheduler statistics are read only once the limit seems reached: most runs
    end long before."""

    def __init__(self, pid: int, started: float, limit: float) -> None:
        self.pid, self.started, self.limit = pid, started, limit
        self.backstop = started + limit * BACKSTOP_FACTOR + BACKSTOP_SECONDS
        self._waited = 0.0

    def remaining(self) -> float:
        """How long to wait for the run before looking again; 0 once its limit is reached."""
        now = time.monotonic()
        if now - self.started - self._waited >= self.limit:
            self._waited = seconds_waiting(self.pid)
        left = min(self.limit - (now - self.started - self._waited), self.backstop - now)
        return max(left, MIN_WAIT_SECONDS) if left > 0 else 0.0
