"""Host-wide figures and counters a run could read and other runs move must stay out of reach (issue 10, classes 3
and 4: no state shared between runs).

`sysinfo` answers with the host's free, shared and buffer memory, its process count and its load, none of them
namespaced: a program holding files in its scratch folder (shared memory) or threads moved `sharedram` and
`procs` for every other process on the host, and a program judged at the same time on another worker read the
number back (a value of its stdin, i.e. a hidden test's input, crossed in 16 MB steps). The pool's seccomp filter
now refuses the call (EPERM); its only caller in a run, glibc's `sysconf(_SC_PHYS_PAGES)`, ran once in the worker
before any fork. The portable backend is no boundary (it runs programs as the judge's user) and keeps it.

A shared anonymous mapping (or a shared mapping of `/dev/zero`) is a new file of the kernel's internal tmpfs,
numbered from one host-wide counter (in batches of 1,024 per CPU) that also numbers every memfd: a run making 17,000
moved the batch a later run got by 17, on any worker, the reader's own making moving it by one. Seccomp refuses shared
anonymous mappings and the sandbox's `/dev/zero` is an empty file. Pipes, sockets and `/proc` entries are numbered from
another host-wide counter (the kernel's `get_next_ino`): seccomp refuses pipes and socket pairs and children have no
`/proc`, so a run can neither move nor read it. A socket's cookie and a pidfd's inode number
are two more host-wide counts (cookies asked for, processes and threads made): the socket options that read them
and threads made with a pidfd are refused. An eventfd's id is the lowest free one of the host (programs judged at
the same time count each other's): eventfd is refused.
"""

from __future__ import annotations

import os
import platform
import secrets

import pytest

from codefeedback_env.judge import Limits
from tests.judge.test_pool_backend import machine_has_all_layers
from tests.judge.test_state_the_host_shares import _writer_and_reader_at_once

pytestmark = pytest.mark.skipif(not machine_has_all_layers(), reason="needs root and bubblewrap")

LIMITS = Limits(time=5.0, memory=256 << 20, output=1 << 20)
SYSINFO_NUMBERS = {"x86_64": 99, "aarch64": 179, "riscv64": 179, "ppc64le": 116, "s390x": 116}
"""The system call's number by architecture (the raw call must be tried wherever the tests run)."""

_STRUCT = (
    "import ctypes, os, platform\nlibc = ctypes.CDLL(None, use_errno=True)\nulong = ctypes.c_ulong\n"
    "class Sysinfo(ctypes.Structure):\n"
    "    _fields_ = [('uptime', ctypes.c_long), ('loads', ulong * 3), ('totalram', ulong), ('freeram', ulong),\n"
    "                ('sharedram', ulong), ('bufferram', ulong), ('totalswap', ulong), ('freeswap', ulong),\n"
    "                ('procs', ctypes.c_ushort), ('pad', ctypes.c_ushort), ('totalhigh', ulong),\n"
    "                ('freehigh', ulong), ('mem_unit', ctypes.c_uint), ('rest', ctypes.c_char * 8)]\n"
    "figures = Sysinfo()\n"
    "def report(status):\n"
    "    if status != 0:\n        print('refused', ctypes.get_errno())\n"
    "    else:\n        print(figures.freeram, figures.sharedram, figures.procs, figures.loads[0])\n"
)
READERS = {
    "through_the_c_library": _STRUCT + "report(libc.sysinfo(ctypes.byref(figures)))\n",
    "raw_system_call": _STRUCT
    + f"number = {SYSINFO_NUMBERS!r}[platform.machine()]\n"
    + "libc.syscall.restype = ctypes.c_long\n"
    + "report(libc.syscall(ctypes.c_long(number), ctypes.byref(figures)))\n",
    "from_a_thread": _STRUCT
    + "import threading\nthread = threading.Thread(target=lambda: report(libc.sysinfo(ctypes.byref(figures))))\n"
    + "thread.start()\nthread.join()\n",
}


@pytest.mark.skipif(platform.machine() not in SYSINFO_NUMBERS, reason="sysinfo's number on this architecture")
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_run_cannot_read_the_hosts_memory_and_process_figures(pool, reader):
    outcome = pool.run_stdio(READERS[reader], "", LIMITS)
    assert outcome.stdout == b"refused 1\n", outcome  # EPERM, as for the other refused calls
    assert pool.run_stdio("print(input())", "3\n", LIMITS).stdout == b"3\n", "the judge stopped serving"


