"""What a run leaves on the machine, measured from outside, and the clean-up of what the corpus may leave.

Used by the integrity scorecard around every corpus entry: processes still running (descendants of the
scorecard, and detached ones by the name the corpus gives them), file descriptors, shared memory
(`Shmem` in /proc/meminfo counts tmpfs files and SysV segments in every namespace), the scorecard's own
peak memory, and files left in its temporary folder.
"""

from __future__ import annotations

import ctypes
import gc
import glob
import os
import shutil
import signal
import time
from dataclasses import dataclass

from tests.judge.attack_corpus import Tags
from tests.process_table import ProcessTable

IPC_RMID = 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def shared_memory_bytes() -> int:
    """The machine's shared memory in use (tmpfs and SysV segments, every namespace)."""
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("Shmem:"):
                return int(line.split()[1]) * 1024
    return 0


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak_memory() -> bool:
    """Reset this process's peak resident size (VmHWM), so the next reading is the peak of what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def temp_entries(temp: str) -> set[str]:
    """Paths in the temporary folder, two levels deep (backends keep their scratch folders one level down)."""
    found = set()
    for name in os.listdir(temp):
        found.add(name)
        path = os.path.join(temp, name)
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                found.update(os.path.join(name, inner) for inner in os.listdir(path))
            except OSError:
                pass
    return found


@dataclass
class Snapshot:
    processes: int
    fds: int
    shared: int
    resident: int
    temp_entries: set[str]


def snapshot(temp: str) -> Snapshot:
    reset_peak_memory()
    processes = len(ProcessTable.read().descendants())
    return Snapshot(processes, open_fds(), shared_memory_bytes(), _status_bytes("VmRSS"), temp_entries(temp))


def left_behind(before: Snapshot, temp: str, tags: Tags, allocated: int, settle: float) -> list[str]:
    """What the run left: processes, fds, shared memory (when it tried to hold some), judge memory, files."""
    found = []
    end = time.monotonic() + settle
    processes = ProcessTable.read()
    while len(processes.descendants()) > before.processes and time.monotonic() < end:
        time.sleep(0.05)
        processes = ProcessTable.read()
    if (extra := len(processes.descendants()) - before.processes) > 0:
        found.append(f"{extra} process(es) still running")
    if detached := processes.named(tags.process_name):
        found.append(f"{len(detached)} detached process(es) still running")
    gc.collect()  # an exception's traceback cycle may still hold a file the judge closes when collected
    if (fds := open_fds() - before.fds) > 0:
        found.append(f"{fds} fd(s) left open in the judge")
    if allocated and (shared := shared_memory_bytes() - before.shared) > allocated // 2:
        found.append(f"{shared >> 20} MB of shared memory left allocated")
    if (peak := _status_bytes("VmHWM") - before.resident) > 256 << 20:
        found.append(f"the judge's process grew by {peak >> 20} MB")
    if entries := sorted(temp_entries(temp) - before.temp_entries):
        found.append(f"left in the temporary folder: {', '.join(entries[:3])}" + (" ..." if len(entries) > 3 else ""))
    return found


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def remove_sysv(tags: Tags) -> None:
    """Remove the host's SysV objects whose keys the corpus uses (namespaced ones go with their namespace)."""
    libc = _libc()
    keys = range(tags.sysv_key_base, tags.sysv_key_base + tags.sysv_keys)
    for kind, remove in (("shm", libc.shmctl), ("msg", libc.msgctl), ("sem", libc.semctl)):
        try:
            with open(f"/proc/sysvipc/{kind}") as handle:
                rows = [line.split() for line in handle][1:]
        except OSError:
            continue
        for row in rows:
            if int(row[0]) in keys:
                remove(int(row[1]), 0, IPC_RMID) if kind == "sem" else remove(int(row[1]), IPC_RMID, None)


def remove_key(description: str) -> None:
    """Invalidate the key the keyring entry planted in this user's keyring (keyctl search, then invalidate)."""
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    long = ctypes.c_long
    key = libc.syscall(long(250), long(10), long(-4), b"user", description.encode(), long(0))
    if key > 0:
        libc.syscall(long(250), long(21), long(key))


def clean_up(tags: Tags, extra_globs: tuple[str, ...], temp: str, keep: set[str]) -> None:
    """Kill the corpus's detached processes and remove every object and file it may have left on the host
    (in the temporary folder: every path but `keep`)."""
    for pid in ProcessTable.read().named(tags.process_name):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    remove_sysv(tags)
    remove_key(tags.key_description)
    try:
        _libc().mq_unlink(tags.mq_name.encode())
    except AttributeError:
        pass
    for pattern in (*tags.files, *extra_globs):
        for path in glob.glob(pattern):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
    for name in sorted(temp_entries(temp) - keep):
        path = os.path.join(temp, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
