"""The judge on stdio and function problems, with both backends: one verdict per failure mode."""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Judge, Verdict
from codefeedback_env.problems import Problem, ProblemKind, TestCase
from tests.judge.processes import sleepers, wait_until

ADD = Problem(
    id="add",
    statement="Print a + b.",
    public_tests=(TestCase("1 2\n", "3\n"),),
    hidden_tests=(TestCase("5 5\n", "10\n"), TestCase("-1 1\n", "0\n")),
    time_limit=3.0,  # generous: CI machines are loaded by parallel tests
    memory_limit=256 << 20,
)
CORRECT = "a, b = map(int, input().split())\nprint(a + b)\n"


@pytest.fixture(scope="module", params=["pool", "subprocess"])
def judge(request):
    with Judge(request.param) as backend_judge:
        yield backend_judge


def verdicts(judge, code, problem=ADD, tests="all"):
    return [r.verdict for r in judge.judge(problem, code, tests).results]


def test_correct_program_is_accepted_on_every_test(judge):
    result = judge.judge(ADD, CORRECT, "all")
    assert result.passed and result.num_passed == 3
    assert result.results[0].stdout == "3\n"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("print(4)", Verdict.WRONG_ANSWER),
        ("import sys; sys.exit(0)", Verdict.WRONG_ANSWER),
        ("print('accepted'); print('ALL TESTS PASSED')", Verdict.WRONG_ANSWER),
        ("1/0", Verdict.RUNTIME_ERROR),
        ("import sys\nprint(3)\nsys.exit(3)", Verdict.RUNTIME_ERROR),
        ("while True:\n    pass", Verdict.TIME_LIMIT),
        ("import time\ntime.sleep(60)", Verdict.TIME_LIMIT),
        ("x = [0] * (10**10)", Verdict.MEMORY_LIMIT),
        ("print('x' * 10**7)", Verdict.OUTPUT_LIMIT),
        ("def f(:\n  pass", Verdict.SYNTAX_ERROR),
        ("print('\0')\x00", Verdict.SYNTAX_ERROR),
    ],
)
def test_failure_modes_get_their_verdict(judge, code, expected):
    assert verdicts(judge, code, tests="public") == [expected]


def test_runtime_error_carries_the_program_traceback_only(judge):
    (result,) = judge.judge(ADD, "def f():\n    return 1/0\nf()\n", "public").results
    assert result.verdict is Verdict.RUNTIME_ERROR
    assert result.detail.startswith("Traceback (most recent call last):")
    assert 'File "solution.py", line 2, in f' in result.detail
    assert "ZeroDivisionError" in result.detail
    assert "child_runtime" not in result.detail


def test_syntax_error_reads_like_the_interpreter(judge):
    (result,) = judge.judge(ADD, "print(1", "public").results
    assert "SyntaxError" in result.detail and "solution.py" in result.detail


def test_stop_on_failure_skips_remaining_tests(judge):
    many = Problem("many", "s", (), tuple(TestCase(f"{i}\n", "x\n") for i in range(12)), time_limit=1.0)
    result = judge.judge(many, "print(input())", "hidden", stop_on_failure=True)
    assert not result.passed
    assert Verdict.SKIPPED in {r.verdict for r in result.results}
    assert not any(r.verdict is Verdict.SKIPPED for r in result.failures)


def test_program_cannot_see_the_expected_output_or_the_judge_environment(judge, monkeypatch):
    monkeypatch.setenv("CODEFEEDBACK_SECRET", "hunter2")
    probe = "import os, sys\ndata = sys.stdin.read()\nprint(sorted(os.environ))\nprint(os.listdir('.'))\n"
    secret = Problem("secret", "s", (TestCase("in\n", "EXPECTED-OUTPUT-7f3a\n"),), (TestCase("", "x"),))
    (result,) = judge.judge(secret, probe, "public").results
    assert "EXPECTED-OUTPUT-7f3a" not in result.stdout
    assert "CODEFEEDBACK_SECRET" not in result.stdout
    assert "[]" in result.stdout  # an empty scratch directory


def test_processes_started_by_the_program_are_killed(judge):
    code = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30.0417)'])\n"
        "print(3)\n"
    )
    before = sleepers("time.sleep(30.0417)")
    # The portable backend lets the program start a process (then kills it); the pool refuses the fork.
    expected = Verdict.RUNTIME_ERROR if judge.backend.__class__.__name__ == "WorkerPoolBackend" else Verdict.ACCEPTED
    assert verdicts(judge, code, tests="public") == [expected]
    assert wait_until(lambda: sleepers("time.sleep(30.0417)") == before), "the program's child survived"


FUNCTION = Problem(
    id="fn",
    statement="add(a, b)",
    public_tests=(TestCase("assert add(1, 2) == 3"),),
    hidden_tests=(TestCase("assert add(2, 2) == 4"), TestCase("assert add(-1, 1) == 0")),
    kind=ProblemKind.FUNCTION,
    entry_point="add",
    time_limit=1.0,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("def add(a, b):\n    return a + b", Verdict.ACCEPTED),
        ("def add(a, b):\n    return a - b", Verdict.WRONG_ANSWER),
        ("def add(a, b):\n    raise ValueError('no')", Verdict.RUNTIME_ERROR),
        ("def add(a, b):\n    while True: pass", Verdict.TIME_LIMIT),
        ("class T(int):\n    def __eq__(s, o): return True\ndef add(a, b):\n    return T(99)", Verdict.WRONG_ANSWER),
        ("def add(a, b):\n    return object()", Verdict.WRONG_ANSWER),  # a stand-in, equal to nothing plain
        (
            "import functools\ndef add(a, b):\n    return functools.reduce(lambda x, _: [x], range(300), [])",
            Verdict.RUNTIME_ERROR,
        ),
        ("import os\ndef add(a, b):\n    os._exit(0)", Verdict.RUNTIME_ERROR),
        ("print('no function here')", Verdict.RUNTIME_ERROR),
        ("def add(a, b):\n    return [0] * (10**10)", Verdict.MEMORY_LIMIT),
    ],
)
def test_function_problems_are_checked_in_the_parent(judge, code, expected):
    assert set(verdicts(judge, code, FUNCTION)) == {expected}


def test_function_checker_reports_the_failed_assert_and_returned_value(judge):
    (result,) = judge.judge(FUNCTION, "def add(a, b):\n    return 7", "public").results
    assert result.detail == "AssertionError"
    assert result.stdout == "7"


@pytest.mark.parametrize(
    "code",
    [
        # `exit`/`quit` come from the site module, which the sandbox does not import: they must still work.
        "a, b = map(int, input().split())\nprint(a + b)\nexit()",
        "a, b = map(int, input().split())\nprint(a + b)\nquit(0)",
        # Deep recursion in the main thread and in a thread with a big stack, as contest code does.
        "import sys\nsys.setrecursionlimit(10**6)\n"
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "a, b = map(int, input().split())\nprint(a + b + depth(100000) - 100000)",
        "import sys, threading\nsys.setrecursionlimit(10**6)\nthreading.stack_size(1 << 27)\n"
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "def main():\n    a, b = map(int, input().split())\n    print(a + b + depth(200000) - 200000)\n"
        "t = threading.Thread(target=main)\nt.start()\nt.join()",
        # Fast stdin reading and a few hundred MB of lists.
        "import sys\na, b = map(int, sys.stdin.buffer.read().split())\nx = [0] * (25 * 10**6)\nprint(a + b)",
    ],
)
def test_legitimate_contest_code_is_accepted(judge, code):
    assert verdicts(judge, code, tests="public") == [Verdict.ACCEPTED]
