"""The machine's processes as /proc shows them (Linux, no psutil): each one's parent, state, name, CPU time and
page faults, whether one still runs, the tree below a process, and the processes whose command line holds a
marker.

Shared by the tests and the benchmarks that count or measure processes. Standard library only: a benchmark
imports it as `tests.process_table` once it has put its checkout on `sys.path`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessStat:
    """What /proc/PID/stat says of one process (see proc(5))."""

    pid: int
    parent: int
    state: str  # "R" running, "S" sleeping, "Z" zombie (ended, not reaped yet), ...
    name: str  # the command name, at most 15 characters
    minor_faults: int  # its own and its reaped children's
    cpu_seconds: float  # user and system time, its own and its reaped children's

    @property
    def live(self) -> bool:
        """Still running: not a zombie waiting for its parent to reap it."""
        return self.state != "Z"


def process_stat(pid: int) -> ProcessStat:
    """`pid`'s /proc/PID/stat; OSError when the process is gone."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        head, tail = handle.read().rsplit(b")", 1)  # the name, in parentheses, may hold any byte
    fields = tail.split()
    return ProcessStat(
        pid=pid,
        parent=int(fields[1]),
        state=fields[0].decode(),
        name=head.split(b"(", 1)[1].decode(errors="replace"),
        minor_faults=int(fields[7]) + int(fields[8]),  # minflt, cminflt
        cpu_seconds=sum(int(ticks) for ticks in fields[11:15]) / CLOCK_TICKS,  # utime, stime, cutime, cstime
    )


def alive(pid: int) -> bool:
    """Whether `pid` runs: a zombie (ended, not reaped yet, e.g. by an init that does not reap) counts as gone."""
    try:
        return process_stat(pid).live
    except OSError:
        return False


def live_children(pid: int) -> list[int]:
    """The live children of `pid`'s main thread, from /proc/PID/task/PID/children ([] when it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        return []


@dataclass(frozen=True)
class ProcessTable:
    """One reading of /proc: every process's stat, zombies included (their CPU time is not yet their parent's)."""

    stats: dict[int, ProcessStat]

    @classmethod
    def read(cls) -> ProcessTable:
        stats = {}
        for name in filter(str.isdigit, os.listdir("/proc")):
            try:
                stats[int(name)] = process_stat(int(name))
            except (OSError, IndexError, ValueError):  # ended meanwhile
                continue
        return cls(stats)

    def descendants(self, root: int | None = None, *, zombies: bool = False) -> list[int]:
        """Pids of the processes below `root` (default: this process), live ones only unless `zombies`."""
        children: defaultdict[int, list[int]] = defaultdict(list)
        for stat in self.stats.values():
            children[stat.parent].append(stat.pid)
        found, frontier = [], [os.getpid() if root is None else root]
        while frontier:
            below = children[frontier.pop()]
            found += below
            frontier += below
        return [pid for pid in found if zombies or self.stats[pid].live]

    def named(self, name: str) -> list[int]:
        """Pids of the live processes whose command name is `name`."""
        return [pid for pid, stat in self.stats.items() if stat.name == name and stat.live]

    def cpu_seconds(self, pids: Iterable[int]) -> float:
        """CPU seconds of `pids`, each with its reaped children's (a pid not in the table counts 0)."""
        return sum(self.stats[pid].cpu_seconds for pid in pids if pid in self.stats)


def running(marker: str) -> list[int]:
    """Pids of the processes whose command line holds `marker`."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    found.append(int(name))
        except OSError:
            continue
    return found
