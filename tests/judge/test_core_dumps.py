"""A crashing program must not be dumped to the host (issue 10: what a program can make the judge pay for, and what
outlives its run).

The children's core limit was 0. A core pattern that pipes dumps to a helper (`|/usr/lib/systemd/systemd-coredump ...`,
apport's: the default of most distributions) ignores a limit of 0: the kernel hands the whole address space (up to
the memory limit) to a helper running as root outside the sandbox, which writes it to the host's disk while the
crashing process (and its worker) waits; a segfault is one `ctypes.string_at(0)` away, and deep recursion reaches one
too. The limit is now 1 byte (`child_runtime.NO_CORE_DUMPS`), which the kernel reads as "no dump" for a pipe (and a
file pattern writes nothing under a page), on both backends; on the pool the seccomp filter refuses setting it (a
program lowering it to 0 would be dumped again), in any spelling of the call. This host's pattern is not changed by
the test (it is the host's): the limit each program runs under and the refusals are checked.
"""

from __future__ import annotations

import signal

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.child_runtime import NO_CORE_DUMPS
from codefeedback_env.judge.pool import WorkerPoolBackend
from codefeedback_env.judge.subprocess_backend import SubprocessBackend

LIMITS = Limits(time=4.0, memory=256 << 20, output=1 << 20)
CRASH = "import ctypes, resource\nprint(resource.getrlimit(resource.RLIMIT_CORE), flush=True)\nctypes.string_at(0)\n"
CHANGERS = {
    "setrlimit_to_zero": "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))",
    "setrlimit_soft_to_zero": "resource.setrlimit(resource.RLIMIT_CORE, (0, 1))",
    "prlimit_own": "resource.prlimit(0, resource.RLIMIT_CORE, (0, 0))",
    "high_bits_in_the_resource": (  # the kernel reads the low 32 bits of the resource: RLIMIT_CORE
        "import ctypes, errno\nlimits = (ctypes.c_ulong * 2)(0, 0)\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        # the raw call, with 64 bits: glibc's prlimit64 (and ctypes' default C int) would cut the high bits off
        "libc.syscall.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p)\n"
        "prlimit64 = {'x86_64': 302, 'aarch64': 261}[os.uname().machine]\n"
        "if libc.syscall(prlimit64, 0, resource.RLIMIT_CORE | 1 << 32, limits, None) != 0:\n"
        "    raise PermissionError(ctypes.get_errno(), 'refused')"
    ),
}
CHANGER = (
    "import os, resource\ntry:\n{call}\n    print('changed')\nexcept (PermissionError, ValueError):\n"
    "    print('refused')\nprint(resource.getrlimit(resource.RLIMIT_CORE))\n"
)


@pytest.fixture(scope="module", params=["pool", "subprocess"])
def backend(request):
    made = WorkerPoolBackend(1) if request.param == "pool" else SubprocessBackend()
    with made:
        yield made


def test_a_crashing_program_runs_without_core_dumps(backend):
    outcome = backend.run_stdio(CRASH, "", LIMITS)
    assert outcome.signal == signal.SIGSEGV, outcome
    assert outcome.stdout == f"{NO_CORE_DUMPS}\n".encode()


@pytest.mark.parametrize("name", sorted(CHANGERS))
def test_a_program_cannot_turn_core_dumps_back_on(pool, name):
    call = "\n".join("    " + line for line in CHANGERS[name].splitlines())
    outcome = pool.run_stdio(CHANGER.format(call=call), "", LIMITS)
    assert outcome.stdout == f"refused\n{NO_CORE_DUMPS}\n".encode(), outcome
