"""The sandbox's files served from memory: one tmpfs copy of the allow-list, bound in place of the host paths.

Every run reads the interpreter's files, and every process on the host shares their page cache and their
directory-entry cache. Bound from the host, a file that no run had read stayed uncached until a program read
it, and a name looked up once stayed in the cache as absent: a later run, on any worker, could tell both by
timing a read or a `stat` (a write-once bit per file, and one per name: names are free). A copy on tmpfs has
neither state: its pages are the files themselves (always resident, nothing to load or evict), and tmpfs
keeps no entry for an absent name.

The copy holds exactly what the sandbox shows (`namespaces.SandboxFiles`: its binds, without the folders it
leaves out and without optimised bytecode, which the workers' interpreter never reads), at the sandbox's
paths under one folder, files with their modes and times (bytecode stays valid). It lives in `/dev/shm` (or
`$XDG_RUNTIME_DIR`), is named after the uid and a hash of every file's path, size, time and mode, and is
shared: judge processes of one user reuse it (one copy per host, not per pool or worker). Each user holds a
shared `flock` on the copy's lock file while it may start workers; the last one out removes the copy and its lock
file, and a copy left by a killed process is removed by the next process that uses another one.

Where no such tmpfs exists, is mounted `noexec`, or has no room, `acquire` says why and the pool binds the
host paths (with a warning and the `files_in_memory` layer off).
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import hashlib
import mmap
import os
import shutil
import stat
import threading
from collections.abc import Iterator

from codefeedback_env.judge.pool.namespaces import SandboxFiles

BASES = ("/dev/shm", os.environ.get("XDG_RUNTIME_DIR", ""))
"""Where a copy may live: the first that is a tmpfs (not `noexec`) with room for it."""
MEMORY_FILESYSTEMS = (0x01021994, 0x858458F6)
"""statfs magic numbers of tmpfs and ramfs."""
LEFT_OUT_SUFFIXES = (".opt-1.pyc", ".opt-2.pyc")
"""Bytecode of `-O` and `-OO` runs: the workers' interpreter runs without them and never reads these."""
ROOM_MARGIN = 64 << 20
"""Bytes a base must keep free beyond the copy."""
FORMAT = b"codefeedback memory files 1\0"
"""Part of every key: a change to what a copy holds changes its name."""
MADV_DONTFORK = 10


def _walk(files: SandboxFiles, from_host: tuple[str, ...]) -> Iterator[tuple[str, str, os.stat_result]]:
    """(host path, sandbox path, lstat) of every entry the copy holds, folders before what they hold."""
    hidden = set(files.emptied) | set(files.left_out)
    for source, target in sorted(files.binds, key=lambda bind: bind[1]):
        if target in from_host:
            continue
        info = os.stat(source)  # a bind shows what a symbolic link leads to
        source = os.path.realpath(source)
        yield source, target, info
        if not stat.S_ISDIR(info.st_mode):
            continue
        pending = [(source, target)]
        while pending:
            host, inside = pending.pop()
            if inside in hidden:
                continue
            with os.scandir(host) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    if entry.name.endswith(LEFT_OUT_SUFFIXES):
                        continue
                    child, child_inside = entry.path, f"{inside}/{entry.name}"
                    if child_inside in files.left_out:
                        continue
                    info = entry.stat(follow_symlinks=False)
                    yield child, child_inside, info
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((child, child_inside))


def inventory(
    files: SandboxFiles, from_host: tuple[str, ...] = ()
) -> tuple[list[tuple[str, str, os.stat_result]], str, int]:
    """Every entry of the copy of `files` but the binds `from_host`, its key (a hash of paths, sizes, times and
    modes) and its size in bytes."""
    entries = list(_walk(files, from_host))
    digest = hashlib.sha256(FORMAT)
    for source, target, info in entries:
        digest.update(f"{source}\0{target}\0{info.st_mode}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return entries, digest.hexdigest()[:24], sum(info.st_size for _, _, info in entries)


def _filesystem_type(path: str) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(256)  # struct statfs: f_type is its first field (a long)
    if libc.statfs(os.fsencode(path), buffer) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), path)
    return int.from_bytes(buffer.raw[: ctypes.sizeof(ctypes.c_long)], "little", signed=True)


def choose_base(name: str, size: int) -> tuple[str | None, str]:
    """A folder on a memory file system (exec allowed) that holds the copy `name` or has room for its `size`
    bytes, or None and why there is none."""
    reasons = []
    for base in (b for b in BASES if b):
        try:
            if _filesystem_type(base) not in MEMORY_FILESYSTEMS:
                reasons.append(f"{base} is not a tmpfs")
                continue
            status = os.statvfs(base)
        except OSError as error:
            reasons.append(f"{base}: {error.strerror}")
            continue
        free = status.f_bavail * status.f_frsize
        if status.f_flag & os.ST_NOEXEC:
            reasons.append(f"{base} is mounted noexec (the interpreter runs from the copy)")
        elif not os.access(base, os.W_OK | os.X_OK):
            reasons.append(f"{base} is not writable")
        elif not os.path.isdir(os.path.join(base, name)) and free < size + ROOM_MARGIN:
            reasons.append(f"{base} has {free >> 20} MB free, the copy needs {(size + ROOM_MARGIN) >> 20} MB")
        else:
            return base, ""
    return None, "; ".join(reasons) or "no tmpfs found"


