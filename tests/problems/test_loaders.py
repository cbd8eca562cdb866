"""Loaders of the project format, the demo set and CodeContests; errors name file, row and field."""

from __future__ import annotations

import json
import logging
import re

import pytest

from codefeedback_env.problems import DatasetError, Problem, ProblemKind, TestCase, load_problems
from codefeedback_env.problems.codecontests import load_codecontests
from codefeedback_env.problems.demo import load_demo
from codefeedback_env.problems.registry import detect_format
from tests.conftest import shared_file

GOOD = {
    "id": "p1",
    "statement": "Print 1.",
    "public_tests": [{"input": "", "output": "1\n"}],
    "hidden_tests": [{"input": "", "output": "1\n"}],
}
REAL_ANSWER_PROBLEMS = 20
"""Problems of the CodeContests sample with a real-number token in some expected output."""


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_project_format_round_trip(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [GOOD | {"time_limit": 2, "float_tolerance": 1e-3}])
    (problem,) = load_problems(path)
    assert problem.id == "p1" and problem.time_limit == 2.0 and problem.float_tolerance == 1e-3
    assert problem.memory_limit == 1 << 30 and problem.kind is ProblemKind.STDIO


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ({k: v for k, v in GOOD.items() if k != "statement"}, "row 2, field 'statement': missing"),
        (GOOD | {"public_tests": "1 2"}, "row 2, field 'public_tests': expected a list"),
        (GOOD | {"hidden_tests": [{"output": "x"}]}, r"row 2, field 'hidden_tests\[0\]\.input': missing"),
        (GOOD | {"hidden_tests": [{"input": "x"}]}, r"field 'hidden_tests\[0\]\.output': missing: a stdio test needs"),
        (GOOD | {"public_tests": [{"input": "", "ouput": "1"}]}, r"'public_tests\[0\]\.ouput'.*did you mean 'output'"),
        (GOOD | {"time_limt": 2}, "field 'time_limt': unknown field; did you mean 'time_limit'"),
        (GOOD | {"memory_limits": 1 << 28}, "did you mean 'memory_limit'"),
        (GOOD | {"time_limit": 0}, r"field 'time_limit': expected seconds in \(0, 600\], got 0"),
        (GOOD | {"time_limit": -1}, "field 'time_limit': expected seconds"),
        (GOOD | {"time_limit": float("nan")}, "field 'time_limit': expected seconds"),
        (GOOD | {"time_limit": float("inf")}, "field 'time_limit': expected seconds"),
        (GOOD | {"time_limit": 2000}, "milliseconds given as seconds"),
        (GOOD | {"time_limit": "2"}, "field 'time_limit': expected a number of seconds, got str"),
        (GOOD | {"time_limit": True}, "field 'time_limit': expected a number of seconds, got bool"),
        (GOOD | {"memory_limit": 1.5}, "field 'memory_limit': expected a whole number of bytes, got float 1.5"),
        (GOOD | {"memory_limit": 1e30}, r"field 'memory_limit': expected bytes in \[1048576, 1099511627776\]"),
        (GOOD | {"memory_limit": 0}, "field 'memory_limit': expected bytes"),
        (GOOD | {"memory_limit": -(1 << 28)}, "field 'memory_limit': expected bytes"),
        (GOOD | {"memory_limit": 256}, "megabytes given as bytes"),
        (GOOD | {"memory_limit": float("nan")}, "field 'memory_limit': expected a whole number"),
        (GOOD | {"float_tolerance": float("nan")}, "field 'float_tolerance': expected a number in"),
        (GOOD | {"float_tolerance": -1e-6}, "field 'float_tolerance': expected a number in"),
        (GOOD | {"kind": "interactive"}, "row 2, field 'kind'"),
        (GOOD | {"kind": "function"}, "needs an entry_point"),
    ],
)
def test_malformed_rows_name_file_row_and_field(tmp_path, bad_row, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [GOOD | {"id": "ok"}, bad_row])
    with pytest.raises(DatasetError, match=message) as raised:
        load_problems(path)
    assert str(path) in str(raised.value)


def test_limits_given_as_whole_numbers_load(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [GOOD | {"time_limit": 1, "memory_limit": 2.5e8, "float_tolerance": 0}])
    (problem,) = load_problems(path)
    assert problem.time_limit == 1.0 and problem.memory_limit == 250_000_000
    assert isinstance(problem.memory_limit, int) and problem.float_tolerance == 0


def test_function_tests_need_no_output(tmp_path):
    tests = [{"input": "assert f() == 1"}]
    row = GOOD | {"kind": "function", "entry_point": "f", "public_tests": tests, "hidden_tests": tests}
    (problem,) = load_problems(write_jsonl(tmp_path / "p.jsonl", [row]))
    assert problem.public_tests[0].output == ""


