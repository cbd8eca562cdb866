"""Count processes running a given command line, from /proc (no psutil dependency)."""

from __future__ import annotations

import os


def sleepers(marker: str = "time.sleep(30)") -> int:
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    count += 1
        except OSError:
            continue
    return count
