"""Attack suite: hostile programs must end without a pass, leave nothing running, and the pool keeps serving.

Every stdio attack runs on a problem whose answer is "3": an attack prints 3 only if what it tried
succeeded, so ACCEPTED means the attack got through. A few attacks also run on SubprocessBackend to
document what the portable backend does not prevent (it has no namespaces, uid switch or seccomp).
"""

from __future__ import annotations

import os
import sys

import pytest

from codefeedback_env.judge import Judge, Verdict
from codefeedback_env.judge.pool import WorkerPoolBackend
from codefeedback_env.judge.pool.backend import PROJECT_DIR
from codefeedback_env.judge.subprocess_backend import SubprocessBackend
from codefeedback_env.problems.records import Problem, ProblemKind, TestCase
from tests.judge.test_pool_backend import descendants

PROBLEM = Problem(
    id="three",
    statement="print 3",
    public_tests=(TestCase("1 2\n", "3\n"),),
    hidden_tests=(),
    time_limit=1.5,
    memory_limit=256 << 20,
)
PROJECT_FILE = os.path.join(PROJECT_DIR, "pyproject.toml")
HOME = os.path.realpath(os.path.expanduser("~"))
_INTERPRETER_FOLDERS = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(sys.executable))}
KEPT_IN_HOME = {os.path.relpath(p, HOME).split(os.sep)[0] for p in _INTERPRETER_FOLDERS if p.startswith(HOME + os.sep)}
"""The interpreter's folders (a venv's and its base's) are re-bound inside the hidden home; nothing else shows."""
DATA_FILE = os.path.join(PROJECT_DIR, "codefeedback_env", "problems", "data", "demo.jsonl")

ATTACKS = {
    "fork_bomb": "import os\nwhile True:\n    os.fork()\n",
    "thread_bomb": (
        "import threading, time\nthreads = []\nwhile True:\n"
        "    t = threading.Thread(target=time.sleep, args=(100,), daemon=True)\n    t.start()\n    threads.append(t)\n"
    ),
    "memory_bomb": "x = []\nwhile True:\n    x.append(bytearray(10 ** 7))\n",
    "loop_ignoring_signals": (
        "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGXCPU, signal.SIGHUP):\n"
        "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n"
    ),
    "sleep_forever": "import time\ntime.sleep(10 ** 6)\nprint(3)\n",
    "huge_stdout": "import sys\nwhile True:\n    sys.stdout.write('3\\n' * 10000)\n",
    "huge_stderr_then_answer": (
        "import sys\ntry:\n    sys.stderr.write('x' * (10 ** 8))\nexcept Exception:\n    pass\nprint(3)\n"
    ),
    "read_project": f"print(3 if open({PROJECT_FILE!r}).read() else 0)\n",
    "read_tests": f"print(3 if open({DATA_FILE!r}).read() else 0)\n",
    "read_home": f"import os\nprint(3 if set(os.listdir({HOME!r})) - {KEPT_IN_HOME!r} else 0)\n",
    "proc_other_memory_or_environ": (
        "import os\nfound = 0\nfor p in os.listdir('/proc'):\n"
        "    if p.isdigit() and int(p) != os.getpid():\n"
        "        for what in ('environ', 'mem', 'cmdline'):\n"
        "            try:\n                open(f'/proc/{p}/{what}', 'rb').read(1)\n"
        "                found += what != 'cmdline'\n            except OSError:\n                pass\n"
        "print(3 if found else 0)\n"
    ),
    "write_outside": f"open({os.path.join(PROJECT_DIR, 'pwned')!r}, 'w').write('x')\nprint(3)\n",
    "write_etc": "open('/etc/pwned', 'w').write('x')\nprint(3)\n",
    "network": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\nprint(3)\n",
    "inet_socket": "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nprint(3)\n",
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint(3)\n",
    "kill_all": "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint(3)\n",
    "ptrace_parent": (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print(3 if libc.ptrace(16, os.getppid(), 0, 0) == 0 else 0)\n"
    ),
    "exec_shell": "import os\nos.execv('/bin/sh', ['sh', '-c', 'echo 3'])\n",
    "posix_system": "import posix\nposix.system('echo 3')\n",
    "subprocess": "import subprocess\nprint(subprocess.check_output(['echo', '3']).decode(), end='')\n",
    "ctypes_unshare": (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print(3 if libc.unshare(0x10000000) == 0 or libc.unshare(0x40000000) == 0 else 0)\n"
    ),
    "raise_rlimit": "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (-1, -1))\nprint(3)\n",
    "close_stdout": "import os\nos.close(1)\nprint(3)\n",
    "sys_exit_first": "import sys\nsys.exit(0)\nprint(3)\n",
    "os_exit_first": "import os\nos._exit(0)\nprint(3)\n",
    "fake_passed_marker": "print('ACCEPTED: all tests passed')\nprint('{\"passed\": true}')\n",
    "gc_search": (
        "import gc\nfor o in gc.get_objects():\n"
        "    if isinstance(o, list) and o and o[0] in ('3', '3\\n', b'3\\n'):\n        print(3)\n        break\n"
    ),
}
LEGITIMATE = {
    "fast_stdin": (
        "import sys\nprint(sum(map(int, sys.stdin.buffer.read().split())))\n",
        " ".join(["1"] * 100000),
        "100000\n",
    ),
    "deep_recursion_in_thread": (
        "import sys, threading\nsys.setrecursionlimit(10 ** 6)\nthreading.stack_size(128 * 1024 * 1024)\n"
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "out = []\nt = threading.Thread(target=lambda: out.append(depth(100000)))\n"
        "t.start()\nt.join()\nprint(out[0])\n",
        "",
        "100000\n",
    ),
    "deep_recursion_in_main_thread": (
        "import sys\nsys.setrecursionlimit(10 ** 6)\ndef depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "print(depth(100000))\n",
        "",
        "100000\n",
    ),
    "fast_io_wrapper_flushed_when_collected": (
        "import os, sys\nfrom io import BytesIO, IOBase\n"
        "class Out(IOBase):\n    def __init__(self):\n        self.buffer = BytesIO()\n"
        "    def write(self, s):\n        self.buffer.write(s.encode())\n"
        "    def flush(self):\n        os.write(1, self.buffer.getvalue())\n        self.buffer = BytesIO()\n"
        "stdout = Out()\nprint(1)\nstdout.write('2\\n')\n",
        "",
        "1\n2\n",
    ),
    "exit_builtin": ("print(5)\nexit()\n", "", "5\n"),
    "quit_builtin_with_status": ("print(5)\nquit(0)\n", "", "5\n"),
    "hundreds_of_mb_of_lists": ("x = [0] * (4 * 10 ** 7)\ny = list(x)\nprint(len(x) + len(y))\n", "", "80000000\n"),
}


