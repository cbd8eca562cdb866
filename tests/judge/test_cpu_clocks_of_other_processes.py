"""A pool child reads its own CPU-time clocks only, never its worker's (issue 10, state between runs).

Any process may read another's CPU-time clock (`clock_gettime((~pid << 3) | 2)`: what `clock_getcpuclockid`
makes), and the kernel asks for no permission. A child read its worker's (pid 1 of the pool's pid namespace), to
the nanosecond, where its private /proc shows it only itself: the worker's CPU time moves with the work each run
gave it, so a run told the next one a bit by its thread count (60 sleeping threads vs one: 15-17 ms vs 6-9 ms of the
worker's CPU between two readers, 8 bits of 8 read back at a load of 13). Red before: every clock below was read.
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.pool import WorkerPoolBackend

LIMITS = Limits(5.0, 256 << 20, 1 << 16)
CLOCKS = """\
import ctypes, os, threading, time
libc = ctypes.CDLL(None, use_errno=True)

class Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]

def read(clock):
    try:
        time.clock_gettime(clock)
    except OSError as error:
        return error.errno
    return 0

def resolution(clock):
    return 0 if libc.clock_getres(ctypes.c_int(clock), ctypes.byref(Timespec())) == 0 else ctypes.get_errno()

def nap(clock):  # sleep until an absolute time of that clock that has passed: returns at once where allowed
    return libc.clock_nanosleep(ctypes.c_int(clock), 1, ctypes.byref(Timespec(0, 1)), None)

def cpu_clock(pid, thread=False, kind=2):
    return (~pid << 3) | (4 if thread else 0) | kind

others = [cpu_clock(pid, thread, kind) for pid in (1, 2, os.getppid(), os.getpid() + 1) for thread in (False, True)
          for kind in (0, 1, 2)]
print("others", sorted({call(clock) for clock in others for call in (read, resolution, nap)}))
own = [time.CLOCK_PROCESS_CPUTIME_ID, time.CLOCK_THREAD_CPUTIME_ID, time.CLOCK_MONOTONIC, time.CLOCK_REALTIME,
       cpu_clock(0), cpu_clock(0, thread=True), cpu_clock(0, kind=0)]
print("own", sorted({call(clock) for clock in own for call in (read, resolution)}))
print("process_time", time.process_time() > 0, time.thread_time() > 0)
"""


@pytest.fixture(scope="module")
def pool():
    with WorkerPoolBackend(1) as backend:
        if not backend.isolation_layers()["seccomp"]:
            pytest.skip("no seccomp layer on this machine")
        yield backend


def test_a_child_reads_no_other_processs_cpu_clock_and_its_own_as_before(pool):
    outcome = pool.run_stdio(CLOCKS, "", LIMITS)
    lines = outcome.stdout.decode().splitlines()
    assert lines == ["others [38]", "own [0]", "process_time True True"], outcome.stderr.decode()[-2000:]
