"""A judge whose own process runs optimized (`python -O`, `PYTHONOPTIMIZE`) keeps every check.

Function problems are checked by `assert` statements executed in the judge's process. Compiled with the
interpreter's own optimization level, `python -O train.py` (or `PYTHONOPTIMIZE=1` in a trainer's
environment) stripped them all, and every program passed every test: `return 0` solved HumanEval. The
judged program, too, must run as `python3 program.py` runs it (asserts kept), whatever flags started the
judge. Each case runs a fresh judge process with the flag, on both backends.
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
report = {"optimize": sys.flags.optimize}
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
print(json.dumps(report))
"""


@pytest.mark.parametrize("backend", ["pool", "subprocess"])
@pytest.mark.parametrize("how", ["-O", "-OO", "PYTHONOPTIMIZE=1"])
def test_an_optimized_judge_process_keeps_every_check(backend, how):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [PROJECT, os.environ.get("PYTHONPATH")]))}
    flags = [how] if how.startswith("-") else []
    if not flags:
        env["PYTHONOPTIMIZE"] = "1"
    done = subprocess.run(
        [sys.executable, *flags, "-c", SCRIPT, backend],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["optimize"] >= 1  # the judge's process really ran optimized
    assert report["return_zero"] == ["wrong_answer"] * 3
    assert report["return_none"] == ["wrong_answer"] * 3
    assert report["right"] == ["accepted"] * 3
    assert report["helper_wrong"] == ["wrong_answer"]
    assert report["helper_right"] == ["accepted"]
    assert report["program_assert"] == ["runtime_error"]  # as `python3 program.py`: the assert stops it
    assert report["program_debug"] == ["accepted"]
    assert report["function_program_assert"] == ["runtime_error"] * 3
