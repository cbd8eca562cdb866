"""CodeContests splits from local files in the hub's schema, the hub path, and problems without public tests."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from codefeedback_env.cli import main
from codefeedback_env.problems import DatasetError, load_problems
from codefeedback_env.problems.codecontests import HUB_ID, MAX_INCORRECT_SOLUTIONS, load_codecontests

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "codecontests_train_sample.jsonl"
pytestmark = pytest.mark.skipif(not SAMPLE.is_file(), reason=f"{SAMPLE} (shared test data) is absent")


def _rows() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]


def _without_public(rows: list[dict]) -> set[str]:
    return {r["name"] for r in rows if not (r.get("public_tests") or {}).get("input")}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _write_parquet(path: Path, rows: list[dict]) -> None:
    import datasets

    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows).to_parquet(str(path))


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[dict]]]:
    """A folder in the hub's layout: train in two shards (JSONL and Parquet), valid as Parquet, test as JSONL."""
    rows = _rows()
    parts = {"train": rows[:120], "valid": rows[120:160], "test": rows[160:]}
    folder = tmp_path_factory.mktemp("code_contests")
    _write_jsonl(folder / "data" / "train-00000-of-00002.jsonl", parts["train"][:60])
    _write_parquet(folder / "data" / "train-00001-of-00002.parquet", parts["train"][60:])
    _write_parquet(folder / "data" / "valid-00000-of-00001.parquet", parts["valid"])
    _write_jsonl(folder / "test.jsonl", parts["test"])
    return folder, parts


def test_each_split_reads_only_its_files(splits):
    folder, parts = splits
    for split in ("valid", "test"):
        ids = {p.id for p in load_codecontests(folder, split=split)}
        assert ids <= {r["name"] for r in parts[split]} and ids
    train = {p.id for p in load_problems(folder, split="train")}
    assert train <= {r["name"] for r in parts["train"]}
    assert len(train) > 100


def test_train_split_drops_problems_without_public_tests_and_says_why(splits, caplog):
    folder, parts = splits
    no_public = _without_public(parts["train"])
    assert no_public, "the sample's train part should hold problems without public tests"
    with caplog.at_level(logging.WARNING):
        train = load_codecontests(folder, split="train")
    assert not {p.id for p in train} & no_public
    assert all(p.public_tests for p in train)
    assert "as the paper does for training" in caplog.text and "--without-public keep" in caplog.text
    kept = load_codecontests(folder, split="train", drop_without_public=False)
    assert {p.id for p in kept} - {p.id for p in train} == no_public & {p.id for p in kept}
    assert len(kept) > len(train)


def test_evaluation_splits_keep_problems_without_public_tests(splits):
    folder, parts = splits
    judgeable = {r["name"] for r in parts["test"] if r["private_tests"]["input"] or r["generated_tests"]["input"]}
    no_public = _without_public(parts["test"]) & judgeable
    assert no_public, "the sample's test part should hold judgeable problems without public tests"
    test = {p.id for p in load_codecontests(folder, split="test")}
    assert no_public <= test
    assert test - {p.id for p in load_codecontests(folder, split="test", drop_without_public=True)} == no_public


def test_a_folder_of_splits_needs_one_named(splits):
    folder, _ = splits
    with pytest.raises(DatasetError, match=r"holds the splits \['train', 'valid', 'test'\]; pick one"):
        load_problems(folder)
    with pytest.raises(DatasetError, match="unknown split 'validation'; did you mean 'valid'"):
        load_codecontests(folder, split="validation")


def test_a_split_the_folder_lacks_is_an_error(tmp_path):
    _write_jsonl(tmp_path / "train.jsonl", _rows()[:3])
    with pytest.raises(DatasetError, match="holds no files of split 'test'"):
        load_codecontests(tmp_path, split="test")


def test_saved_dataset_dict_folder(tmp_path):
    import datasets

    rows = _rows()
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(rows[:10]), "test": datasets.Dataset.from_list(rows[10:20])}
    ).save_to_disk(str(tmp_path / "saved"))
    test = load_codecontests(tmp_path / "saved", split="test")
    assert {p.id for p in test} <= {r["name"] for r in rows[10:20]} and test
    with pytest.raises(DatasetError, match="has no split 'valid'"):
        load_codecontests(tmp_path / "saved", split="valid")


def test_single_file_named_as_train_split_drops_like_the_hub(tmp_path):
    rows = _rows()
    path = tmp_path / "sample.jsonl"
    _write_jsonl(path, rows)
    unlabelled = load_codecontests(path)
    as_train = load_codecontests(path, split="train")
    assert {p.id for p in unlabelled} - {p.id for p in as_train} == {p.id for p in unlabelled if not p.public_tests}
    assert all(p.public_tests for p in as_train)


def test_hub_split_is_passed_to_the_hub_loader(monkeypatch):
    import datasets

    rows = _rows()
    rows = [r for r in rows if r["public_tests"]["input"]][:20] + [r for r in rows if not r["public_tests"]["input"]]
    calls = []

    def fake_load_dataset(name, split):
        calls.append((name, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    valid = load_codecontests(split="valid")
    train = load_codecontests()
    assert calls == [(HUB_ID, "valid"), (HUB_ID, "train")]
    assert len(valid) - len(train) == sum(1 for p in valid if not p.public_tests) > 0


def test_python3_incorrect_solutions_are_kept(tmp_path):
    row = _rows()[0]
    wrong = [f"print({i})\n" for i in range(MAX_INCORRECT_SOLUTIONS + 2)]
    row["incorrect_solutions"] = {"language": [1, 2] + [3] * len(wrong), "solution": ["py2", "c++"] + wrong}
    _write_jsonl(tmp_path / "one.jsonl", [row])
    (problem,) = load_codecontests(tmp_path / "one.jsonl")
    assert problem.incorrect_solutions == tuple(wrong[:MAX_INCORRECT_SOLUTIONS])


def test_cli_split_options(splits, tmp_path, capsys):
    folder, parts = splits
    assert main(["problems", str(folder), "--split", "valid"]) == 0
    listed = capsys.readouterr().out
    assert f"{len(load_codecontests(folder, split='valid'))} problems" in listed
    assert main(["problems", str(folder), "--split", "train", "--without-public", "keep"]) == 0
    assert (
        f"{len(load_codecontests(folder, split='train', drop_without_public=False))} problems"
        in capsys.readouterr().out
    )
    assert main(["problems", "demo", "--split", "test"]) == 2
    assert "apply to CodeContests data; 'demo' is 'demo'" in capsys.readouterr().err
    assert main(["eval", "--agent", "reference", "--dataset", str(folder), "--output", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "pick one (split=..., --split)" in error[0]
