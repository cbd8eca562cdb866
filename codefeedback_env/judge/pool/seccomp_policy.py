"""Isolation layer 4 (parent side): the children's seccomp policy, compiled to BPF with libseccomp.

The judge's process builds the filter once with libseccomp (through `pyseccomp`, a ctypes binding to the
system's libseccomp.so.2) and exports its BPF; each worker receives the bytes in its configuration and
installs them in every child with one prctl (`isolation.SeccompFilter`), so no worker loads libseccomp.

Default allow, and denied (EPERM unless noted):
- other processes: ptrace, process_vm_*, kcmp, every signal-sending call, pidfd_*;
- new programs and processes: execve(at), fork, vfork, clone without CLONE_THREAD (threads work), clone3
  (ENOSYS, so the C library falls back to clone, whose flags the filter can see);
- the network and sockets on disk: socket() for every family; socketpair() for anything but AF_UNIX;
- state that could outlive a run or escape the memory limit: SysV shared memory, message queues and
  semaphores, POSIX message queues, memfd_create/memfd_secret, extended attributes (set/remove);
- namespaces, mounts, kernel interfaces: unshare, setns, mount and the new mount API, chroot, bpf,
  perf_event_open, userfaultfd, keyrings, io_uring, handles, modules, kexec, reboot, swap, clocks,
  host/domain names, and the rest of `DENIED`.
Foreign architectures (x32, i386 entry points) kill the process.
"""

from __future__ import annotations

import errno
import os
from functools import cache

CLONE_THREAD = 0x00010000
AF_UNIX = 1

DENIED = (
    # other processes: tracing, memory, signals
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "kill", "tkill", "tgkill",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open", "pidfd_send_signal", "pidfd_getfd",
    # new programs and processes (clone is checked separately: threads only)
    "execve", "execveat", "fork", "vfork",
    # no sockets (socketpair is checked separately: AF_UNIX only)
    "socket",
    # IPC objects that outlive a run, and memory the memory limit does not count
    "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl",
    "semget", "semop", "semtimedop", "semctl",
    "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    "memfd_create", "memfd_secret",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    # namespaces, mounts, kernel interfaces
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at", "name_to_handle_at",
    "personality", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "iopl", "ioperm",
    "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "sethostname", "setdomainname", "vhangup",
)  # fmt: skip
DENIED_BY_NUMBER_X86_64 = {"setxattrat": 463, "removexattrat": 466}
"""Calls newer than the libseccomp this was written against (which cannot name them), by x86-64 number."""


@cache
def seccomp_program() -> bytes:
    """The policy as a BPF program for this machine's architecture (raises OSError if libseccomp is missing)."""
    try:
        import pyseccomp as seccomp  # type: ignore[import-untyped]
    except (ImportError, OSError) as error:  # OSError: the binding loads libseccomp.so.2 on import
        raise OSError(f"libseccomp is not usable ({error}); install `pyseccomp` and libseccomp2") from None
    policy = seccomp.SyscallFilter(seccomp.ALLOW)
    policy.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    deny = seccomp.ERRNO(errno.EPERM)
    for name in DENIED:
        try:
            policy.add_rule(deny, name)
        except OSError:  # a call this architecture or libseccomp does not have
            continue
    if os.uname().machine == "x86_64":
        for number in DENIED_BY_NUMBER_X86_64.values():
            try:
                policy.add_rule(deny, number)
            except OSError:  # already denied by name (a newer libseccomp)
                continue
    policy.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    policy.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    policy.add_rule(deny, "socketpair", seccomp.Arg(0, seccomp.NE, AF_UNIX))
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    try:
        with open(fd, "w+b", closefd=False) as handle:
            policy.export_bpf(handle)
        return os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)
