"""Advice a program gives the kernel about the interpreter's files never changes the host's shared page cache.

Dropping pages (`POSIX_FADV_DONTNEED`, `MADV_PAGEOUT`) is a successful no-op under seccomp (see
`test_page_cache_channel.py`). Two more ways reached the same shared state:
- the advice argument is a C `int`: the kernel reads its low 32 bits, while a filter rule compares all 64, so
  `syscall(SYS_fadvise64, fd, 0, 0, POSIX_FADV_DONTNEED | 1 << 32)` through ctypes slipped past "advice is not
  DONTNEED" and dropped the pages, with every layer on;
- `MADV_COLD` moves a mapping's file pages to the inactive list: the next memory pressure on the host (any
  tenant's) evicts them first, so a program chose which of the interpreter's files a later run finds cached.
  Checked from outside with the kernel's page flags (`/proc/kpageflags`, root only): the pages stay active.
"""

from __future__ import annotations

import mmap
import os
import struct

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.pool import PoolOptions, WorkerPoolBackend
from tests.judge.test_page_cache_channel import _cached, _resident_pages
from tests.judge.test_pool_backend import machine_has_all_layers

pytestmark = pytest.mark.skipif(not machine_has_all_layers(), reason="needs the pool's seccomp layer")

LIMITS = Limits(time=5.0, memory=256 << 20, output=1 << 20)
LIBRARY = os.path.dirname(os.__file__)
HIGH_BIT_FILES = [os.path.join(LIBRARY, name) for name in ("glob.py", "fnmatch.py", "shlex.py", "quopri.py")]
COLD_FILES = [os.path.join(LIBRARY, name) for name in ("difflib.py", "gettext.py", "netrc.py", "plistlib.py")]
"""Each test's own files: tests of the page cache in another xdist worker never read or evict them."""

SYSCALL = (
    "import ctypes, mmap, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.syscall.restype = ctypes.c_long\n"
    "libc.syscall.argtypes = [ctypes.c_long, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]\n"
    "libc.mmap.restype = ctypes.c_ulong\n"
    "libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]\n"
)
HIGH_BITS = {
    # (x86-64 numbers) fadvise64(fd, offset, length, advice) and madvise(address, length, advice)
    "fadvise_dontneed": (
        "for path in PATHS:\n    fd = os.open(path, os.O_RDONLY)\n    print(libc.syscall(221, fd, 0, 0, 4 | 1 << 32))\n"
    ),
    "madvise_pageout": (
        "for path in PATHS:\n"
        "    fd, size = os.open(path, os.O_RDONLY), os.path.getsize(path)\n"
        "    address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)\n"
        "    ctypes.string_at(address, size)\n"
        "    print(libc.syscall(28, address, size, 21 | 1 << 32, 0))\n"
    ),
}


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="system call numbers of x86-64")
@pytest.mark.parametrize("name", sorted(HIGH_BITS))
@pytest.mark.parametrize("layers", ["all", "without_namespaces"])
def test_advice_with_high_bits_set_drops_nothing(name, layers):
    # Without namespaces a child keeps root's uid and owns the interpreter's files, which page-out needs.
    options = None if layers == "all" else PoolOptions(namespaces=False)
    cached = _cached(HIGH_BIT_FILES)
    program = SYSCALL + f"PATHS = {HIGH_BIT_FILES!r}\n" + HIGH_BITS[name]
    with WorkerPoolBackend(1, options=options) as pool:
        outcome = pool.run_stdio(program, "", LIMITS)
    assert outcome.exit_code == 0, outcome.stderr.decode()[-500:]
    assert [_resident_pages(path) for path in HIGH_BIT_FILES] == cached


def _active_pages(path: str) -> int:
    """How many of `path`'s cached pages are on the kernel's active list (`KPF_ACTIVE` in /proc/kpageflags)."""
    with open(path, "rb") as handle:
        pages = mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ)
    try:
        sum(pages[:: mmap.PAGESIZE])  # map every page, to find it in this process's page map
        start = next(
            int(line.split("-")[0], 16) for line in open("/proc/self/maps") if line.rstrip().endswith(" " + path)
        )
        count = (len(pages) + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        with open("/proc/self/pagemap", "rb") as page_map, open("/proc/kpageflags", "rb") as page_flags:
            entries = struct.unpack(f"<{count}Q", os.pread(page_map.fileno(), 8 * count, start // mmap.PAGESIZE * 8))
            frames = [entry & ((1 << 55) - 1) for entry in entries]
            assert all(frames), "no page frame numbers (needs root)"
            flags = [struct.unpack("<Q", os.pread(page_flags.fileno(), 8, frame * 8))[0] for frame in frames]
    finally:
        pages.close()
    return sum(flag >> 6 & 1 for flag in flags)


def _can_read_page_flags() -> bool:
    try:
        return _active_pages(os.__file__) >= 0
    except (OSError, AssertionError, StopIteration):
        return False


@pytest.mark.parametrize("layers", ["all", "without_namespaces"])
def test_a_program_cannot_mark_shared_files_for_eviction(layers):
    if not _can_read_page_flags():
        pytest.skip("needs /proc/kpageflags and page frame numbers (root)")
    options = None if layers == "all" else PoolOptions(namespaces=False)
    for _ in range(3):  # read more than once: on the active list
        _cached(COLD_FILES)
    active = [_active_pages(path) for path in COLD_FILES]
    assert all(active), active
    program = (
        f"import mmap, os\nfor path in {COLD_FILES!r}:\n"
        "    pages = mmap.mmap(os.open(path, os.O_RDONLY), 0, prot=mmap.PROT_READ)\n"
        "    sum(pages[::4096])\n    pages.madvise(20)\nprint('advised')\n"
    )
    with WorkerPoolBackend(1, options=options) as pool:
        outcome = pool.run_stdio(program, "", LIMITS)
    assert (outcome.exit_code, outcome.stdout) == (0, b"advised\n"), outcome.stderr.decode()[-500:]
    after = [_active_pages(path) for path in COLD_FILES]
    # (another process reading these files meanwhile may only add active pages)
    assert all(now >= before for now, before in zip(after, active, strict=True)), (after, active)