def test_the_hosts_free_memory_is_not_readable_through_sysconf(pool):
    """glibc answers `sysconf(_SC_AVPHYS_PAGES)` from sysinfo without checking it: the figure a run sees must not
    be the host's (it is meaningless: see the README)."""
    outcome = pool.run_stdio("import os\nprint(os.sysconf('SC_AVPHYS_PAGES'))\n", "", LIMITS)
    seen, host = int(outcome.stdout), os.sysconf("SC_AVPHYS_PAGES")
    assert not 0.8 * host < seen < 1.2 * host, f"the run saw the host's free memory ({seen} pages, host {host})"


HOLD_MEMORY_AND_THREADS = (  # files in the scratch folder are shared memory; threads count as processes
    "import threading, time\nvalue = int(input())\ntime.sleep(0.6)\nstop = threading.Event()\n"
    "threads = [threading.Thread(target=stop.wait) for _ in range(8 * value)]\nfor thread in threads:\n"
    "    thread.start()\nfor i in range(16 * value):\n    with open(f'held{i}', 'wb') as f:\n"
    "        f.write(b'x' * (1 << 20))\ntime.sleep(1.2)\nstop.set()\nprint(value)\n"
)
COUNT_WHAT_THE_OTHER_HOLDS = _STRUCT + (
    "import time\nshared, procs = [], []\nend = time.monotonic() + 2.5\nwhile time.monotonic() < end:\n"
    "    if libc.sysinfo(ctypes.byref(figures)) != 0:\n        report(-1)\n        raise SystemExit\n"
    "    shared.append(figures.sharedram * figures.mem_unit)\n    procs.append(figures.procs)\n"
    "    time.sleep(0.02)\n"
    "by_memory = round((max(shared) - min(shared)) / (16 << 20))\nby_threads = round((max(procs) - min(procs)) / 8)\n"
    "print(by_memory if by_memory in (1, 2, 3) else by_threads)\n"
)


def test_programs_judged_at_the_same_time_cannot_pass_data_through_the_hosts_figures():
    """Red before: the reader printed the writer's stdin (1, 2 or 3) from the host's shared memory or process count
    (other activity on the host adds noise, not a barrier)."""
    value = 1 + secrets.randbelow(3)
    outcomes = _writer_and_reader_at_once(HOLD_MEMORY_AND_THREADS, COUNT_WHAT_THE_OTHER_HOLDS, value)
    assert outcomes["writer"].stdout == f"{value}\n".encode(), outcomes["writer"]  # it held what it meant to
    assert outcomes["reader"].stdout == b"refused 1\n", outcomes["reader"]


_MAPS = "import ctypes, mmap, os\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.mmap.restype = ctypes.c_void_p\n" + (
    "def internal_files():\n    try:\n        maps = open('/proc/self/maps').readlines()\n"
    "    except FileNotFoundError:\n        return []\n    return [line for line in maps if '/dev/zero' in line]\n"
)
_KEEP = (  # a mapping made (the C library's mmap gives MAP_FAILED, -1, when refused) and mappings seen in /proc
    "try:\n    kept = {make}\n    made = int(kept not in (None, -1, (1 << 64) - 1))\nexcept (OSError, ValueError):\n"
    "    made = 0\nprint(made, len(internal_files()))\n"
)
INTERNAL_FILE_MAKERS = {
    "anonymous_shared": _MAPS + _KEEP.format(make="mmap.mmap(-1, 4096)"),
    "anonymous_shared_validate": _MAPS  # MAP_SHARED_VALIDATE | MAP_ANONYMOUS through the C library
    + _KEEP.format(make="libc.mmap(None, ctypes.c_size_t(4096), 3, 0x23, -1, ctypes.c_long(0))"),
    "dev_zero_shared": _MAPS
    + _KEEP.format(make="mmap.mmap(os.open('/dev/zero', os.O_RDONLY), 4096, access=mmap.ACCESS_READ)"),
}


@pytest.mark.parametrize("maker", sorted(INTERNAL_FILE_MAKERS))
def test_a_run_cannot_make_files_of_the_kernels_internal_tmpfs(pool, maker):
    outcome = pool.run_stdio(INTERNAL_FILE_MAKERS[maker], "", LIMITS)
    assert outcome.stdout == b"0 0\n", outcome