def _copy(entries: list[tuple[str, str, os.stat_result]], root: str) -> None:
    """Write `entries` under `root` at their sandbox paths, with their modes and times."""
    folders = []
    for source, target, info in entries:
        path = root + target
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        if stat.S_ISDIR(info.st_mode):
            os.makedirs(path, mode=0o755, exist_ok=True)
            folders.append((path, info))
            continue
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), path)
            continue
        shutil.copyfile(source, path)
        os.chmod(path, stat.S_IMODE(info.st_mode))
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    for path, info in reversed(folders):  # after their contents, which would change their times
        os.chmod(path, stat.S_IMODE(info.st_mode))
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def _remove(root: str) -> None:
    """Remove a copy (or a partial one), whose folders may have been copied without write permission."""
    for folder, _, _ in os.walk(root):
        os.chmod(folder, 0o755)
    shutil.rmtree(root, ignore_errors=True)


def _owned_folder(path: str) -> bool:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise OSError(errno.EPERM, f"{path} exists but is not a folder only this user can write")
    return True


def executables(files: SandboxFiles) -> tuple[str, ...]:
    """Sandbox paths of the ELF files bound one by one (the interpreter and its shared libraries)."""
    found = []
    for source, target in files.binds:
        try:
            with open(source, "rb") as handle:
                if os.path.isfile(source) and handle.read(4) == b"\x7fELF":
                    found.append(target)
        except OSError:
            continue
    return tuple(sorted(found))


