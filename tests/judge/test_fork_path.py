"""What the pool's fork path must keep while it is made cheaper: a child is a full interpreter for the program.

The worker prepares what every child shares once (it freezes its objects out of the collector's view, binds
the C library's symbols at start, sets no_new_privs for itself and so for every child), so these tests pin
what a program sees of it: the garbage collector, weak references and finalizers behave as under
`python3 solution.py`, alone and as queued tests of one program (a zygote forks them), and every child is
still under no_new_privs and its own seccomp filter. The portable backend shares the child's runtime (how a
program ends), so it is checked against `python3` too.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.pool import WorkerPoolBackend
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


def test_every_child_has_no_new_privs_and_a_seccomp_filter(solo):
    if not solo.isolation_layers()["seccomp"]:
        pytest.skip("no seccomp layer on this machine")
    with ThreadPoolExecutor(2) as executor:
        outcomes = list(executor.map(lambda _: solo.run_stdio(STATUS_PROBE, "", LIMITS), range(6)))
    outcomes.append(solo.run_stdio(STATUS_PROBE, "", LIMITS))
    for outcome in outcomes:
        assert outcome.stdout == b"1 2\n", (outcome.stdout, outcome.stderr)  # 2: SECCOMP_MODE_FILTER
