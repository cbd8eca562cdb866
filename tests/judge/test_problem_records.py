"""Class 10 (bad input accepted silently): a `Problem` or `TestCase` built in code is checked like a dataset row.

`Problem(kind="function", ...)` compared `kind` by identity with the enum, so a plain string made a function
problem judged as stdio: its asserts became stdin and its expected outputs empty, and a program printing
nothing passed every test. Lists of tests, or a test whose input is bytes, failed deep inside the judge with
Python's own errors. Now each is a clear error naming the field, or (a string kind, a list of tests) taken as
what it says.
"""

from __future__ import annotations

import json

import pytest

from codefeedback_env.judge import Judge, Verdict
from codefeedback_env.problems import Problem, ProblemKind, TestCase
from codefeedback_env.problems.codecontests import load_codecontests
from codefeedback_env.problems.errors import DatasetError

FUNCTION_TESTS = (TestCase("assert f(1) == 2\n"), TestCase("assert f(2) == 3\n"))


@pytest.fixture(scope="module")
def judge():
    with Judge("subprocess") as made:
        yield made


@pytest.mark.parametrize("kind", ["function", ProblemKind.FUNCTION])
def test_a_function_problem_named_by_a_string_is_judged_as_one(judge, kind) -> None:
    problem = Problem("p", "f(x) = x + 1", FUNCTION_TESTS[:1], FUNCTION_TESTS, kind=kind, entry_point="f")
    assert problem.kind is ProblemKind.FUNCTION
    assert not judge.judge(problem, "pass\n", "hidden").passed  # printing nothing passed every test
    assert judge.judge(problem, "def f(x):\n    return x + 1\n", "hidden").passed


def test_tests_given_as_lists_are_kept_as_tuples(judge) -> None:
    tests = [TestCase("1\n", "2\n"), TestCase("5\n", "6\n")]
    problem = Problem("p", "add one", tests[:1], tests)
    assert problem.hidden_tests == tuple(tests) and hash(problem)
    result = judge.judge(problem, "print(int(input()) + 1)\n", "all")
    assert [r.verdict for r in result.results] == [Verdict.ACCEPTED] * 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "functon"}, "kind"),
        ({"kind": 1}, "kind"),
        ({"hidden_tests": "1\n"}, "hidden_tests"),
        ({"hidden_tests": (("1\n", "2\n"),)}, r"hidden_tests\[0\]"),
        ({"public_tests": None}, "public_tests"),
        ({"generated_tests": [{"input": "1\n", "output": "2\n"}]}, r"generated_tests\[0\]"),
        ({"kind": "function", "entry_point": 7}, "entry_point"),
        ({"test_setup": None}, "test_setup"),
        ({"code_prefix": b"import os\n"}, "code_prefix"),
        ({"statement": None}, "statement"),
    ],
)
def test_a_malformed_problem_names_the_field(fields, message) -> None:
    arguments = {"id": "p", "statement": "s", "public_tests": (), "hidden_tests": (TestCase("1\n", "2\n"),)}
    with pytest.raises((TypeError, ValueError), match=message):
        Problem(**(arguments | fields))


@pytest.mark.parametrize(("given", "field"), [((b"1\n", "2\n"), "input"), (("1\n", 2), "output"), ((None,), "input")])
def test_a_test_case_holds_text(given, field) -> None:
    with pytest.raises(TypeError, match=f"TestCase.{field}"):
        TestCase(*given)


@pytest.mark.parametrize("part", ["input", "output"])
def test_a_codecontests_test_that_is_not_text_names_the_row(tmp_path, part) -> None:
    """An output written as a JSON number (`"output": [3]`) used to load and crash the judge at its first test."""
    tests = {"input": ["1 2\n"], "output": ["3\n"]}
    tests[part] = [3]
    row = {"name": "p", "description": "add", "public_tests": tests, "private_tests": tests}
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DatasetError, match=rf"row 1.*public_tests\.{part}\[0\]"):
        load_codecontests(path)
