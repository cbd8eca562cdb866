"""Class 10: a function problem's trusted code that cannot judge anything is refused at load, and never crashes
the checker.

A function row in the project's JSONL format carries Python the checker runs (`test_setup`, each test's
asserts) or prepends to every program (`code_prefix`). Loaded unchecked:
- a test that is not valid Python crashed the checker process at every run (its free names were read before
  anything caught the SyntaxError): every program on the problem got `judge_error`, the evaluation runner
  retried each episode and then left it out of the metrics;
- a test that never calls the program (`assert 1 + 1 == 2`, a test that defines the entry point itself, an
  empty one) accepted every program, a wrong one too;
- a `code_prefix` that is not valid Python made every response a syntax error (the -0.2 penalty on every turn),
  and a `test_setup` that is not, a runtime error on every test;
- an entry point that is not a name (`f(x)`, `def`) was never bound in the checker.
Each is now a `DatasetError` naming the file, the row and the field; and a checker given such a test anyway
(a `Problem` built in code) answers with a verdict and keeps serving.
"""

from __future__ import annotations

import json

import pytest

from codefeedback_env.judge import Verdict
from codefeedback_env.problems import DatasetError, Problem, ProblemKind, TestCase, load_problems
from tests.judge.function_judges import assert_still_serving

ROW = {
    "id": "inc",
    "statement": "f(x) returns x + 1",
    "kind": "function",
    "entry_point": "f",
    "public_tests": [{"input": "assert f(1) == 2"}],
    "hidden_tests": [{"input": "assert f(1) == 2"}, {"input": "assert f(2) == 3"}],
}
RIGHT = "def f(x):\n    return x + 1\n"
WRONG = "def f(x):\n    return 0\n"


def write_rows(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def hidden(*tests: str) -> dict:
    return {"hidden_tests": [{"input": test} for test in tests]}


BAD_ROWS = {
    "test_not_python": (hidden("assert f(2) == ("), r"hidden_tests\[0\]\.input': not valid Python"),
    "public_test_not_python": ({"public_tests": [{"input": "assert f(1) = 2"}]}, r"public_tests\[0\]\.input"),
    "setup_not_python": ({"test_setup": "def helper(:\n    pass\n"}, "'test_setup': not valid Python"),
    "prefix_not_python": ({"code_prefix": "def g(:\n"}, "'code_prefix': not valid Python"),
    "never_calls": (hidden("assert f(1) == 2", "assert 1 + 1 == 2"), r"hidden_tests\[1\]\.input': never calls"),
    "empty_test": (hidden(""), r"hidden_tests\[0\]\.input': never calls"),
    "defines_the_entry_point": (
        hidden("def f(x):\n    return x + 1\nassert f(2) == 3"),
        r"hidden_tests\[0\]\.input': never calls",
    ),
    "calls_only_setup_helpers": (
        {"test_setup": "def g(x):\n    return x + 1\n"} | hidden("assert g(2) == 3"),
        "never calls",
    ),
    "entry_point_not_a_name": ({"entry_point": "f(x)"}, "entry_point"),
    "entry_point_keyword": ({"entry_point": "def"}, "entry_point"),
}


@pytest.mark.parametrize("name", BAD_ROWS)
def test_unjudgeable_function_rows_name_file_row_and_field(tmp_path, name):
    change, message = BAD_ROWS[name]
    path = write_rows(tmp_path / "bad.jsonl", [ROW | {"id": "ok"}, ROW | change])
    with pytest.raises(DatasetError, match=message) as raised:
        load_problems(path)
    assert str(path) in str(raised.value) and "row 2" in str(raised.value)


GOOD_ROWS = {
    "candidate": hidden("assert candidate(2) == 3"),
    "helper_of_the_program": hidden("assert g(2) == 3"),  # another function the program defines
    "setup_helper_calling": {"test_setup": "def twice(h, x):\n    return h(h(x))\n"}
    | hidden("assert twice(f, 1) == 3"),
    "setup_names_inside_helpers": {"test_setup": "def helper(f):\n    return f\n"} | hidden("assert f(2) == 3"),
    "loop": hidden("for x in range(3):\n    assert f(x) == x + 1"),
}


@pytest.mark.parametrize("name", GOOD_ROWS)
def test_function_rows_that_reach_the_program_load(tmp_path, judge_and_processes, name):
    judge, processes = judge_and_processes
    (problem,) = load_problems(write_rows(tmp_path / "good.jsonl", [ROW | GOOD_ROWS[name]]))
    program = RIGHT + "def g(x):\n    return x + 1\n"
    assert judge.judge(problem, program, "hidden").passed
    assert not judge.judge(problem, WRONG + "def g(x):\n    return 0\n", "hidden").passed


@pytest.mark.parametrize("test", ["assert f(2) == (", "assert f(1) = 2", "def (:"])
def test_a_test_that_is_not_python_gets_a_verdict_and_the_checker_keeps_serving(judge_and_processes, test):
    judge, processes = judge_and_processes
    cases = (TestCase("assert f(1) == 2\n"), TestCase(test))
    problem = Problem("broken", "", cases[:1], cases, kind=ProblemKind.FUNCTION, entry_point="f", time_limit=3.0)
    checkers = judge.checker_pids()
    result = judge.judge(problem, RIGHT, "hidden")
    assert [r.verdict for r in result.results] == [Verdict.ACCEPTED, Verdict.RUNTIME_ERROR]
    assert "not valid Python" in result.results[1].detail and result.judge_error is None
    assert set(judge.checker_pids()) == set(checkers)  # not a crashed and restarted checker process
    assert_still_serving(judge, processes)


@pytest.mark.parametrize("entry_point", ["f(x)", "def", "", "1f"])
def test_problem_records_refuse_an_entry_point_that_is_not_a_name(entry_point):
    with pytest.raises(ValueError, match="entry_point"):
        Problem("p", "", (), (TestCase("assert f(1) == 2\n"),), kind=ProblemKind.FUNCTION, entry_point=entry_point)
