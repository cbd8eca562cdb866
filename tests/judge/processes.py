"""Count processes running a given command line, from /proc (no psutil dependency)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator


def sleepers(marker: str) -> int:
    """How many processes have `marker` in their command line."""
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    count += 1
        except OSError:
            continue
    return count


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass: SIGKILL takes effect asynchronously."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


@contextlib.contextmanager
def pinned_to_one_cpu() -> Iterator[None]:
    """Run every thread of this process on one CPU for the block (workers started in it inherit that)."""
    before = {}
    for name in os.listdir("/proc/self/task"):
        tid = int(name)
        try:
            before[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, {min(os.sched_getaffinity(0))})
        except OSError:  # the thread ended meanwhile
            pass
    try:
        yield
    finally:
        for tid, cpus in before.items():
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                pass