MOVE_THE_COUNTER = _MAPS + (
    "import time\nmade = 0\nend = time.monotonic() + 1.0\nwhile time.monotonic() < end:\n    try:\n"
    "        mmap.mmap(-1, 4096).close()\n    except OSError:\n        try:\n"
    "            mmap.mmap(os.open('/dev/zero', os.O_RDONLY), 4096, access=mmap.ACCESS_READ).close()\n"
    "        except (OSError, ValueError):\n            break\n    made += 1\nprint(made)\n"
)
READ_THE_COUNTER = _MAPS + (  # past a batch of its own, a new mapping's number tells the host's next batch
    "kept = []\nfor _ in range(1100):\n    try:\n        kept.append(mmap.mmap(-1, 4096))\n    except OSError:\n"
    "        break\n    if len(kept) > 8:\n        kept.pop(0).close()\n"
    "numbers = [int(line.split()[4]) for line in internal_files()]\n"
    "print(max(numbers) // 1024 if numbers else 'none')\n"
)


def test_a_run_cannot_move_the_hosts_count_of_internal_files_for_a_later_run(pool):
    """Red before: between two readers the batch number moved by one (their own making) and by about 17 across a
    run that made 17,000 shared mappings in a second."""
    before = pool.run_stdio(READ_THE_COUNTER, "", LIMITS)
    writer = pool.run_stdio(MOVE_THE_COUNTER, "", LIMITS)
    after = pool.run_stdio(READ_THE_COUNTER, "", LIMITS)
    assert writer.stdout == b"0\n", writer  # none could be made
    assert before.stdout == after.stdout == b"none\n", (before, after)


STATX_NUMBERS = {"x86_64": 332, "aarch64": 291, "riscv64": 291}
STATX = (
    "import ctypes, platform\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
    "buffer = ctypes.create_string_buffer(256)\n"
    "def statx(mask):\n"
    "    status = libc.syscall(ctypes.c_long({number}), ctypes.c_int(-100), b'.', ctypes.c_int(0),"
    " ctypes.c_uint(mask), buffer)\n"
    "    return 'refused %d' % ctypes.get_errno() if status else int.from_bytes(buffer.raw[144:152], 'little')\n"
)
MOUNT_ID_READERS = {  # 0x4000: STATX_MNT_ID_UNIQUE (a host-wide count of mounts); 0x1000: STATX_MNT_ID (reused)
    "unique_alone": "print(statx(0x4000))\n",
    "unique_with_basic_stats": "print(statx(0x4000 | 0x7FF))\n",
    "unique_with_high_bits": "print(statx(0x4000 | 0x80000000))\n",
}


@pytest.mark.skipif(platform.machine() not in STATX_NUMBERS, reason="statx's number on this architecture")
@pytest.mark.parametrize("reader", sorted(MOUNT_ID_READERS))
def test_a_run_cannot_read_the_hosts_count_of_mounts(pool, reader):
    """Red before: the scratch folder's unique mount id moved by one after every run that changed its folder (the
    worker mounts a fresh one), and by every other worker's mounts: a host-wide count a later run read back."""
    number = STATX_NUMBERS[platform.machine()]
    changes_its_folder = "open('written', 'w').close()\n"
    for _ in range(2):
        assert pool.run_stdio(changes_its_folder, "", LIMITS).exit_code == 0
        outcome = pool.run_stdio(STATX.format(number=number) + MOUNT_ID_READERS[reader], "", LIMITS)
        assert outcome.stdout == b"refused 1\n", outcome


def test_statx_without_the_unique_mount_id_works_as_under_python3(pool):
    number = STATX_NUMBERS.get(platform.machine())
    if number is None:
        pytest.skip("statx's number on this architecture")
    program = STATX.format(number=number) + "print(statx(0x7FF | 0x1000) > 0)\n"
    outcome = pool.run_stdio(program, "", LIMITS)
    assert outcome.stdout == b"True\n", outcome


