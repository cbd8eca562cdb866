"""Held-out evaluation: leaving training problems out, by id and by statement, and saying so."""

from __future__ import annotations

import json

import pytest

from codefeedback_env.cli import main
from codefeedback_env.problems import DatasetError, Problem, TestCase, load_problems
from codefeedback_env.problems.overlap import (
    PROBLEM_LIST_NAME,
    ProblemList,
    leave_out,
    read_problem_list,
    write_problem_list,
)


def _problem(pid: str, statement: str) -> Problem:
    return Problem(pid, statement, (TestCase("", "1\n"),), (TestCase("", "1\n"),))


def test_ids_and_statements_are_both_found():
    training = [_problem("a", "Print  ONE."), _problem("b", "Print two.")]
    evaluation = [_problem("a", "other text"), _problem("c", "print one."), _problem("d", "Print three.")]
    overlap = leave_out(evaluation, ProblemList.of(training, "train"))
    assert [p.id for p in overlap.kept] == ["d"]
    assert overlap.by_id == ["a"] and overlap.by_statement == ["c"]
    assert overlap.report("train") == "left out 2 of 3 problems found in train (1 by id, 1 by statement: a, c)"
    assert leave_out(evaluation[2:], ProblemList.of(training, "train")).report("train") == (
        "no overlap with train: all 1 problems are held out"
    )


def test_an_id_file_and_a_training_runs_folder(tmp_path):
    (tmp_path / "ids.txt").write_text("# trained on\ndemo/sum-two\n\n  demo/hello-world  \n")
    listed = read_problem_list(tmp_path / "ids.txt")
    assert listed.ids == {"demo/sum-two", "demo/hello-world"} and not listed.statements
    run = tmp_path / "run"
    write_problem_list(run / PROBLEM_LIST_NAME, load_problems("demo")[:3])
    assert read_problem_list(run).ids == {p.id for p in load_problems("demo")[:3]}
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(DatasetError, match="holds no problem id"):
        read_problem_list(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError):
        read_problem_list(tmp_path / "absent.txt")


def test_a_dataset_as_the_list_compares_statements(tmp_path):
    demo = load_problems("demo")
    row = {
        "id": "renamed",
        "statement": demo[0].statement,
        "public_tests": [{"input": "", "output": "x\n"}],
        "hidden_tests": [{"input": "", "output": "x\n"}],
    }
    (tmp_path / "train.jsonl").write_text(json.dumps(row) + "\n")
    overlap = leave_out(demo, read_problem_list(tmp_path / "train.jsonl"))
    assert overlap.by_statement == [demo[0].id] and len(overlap.kept) == len(demo) - 1


def test_cli_leaves_them_out_and_reports_it(tmp_path, capsys):
    ids = tmp_path / "trained.txt"
    ids.write_text("demo/hello-world\ndemo/sum-two\nnot-in-this-set\n")
    output = tmp_path / "run"
    argv = ["eval", "--agent", "reference", "--no-independent", "--quiet", "--rollouts", "1"]
    assert main([*argv, "--exclude-problems", str(ids), "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert f"left out 2 of 8 problems found in {ids} (2 by id, 0 by statement" in out
    episodes = [json.loads(line) for line in (output / "multi_turn" / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 6 and not {"demo/hello-world", "demo/sum-two"} & {e["problem_id"] for e in episodes}
    config = json.loads((output / "multi_turn" / "config.json").read_text())
    assert str(ids) in json.dumps(config)
    everything = tmp_path / "all.txt"
    everything.write_text("".join(f"{p.id}\n" for p in load_problems("demo")))
    assert main([*argv, "--exclude-problems", str(everything), "--output", str(tmp_path / "r2")]) == 2
    assert "nothing is left to evaluate" in capsys.readouterr().err


def test_sweep_leaves_them_out_too(tmp_path, capsys):
    ids = tmp_path / "trained.txt"
    ids.write_text("demo/hello-world\n")
    argv = ["sweep", "--agent", "reference", "--turns", "1", "--feedback", "execution", "--no-independent"]
    argv += ["--rollouts", "1", "--quiet", "--limit", "3", "--exclude-problems", str(ids)]
    argv += ["--output", str(tmp_path / "s")]
    assert main(argv) == 0
    assert f"left out 1 of 8 problems found in {ids} (1 by id" in capsys.readouterr().out
    episodes = [json.loads(line) for path in (tmp_path / "s").rglob("episodes.jsonl") for line in path.open()]
    assert len(episodes) == 3 and "demo/hello-world" not in {e["problem_id"] for e in episodes}
