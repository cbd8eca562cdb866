"""A pids cgroup per run for the portable backend, where the judge may make one (root, cgroup v1 `pids`).

The process-count rlimit does not bind a program that runs as root (the kernel exempts it): under the portable
backend run by root, a program started 300 processes under its limit of 64. A pids cgroup binds everyone: each
run gets `<the judge's pids cgroup>/codefeedback-run-<pid>-<n>` with `pids.max` set, the bootstrap moves itself
in before it forks (so everything the program starts is in it), and the judge removes it after the run; the
run cgroups of a judge that was killed are removed by the next judge's first run in the same cgroup. Where
there is no writable pids cgroup, runs go without (the rlimit still binds programs that are not root).
"""

from __future__ import annotations

import functools
import itertools
import os

from codefeedback_env.judge import cgroup_folders

PREFIX = "codefeedback-run-"
_counter = itertools.count()


@functools.cache
def _pids_hierarchy() -> str | None:
    """The folder of this process's cgroup in the cgroup v1 `pids` hierarchy, if it is writable."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as listing:
            lines = listing.read().splitlines()
        with open("/proc/self/mountinfo", encoding="utf-8") as listing:
            mounts = listing.read().splitlines()
    except OSError:
        return None
    path = next((line.split(":", 2)[2] for line in lines if "pids" in line.split(":", 2)[1].split(",")), None)
    for line in mounts:
        fields = line.split()
        rest = fields[fields.index("-") + 1 :]
        if path is not None and rest[0] == "cgroup" and "pids" in rest[2].split(","):
            root, mount_point = fields[3], fields[4]
            inside = path[len(root) :] if root != "/" and path.startswith(root) else path
            folder = os.path.normpath(mount_point + "/" + inside.lstrip("/"))
            usable = os.path.isfile(os.path.join(folder, "cgroup.procs")) and os.access(folder, os.W_OK)
            return folder if usable else None  # (the hierarchy's root has no pids.max: its children do)
    return None


class RunPidsCgroup:
    """One run's pids cgroup: `procs_fd` is where the bootstrap writes `0` to move itself in."""

    def __init__(self, parent: str, max_tasks: int) -> None:
        self.folder = os.path.join(parent, f"{PREFIX}{os.getpid()}-{next(_counter)}")
        os.mkdir(self.folder)
        try:
            with open(os.path.join(self.folder, "pids.max"), "w") as limit:
                limit.write(str(max_tasks))
            self.procs_fd = os.open(os.path.join(self.folder, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
        except BaseException:
            os.rmdir(self.folder)
            raise

    def remove(self) -> None:
        """Close the descriptor and remove the cgroup; whatever is still in it (nothing, once the run's pid
        namespace or its reaper has ended it) is killed first."""
        if self.procs_fd >= 0:
            os.close(self.procs_fd)
            self.procs_fd = -1
        cgroup_folders.remove(self.folder)


@functools.cache
def _remove_stale(parent: str) -> None:
    """Remove (once per judge process) the run cgroups of judges that died mid-run (SIGKILL): they would
    otherwise stay for good, one per run a judge was killed in."""
    for folder in cgroup_folders.left_by_ended_judges(parent, PREFIX):
        cgroup_folders.remove(folder)


def run_cgroup(max_tasks: int) -> RunPidsCgroup | None:
    """A fresh pids cgroup for one run allowing `max_tasks` processes and threads, or None where there is none."""
    parent = _pids_hierarchy()
    if parent is None:
        return None
    _remove_stale(parent)
    try:
        return RunPidsCgroup(parent, max_tasks)
    except OSError:
        return None