_REPORT = (
    "import ctypes, errno, os, socket\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "def report(read):\n    try:\n        print('read', read())\n    except OSError as error:\n"
    "        print('refused', errno.errorcode[error.errno])\n"
)
_PAIR = "try:\n    a, b = socket.socketpair()\nexcept OSError:\n    report(socket.socketpair)\n    raise SystemExit\n"
"""Socket pairs are refused on the pool (pipes and sockets are numbered from get_next_ino, below); the options are
refused too, should a socket ever be in reach."""
_RAW_COOKIE = (  # level and option are C ints: the kernel cuts what the filter sees to the low 32 bits
    "def raw():\n    value, size = ctypes.c_uint64(), ctypes.c_uint32(8)\n    libc.syscall.restype = ctypes.c_long\n"
    "    if libc.syscall(ctypes.c_long(55), a.fileno(), ctypes.c_long(1 | 1 << 32), ctypes.c_long(57 | 1 << 32),\n"
    "                    ctypes.byref(value), ctypes.byref(size)):\n"
    "        raise OSError(ctypes.get_errno(), 'getsockopt')\n    return value.value\n"
)
_PIDFD_IN_MESSAGES = (  # SO_PASSPIDFD: each message received carries a pidfd of its sender
    "def in_messages():\n    b.setsockopt(socket.SOL_SOCKET, 76, 1)\n    a.send(b'x')\n"
    "    _, ancillary, _, _ = b.recvmsg(1, socket.CMSG_SPACE(4))\n"
    "    return os.fstat(int.from_bytes(ancillary[0][2][:4], 'little')).st_ino\n"
)
_THREAD_WITH_PIDFD = (  # a thread (it runs getpid and exits) made by the C library's clone with CLONE_PIDFD
    "def thread_pidfd():\n    stack = ctypes.create_string_buffer(1 << 16)\n    pidfd = ctypes.c_int(-1)\n"
    "    libc.clone.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]\n"
    "    flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x1000\n"
    "    top = (ctypes.addressof(stack) + (1 << 16)) & ~15\n"
    "    if libc.clone(ctypes.cast(libc.getpid, ctypes.c_void_p), top, flags, None, ctypes.byref(pidfd)) < 0:\n"
    "        raise OSError(ctypes.get_errno(), 'clone')\n    return os.fstat(pidfd.value).st_ino\n"
)
COUNTER_READERS = {  # socket cookies: one counter for the host; a pidfd's inode number: its count of processes
    "socket_cookie": _REPORT + _PAIR + "report(lambda: a.getsockopt(socket.SOL_SOCKET, 57, 8))\n",
    "socket_cookie_with_high_bits": _REPORT + _PAIR + _RAW_COOKIE + "report(raw)\n",
    "network_namespace_cookie": _REPORT + _PAIR + "report(lambda: b.getsockopt(socket.SOL_SOCKET, 71, 8))\n",
    "peer_pidfd": _REPORT + _PAIR + "report(lambda: os.fstat(a.getsockopt(socket.SOL_SOCKET, 77)).st_ino)\n",
    "pidfd_in_each_message": _REPORT + _PAIR + _PIDFD_IN_MESSAGES + "report(in_messages)\n",
    "thread_with_pidfd": _REPORT + _THREAD_WITH_PIDFD + "report(thread_pidfd)\n",
}


@pytest.mark.parametrize("reader", sorted(COUNTER_READERS))
def test_a_run_cannot_read_the_hosts_socket_cookie_or_process_count(pool, reader):
    """Red before (each printed a number): a socket's cookie comes from one host-wide counter that only what asks
    for cookies moves (a run asking for thousands moved what a later run on any worker read, without noise); a
    pidfd's inode number is the host's count of processes and threads ever made, which a run's threads move."""
    outcome = pool.run_stdio(COUNTER_READERS[reader], "", LIMITS)
    assert outcome.stdout.startswith(b"refused "), outcome
    assert pool.run_stdio("print(input())", "3\n", LIMITS).stdout == b"3\n", "the judge stopped serving"


def test_a_run_cannot_move_the_socket_cookie_a_later_run_reads(pool):
    """The end-to-end channel: without the refusal, the reader's cookie after a run asking for 20,000 moved by
    about 20,000 (cookies come in per-CPU batches of 4,096: moved batches show on either CPU)."""
    ask = "import socket\nmade = 0\nfor _ in range(20000):\n    try:\n        a, b = socket.socketpair()\n"
    ask += "        a.getsockopt(socket.SOL_SOCKET, 57, 8)\n        made += 1\n    except OSError:\n        continue\n"
    ask += "    a.close()\n    b.close()\nprint(made)\n"
    assert pool.run_stdio(ask, "", LIMITS).stdout == b"0\n"
    assert pool.run_stdio(COUNTER_READERS["socket_cookie"], "", LIMITS).stdout.startswith(b"refused ")


