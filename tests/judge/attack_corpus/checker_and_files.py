"""Classes 1 and 2 of issue 10: steering the trusted checker, reading files outside an allow-list."""

from __future__ import annotations

import json

from tests.judge.attack_corpus.records import (
    DATA_FILE,
    PROJECT_DIR,
    SHARED_DATA,
    Attack,
    Harm,
    Target,
    probe_programs,
    three_or_zero_target,
)

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
    (
        "define_candidate",
        Target(
            "function",
            entry_point="add",
            checks=("assert candidate(1, 2) == 3",),
            cases=(((1, 2), 3),),
        ),
        "def add(a, b):\n    return 0\ndef candidate(a, b):\n    return a + b\n",
    ),
)


COUNT = Target(
    "function", entry_point="count", checks=("assert sum(1 for _ in range(count())) == 3",), cases=(((), 3),)
)
"""Checker work driven by a returned value: a program returning 10**15 keeps the checker looping."""


SORTED = Target(
    "function",
    entry_point="solve",
    checks=("xs = [3, 1, 2]\nassert solve(xs) == sorted(xs)",),
    cases=((([3, 1, 2],), [1, 2, 3]),),
)
"""The checker passes its own list and compares with it afterwards: a program that empties it returns []."""


def checker_steering() -> list[Attack]:
    entries = [
        Attack(name, "checker_steering", program, target, Harm.FALSE_PASS) for name, target, program in _STEERING
    ]
    empties = "def solve(xs):\n    xs.clear()\n    return []\n"
    entries.append(Attack("empty_the_argument_compared_with", "checker_steering", empties, SORTED, Harm.FALSE_PASS))
    loop = "def count():\n    return 10 ** 15\n"
    entries.append(Attack("checker_loops_on_returned_value", "checker_steering", loop, COUNT, Harm.STALL))
    return entries


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


_JUDGE_CODE = """
import os, sys
answer = '0'
files = [getattr(module, '__file__', None) or '' for module in list(sys.modules.values())]
folders = {'/judge'} | {os.path.dirname(f) for f in files if 'codefeedback' in f or 'judge' in f or 'eval' in f}
for folder in folders:
    try:
        names = [n for n in os.listdir(folder) if n.endswith('.py')]
    except OSError:
        continue
    for name in names:
        try:
            open(os.path.join(folder, name), 'a').close()  # opened for writing, nothing written
            answer = '3'
        except OSError:
            pass
"""
"""The judge's own code (the worker's modules, the child bootstrap) must not be writable from a program."""


def file_system() -> list[Attack]:
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
    for name, snippet, harm in (
        ("read_other_cmdlines", _PROC_CMDLINES, Harm.LEAK),
        ("read_proc_1_cmdline", _PROC_1, Harm.LEAK),
        ("list_site_packages", _SITE_PACKAGES, Harm.LEAK),
        ("list_other_checkouts", _OTHER_CHECKOUT, Harm.LEAK),
        ("judge_code_writable", _JUDGE_CODE, Harm.FALSE_PASS),
    ):
        stdio, function = probe_programs(snippet)
        entries.append(Attack(name, "file_system", stdio, stdio_three, harm))
        entries.append(Attack(f"fn_{name}", "file_system", function, function_three, harm))
    return entries
