"""`Judge.judge` refuses bad arguments with a clear error, before starting anything: nothing leaks."""

from __future__ import annotations

import os

import pytest

from codefeedback_env.judge import Judge, Verdict
from codefeedback_env.problems import Problem, TestCase

ECHO = Problem("echo", "Print the input.", (TestCase("1\n", "1\n"),), (TestCase("2\n", "2\n"),), time_limit=3.0)
PROGRAM = "print(input())"


@pytest.fixture(scope="module", params=["pool", "subprocess"])
def judge(request):
    with Judge(request.param) as backend_judge:
        yield backend_judge


def open_fds() -> list[str]:
    return sorted(os.listdir("/proc/self/fd"))


BAD_CALLS = [
    ((ECHO, PROGRAM.encode()), {}, TypeError, r"code must be the program's text \(str\), got bytes; decode it first"),
    ((ECHO, bytearray(b"print(1)")), {}, TypeError, "got bytearray; decode it first"),
    ((ECHO, None), {}, TypeError, "code must be the program's text"),
    ((ECHO.id, PROGRAM), {}, TypeError, "problem must be a codefeedback_env.problems.Problem, got str"),
    ((ECHO, PROGRAM, "publik"), {}, ValueError, r"tests must be one of \('public', 'hidden', 'generated', 'all'\)"),
    ((ECHO, PROGRAM, 5), {}, TypeError, "tests must be one of .* got int"),
    ((ECHO, PROGRAM, b"public"), {}, TypeError, "got bytes"),
    ((ECHO, PROGRAM, ["1\n"]), {}, TypeError, r"tests\[0\] must be a TestCase, got str"),
    ((ECHO, PROGRAM, [TestCase("1\n", "1\n"), ("2\n", "2\n")]), {}, TypeError, r"tests\[1\] must be a TestCase"),
    ((ECHO, PROGRAM), {"stop_on_failure": "yes"}, TypeError, "stop_on_failure must be a bool, got str"),
]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts file descriptors through /proc")
def test_bad_arguments_raise_clearly_and_leak_no_descriptor(judge):
    assert judge.judge(ECHO, PROGRAM).passed  # the backend is up: its own descriptors are open
    before = open_fds()
    for args, kwargs, error, message in BAD_CALLS:
        for _ in range(3):
            with pytest.raises(error, match=message):
                judge.judge(*args, **kwargs)
    assert open_fds() == before
    assert judge.judge(ECHO, PROGRAM, "all").passed  # and it keeps serving


def test_explicit_tests_may_be_any_sequence_of_test_cases(judge):
    cases = [TestCase("7\n", "7\n"), TestCase("8\n", "9\n")]
    assert [r.verdict for r in judge.judge(ECHO, PROGRAM, cases).results] == [Verdict.ACCEPTED, Verdict.WRONG_ANSWER]
    assert [r.verdict for r in judge.judge(ECHO, PROGRAM, iter(cases[:1])).results] == [Verdict.ACCEPTED]
    assert judge.judge(ECHO, PROGRAM, ()).results == ()


def test_code_that_cannot_be_encoded_is_a_syntax_error_without_leaks(judge):
    before = open_fds()
    (result,) = judge.judge(ECHO, "x = '\udc80'\nprint(input())", "public").results
    assert result.verdict is Verdict.SYNTAX_ERROR and "UnicodeEncodeError" in result.detail
    assert open_fds() == before
