"""The memory cgroup layer (parent side): one memory cgroup per worker slot, so that what a program keeps in
files (its scratch tmpfs, shared memory) counts against its memory limit like the memory it allocates.

tmpfs and shared-memory pages are charged to the memory cgroup of the process that writes them, not to its
address space, so the address-space rlimit never sees them. Each slot gets `<the judge's memory cgroup>/
codefeedback-<pid>-<n>/slot<i>`; the parent opens four of its files and passes the descriptors to the worker
with its configuration, and the worker moves itself in (its children follow by fork: nothing per test) and,
for each run, sets the limit to what the cgroup held when the worker joined it plus the run's memory limit,
twice its output limit and `ALLOWANCE_BYTES` (`isolation.MemoryCgroup`). Going over it makes the kernel's
OOM killer end the program (each child makes itself its first choice, before the worker and its zygotes),
which the worker reports as a memory-limit verdict.

Only the cgroup v1 memory controller is used (its files are named `memory.*_in_bytes`); where the judge is
not root, the controller is not mounted, only cgroup v2 is, or the judge's cgroup is not writable, the layer is
missing (`CgroupUnavailable` says why) and files are capped by the scratch tmpfs's own size alone.
`remove` takes every cgroup away when the pool closes; a pool's cgroups left by a judge that was killed are
removed by the next pool made in the same cgroup.
"""

from __future__ import annotations

import itertools
import os

from codefeedback_env.judge import cgroup_folders, run_cgroups
from codefeedback_env.judge.pool.isolation import oom_kill_count

ALLOWANCE_BYTES = 16 << 20
"""Added to a run's memory limit: the kernel memory, page tables and file cache a run's child is charged for
beside the memory its address-space limit counts (which alone it can never take past the cgroup's limit)."""
SLOT_FILES = ("cgroup.procs", "memory.limit_in_bytes", "memory.usage_in_bytes", "memory.oom_control")
"""The files of a slot's cgroup the worker gets descriptors for (write, write, read, read)."""
PREFIX = "codefeedback-"

_counter = itertools.count()


class CgroupUnavailable(OSError):
    """No writable cgroup v1 memory controller for this process (the message says why)."""


def own_memory_cgroup() -> str:
    """The folder of this process's cgroup v1 memory cgroup, if it is writable; else `CgroupUnavailable`."""
    if not os.path.exists("/proc/self/cgroup"):
        raise CgroupUnavailable("no /proc/self/cgroup (not Linux, or no cgroups)")
    folder = run_cgroups.v1_folder("memory")
    if folder is None:
        raise CgroupUnavailable(
            "no cgroup v1 memory controller is mounted (cgroup v2 is not supported by this layer yet)"
        )
    if not os.path.isfile(os.path.join(folder, "memory.limit_in_bytes")):
        raise CgroupUnavailable(f"{folder} is not a cgroup v1 memory cgroup")
    if not os.access(folder, os.W_OK):
        raise CgroupUnavailable(f"{folder} is not writable (the judge must run as root, or own its cgroup)")
    return folder


class PoolCgroups:
    """The cgroups of one pool: `<parent>/codefeedback-<pid>-<n>/slot<i>`, made on demand, removed by `remove`."""

    def __init__(self, parent: str) -> None:
        _remove_stale(parent)
        self.folder = os.path.join(parent, f"{PREFIX}{os.getpid()}-{next(_counter)}")
        try:
            os.mkdir(self.folder, 0o700)
        except OSError as error:
            raise CgroupUnavailable(f"cannot create a cgroup in {parent}: {error}") from None

    def slot_fds(self, index: int) -> list[int]:
        """Descriptors of slot `index`'s `SLOT_FILES` (its cgroup is made if needed; the caller closes them)."""
        folder = os.path.join(self.folder, f"slot{index}")
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        fds: list[int] = []
        try:
            for name, mode in zip(SLOT_FILES, (os.O_WRONLY, os.O_WRONLY, os.O_RDONLY, os.O_RDONLY), strict=True):
                fds.append(os.open(os.path.join(folder, name), mode | os.O_CLOEXEC))
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def oom_kills(self, index: int) -> int:
        """How many processes the OOM killer ended in slot `index`'s cgroup so far (0 if it cannot be read)."""
        try:
            with open(os.path.join(self.folder, f"slot{index}", "memory.oom_control"), "rb") as handle:
                return oom_kill_count(handle.read())
        except OSError:
            return 0

    def remove(self) -> None:
        """Remove every slot's cgroup and the pool's (after its workers stopped); processes still in one (a
        worker's child that has not finished dying) are killed first. Never raises."""
        try:
            slots = [entry.path for entry in os.scandir(self.folder) if entry.is_dir()]
        except OSError:
            return
        for folder in [*slots, self.folder]:
            cgroup_folders.remove(folder)


def _remove_stale(parent: str) -> None:
    """Remove the empty cgroups of judges that died without closing their pools (SIGKILL): those whose pid is gone."""
    for folder in cgroup_folders.left_by_ended_judges(parent, PREFIX):
        for slot in os.scandir(folder) if os.path.isdir(folder) else ():
            if slot.is_dir():
                try:
                    os.rmdir(slot.path)
                except OSError:
                    pass
        try:
            os.rmdir(folder)
        except OSError:
            pass
