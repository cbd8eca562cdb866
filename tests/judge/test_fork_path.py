"""What the pool's fork path must keep while it is made cheaper: a child is a full interpreter for the program.

The worker prepares what every child shares once (it freezes its objects out of the collector's view, binds
the C library's symbols at start, sets no_new_privs for itself and so for every child), so these tests pin
what a program sees of it: the garbage collector, weak references and finalizers behave as under
`python3 solution.py`, alone and as queued tests of one program (a zygote forks them), and every child is
still under no_new_privs and its own seccomp filter. The portable backend shares the child's runtime (how a
program ends), so it is checked against `python3` too.
"""

from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.pool import PoolOptions, WorkerPoolBackend
from codefeedback_env.judge.subprocess_backend import SubprocessBackend
from tests.judge.test_exit_fidelity import plain_python

LIMITS = Limits(time=5.0, memory=512 << 20, output=1 << 20)

GC_PROGRAMS = {
    "collector_on_and_finds_cycles": (
        "import gc\n"
        "class Node:\n"
        "    def __init__(self):\n"
        "        self.me = self\n"
        "print(gc.isenabled(), gc.get_threshold())\n"
        "gc.collect()\n"
        "for _ in range(int(input())):\n"
        "    Node()\n"
        "print(gc.collect() >= 50)\n"
    ),
    "weakref_callback_and_weak_dict": (
        "import gc, weakref\n"
        "class Box:\n"
        "    pass\n"
        "seen = []\n"
        "box = Box()\n"
        "ref = weakref.ref(box, lambda r: seen.append('callback'))\n"
        "cache = weakref.WeakValueDictionary(k=box)\n"
        "del box\n"
        "print(seen, ref() is None, len(cache))\n"
        "a, b = Box(), Box()\n"
        "a.other, b.other = b, a\n"
        "ref = weakref.ref(a, lambda r: seen.append('cycle'))\n"
        "del a, b\n"
        "print(gc.collect() > 0, seen)\n"
    ),
    "finalizers_of_cycles_run_at_exit_with_globals": (
        "import sys\n"
        "PREFIX = 'finalized'\n"
        "class Writer:\n"
        "    def __init__(self, name):\n"
        "        self.name, self.me = name, self\n"
        "    def __del__(self):\n"
        "        sys.stdout.write(f'{PREFIX} {self.name}\\n')\n"
        "keep = Writer('global')\n"
        "Writer('garbage')\n"
        "print(input())\n"
    ),
    "weakref_finalize_at_exit": (
        "import weakref\n"
        "class Thing:\n"
        "    pass\n"
        "thing = Thing()\n"
        "weakref.finalize(thing, print, 'finalize ran')\n"
        "print('main')\n"
    ),
    "collector_off_by_the_program": (
        "import gc\n"
        "gc.disable()\n"
        "class Node:\n"
        "    def __init__(self):\n"
        "        self.me = self\n"
        "for _ in range(5000):\n"
        "    Node()\n"
        "print(gc.isenabled(), gc.collect() >= 5000)\n"
        "gc.enable()\n"
        "print(gc.isenabled())\n"
    ),
    "gc_callbacks_see_a_collection": (
        "import gc\n"
        "phases = []\n"
        "gc.callbacks.append(lambda phase, info: phases.append((phase, info['generation'])))\n"
        "gc.collect()\n"
        "print(phases)\n"
    ),
}
STDIN = "60\n"


@pytest.fixture(scope="module")
def solo():
    with WorkerPoolBackend(1) as backend:
        backend.start()
        yield backend


@pytest.mark.parametrize("name", sorted(GC_PROGRAMS))
def test_gc_weakref_and_finalizers_behave_as_in_python3(solo, name):
    program = GC_PROGRAMS[name]
    expected_stdout, expected_status = plain_python(program, STDIN)
    assert expected_status == 0 and expected_stdout, expected_stdout
    with SubprocessBackend() as portable:  # the same runtime ends the program there
        for alone in (solo.run_stdio(program, STDIN, LIMITS), portable.run_stdio(program, STDIN, LIMITS)):
            assert (alone.stdout, alone.exit_code) == (expected_stdout, expected_status), alone.stderr
    # Two callers on one worker: the tests queue, so a zygote of the program forks most of them.
    with ThreadPoolExecutor(2) as executor:
        queued = list(executor.map(lambda _: solo.run_stdio(program, STDIN, LIMITS), range(8)))
    for outcome in queued:
        assert (outcome.stdout, outcome.exit_code) == (expected_stdout, expected_status), outcome.stderr


STATUS_PROBE = (
    "fields = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
    "print(fields['NoNewPrivs'].strip(), fields['Seccomp'].strip())\n"
)