REFUSED_ON_THE_POOL = (  # what needs a pipe, a socket pair or /proc: a clear error, no silent difference
    "import asyncio, os, socket\nasync def main():\n    return 7\n"
    "for name, attempt in (('asyncio', lambda: asyncio.run(main())), ('pipe', os.pipe), ('pair', socket.socketpair),\n"
    "                      ('stdin', lambda: open('/dev/stdin').read()), ('proc', lambda: os.listdir('/proc/self'))):\n"
    "    try:\n        attempt()\n        print(name, 'works')\n    except OSError as error:\n"
    "        print(name, type(error).__name__)\nprint(input())\n"
)


def test_pipes_socket_pairs_and_proc_fail_with_a_clear_error_and_the_run_goes_on(pool):
    """The README's differences list: asyncio's event loop (a socket pair), os.pipe and /proc are errors a
    program can catch; stdin itself, and open('/dev/stdin') (standard_paths), read as under python3."""
    outcome = pool.run_stdio(REFUSED_ON_THE_POOL, "3\n", LIMITS)
    assert outcome.stdout.decode().split("\n") == [
        "asyncio PermissionError",
        "pipe PermissionError",
        "pair PermissionError",
        "stdin works",
        "proc FileNotFoundError",
        "3",
        "",
    ], outcome


MOVE_ANOTHER_COUNTER = (  # pipes, sockets and /proc entries are numbered from another host-wide counter
    "import os, socket, time\nmade = 0\nstop = time.monotonic() + 1.0\nwhile time.monotonic() < stop:\n"
    "    try:\n        {make}\n    except OSError:\n        break\n    made += 1\nprint(made)\n"
)
ANOTHER_COUNTER_MOVERS = {
    "pipes": MOVE_ANOTHER_COUNTER.format(make="r, w = os.pipe(); os.close(r); os.close(w)"),
    "socket_pairs": MOVE_ANOTHER_COUNTER.format(make="a, b = socket.socketpair(); a.close(); b.close()"),
    # a /proc entry of a descriptor is a new inode each time the descriptor comes back: no pipe or socket needed
    "proc_entries": MOVE_ANOTHER_COUNTER.format(
        make="fd = os.dup(0); os.stat(f'/proc/self/fd/{fd}'); os.close(fd); os.path.exists(f'/proc/self/fd/{fd}')"
    ),
}
READ_THE_OTHER_COUNTER = (  # every object numbered from get_next_ino a run could look at
    "import os, socket\ndef pipe():\n    r, w = os.pipe()\n    return os.fstat(r).st_ino\n"
    "def pair():\n    a, b = socket.socketpair()\n    return os.fstat(a.fileno()).st_ino\n"
    "readers = {'pipe': pipe, 'pair': pair, 'proc': lambda: os.stat('/proc/self').st_ino,\n"
    "           'fd': lambda: os.stat('/proc/self/fd/0').st_ino, 'task': lambda: os.listdir('/proc/self/task')}\n"
    "seen = []\nfor name, read in readers.items():\n    try:\n        seen.append((name, read()))\n"
    "    except OSError:\n        pass\nprint(seen)\n"
)


@pytest.mark.parametrize("mover", sorted(ANOTHER_COUNTER_MOVERS))
def test_a_run_cannot_move_the_hosts_count_of_pipes_and_sockets_for_a_later_run(pool, mover):
    """Red before: pipes and sockets take their inode numbers from the kernel's get_next_ino, one counter for the
    host (batches of 1,024 per CPU), and so do /proc entries: a run making pipes, socket pairs or fresh /proc entries
    for a second moved the batch a later run read (from a pipe, or from `os.stat('/proc/self')`) by 23 to 100+.
    Children have no /proc (the worker mounts an empty folder over it) and seccomp refuses pipes and socket pairs:
    nothing a run can look at is numbered from that counter, and nothing a run does moves it."""
    before = pool.run_stdio(READ_THE_OTHER_COUNTER, "", LIMITS)
    writer = pool.run_stdio(ANOTHER_COUNTER_MOVERS[mover], "", LIMITS)
    after = pool.run_stdio(READ_THE_OTHER_COUNTER, "", LIMITS)
    assert writer.stdout == b"0\n", writer  # none could be made
    assert before.stdout == after.stdout == b"[]\n", (before, after)
