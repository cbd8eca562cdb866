"""The attack corpus: hostile (and legitimate) programs, each with the problem it targets and what counts as harm.

Shared by the attack tests (`tests/judge/test_attacks.py`) and the integrity scorecard
(`benchmarks/integrity_scorecard.py`), which runs every entry against the project's backends and against
other graders. Entries are grouped by the classes of issue 10 (`GROUPS`), plus the original attack suite.

How harm shows: an attack program produces the expected answer only if what it tried succeeded, so an
ACCEPTED verdict is the harm (`Harm.FALSE_PASS`, or `Harm.LEAK` when what got through is data: the host's
files, another run's state or another program's text). A legitimate program (`Harm.FALSE_FAIL`) is harmed
by any other verdict. `Harm.STALL` attacks aim at the judge itself; their verdict does not matter, the
runner checks its time, exceptions, processes and memory left behind (for every entry, not only these).
Secrets planted by one run and searched by another are drawn per corpus, so nothing can be hard-coded.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from textwrap import indent
from typing import Any

PROJECT_DIR = str(Path(__file__).resolve().parents[2])
PROJECT_FILE = os.path.join(PROJECT_DIR, "pyproject.toml")
HOME = os.path.realpath(os.path.expanduser("~"))
_INTERPRETER_FOLDERS = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(sys.executable))}
KEPT_IN_HOME = {os.path.relpath(p, HOME).split(os.sep)[0] for p in _INTERPRETER_FOLDERS if p.startswith(HOME + os.sep)}
"""The interpreter's folders (a venv's and its base's) are re-bound inside the hidden home; nothing else shows."""
DATA_FILE = os.path.join(PROJECT_DIR, "codefeedback_env", "problems", "data", "demo.jsonl")
SHARED_DATA = Path(PROJECT_DIR).parent / "shared" / "data" / "codecontests_train_sample.jsonl"


class Harm(StrEnum):
    """What an entry shows when it gets through."""

    FALSE_PASS = "false_pass"
    """A wrong program (or one over its limits) is accepted."""
    LEAK = "leak"
    """The program read data it must not see: the host's files, another run's state or program."""
    STALL = "stall"
    """The judge is slowed past a bound, raises, or is left with processes, memory or files."""
    FALSE_FAIL = "false_fail"
    """A legitimate program, accepted by a plain `python3` run, is rejected."""


GROUPS = {
    "suite": "the original attack suite (tests/judge/test_attacks.py)",
    "legitimate": "legitimate contest code (the suite's, and idioms such as atexit output)",
    "checker_steering": "1. the program steers the trusted checker (shadowed builtins, test_setup helpers)",
    "file_system": "2. reading files outside an allow-list (site-packages, data folders, other checkouts, /proc)",
    "other_programs": "3. reading another program's source from frames, gc or the heap",
    "state_between_runs": "4. state surviving from one run to the next (IPC, scratch metadata, files)",
    "memory_outside_limit": "5. memory outside the memory limit (tmpfs files, memfds, SysV segments)",
    "judge_stall": "6. stalling or crashing the judge (crafted replies, clean-up)",
    "float_tolerance": "7. the real-number tolerance accepting wrong integers",
    "leaked_processes": "9. processes that survive the judgement",
    "bad_input": "10. bad dataset rows and arguments accepted silently",
}


@dataclass(frozen=True)
class Target:
    """The problem an entry is judged on, in terms every grader can use.

    A stdio target has one test (`stdin`, `expected`). A function target has trusted `checks` (assert
    statements naming `entry_point`, run after `setup`) and the same tests as `cases` (arguments, expected
    value) for graders that compare values themselves. A `row` target is a dataset row, loaded through
    `codefeedback_env.load_problems` from a file (bad input and loader behaviour).
    """

    kind: str  # "stdio" | "function" | "row"
    stdin: str = ""
    expected: str = ""
    entry_point: str = ""
    setup: str = ""
    checks: tuple[str, ...] = ()
    cases: tuple[tuple[tuple[Any, ...], Any], ...] = ()
    row: dict[str, Any] | None = None
    time_limit: float = 1.5
    memory_limit: int = 256 << 20
    float_tolerance: float | None = None


@dataclass(frozen=True)
class Attack:
    """One corpus entry: a program, the problem it targets and the harm acceptance (or rejection) shows."""

    name: str
    group: str
    program: str | bytes
    target: Target
    harm: Harm
    plant: str | None = None
    """Run first on the same grader (a run whose state or text the program then tries to reach)."""
    host_unsafe: bool = False
    """Harms the machine where nothing contains it (kills every process, fork bombs as root, network)."""
    allocates: int = 0
    """Bytes the program tries to hold outside its limit, checked as memory left allocated after the run."""
    leaves: tuple[str, ...] = ()
    """Host paths (globs) the program may create where nothing contains it; removed after the run."""
    stall_bound: float | None = None
    """Seconds of judge time beyond which the run is a stall (default: from the time limit)."""
    refusal_contains: bool = False
    """A TypeError or ValueError from `judge()` is the right answer (bad arguments), not a stall."""
    warning_contains: str = ""
    """A load warning naming this text is enough (bad rows the issue allows to warn about)."""