@pytest.fixture(scope="module")
def pool_judge():
    with Judge(backend=WorkerPoolBackend(2), max_workers=2) as judge:
        judge.backend.start()
        yield judge


def _assert_contained(judge: Judge, problem: Problem, program: str) -> None:
    """The attack does not pass, the pool keeps serving, and nothing it started is left running."""
    baseline = len(descendants())
    result = judge.judge(problem, program).results[0]
    assert result.verdict is not Verdict.ACCEPTED, result
    assert judge.judge(PROBLEM, "print(3)").passed, "the pool stopped serving"
    assert len(descendants()) == baseline, "a process was left running"


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_contained(pool_judge, name):
    _assert_contained(pool_judge, PROBLEM, ATTACKS[name])
    assert not os.path.exists(os.path.join(PROJECT_DIR, "pwned")) and not os.path.exists("/etc/pwned")


@pytest.mark.parametrize("name", sorted(LEGITIMATE))
def test_legitimate_contest_code_works(pool_judge, name):
    program, stdin, expected = LEGITIMATE[name]
    problem = Problem("legit", "", (TestCase(stdin, expected),), (), time_limit=10.0, memory_limit=1 << 30)
    result = pool_judge.judge(problem, program).results[0]
    assert result.verdict is Verdict.ACCEPTED, result


def test_files_do_not_leak_between_tests(pool_judge):
    writer = (
        "open('leak', 'w').write('3')\ntry:\n    open('/dev/shm/leak', 'w').write('3')\nexcept OSError:\n    pass\n"
    )
    reader = (
        "import os\nfor path in ('leak', '/dev/shm/leak', '/tmp/leak'):\n"
        "    if os.path.exists(path):\n        print(3)\n        break\n"
    )
    for _ in range(3):  # both slots
        pool_judge.judge(PROBLEM, writer)
        assert not pool_judge.judge(PROBLEM, reader).passed


FUNCTION_PROBLEM = Problem(
    id="add",
    statement="",
    public_tests=(TestCase("assert add(1, 2) == 3\nassert add(5, 5) == 10"),),
    hidden_tests=(),
    kind=ProblemKind.FUNCTION,
    time_limit=1.5,
    memory_limit=256 << 20,
    entry_point="add",
)
FUNCTION_ATTACKS = {
    "eq_always_true": (
        "class Yes:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Yes()\n"
    ),
    "int_subclass_eq": (
        "class Yes(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return Yes(7)\n"
    ),
    "patch_checker": (
        "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n"
        "def add(a, b):\n    raise SystemExit(0)\n"
    ),
    "gc_find_results": (
        "import gc\ndef add(a, b):\n    for o in gc.get_objects():\n"
        "        if isinstance(o, dict) and 'passed' in o:\n            o['passed'] = True\n    return 0\n"
    ),
    "exit_during_call": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "fork_in_call": "import os\ndef add(a, b):\n    os.fork()\n    return a + b\n",
}


@pytest.mark.parametrize("name", sorted(FUNCTION_ATTACKS))
def test_function_attack_is_contained(pool_judge, name):
    _assert_contained(pool_judge, FUNCTION_PROBLEM, FUNCTION_ATTACKS[name])


@pytest.mark.parametrize("name", ["read_project", "inet_socket", "proc_other_memory_or_environ"])
def test_portable_backend_difference_is_documented(name):
    """What the portable backend lets through and the pool stops (no namespaces, no seccomp, same uid)."""
    with Judge(SubprocessBackend(), max_workers=1) as judge:
        assert judge.judge(PROBLEM, ATTACKS[name]).passed


def test_unix_sockets_cannot_connect_but_socketpair_works(pool_judge):
    connect = "import socket\ns = socket.socket(socket.AF_UNIX)\nprint(3)\n"
    assert pool_judge.judge(PROBLEM, connect).results[0].verdict is Verdict.RUNTIME_ERROR
    pair = "import socket\na, b = socket.socketpair()\na.send(b'3')\nprint(b.recv(1).decode())\n"
    assert pool_judge.judge(PROBLEM, pair).passed
