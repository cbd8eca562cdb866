"""A pids, a cpuacct and a memory cgroup per run for the portable backend, where the judge may make them (root,
cgroup v1).

The process-count rlimit does not bind a program that runs as root (the kernel exempts it): under the portable
backend run by root, a program started 300 processes under its limit of 64. A pids cgroup binds everyone: each
run gets `<the judge's pids cgroup>/codefeedback-run-<pid>-<n>` with `pids.max` set, the bootstrap moves itself
in before it forks (so everything the program starts is in it), and the judge removes it after the run; the
run cgroups of a judge that was killed are removed by the next judge's first run in the same cgroup. Where
there is no writable pids cgroup, runs go without (the rlimit still binds programs that are not root).

A program that ignores SIGCHLD has its children reaped by the kernel: their CPU time is in no process's
`cutime`, and a reading of the process tree misses them once they are gone. A cpuacct cgroup keeps it: the
program's first process moves itself in before the program runs (the bootstrap and the reaper stay out, so
nothing of theirs is counted), and the judge reads its `cpuacct.usage`. Where there is none (not root, cgroup
v2 only), only the process tree counts.

The address-space rlimit binds each process alone and never sees socket or pipe buffers, tmpfs files or memfds
(one program held 1,977 MB of socket buffers under a 256 MB limit). A memory cgroup counts them all, for every
process of the program together: the program's first process moves itself in, and the judge reads the OOM
killer's count in `memory.oom_control` (a process ended there: the run went over its memory limit). Where there
is none (not root, cgroup v2 only), each process has its address-space limit alone.

A program run as root could leave these cgroups, or raise their limits: the bootstrap of a root judge runs it
under a uid of its own (`run_uid`), which cannot write cgroup files.
"""

from __future__ import annotations

import functools
import itertools
import os

from codefeedback_env.judge import cgroup_folders

PREFIX = "codefeedback-run-"
_counter = itertools.count()


def v1_folder(controller: str) -> str | None:
    """The folder of this process's cgroup in the cgroup v1 hierarchy of `controller` (None if there is none
    or /proc cannot be read); whether it is usable is the caller's to check."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as listing:
            lines = listing.read().splitlines()
        with open("/proc/self/mountinfo", encoding="utf-8") as listing:
            mounts = listing.read().splitlines()
    except OSError:
        return None
    path = next((line.split(":", 2)[2] for line in lines if controller in line.split(":", 2)[1].split(",")), None)
    for line in mounts:
        fields = line.split()
        rest = fields[fields.index("-") + 1 :]
        if path is not None and rest[0] == "cgroup" and controller in rest[2].split(","):
            root, mount_point = fields[3], fields[4]
            inside = path[len(root) :] if root != "/" and path.startswith(root) else path
            return os.path.normpath(mount_point + "/" + inside.lstrip("/"))
    return None


@functools.cache
def hierarchy(controller: str) -> str | None:
    """The folder of this process's cgroup in the cgroup v1 hierarchy of `controller`, if it is writable."""
    folder = v1_folder(controller)
    if folder is None:
        return None
    usable = os.path.isfile(os.path.join(folder, "cgroup.procs")) and os.access(folder, os.W_OK)
    return folder if usable else None  # (the root of `pids` has no pids.max: its children do)


class RunCgroup:
    """One run's cgroup in one hierarchy: `procs_fd` is where a process of the run writes `0` to move itself in."""

    def __init__(self, parent: str, settings: dict[str, str]) -> None:
        self.folder = os.path.join(parent, f"{PREFIX}{os.getpid()}-{next(_counter)}")
        os.mkdir(self.folder)
        try:
            for name, value in settings.items():
                with open(os.path.join(self.folder, name), "w") as setting:
                    setting.write(value)
            self.procs_fd = os.open(os.path.join(self.folder, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
        except BaseException:
            os.rmdir(self.folder)
            raise

    def cpu_seconds(self) -> float | None:
        """The CPU seconds every process that was ever in the cgroup used there (a cpuacct cgroup's
        `cpuacct.usage`, which keeps the time of processes nobody waited for); None if it cannot be read."""
        try:
            with open(os.path.join(self.folder, "cpuacct.usage"), encoding="ascii") as usage:
                return int(usage.read()) / 1e9
        except (OSError, ValueError):
            return None

    def oom_kills(self) -> int:
        """How many of the run's processes the kernel's OOM killer ended for going over a memory cgroup's limit
        (0 if it cannot be read)."""
        from codefeedback_env.judge.pool.isolation import oom_kill_count  # (the pool imports this module)

        try:
            with open(os.path.join(self.folder, "memory.oom_control"), "rb") as control:
                return oom_kill_count(control.read())
        except OSError:
            return 0

    def remove(self) -> None:
        """Close the descriptor and remove the cgroup; whatever is still in it (nothing, once the run's pid
        namespace or its reaper has ended it) is killed first."""
        if self.procs_fd >= 0:
            os.close(self.procs_fd)
            self.procs_fd = -1
        cgroup_folders.remove(self.folder)


@functools.cache
def _remove_stale(parent: str) -> None:
    """Remove (once per judge process and hierarchy) the run cgroups of judges that died mid-run (SIGKILL): they
    would otherwise stay for good, one per run a judge was killed in."""
    for folder in cgroup_folders.left_by_ended_judges(parent, PREFIX):
        cgroup_folders.remove(folder)


def _run_cgroup(controller: str, settings: dict[str, str]) -> RunCgroup | None:
    parent = hierarchy(controller)
    if parent is None:
        return None
    _remove_stale(parent)
    try:
        return RunCgroup(parent, settings)
    except OSError:
        return None


def pids(max_tasks: int) -> RunCgroup | None:
    """A fresh pids cgroup for one run allowing `max_tasks` processes and threads, or None where there is none."""
    return _run_cgroup("pids", {"pids.max": str(max_tasks)})


def cpuacct() -> RunCgroup | None:
    """A fresh cpuacct cgroup for one run, to read its processes' CPU time from, or None where there is none."""
    return _run_cgroup("cpuacct", {})


def memory(limit_bytes: int) -> RunCgroup | None:
    """A fresh memory cgroup for one run holding at most `limit_bytes` (what its processes allocate, and the
    socket and pipe buffers, tmpfs files and memfds they hold), or None where there is none."""
    return _run_cgroup("memory", {"memory.limit_in_bytes": str(limit_bytes)})
