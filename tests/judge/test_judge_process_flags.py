"""The flags that started the judge's own process (a trainer's) change no verdict.

Function problems are checked by `assert` statements executed in the judge's process. Compiled with the
interpreter's own optimization level, `python -O train.py` (or `PYTHONOPTIMIZE=1` in a trainer's
environment) stripped them all, and every program passed every test: `return 0` solved HumanEval. With
warnings turned into errors (`-W error`, `PYTHONWARNINGS=error`, a test runner's filters), the judge's
syntax check rejected every program with an invalid escape such as `"\\d"` in a regular expression (a
syntax error where `python3` only warns), and checker code with one failed every program. The judged
program must run as `python3 program.py` runs it whatever flags started the judge. Each case runs a fresh
judge process with the flag, on both backends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = str(Path(__file__).resolve().parents[2])
SCRIPT = r"""
import json, sys
from codefeedback_env.judge import Judge
from codefeedback_env.problems import Problem, ProblemKind, TestCase

def function_problem(tests, setup=""):
    cases = tuple(TestCase(t) for t in tests)
    return Problem(id="fn", statement="", public_tests=cases[:1], hidden_tests=cases, kind=ProblemKind.FUNCTION,
                   entry_point="f", test_setup=setup, time_limit=3.0, memory_limit=256 << 20)

double = function_problem(["assert f(1) == 2\n", "assert f(2) == 4\n", "assert candidate(3) == 6\n"])
helper = function_problem(
    ["check(f(2), 4)\n"], setup="def check(got, want):\n    assert got == want, (got, want)\n"
)
stdio = Problem(id="s", statement="", public_tests=(TestCase("", "3\n"),), hidden_tests=(TestCase("", "3\n"),),
                time_limit=3.0, memory_limit=256 << 20)
import warnings
errors = ("error", Warning) in [(f[0], f[2]) for f in warnings.filters]
report = {"optimize": sys.flags.optimize, "warnings_are_errors": errors}
regex = function_problem(['import re\nassert f("a1b22") == re.findall("\\d+", "a1b22")\n'])
escapes = Problem(id="e", statement="", public_tests=(TestCase("a1b22\n", "['1', '22']\n"),),
                  hidden_tests=(TestCase("a1b22\n", "['1', '22']\n"),), time_limit=3.0, memory_limit=256 << 20)
with Judge(sys.argv[1]) as judge:
    def verdicts(problem, code):
        return [r.verdict.value for r in judge.judge(problem, code, "hidden").results]
    report["return_zero"] = verdicts(double, "def f(x):\n    return 0\n")
    report["return_none"] = verdicts(double, "def f(x):\n    pass\n")
    report["right"] = verdicts(double, "def f(x):\n    return 2 * x\n")
    report["helper_wrong"] = verdicts(helper, "def f(x):\n    return 5\n")
    report["helper_right"] = verdicts(helper, "def f(x):\n    return 4\n")
    report["program_assert"] = verdicts(stdio, "assert 1 == 2\nprint(3)\n")
    report["program_debug"] = verdicts(stdio, "print(3 if __debug__ else 0)\n")
    report["function_program_assert"] = verdicts(double, "def f(x):\n    assert x < 0\n    return 2 * x\n")
    escape_program = 'import re\nx = 1\nif x is 1:\n    print(re.findall("\\d+", input()))\n'
    report["escape_program"] = verdicts(escapes, escape_program)
    report["escape_checker_right"] = verdicts(regex, 'import re\ndef f(s):\n    return re.findall("\\d+", s)\n')
    report["escape_checker_wrong"] = verdicts(regex, "def f(s):\n    return ['1']\n")
    report["real_syntax_error"] = verdicts(escapes, 'print("\\d"\n')
print(json.dumps(report))
"""


FLAGS = {
    "-O": (["-O"], {}),
    "-OO": (["-OO"], {}),
    "PYTHONOPTIMIZE=1": ([], {"PYTHONOPTIMIZE": "1"}),
    "-W error": (["-W", "error"], {}),
    "PYTHONWARNINGS=error": ([], {"PYTHONWARNINGS": "error"}),
}


@pytest.mark.parametrize("backend", ["pool", "subprocess"])
@pytest.mark.parametrize("how", sorted(FLAGS))
def test_the_judge_process_flags_change_no_verdict(backend, how):
    flags, variables = FLAGS[how]
    path = os.pathsep.join(filter(None, [PROJECT, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, **variables}
    command = [sys.executable, *flags, "-c", SCRIPT, backend]
    done = subprocess.run(command, env=env, cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if "OPTIMIZE" in how or how.startswith("-O"):
        assert report["optimize"] >= 1  # the judge's process really ran optimized
    else:
        assert report["warnings_are_errors"]  # the judge's process really turned warnings into errors
    assert report["return_zero"] == ["wrong_answer"] * 3
    assert report["return_none"] == ["wrong_answer"] * 3
    assert report["right"] == ["accepted"] * 3
    assert report["helper_wrong"] == ["wrong_answer"]
    assert report["helper_right"] == ["accepted"]
    assert report["program_assert"] == ["runtime_error"]  # as `python3 program.py`: the assert stops it
    assert report["program_debug"] == ["accepted"]
    assert report["function_program_assert"] == ["runtime_error"] * 3
    assert report["escape_program"] == ["accepted"]  # `python3` warns about "\d" and `is 1`, and runs it
    assert report["escape_checker_right"] == ["accepted"]
    assert report["escape_checker_wrong"] == ["wrong_answer"]
    assert report["real_syntax_error"] == ["syntax_error"]
