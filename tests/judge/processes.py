"""Count processes running a given command line, from /proc (no psutil dependency)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable


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
