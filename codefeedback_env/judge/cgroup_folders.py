"""Removing the judge's cgroup v1 folders: one that processes may still be dying in, and those a killed judge left.

Shared by the pool's memory cgroups and the portable backend's pids cgroups, which name their folders
`<prefix><the judge's pid>-<n>`.
"""

from __future__ import annotations

import os
import signal
import time

REMOVE_SECONDS = 5.0
"""How long removing a cgroup keeps killing what is still in it before it gives up."""


def remove(folder: str) -> None:
    """Remove the (leaf) cgroup `folder`; a process still in it (one that has not finished dying) is killed
    first. Never raises; gives up after `REMOVE_SECONDS`."""
    give_up = time.monotonic() + REMOVE_SECONDS
    while True:
        try:
            os.rmdir(folder)
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY: a process is still in it
            if time.monotonic() > give_up:
                return
        try:
            with open(os.path.join(folder, "cgroup.procs"), encoding="ascii") as members:
                pids = [int(pid) for pid in members.read().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def left_by_ended_judges(parent: str, prefix: str) -> list[str]:
    """The folders `<parent>/<prefix><pid>-…` whose judge (`pid`) is gone: it died (SIGKILL) without removing
    them. A live process's (or a reused pid's) are not listed."""
    try:
        names = [entry.name for entry in os.scandir(parent) if entry.name.startswith(prefix) and entry.is_dir()]
    except OSError:
        return []
    folders = []
    for name in names:
        try:
            os.kill(int(name[len(prefix) :].split("-")[0]), 0)
        except ProcessLookupError:
            folders.append(os.path.join(parent, name))
        except (OSError, ValueError):
            pass
    return folders