def lock_in_memory(paths: list[str]) -> bool:
    """Map every page of each file and lock it in memory (`mlock`) for this process's lifetime: the pages stay
    resident whatever else the host does. False (nothing kept locked) where this process may not lock that much
    (`RLIMIT_MEMLOCK` without `CAP_IPC_LOCK`) or a file cannot be mapped."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mlock.argtypes = libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    mapped: list[tuple[int, int]] = []
    locked = True
    for path in paths:
        try:
            size = os.path.getsize(path)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            locked = False
            break
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0) if size else None
        os.close(fd)
        if address is None or address == ctypes.c_void_p(-1).value:
            locked = not size
            if locked:
                continue
            break
        mapped.append((address, size))
        libc.madvise(ctypes.c_void_p(address), size, MADV_DONTFORK)  # forks stay cheap; a child locks its own
        if libc.mlock(ctypes.c_void_p(address), size) != 0:
            locked = False
            break
    if not locked:
        for address, size in mapped:
            libc.munmap(ctypes.c_void_p(address), size)
        return False
    if _locked_in != [os.getpid()]:
        _locked[:], _locked_in[:] = [], [os.getpid()]
    _locked.extend(mapped)
    return True


_locked: list[tuple[int, int]] = []
"""(address, size) of the mappings `lock_in_memory` keeps: they hold their files' pages for the process's life."""


_locked_in: list[int] = []
"""The process that holds `_locked` (a forked child inherits neither the mappings nor their locks)."""


def _open_lock(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    if os.fstat(fd).st_uid != os.geteuid():
        os.close(fd)
        raise OSError(errno.EPERM, f"{path} belongs to another user")
    return fd


def _names(path: str, fd: int) -> bool:
    """Whether `path` still names the lock file open as `fd`."""
    try:
        named, held = os.stat(path, follow_symlinks=False), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _unlink_lock(path: str, fd: int) -> None:
    """Remove the lock file of a copy just removed (its holder of `LOCK_EX` calls this): one empty file per copy ever
    made stayed in the base otherwise. A process that opened it before, and locks it after, sees that the path no
    longer names it (`_names`) and opens the path again."""
    if _names(path, fd):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class MemoryCopy:
    """A held copy: `root` is the folder whose subtree mirrors the sandbox but for the binds `from_host`, whose
    host files this process keeps locked in memory. Released at interpreter exit."""

    def __init__(self, root: str, entries: list[tuple[str, str, os.stat_result]], from_host: tuple[str, ...]) -> None:
        self.root = root
        self.from_host = from_host
        self.lock_path = root + ".lock"
        self.owner = os.getpid()
        self.fd = self._hold(entries)
        atexit.register(self.release)

    def _hold(self, entries: list[tuple[str, str, os.stat_result]]) -> int:
        """Hold a shared lock on the copy, (re)building it first if it is missing."""
        while True:
            fd = _open_lock(self.lock_path)
            try:
                if self._hold_or_build(fd, entries):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the lock file was removed with its copy meanwhile: open the one at the path now

    def _hold_or_build(self, fd: int, entries: list[tuple[str, str, os.stat_result]]) -> bool:
        """Hold `fd`'s lock shared once the copy exists (building it if needed); False if `fd` is no longer the
        lock file at the path (locks on a removed one exclude nobody)."""
        while True:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while a process builds or removes the copy
            if not _names(self.lock_path, fd):
                return False
            if _owned_folder(self.root):
                return True
            fcntl.flock(fd, fcntl.LOCK_EX)  # holders of a missing copy are only passing through
            if not _names(self.lock_path, fd):
                return False
            if not _owned_folder(self.root):
                self._build(entries)

    def _build(self, entries: list[tuple[str, str, os.stat_result]]) -> None:
        partial = f"{self.root}.partial"
        # Left by a process killed while building (the lock is ours now). The base is shared and the name
        # predictable: what another user planted there (a link, a file) is refused (EPERM), never followed.
        if _owned_folder(partial):
            _remove(partial)
        os.mkdir(partial, 0o755)
        try:
            _copy(entries, partial)
            os.rename(partial, self.root)
        except BaseException:
            _remove(partial)
            raise

    def lock_for_child(self) -> int:
        """A new hold of the lock for a child about to be forked, taken before the parent can let go of its own."""
        fd = _open_lock(self.lock_path)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # this process holds it shared: never blocks
        except BaseException:
            os.close(fd)
            raise
        return fd

    def release(self) -> None:
        """Stop holding the copy; the last holder removes it."""
        if self.owner != os.getpid() or self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another process holds it
            os.close(fd)
            return
        _remove(self.root)
        _unlink_lock(self.lock_path, fd)
        fcntl.flock(fd, fcntl.LOCK_UN)  # a forked child sharing this description would otherwise keep it locked
        os.close(fd)


_held: dict[str, MemoryCopy] = {}
_lock = threading.Lock()


_forking = threading.local()
"""Per forking thread: {copy: the lock fd its child of this fork will hold}. Fork hooks run in the thread that forks,
and threads of one process may fork at once: each fork hands over only the fds its own `before` hook opened."""


def _before_fork() -> None:
    handed: dict[MemoryCopy, int] = {}
    for copy in list(_held.values()):
        if copy.fd >= 0 and copy.owner == os.getpid():
            try:
                handed[copy] = copy.lock_for_child()
            except OSError:  # the child then shares the parent's lock: the copy may go when the parent exits
                pass
    _forking.handed = handed


def _after_fork_in_parent() -> None:
    handed, _forking.handed = getattr(_forking, "handed", {}), {}
    for fd in handed.values():
        os.close(fd)


def _after_fork_in_child() -> None:
    """The child keeps its own lock; the parent's file description (and lock) stays open in the parent. `_lock` is
    new: another thread of the parent may have held it (in `acquire`), and none of its threads runs in the child."""
    global _lock
    _lock = threading.Lock()
    handed, _forking.handed = getattr(_forking, "handed", {}), {}
    for copy, fd in handed.items():
        os.close(copy.fd)
        copy.owner, copy.fd = os.getpid(), fd


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def _sweep(base: str, keep: str) -> None:
    """Remove this user's copies nobody holds (left by killed processes or older interpreters)."""
    prefix = f"codefeedback-files-{os.geteuid()}-"
    for name in os.listdir(base):
        if not (name.startswith(prefix) and name.endswith(".lock")) or name == os.path.basename(keep):
            continue
        try:
            fd = _open_lock(os.path.join(base, name))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            root = os.path.join(base, name[: -len(".lock")])
            for folder in (root, root + ".partial"):  # a partial one: its builder was killed
                if _owned_folder(folder):
                    _remove(folder)
            _unlink_lock(os.path.join(base, name), fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def acquire(files: SandboxFiles) -> tuple[MemoryCopy | None, str]:
    """The copy of `files` held by this process (made if needed), or None and why it cannot be made.

    The ELF files bound one by one (`executables`) stay on the host, with every page locked in memory by this
    process, where it may lock them: children map and fault them on every run, which costs less from the host's
    page cache (large folios) than from tmpfs. Elsewhere they are copied like the rest."""
    elf = executables(files)
    sources = [os.path.realpath(source) for source, target in files.binds if target in elf]
    with _lock:
        if elf and (_locked_in != [os.getpid()] or not any(held.from_host == elf for held in _held.values())):
            elf = elf if lock_in_memory(sources) else ()
        entries, key, size = inventory(files, elf)
        for held in _held.values():
            if held.root.endswith(key) and held.fd >= 0:
                return held, ""
        name = f"codefeedback-files-{os.geteuid()}-{key}"
        base, reason = choose_base(name, size)
        if base is None:
            return None, reason
        try:
            copy = MemoryCopy(os.path.join(base, name), entries, elf)
        except OSError as error:
            return None, f"cannot make the copy in {base}: {error}"
        _held[copy.root] = copy
        try:
            _sweep(base, copy.lock_path)
        except OSError:
            pass
        return copy, ""