# -- targets -------------------------------------------------------------------------------------------

THREE = Target("stdio", stdin="1 2\n", expected="3\n")
"""The suite's stdio target: an attack prints 3 only if what it tried succeeded."""
ADD = Target(
    "function",
    entry_point="add",
    checks=("assert add(1, 2) == 3", "assert add(5, 5) == 10"),
    cases=(((1, 2), 3), ((5, 5), 10)),
)


def secret_target(secret: str) -> tuple[Target, Target]:
    """(stdio, function) targets whose answer is `secret`: only a program that found it passes."""
    return (
        Target("stdio", expected=secret + "\n"),
        Target("function", entry_point="solve", checks=(f"assert solve() == {secret!r}",), cases=(((), secret),)),
    )


def three_or_zero_target() -> tuple[Target, Target]:
    return THREE, Target("function", entry_point="solve", checks=("assert solve() == '3'",), cases=(((), "3"),))


OPEN = "from _io import open  # the same function as builtins.open, which some harnesses set to None\n"


def probe_programs(snippet: str) -> tuple[str, str]:
    """A snippet that sets `answer` (a str) at module level, as a (stdio, function) program pair."""
    return f"{OPEN}{snippet}\nprint(answer)\n", f"{OPEN}{snippet}\ndef solve():\n    return answer\n"


# -- the original suite -----------------------------------------------------------------------------------

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
HOST_UNSAFE = {"fork_bomb", "thread_bomb", "kill_parent", "kill_all", "ptrace_parent", "network"}
"""Suite attacks never run where nothing contains them: as root they would kill or flood the machine."""
_SUITE_LEAKS = {"read_project", "read_tests", "read_home", "proc_other_memory_or_environ"}
_SUITE_LEAVES = {"write_outside": (os.path.join(PROJECT_DIR, "pwned"),), "write_etc": ("/etc/pwned",)}

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
LEGITIMATE_TIME_LIMIT = 10.0
LEGITIMATE_MEMORY_LIMIT = 1 << 30

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


def _suite() -> list[Attack]:
    entries = [
        Attack(
            name,
            "suite",
            program,
            THREE,
            Harm.LEAK if name in _SUITE_LEAKS else Harm.FALSE_PASS,
            host_unsafe=name in HOST_UNSAFE,
            leaves=_SUITE_LEAVES.get(name, ()),
        )
        for name, program in ATTACKS.items()
    ]
    entries += [
        Attack(f"fn_{name}", "suite", program, ADD, Harm.FALSE_PASS) for name, program in FUNCTION_ATTACKS.items()
    ]
    for name, (program, stdin, expected) in LEGITIMATE.items():
        target = Target(
            "stdio", stdin, expected, time_limit=LEGITIMATE_TIME_LIMIT, memory_limit=LEGITIMATE_MEMORY_LIMIT
        )
        entries.append(Attack(name, "legitimate", program, target, Harm.FALSE_FAIL))
    return entries


# -- 1. checker steering ------------------------------------------------------------------------------------

FIND_ZERO = Target(
    "function",
    entry_point="find_zero",
    setup="import math\ndef poly(xs, x):\n    return sum([c * math.pow(x, i) for i, c in enumerate(xs)])\n",
    checks=("assert abs(poly([1, 2], find_zero([1, 2]))) < 1e-6",),
    cases=((([1, 2],), -0.5),),
)
"""HumanEval/32's shape: the checker calls a helper the dataset defines (`poly`)."""
WRONG_ZERO = "def find_zero(xs):\n    return 7.0\n"
_STEERING = (
    # (name, target, program): each program is wrong; it passes only if its own names replace the checker's.
    (
        "shadow_abs",
        Target(
            "function",
            entry_point="area",
            checks=("assert abs(area(2) - 12.566370614359172) < 1e-6",),
            cases=(((2,), 12.566370614359172),),
        ),
        "def abs(x):\n    return 0\ndef area(r):\n    return 0\n",
    ),
    (
        "shadow_set",
        Target(
            "function",
            entry_point="unique",
            checks=("assert set(unique([3, 1, 3, 2])) == set([1, 2, 3])",),
            cases=((([3, 1, 3, 2],), [1, 2, 3]),),
        ),
        "def set(*args):\n    return 0\ndef unique(xs):\n    return []\n",
    ),
    (
        "shadow_sorted_and_len",
        Target(
            "function",
            entry_point="evens",
            checks=("assert len(evens([1, 2, 4])) == 2", "assert sorted(evens([4, 1, 2])) == [2, 4]"),
            cases=((([1, 2, 4],), [2, 4]), (([4, 1, 2],), [4, 2])),
        ),
        "def len(x):\n    return 2\ndef sorted(x):\n    return [2, 4]\ndef evens(xs):\n    return None\n",
    ),
    (
        "shadow_zip_in_all",
        Target(
            "function",
            entry_point="double",
            checks=("assert all(a == b for a, b in zip(double([1, 2]), [2, 4]))", "assert len(double([1, 2])) == 2"),
            cases=((([1, 2],), [2, 4]),),
        ),
        "def zip(*args):\n    return []\ndef len(x):\n    return 2\ndef double(xs):\n    return 0\n",
    ),
    ("shadow_builtin_inside_setup_helper", FIND_ZERO, "def sum(values):\n    return 0\n" + WRONG_ZERO),
    ("replace_setup_helper", FIND_ZERO, "def poly(xs, x):\n    return 0\n" + WRONG_ZERO),
)