def test_unknown_fields_not_close_to_a_known_one_are_warned_about(tmp_path, caplog):
    row = GOOD | {"tags": ["math"], "url": "https://example.org"}
    with caplog.at_level(logging.WARNING):
        (problem,) = load_problems(write_jsonl(tmp_path / "p.jsonl", [row]))
    assert problem.id == "p1"
    assert "row 1: ignoring unknown field(s) 'tags', 'url'" in caplog.text


def test_problems_without_public_tests_are_kept_with_a_warning(tmp_path, caplog):
    rows = [GOOD, GOOD | {"id": "p2", "public_tests": []}]
    with caplog.at_level(logging.WARNING):
        problems = load_problems(write_jsonl(tmp_path / "p.jsonl", rows))
    assert [p.id for p in problems] == ["p1", "p2"]
    assert "1 problem(s) have no public tests (rows 2): their episodes end at turn 1" in caplog.text


@pytest.mark.parametrize(
    ("field", "value"),
    [("time_limit", 0.0), ("time_limit", float("nan")), ("time_limit", float("inf")), ("memory_limit", 1.5),
     ("memory_limit", 10**30), ("memory_limit", 0), ("float_tolerance", float("nan"))],
)  # fmt: skip
def test_problem_records_refuse_unusable_limits(field, value):
    with pytest.raises(ValueError, match=f"Problem 'p': {field}: expected"):
        Problem("p", "s", (), (TestCase("", "1"),), **{field: value})


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(GOOD) + "\n{not json\n")
    with pytest.raises(DatasetError, match=r"row 2: not valid JSON"):
        load_problems(path)


def test_duplicate_ids_are_an_error(tmp_path):
    path = write_jsonl(tmp_path / "dup.jsonl", [GOOD, GOOD])
    with pytest.raises(DatasetError, match="duplicate problem id 'p1'"):
        load_problems(path)


def test_rows_without_hidden_tests_are_skipped_and_counted(tmp_path, caplog):
    path = write_jsonl(
        tmp_path / "p.jsonl", [GOOD, GOOD | {"id": "p2", "hidden_tests": []}, GOOD | {"id": "p3", "hidden_tests": []}]
    )
    with caplog.at_level(logging.WARNING):
        problems = load_problems(path)
    assert [p.id for p in problems] == ["p1"]
    assert "skipped 2 problem(s) with no hidden tests (rows 2, 3)" in caplog.text


def test_problems_whose_every_test_expects_empty_output_are_skipped(tmp_path, caplog):
    """Every choice of final tests judges the hidden tests: if they all expect empty output, a program printing
    nothing passes the problem, a reward for doing nothing (class 10, vacuous tests)."""
    empty = {"input": "1\n", "output": ""}
    blank = {"input": "2\n", "output": " \n\n"}
    rows = [
        GOOD,
        GOOD | {"id": "all-empty", "public_tests": [empty], "hidden_tests": [empty, blank]},
        GOOD | {"id": "blank-hidden", "public_tests": [blank], "hidden_tests": [blank]},
        GOOD | {"id": "one-empty", "public_tests": [empty], "hidden_tests": [empty, {"input": "3\n", "output": "3"}]},
        GOOD | {"id": "shown-only", "public_tests": [{"input": "4\n", "output": "4"}], "hidden_tests": [empty]},
    ]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    with caplog.at_level(logging.WARNING):
        problems = load_problems(path)
    assert [p.id for p in problems] == ["p1", "one-empty"]
    assert "skipped 3 problem(s) with hidden tests that all expect empty output" in caplog.text
    assert "(rows 2, 3, 5)" in caplog.text
    hub_rows = [
        {"name": name, "description": "d", "public_tests": {"input": ["1"], "output": [out]},
         "private_tests": {"input": ["1", "2"], "output": [out, out]}}
        for name, out in (("empty", ""), ("answered", "7"))
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "cc.jsonl", hub_rows)
    assert [p.id for p in load_codecontests(path)] == ["answered"]


def test_unknown_name_suggests_a_dataset():
    with pytest.raises(DatasetError, match="did you mean 'humaneval'"):
        load_problems("humaneva")


def test_demo_set_ladder_and_reference_solutions(judge):
    problems = load_demo()
    assert 20 <= len(problems) <= 40
    assert {p.difficulty for p in problems} == {"fixed-output", "trivial", "easy", "moderate"}
    assert all(p.id.startswith("demo/") and p.public_tests and p.hidden_tests and p.solutions for p in problems)
    failing = [p.id for p in problems if not judge.judge(p, p.solutions[0], "all").passed]
    assert failing == []


def test_codecontests_local_jsonl_in_the_hub_schema():
    path = shared_file("codecontests_train_sample.jsonl")
    assert detect_format(path) == "codecontests"
    problems = load_codecontests(path)
    assert len(problems) == 199  # one row has an empty statement
    first = problems[0]
    assert first.id == "1003_F. Abbreviation"
    assert first.public_tests[0].output == "13"
    assert first.time_limit == 10.0 and first.memory_limit == 1 << 30  # data gives none: paper defaults
    assert all(p.solutions for p in problems)
    # The tolerance goes only to problems whose expected outputs hold a real number.
    by_id = {p.id: p for p in problems}
    assert first.float_tolerance is None
    assert by_id["108_D. Basketball Team"].float_tolerance == 1e-6  # "0.6666666667", and also "-1"
    assert by_id["262_D. Maxim and Restaurant"].float_tolerance == 1e-6  # "1.3333333333", and also "20"
    assert sum(p.float_tolerance is not None for p in problems) == REAL_ANSWER_PROBLEMS


