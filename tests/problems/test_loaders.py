"""Loaders of the project format, the demo set and CodeContests; errors name file, row and field."""

from __future__ import annotations

import json
import logging

import pytest

from codefeedback_env.problems import DatasetError, ProblemKind, load_problems
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
        (GOOD | {"hidden_tests": [{"output": "x"}]}, r"row 2, field 'hidden_tests\[0\]'"),
        (GOOD | {"kind": "interactive"}, "row 2, field 'kind'"),
        (GOOD | {"kind": "function"}, "needs an entry_point"),
    ],
)
def test_malformed_rows_name_file_row_and_field(tmp_path, bad_row, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [GOOD | {"id": "ok"}, bad_row])
    with pytest.raises(DatasetError, match=message) as raised:
        load_problems(path)
    assert str(path) in str(raised.value)


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
    assert first.float_tolerance == 1e-6


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


def test_saved_parquet_file_loads_like_jsonl(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in shared_file("codecontests_train_sample.jsonl").read_text().splitlines()[:3]]
    path = tmp_path / "cc.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    assert [p.id for p in load_problems(path)] == [r["name"] for r in rows]