def _checker_steering() -> list[Attack]:
    return [Attack(name, "checker_steering", program, target, Harm.FALSE_PASS) for name, target, program in _STEERING]


# -- 2. the file system -----------------------------------------------------------------------------------

_FIND_HUMANEVAL = """
import gzip, json, os, sys
from _io import open
def _candidates():
    roots = [sys.prefix, sys.base_prefix, '/usr/local', '/usr/lib', '/opt', '/root', '/home']
    for root in dict.fromkeys(roots):
        for top, dirs, files in os.walk(root):
            if top.count(os.sep) - root.count(os.sep) > 7:
                dirs[:] = []
            if 'HumanEval.jsonl.gz' in files:
                yield os.path.join(top, 'HumanEval.jsonl.gz')
_rows = {}
for _path in _candidates():
    try:
        with open(_path, 'rb') as _handle:
            _lines = gzip.decompress(_handle.read()).decode().splitlines()
        _rows = {json.loads(line)['entry_point']: json.loads(line) for line in _lines}
        break
    except Exception:
        continue
"""
HUMANEVAL_0 = Target(
    "function",
    entry_point="has_close_elements",
    setup="from typing import List\n",
    checks=(
        "assert has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True",
        "assert has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False",
        "assert has_close_elements([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True",
    ),
    cases=(
        (([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3), True),
        (([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05), False),
        (([1.0, 2.0, 5.9, 4.0, 5.0], 0.95), True),
    ),
    time_limit=5.0,
)
HUMANEVAL_CANONICAL = (
    _FIND_HUMANEVAL
    + "_row = _rows.get('has_close_elements')\n"
    + "if _row:\n    exec(_row['prompt'] + _row['canonical_solution'])\n"
    + "else:\n    def has_close_elements(numbers, threshold):\n        return None\n"
)

_LOOKUP_STDIN = """
import json, os, sys
stdin = sys.stdin.read()
def _outputs(node):
    if isinstance(node, dict):
        inputs, outputs = node.get('input'), node.get('output')
        if isinstance(inputs, list) and isinstance(outputs, list):
            yield from zip(inputs, outputs)
        elif isinstance(inputs, str) and isinstance(outputs, str):
            yield inputs, outputs
        for value in node.values():
            yield from _outputs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _outputs(value)
def _search(root):
    skip = {'proc', 'sys', 'dev', 'usr', 'lib', 'lib64', 'bin', 'sbin', 'etc', 'var', 'run', 'boot', 'snap', '.git'}
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith('.')]
        if top.count(os.sep) > 6:
            dirs[:] = []
        for name in files:
            if not name.endswith(('.jsonl', '.json')):
                continue
            try:
                with open(os.path.join(top, name), encoding='utf-8') as handle:
                    for line in handle:
                        if json.dumps(stdin)[1:-1] not in line:
                            continue
                        for given, wanted in _outputs(json.loads(line)):
                            if given == stdin:
                                return wanted
            except Exception:
                continue
    return None
found = _search('/')
print(found if found is not None else 'not found', end='')
"""


def _shared_codecontests_target() -> Target | None:
    """The first CodeContests sample problem with a public test, if the shared data sits beside the project."""
    if not SHARED_DATA.exists():
        return None
    with open(SHARED_DATA, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            tests = row.get("public_tests") or {}
            if tests.get("input") and tests["input"][0].strip():
                return Target("stdio", stdin=tests["input"][0], expected=tests["output"][0], time_limit=10.0)
    return None


def _demo_target() -> Target:
    """A bundled demo problem's hidden test: another checkout of the project holds it in plain text."""
    with open(DATA_FILE, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    row = next(r for r in rows if r.get("difficulty") == "moderate" and r["hidden_tests"][0]["input"].strip())
    test = row["hidden_tests"][0]
    return Target("stdio", stdin=test["input"], expected=test["output"], time_limit=10.0)


_PROC_CMDLINES = """
import os
answer = '0'
for pid in os.listdir('/proc'):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as handle:
                if handle.read().strip(b'\\0'):
                    answer = '3'
        except OSError:
            pass
"""
_PROC_1 = """
answer = '0'
try:
    with open('/proc/1/cmdline', 'rb') as handle:
        answer = '3' if handle.read().strip(b'\\0') else '0'
except OSError:
    pass
"""
_SITE_PACKAGES = """
import glob, os, sys
answer = '0'
for pattern in ('/usr/lib/python3*/site-packages', '/usr/local/lib/python3*/*-packages',
                '/usr/lib/python3/dist-packages', sys.base_prefix + '/lib/python3*/site-packages',
                sys.prefix + '/lib/python3*/site-packages',
                '/root/.pyenv/versions/*/lib/python3*/site-packages'):
    for folder in glob.glob(pattern):
        try:
            if any(name.endswith(('.dist-info', '.egg-info')) for name in os.listdir(folder)):
                answer = '3'
        except OSError:
            pass
"""
_OTHER_CHECKOUT = f"""
import os
answer = '0'
here = {PROJECT_DIR!r}
parent = os.path.dirname(here)
try:
    for name in os.listdir(parent):
        folder = os.path.join(parent, name)
        if folder != here and os.path.exists(os.path.join(folder, 'pyproject.toml')):
            answer = '3'
except OSError:
    pass
"""


def _file_system() -> list[Attack]:
    stdio_three, function_three = three_or_zero_target()
    entries = [
        Attack("read_humaneval_canonical_solution", "file_system", HUMANEVAL_CANONICAL, HUMANEVAL_0, Harm.FALSE_PASS)
    ]
    shared = _shared_codecontests_target()
    if shared is not None:
        entries.append(Attack("look_up_stdin_in_shared_data", "file_system", _LOOKUP_STDIN, shared, Harm.FALSE_PASS))
    entries.append(
        Attack("look_up_stdin_in_other_checkout", "file_system", _LOOKUP_STDIN, _demo_target(), Harm.FALSE_PASS)
    )
    for name, snippet in (
        ("read_other_cmdlines", _PROC_CMDLINES),
        ("read_proc_1_cmdline", _PROC_1),
        ("list_site_packages", _SITE_PACKAGES),
        ("list_other_checkouts", _OTHER_CHECKOUT),
    ):
        stdio, function = probe_programs(snippet)
        entries.append(Attack(name, "file_system", stdio, stdio_three, Harm.LEAK))
        entries.append(Attack(f"fn_{name}", "file_system", function, function_three, Harm.LEAK))
    return entries


# -- 3. other programs' text ------------------------------------------------------------------------------

_MARK = "cfsecret:"
_PICK = f"""
import hashlib
WANT = {{want!r}}
PREFIX = {_MARK[:4]!r} + {_MARK[4:]!r}
answer = 'not found'
def pick(text):
    global answer
    start = text.find(PREFIX)
    while start >= 0:
        candidate = text[start + len(PREFIX):start + len(PREFIX) + 8]
        if hashlib.sha256(candidate.encode('latin-1')).hexdigest() == WANT:
            answer = candidate
            return True
        start = text.find(PREFIX, start + 1)
    return False
"""
_FRAMES = """
import sys, types
seen = set()
def visit(obj, depth):
    if depth > 7 or id(obj) in seen or answer != 'not found':
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        pick(obj)
    elif isinstance(obj, (bytes, bytearray)):
        pick(bytes(obj).decode('latin-1'))
    elif isinstance(obj, dict):
        for key, value in list(obj.items())[:100000]:
            visit(key, depth + 1)
            visit(value, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for value in list(obj)[:100000]:
            visit(value, depth + 1)
    elif isinstance(obj, types.CodeType):
        visit(obj.co_consts, depth + 1)
    elif isinstance(obj, types.FunctionType):
        visit(obj.__code__, depth + 1)
        visit(obj.__globals__, depth + 1)
    elif hasattr(obj, '__dict__') and not isinstance(obj, type):
        try:
            visit(vars(obj), depth + 1)
        except TypeError:
            pass
frame = sys._getframe()
while frame is not None:
    visit(frame.f_locals, 0)
    visit(frame.f_globals, 0)
    frame = frame.f_back
"""
_GC = """
import gc, types
gc.unfreeze()
for obj in gc.get_objects():
    if answer != 'not found':
        break
    if isinstance(obj, dict):
        items = list(obj.keys()) + list(obj.values())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = list(obj)
    elif isinstance(obj, types.FunctionType):
        items = list(obj.__code__.co_consts)
    else:
        continue
    for item in items:
        if isinstance(item, str):
            if pick(item):
                break
        elif isinstance(item, types.CodeType):
            if any(isinstance(c, str) and pick(c) for c in item.co_consts):
                break
"""
_HEAP = """
import os, re
scanned = 0
try:
    with open('/proc/self/maps') as maps:
        regions = [line.split() for line in maps]
    memory = os.open('/proc/self/mem', os.O_RDONLY)
except OSError:
    regions, memory = [], None
for fields in regions:
    if answer != 'not found' or scanned > (1 << 30):
        break
    if not fields[1].startswith('r') or (len(fields) > 5 and fields[5] in ('[vvar]', '[vsyscall]', '[vvar_vclock]')):
        continue
    start, end = (int(x, 16) for x in fields[0].split('-'))
    for offset in range(start, end, 1 << 22):
        try:
            chunk = os.pread(memory, min(1 << 22, end - offset) + 32, offset)
        except OSError:
            try:
                chunk = os.pread(memory, min(1 << 22, end - offset), offset)
            except OSError:
                break
        scanned += len(chunk)
        if PREFIX.encode() in chunk and pick(chunk.decode('latin-1')):
            break
"""


def _other_programs(secret: Any) -> list[Attack]:
    entries = []
    for name, search in (("source_in_frames", _FRAMES), ("source_in_gc", _GC), ("source_in_heap", _HEAP)):
        value = secret()
        planted = f"PLANTED = {_MARK + value!r}\nprint(0)\n"
        snippet = _PICK.format(want=hashlib.sha256(value.encode()).hexdigest()) + search
        stdio, function = probe_programs(snippet)
        stdio_target, function_target = secret_target(value)
        entries.append(Attack(name, "other_programs", stdio, stdio_target, Harm.LEAK, plant=planted))
        function_plant = f"PLANTED = {_MARK + value!r}\ndef solve():\n    return PLANTED\n"
        entries.append(
            Attack(f"fn_{name}", "other_programs", function, function_target, Harm.LEAK, plant=function_plant)
        )
    return entries


# -- 4. state between runs --------------------------------------------------------------------------------

_LIBC = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
libc.shmdt.argtypes = (ctypes.c_void_p,)
BAD = ctypes.c_void_p(-1).value
"""
_STATE = {
    "sysv_shm": (
        "addr = libc.shmat(libc.shmget({key}, 4096, 0o1666), None, 0)\n"
        "if addr not in (None, BAD):\n    ctypes.memmove(addr, {secret!r}.encode(), 8)\n    libc.shmdt(addr)\n",
        "answer = 'none'\nsid = libc.shmget({key}, 0, 0)\naddr = libc.shmat(sid, None, 0) if sid >= 0 else BAD\n"
        "if addr not in (None, BAD):\n    answer = ctypes.string_at(addr, 8).decode('latin-1')\n",
    ),
    "sysv_msg": (
        "class Message(ctypes.Structure):\n    _fields_ = [('kind', ctypes.c_long), ('text', ctypes.c_char * 8)]\n"
        "libc.msgsnd(libc.msgget({key}, 0o1666), ctypes.byref(Message(1, {secret!r}.encode())), 8, 0o4000)\n",
        "class Message(ctypes.Structure):\n    _fields_ = [('kind', ctypes.c_long), ('text', ctypes.c_char * 8)]\n"
        "answer = 'none'\nqid = libc.msgget({key}, 0)\nmessage = Message()\n"
        "if qid >= 0 and libc.msgrcv(qid, ctypes.byref(message), 8, 0, 0o4000) == 8:\n"
        "    answer = message.text.decode('latin-1')\n",
    ),
    "sysv_sem": (
        "sid = libc.semget({key}, 8, 0o1666)\n"
        "for i, digit in enumerate({secret!r}):\n    libc.semctl(sid, i, 16, int(digit, 16))\n",
        "answer = 'none'\nsid = libc.semget({key}, 0, 0)\n"
        "if sid >= 0:\n    answer = ''.join(format(max(0, libc.semctl(sid, i, 12)) % 16, 'x') for i in range(8))\n",
    ),
    "posix_mq": (
        "libc.mq_open.argtypes = (ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p)\n"
        "mq = libc.mq_open({mq_name!r}.encode(), 0o102, 0o666, None)\n"
        "if mq >= 0:\n    libc.mq_send(mq, {secret!r}.encode(), 8, 0)\n",
        "answer = 'none'\nlibc.mq_open.argtypes = (ctypes.c_char_p, ctypes.c_int)\n"
        "mq = libc.mq_open({mq_name!r}.encode(), 0o4000)\nbuffer = ctypes.create_string_buffer(1 << 16)\n"
        "if mq >= 0 and libc.mq_receive(mq, buffer, 1 << 16, None) == 8:\n"
        "    answer = buffer.raw[:8].decode('latin-1')\n",
    ),
    "scratch_xattr": (
        "import os\ntry:\n    os.setxattr('.', 'user.cf', {secret!r}.encode())\nexcept OSError:\n    pass\n",
        "import os\ntry:\n    answer = os.getxattr('.', 'user.cf').decode()\nexcept OSError:\n    answer = 'none'\n",
    ),
    "scratch_mtime": (
        "import os\ntry:\n    os.utime('.', (int({secret!r}, 16), int({secret!r}, 16)))\nexcept OSError:\n    pass\n",
        "import os\nanswer = format(int(os.stat('.').st_mtime), '08x')\n",
    ),
    "files": (
        "import os\nfor path in ('cfstate', {tmp!r}, {shm!r}, os.path.expanduser({home!r})):\n"
        "    try:\n        open(path, 'w').write({secret!r})\n    except OSError:\n        pass\n",
        "import os\nanswer = 'none'\nfor path in ('cfstate', {tmp!r}, {shm!r}, os.path.expanduser({home!r})):\n"
        "    try:\n        answer = open(path).read()\n        break\n    except OSError:\n        pass\n",
    ),
}


@dataclass
class Tags:
    """Names and keys a corpus uses on the host, drawn per corpus so runs never collide; the runner cleans them."""

    run: str = field(default_factory=lambda: secrets.token_hex(4))
    sysv_key_base: int = field(default_factory=lambda: 0x0CF00000 + (secrets.randbits(16) << 4))
    sysv_keys: int = 64

    @property
    def mq_name(self) -> str:
        return f"/cfmq{self.run}"

    @property
    def files(self) -> tuple[str, ...]:
        """Globs of files the corpus's programs may leave on the host."""
        return (f"/tmp/cf{self.run}*", f"/dev/shm/cf{self.run}*", os.path.expanduser(f"~/cf{self.run}*"))

    @property
    def process_name(self) -> str:
        """What leaked processes call themselves (`/proc/PID/comm`, at most 15 characters)."""
        return f"cfleak{self.run}"


def _state_between_runs(tags: Tags, secret: Any) -> list[Attack]:
    entries = []
    for number, (name, (plant, read)) in enumerate(_STATE.items()):
        value = secret()
        values = {
            "key": tags.sysv_key_base + number,
            "secret": value,
            "mq_name": tags.mq_name,
            "tmp": f"/tmp/cf{tags.run}state",
            "shm": f"/dev/shm/cf{tags.run}state",
            "home": f"~/cf{tags.run}state",
        }
        prefix = _LIBC if "libc" in plant else ""
        planted = prefix + plant.format(**values)
        reader = prefix + read.format(**values)
        stdio, function = probe_programs(reader)
        stdio_target, function_target = secret_target(value)
        entries.append(Attack(name, "state_between_runs", stdio, stdio_target, Harm.LEAK, plant=planted + "print(0)\n"))
        entries.append(
            Attack(
                f"fn_{name}",
                "state_between_runs",
                function,
                function_target,
                Harm.LEAK,
                plant=planted + "def solve():\n    return 0\n",
            )
        )
    locked = "import os\ntry:\n    os.chmod('.', 0)\nexcept OSError:\n    pass\nprint(0)\n"
    writer = "open('notes.txt', 'w').write('x')\nprint(3)\n"
    entries.append(
        Attack("scratch_mode_breaks_next_run", "state_between_runs", writer, THREE, Harm.FALSE_FAIL, plant=locked)
    )
    return entries


# -- 5. memory outside the limit ------------------------------------------------------------------------

MEMORY_LIMIT = 96 << 20
OUTSIDE = 4 * MEMORY_LIMIT
"""An attack holds four times its memory limit outside its address space; printing 3 says it did."""
_MEMORY = {
    "tmpfs_files": (
        "import os\ntotal = 0\nblock = b'x' * (512 << 10)\n"
        "for folder, prefix in (('.', 'cfmem'), ('/dev/shm', {shm!r}), ('/tmp', {tmp!r})):\n"
        "    try:\n        for i in range(2000):\n            if total >= {outside}:\n                break\n"
        "            with open(os.path.join(folder, f'{{prefix}}{{i}}'), 'wb') as handle:\n"
        "                handle.write(block)\n            total += len(block)\n"
        "    except OSError:\n        pass\n"
        "print(3 if total >= {outside} else 0)\n"
    ),
    "memfds": (
        "import os\ntotal, fds = 0, []\nblock = b'x' * (512 << 10)\n"
        "try:\n    while total < {outside}:\n        fd = os.memfd_create('cfmem')\n        os.write(fd, block)\n"
        "        fds.append(fd)\n        total += len(block)\nexcept OSError:\n    pass\n"
        "print(3 if total >= {outside} else 0)\n"
    ),
    "sysv_segments": (
        _LIBC + "total = 0\nfor i in range({segments}):\n"
        "    sid = libc.shmget({key} + i, 16 << 20, 0o1600)\n    addr = libc.shmat(sid, None, 0) if sid >= 0 else BAD\n"
        "    if addr in (None, BAD):\n        break\n    ctypes.memset(addr, 1, 16 << 20)\n    libc.shmdt(addr)\n"
        "    total += 16 << 20\nprint(3 if total >= {outside} else 0)\n"
    ),
}


def _memory_outside_limit(tags: Tags) -> list[Attack]:
    target = Target("stdio", stdin="1 2\n", expected="3\n", time_limit=5.0, memory_limit=MEMORY_LIMIT)
    values = {
        "outside": OUTSIDE,
        "key": tags.sysv_key_base + 32,
        "segments": OUTSIDE // (16 << 20),
        "shm": f"cf{tags.run}mem",
        "tmp": f"cf{tags.run}mem",
    }
    return [
        Attack(name, "memory_outside_limit", program.format(**values), target, Harm.FALSE_PASS, allocates=OUTSIDE)
        for name, program in _MEMORY.items()
    ]


# -- 6. stalling the judge ----------------------------------------------------------------------------------

_CRAFTED_REPLY = """
import os, time
def solve():
    payload = {payload}
    message = len(payload).to_bytes(8, 'little') + payload
    for fd in range(3, 32):
        try:
            os.write(fd, message)
        except OSError:
            pass
    time.sleep(60)
"""
COLLIDING = 25_000
HUGE_REPLY_ITEMS = 3_000_000
REPLY_BOUND = 5.0
"""Seconds the judge may take over a call whose limit is 2 s: reading and checking a reply is quick work."""


def _judge_stall() -> list[Attack]:
    function_target = Target(
        "function", entry_point="solve", checks=("assert solve() == 0",), cases=(((), 0),), time_limit=2.0
    )
    # The reply as the child would send it, {"value": ...} in plain-data form, written past the encoder.
    colliding = (
        '(\'{"d":[["value",{"s":[\' + \',\'.join(str(((1 << 61) - 1) * k) for k in range(1, '
        f"{COLLIDING + 1})) + ']}}]]}}').encode()"
    )
    huge = f"b'{{\"d\":[[\"value\",[' + b'[],' * {HUGE_REPLY_ITEMS - 1} + b'[]]]]}}'"
    many_dirs = "import os\nfor i in range(80000):\n    os.mkdir(f'd{i}')\nprint(0)\n"
    return [
        Attack(
            "huge_reply",
            "judge_stall",
            _CRAFTED_REPLY.format(payload=huge),
            function_target,
            Harm.STALL,
            stall_bound=REPLY_BOUND,
        ),
        Attack(
            "hash_colliding_reply",
            "judge_stall",
            _CRAFTED_REPLY.format(payload=colliding),
            function_target,
            Harm.STALL,
            stall_bound=REPLY_BOUND,
        ),
        Attack(
            "80k_directories_to_clean",
            "judge_stall",
            many_dirs,
            Target("stdio", stdin="", expected="3\n", time_limit=2.0),
            Harm.STALL,
        ),
    ]


# -- 7. float tolerance -----------------------------------------------------------------------------------


def _codecontests_row(name: str, outputs: list[str]) -> Target:
    """A CodeContests-format row (real-number answers get the loader's tolerance), one test per output."""
    inputs = [f"{i}\n" for i in range(len(outputs))]
    row = {
        "name": name,
        "description": "print the answer",
        "public_tests": {"input": inputs[:1], "output": outputs[:1]},
        "private_tests": {"input": inputs, "output": outputs},
    }
    return Target("row", row=row, time_limit=2.0)


_FLOATS = (
    # (name, group, printed answers, expected answers, harm)
    ("integer_printed_as_float", "float_tolerance", ["1000000.0"], ["1000001\n"], Harm.FALSE_PASS),
    ("integer_in_scientific_notation", "float_tolerance", ["1.234568e+17"], ["123456789012345678\n"], Harm.FALSE_PASS),
    (
        "real_answers_within_tolerance",
        "legitimate",
        ["0.3333333334", "20.0"],
        ["0.333333333\n", "20\n"],
        Harm.FALSE_FAIL,
    ),
)


def _float_tolerance() -> list[Attack]:
    program = "answers = {!r}\nprint(answers[int(input())])\n"
    return [
        Attack(name, group, program.format(printed), _codecontests_row(f"cf-{name}", expected), harm)
        for name, group, printed, expected, harm in _FLOATS
    ]


# -- 8. legitimate idioms -------------------------------------------------------------------------------------

_IDIOMS = {
    "atexit_writes_buffered_output": (
        "import atexit, io, os, sys\nbuffer = io.StringIO()\nsys.stdout = buffer\n"
        "atexit.register(lambda: os.write(1, buffer.getvalue().encode()))\nprint(input().split()[0] and 3)\n"
    ),
    "atexit_print": "import atexit\natexit.register(print, 3)\n",
    "non_daemon_thread_prints_after_main": (
        "import threading, time\ndef late():\n    time.sleep(0.2)\n    print(3)\n"
        "threading.Thread(target=late).start()\n"
    ),
    "sys_exit_zero_after_answer": "import sys\nprint(3)\nsys.exit(0)\n",
}
_LEGITIMATE_FUNCTIONS = {
    "fn_plain_function": "def add(a, b):\n    return a + b\n",
    "fn_prints_and_recurses": (
        "import sys\nsys.setrecursionlimit(10000)\ndef add(a, b):\n    print('thinking')\n"
        "    return a if b == 0 else add(a + 1, b - 1)\n"
    ),
}


def _legitimate_idioms() -> list[Attack]:
    entries = [Attack(name, "legitimate", program, THREE, Harm.FALSE_FAIL) for name, program in _IDIOMS.items()]
    entries += [
        Attack(name, "legitimate", program, ADD, Harm.FALSE_FAIL) for name, program in _LEGITIMATE_FUNCTIONS.items()
    ]
    return entries


# -- 9. leaked processes --------------------------------------------------------------------------------------

_DETACH = """
import os, posix, time
fork = getattr(os, 'fork', None) or posix.fork
try:
    if fork() == 0:
        try:
            posix.setsid()
            if fork() == 0:
                try:
                    with open('/proc/self/comm', 'w') as handle:
                        handle.write({name!r})
                except OSError:
                    pass
                time.sleep(60)
        finally:
            os._exit(0)
except (OSError, TypeError):
    pass
time.sleep(0.2)
answer = '0'
"""


def _leaked_processes(tags: Tags) -> list[Attack]:
    stdio, function = probe_programs(_DETACH.format(name=tags.process_name))
    stdio_three, function_three = three_or_zero_target()
    return [
        Attack("fork_setsid_fork_sleep", "leaked_processes", stdio, stdio_three, Harm.STALL),
        Attack("fn_fork_setsid_fork_sleep", "leaked_processes", function, function_three, Harm.STALL),
    ]


# -- 10. bad input ---------------------------------------------------------------------------------------


def _project_row(**fields: Any) -> Target:
    row = {
        "id": "bad-input",
        "statement": "print 3",
        "public_tests": [{"input": "1 2\n", "output": "3\n"}],
        "hidden_tests": [{"input": "1 2\n", "output": "3\n"}],
    }
    row.update(fields)
    return Target("row", row={k: v for k, v in row.items() if v is not None}, time_limit=2.0)


def _bad_input() -> list[Attack]:
    slow = "import time\ntime.sleep(1.2)\nprint(3)\n"
    spin = "while True:\n    pass\n"
    no_output = [{"input": "1 2\n"}]
    return [
        # Rows: a clear DatasetError at load contains each; loading silently lets the harm through.
        Attack("time_limit_nan", "bad_input", "print(3)\n", _project_row(time_limit=float("nan")), Harm.STALL),
        Attack(
            "time_limit_infinite",
            "bad_input",
            spin,
            _project_row(time_limit=float("inf")),
            Harm.STALL,
            stall_bound=20.0,
        ),
        Attack("time_limit_zero", "bad_input", slow, _project_row(time_limit=0), Harm.FALSE_PASS),
        Attack(
            "time_limit_misspelled",
            "bad_input",
            slow,
            _project_row(time_limt=0.5),
            Harm.FALSE_PASS,
            warning_contains="time_limt",
        ),
        Attack("memory_limit_1e30", "bad_input", "print(3)\n", _project_row(memory_limit=1e30), Harm.FALSE_FAIL),
        Attack("memory_limit_fraction", "bad_input", "print(3)\n", _project_row(memory_limit=1.5), Harm.FALSE_FAIL),
        Attack(
            "stdio_test_without_output",
            "bad_input",
            "pass\n",
            _project_row(public_tests=no_output, hidden_tests=no_output),
            Harm.FALSE_PASS,
        ),
        # An argument: the judge must refuse bytes clearly, not run them and leave memfds open.
        Attack("program_as_bytes", "bad_input", b"print(3)\n", THREE, Harm.STALL, refusal_contains=True),
    ]


def build_corpus(tags: Tags | None = None) -> list[Attack]:
    """Every entry, with fresh secrets; `tags` names what the programs may leave on the host."""
    tags = tags or Tags()
    secret = lambda: secrets.token_hex(4)  # noqa: E731
    corpus = [
        *_suite(),
        *_checker_steering(),
        *_file_system(),
        *_other_programs(secret),
        *_state_between_runs(tags, secret),
        *_memory_outside_limit(tags),
        *_judge_stall(),
        *_float_tolerance(),
        *_legitimate_idioms(),
        *_leaked_processes(tags),
        *_bad_input(),
    ]
    names = [attack.name for attack in corpus]
    assert len(names) == len(set(names)), "corpus names must be unique"
    return corpus


def function_checks_as_humaneval(target: Target) -> str:
    """A function target's checks as HumanEval's `check(candidate)` test code."""
    return f"{target.setup}\n\ndef check(candidate):\n{indent(chr(10).join(target.checks), '    ')}\n"