def test_codecontests_tolerance_is_decided_from_all_tests(tmp_path):
    def row(name, public, hidden):
        return {
            "name": name, "description": "d", "public_tests": {"input": ["1"] * len(public), "output": public},
            "private_tests": {"input": ["1"] * len(hidden), "output": hidden},
        }  # fmt: skip

    rows = [
        row("ints", ["3\n"], ["1000001\n", "-5 7\n"]),
        row("hidden-real", ["3\n"], ["2.5\n"]),
        row("exponent", ["1e-9\n"], []) | {"private_tests": {"input": ["1"], "output": ["4"]}},
        row("words", ["YES 1.2.3 v1.5\n"], ["NO\n"]),
    ]
    problems = {p.id: p for p in load_codecontests(write_jsonl(tmp_path / "cc.jsonl", rows))}
    assert {name: p.float_tolerance for name, p in problems.items()} == {
        "ints": None, "hidden-real": 1e-6, "exponent": 1e-6, "words": None,
    }  # fmt: skip
    (exact,) = load_codecontests(write_jsonl(tmp_path / "one.jsonl", [rows[1]]), float_tolerance=None)
    assert exact.float_tolerance is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_limit", {"seconds": -1, "nanos": 0}, "expected seconds in"),
        ("time_limit", {"seconds": 10**9, "nanos": 0}, "milliseconds given as seconds"),
        ("time_limit", float("nan"), "expected seconds in"),
        ("time_limit", {"seconds": "2"}, 'expected {"seconds": int'),
        ("memory_limit_bytes", 1.5, "expected a whole number of bytes"),
        ("memory_limit_bytes", 10**30, "expected bytes in"),
        ("memory_limit_bytes", -1, "expected bytes in"),
    ],
)
def test_codecontests_unusable_limits_name_the_field(tmp_path, field, value, message):
    row = {"name": "x", "description": "d", "private_tests": {"input": ["1"], "output": ["1"]}, field: value}
    with pytest.raises(DatasetError, match=f"row 1, field '{field}': .*{re.escape(message)}"):
        load_codecontests(write_jsonl(tmp_path / "cc.jsonl", [row]))


def test_codecontests_time_and_memory_limits_come_from_the_row(tmp_path):
    row = {
        "name": "x", "description": "d", "public_tests": {"input": ["1"], "output": ["1"]},
        "private_tests": {"input": ["2"], "output": ["2"]}, "generated_tests": {"input": [], "output": []},
        "solutions": {"language": [2, 3], "solution": ["cpp", "print(input())"]},
        "time_limit": {"seconds": 2, "nanos": 500000000}, "memory_limit_bytes": 256 << 20,
    }  # fmt: skip
    (problem,) = load_codecontests(write_jsonl(tmp_path / "cc.jsonl", [row]))
    assert problem.time_limit == 2.5 and problem.memory_limit == 256 << 20
    assert problem.solutions == ("print(input())",)


def test_codecontests_mismatched_tests_name_the_field(tmp_path):
    row = {"name": "x", "description": "d", "public_tests": {"input": ["1", "2"], "output": ["1"]}}
    with pytest.raises(DatasetError, match="row 1, field 'public_tests': 2 inputs but 1 outputs"):
        load_codecontests(write_jsonl(tmp_path / "cc.jsonl", [row]))


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("solutions", {"language": [3], "solution": [None]}, r"'solutions\.solution\[0\]': expected a string"),
        ("solutions", {"language": 3, "solution": "x"}, "'solutions': expected"),
        ("solutions", {"language": [3, 2], "solution": "ab"}, "'solutions': expected"),
        ("incorrect_solutions", {"language": [3], "solution": [7]}, r"'incorrect_solutions\.solution\[0\]'"),
        (
            "incorrect_solutions",
            {"language": ["3"], "solution": ["print(1)"]},
            r"'incorrect_solutions\.language\[0\]': expected an integer",
        ),
    ],
)
def test_codecontests_malformed_solutions_name_the_field(tmp_path, field, value, where):
    row = {"name": "x", "description": "d", "public_tests": {"input": ["1"], "output": ["1"]}, field: value}
    with pytest.raises(DatasetError, match=f"row 1, field {where}"):
        load_codecontests(write_jsonl(tmp_path / "cc.jsonl", [row]))


def test_saved_parquet_file_loads_like_jsonl(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in shared_file("codecontests_train_sample.jsonl").read_text().splitlines()[:3]]
    path = tmp_path / "cc.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    assert [p.id for p in load_problems(path)] == [r["name"] for r in rows]
