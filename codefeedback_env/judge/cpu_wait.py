"""Time limits net of waiting for a CPU, for both backends.

A program's time is its wall time minus the time it spent runnable but waiting for a CPU (the scheduler's
`run_delay`, from /proc/<pid>/schedstat), so a loaded machine (more programs than cores, a trainer next to
the judge) does not turn a fast program into a time-limit verdict. Sleeping and blocking still count.
Without scheduler statistics the limit is plain wall time. A plain wall-clock backstop ends every run.

Standard library only: the pool's worker imports this module too.
"""

from __future__ import annotations

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


def backstop(started: float, limit: float) -> float:
    """The plain wall-clock time by which a run started at `started` (monotonic) must have ended."""
    return started + limit * BACKSTOP_FACTOR + BACKSTOP_SECONDS
