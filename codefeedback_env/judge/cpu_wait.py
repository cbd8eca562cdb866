"""Time limits net of waiting for a CPU, and the time-out rule, for both backends.

A program's time is its wall time minus the time it spent runnable but waiting for a CPU (the scheduler's
`run_delay`, from /proc/<pid>/task/<tid>/schedstat), so a loaded machine (more programs than cores, a trainer
next to the judge) does not turn a fast program into a time-limit verdict. Sleeping and blocking still count.
The waiting is read every `READ_EVERY_SECONDS` of a run (`WaitingMeter`), and each reading credits the most
that any one thread of the run waited since the previous reading, never more than the time between them:
contest code often does its work in threads (for a bigger stack), one after another, while the main thread
sleeps in `join`, and a thread's waiting goes with it when it ends, so each is counted while it lives. Taking
one thread per interval (not the sum) never credits more than the run's wall time, so threads waiting on each
other cannot buy time; the CPU-time rlimit bounds their work. Without scheduler statistics the limit is plain
wall time. A plain wall-clock backstop ends every run.

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
READ_EVERY_SECONDS = 0.05
"""How often a run's waiting is read, from this long after its start (most runs end before the first reading).
A thread that ends loses at most its waiting since the last reading."""
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


def _thread_delay(pid: int, tid: str) -> float | None:
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as listing:
            return [int(child) for child in listing.read().split()]
    except (OSError, ValueError):
        return []


def thread_delays(pid: int) -> dict[tuple[int, str], float]:
    """Seconds each thread of `pid` and of its descendants (the first `MAX_PROCESSES_COUNTED` processes, the
    first `MAX_THREADS_READ` threads of each) has spent runnable but waiting for a CPU, by (pid, thread id): the
    portable backend's program runs below its bootstrap. Empty where the kernel does not say."""
    delays: dict[tuple[int, str], float] = {}
    frontier, counted = [pid], 0
    while frontier and counted < MAX_PROCESSES_COUNTED:
        current = frontier.pop()
        counted += 1
        try:
            threads = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in threads[:MAX_THREADS_READ]:
            delay = _thread_delay(current, tid)
            if delay is not None:
                delays[current, tid] = delay
        frontier += _children(current)
    return delays


class WaitingMeter:
    """The waiting for a CPU of the processes under `pid` since `since` (monotonic), as `read` adds it up: at
    each reading, the most any one thread waited since the previous reading (a thread seen for the first time:
    since it started), at most the time between the two readings. So waiting in a thread that has since ended
    stays counted, and threads waiting at the same time count once."""

    def __init__(self, pid: int, since: float) -> None:
        self.pid = pid
        self.last = since
        self.waited = 0.0
        self._delays: dict[tuple[int, str], float] = {}

    def start_here(self) -> None:
        """Count only waiting from now on (what the threads waited so far is not credited)."""
        self._delays = thread_delays(self.pid)
        self.last = time.monotonic()

    def read(self) -> float:
        """Read the threads' waiting now; the seconds credited in all."""
        now = time.monotonic()
        delays = thread_delays(self.pid)
        seen = self._delays
        gained = max((delay - seen.get(key, 0.0) for key, delay in delays.items()), default=0.0)
        self.waited += min(max(gained, 0.0), max(now - self.last, 0.0))
        seen.update(delays)  # an ended thread's last reading stays: a thread id that comes back is not new
        self.last = now
        return self.waited


def wall_backstop(limit: float) -> float:
    """Seconds of wall time after which a run with a `limit`-second time limit is killed, however long it waited."""
    return limit * BACKSTOP_FACTOR + BACKSTOP_SECONDS


class TimeLimit:
    """The limit of one run started at `started` (monotonic): `limit` seconds net of waiting for a CPU, and
    the wall-clock backstop. The scheduler statistics are read every `READ_EVERY_SECONDS` from then on, and
    when the limit looks reached: most runs end before the first reading."""

    def __init__(self, pid: int, started: float, limit: float) -> None:
        self.pid, self.started, self.limit = pid, started, limit
        self.backstop = started + wall_backstop(limit)
        self.waiting = WaitingMeter(pid, started)

    def _left(self, now: float) -> float:
        return min(self.limit - (now - self.started - self.waiting.waited), self.backstop - now)

    def remaining(self) -> float:
        """How long to wait for the run before looking again; 0 once its limit is reached."""
        now = time.monotonic()
        if now - self.waiting.last >= READ_EVERY_SECONDS or self._left(now) <= 0:
            self.waiting.read()
        left = self._left(now)
        if left <= 0:
            return 0.0
        return max(min(left, self.waiting.last + READ_EVERY_SECONDS - now), MIN_WAIT_SECONDS)