def test_every_child_has_no_new_privs_and_a_seccomp_filter():
    with WorkerPoolBackend(1, options=PoolOptions(hide_proc=False)) as solo:  # read from the child's /proc
        if not solo.isolation_layers()["seccomp"]:
            pytest.skip("no seccomp layer on this machine")
        with ThreadPoolExecutor(2) as executor:
            outcomes = list(executor.map(lambda _: solo.run_stdio(STATUS_PROBE, "", LIMITS), range(6)))
        outcomes.append(solo.run_stdio(STATUS_PROBE, "", LIMITS))
    for outcome in outcomes:
        assert outcome.stdout == b"1 2\n", (outcome.stdout, outcome.stderr)  # 2: SECCOMP_MODE_FILTER


LOCKDOWN_PROBE = r"""
import json, os, sys
sys.path[:0] = [sys.argv[1]]
import _socket
import worker
from protocol import Channel

def refuse():
    raise OSError("refused")

STEPS = {
    "nonzero_c_call": ((lambda: 1, (), worker._ZERO),),
    "raising_call": ((refuse, (), worker._RAISES),),
    "refused_after_tolerated": ((refuse, (), worker._TOLERANT), (lambda: -1, (), worker._ZERO)),
    "tolerated_and_ignored": (
        (refuse, (), worker._TOLERANT), (lambda: 5, (), worker._IGNORED), (lambda: 0, (), worker._ZERO)
    ),
}
results = {}
for name, steps in STEPS.items():
    fds = [os.memfd_create(label) for label in ("stdin", "stdout", "stderr", "program")]
    ours, theirs = _socket.socketpair()
    pid = os.fork()
    if pid == 0:
        program = worker._child("stdio", steps, fds, Channel(theirs).sock.detach, None)
        os.write(1, b"would run " + program.source.encode())
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    output, errors = os.pread(fds[1], 100, 0).decode(), os.pread(fds[2], 500, 0).decode()
    results[name] = [os.waitstatus_to_exitcode(status), output, errors]
    for fd in fds:
        os.close(fd)
print(json.dumps(results))
"""


def test_a_lock_down_step_that_fails_ends_the_child_before_the_program():
    """The child's lock-down runs the steps the worker prepared (rlimits, uid, dumpable, seccomp): a C call that
    does not return 0, or a call that raises, ends the child with status 1 before anything of the program runs;
    only the steps marked tolerant (an rlimit the machine refuses) or ignored may fail."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import codefeedback_env.judge.pool as pool_package

    pool_dir = str(Path(pool_package.__file__).parent)
    done = subprocess.run(
        [sys.executable, "-s", "-S", "-c", LOCKDOWN_PROBE, pool_dir], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for name in ("nonzero_c_call", "raising_call", "refused_after_tolerated"):
        status, stdout, stderr = results[name]
        assert (status, stdout) == (1, ""), results[name]
        assert "child setup failed" in stderr, results[name]
    assert results["tolerated_and_ignored"] == [0, "would run ", ""]


@pytest.mark.parametrize("program", ["import time\ntime.sleep(60)\n", "while True:\n    pass\n"])
def test_without_a_pid_namespace_a_child_of_another_uid_dies_with_its_worker(program):
    """Without the pool's pid namespace, a child's parent-death signal is what ends it when its worker dies. A
    change of uid clears that signal, so it must be set after the child becomes its slot uid: else a program
    outlives a killed worker for as long as it likes."""
    import threading

    from codefeedback_env.judge.pool import PoolOptions
    from tests.judge.processes import descendants, wait_until

    # an interpreter every uid can read (the test's own may sit in root's home), for the uid layer
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    with WorkerPoolBackend(1, python=python, options=PoolOptions(namespaces=False)) as backend:
        backend.start()
        if not backend.isolation_layers().get("uid"):
            pytest.skip("needs the pool's uid layer")
        (worker,) = backend.worker_pids()
        limits = Limits(time=30.0, memory=256 << 20, output=1 << 20)
        runner = threading.Thread(target=_run_until_lost, args=(backend, program, limits))
        runner.start()
        assert wait_until(lambda: any(_locked_down(pid) for pid in descendants(worker))), "the run never started"
        children = descendants(worker)
        os.kill(worker, signal.SIGKILL)
        try:
            assert wait_until(lambda: not any(_alive(pid) for pid in children)), "a program outlived its worker"
        finally:
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            runner.join(timeout=40)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().split(b") ")[-1][:1] != b"Z"
    except OSError:
        return False


def _run_until_lost(backend: WorkerPoolBackend, program: str, limits: Limits) -> None:
    try:
        backend.run_stdio(program, "", limits)
    except Exception:  # noqa: BLE001 - the worker is killed under it: WorkerLost, or a run on a new worker
        pass


def _locked_down(pid: int) -> bool:
    """Whether `pid` finished its lock-down (its seccomp filter is the last step)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            return b"Seccomp:\t2" in status.read()
    except OSError:
        return False
