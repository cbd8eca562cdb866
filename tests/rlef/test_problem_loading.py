"""The training examples' problems on two processes: one store per node, the same problems on every rank.

Two torchrun CPU processes load a CodeContests folder of split files (`--split train`, evaluated on
`--eval_dataset_split valid`) through `ProblemArguments.problems`, as `examples/train_rlef.py` does
(tests/rlef/problems_worker.py). How much memory that saves per rank is measured by benchmarks/rank_memory.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.rlef.evaluate import split_problems
from codefeedback_env.evaluation.identity import problem_sha256
from codefeedback_env.problems import load_problems
from tests.rlef.torchrun import run_two_processes

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "codecontests_train_sample.jsonl"


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> tuple[Path, list[dict]]:
    if not SAMPLE.is_file():
        pytest.skip("../shared/data (the CodeContests sample) is absent")
    out = tmp_path_factory.mktemp("problems")
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "codecontests").mkdir()
    (out / "codecontests" / "train.jsonl").write_text("".join(lines[:120]), encoding="utf-8")
    (out / "codecontests" / "valid.jsonl").write_text("".join(lines[120:]), encoding="utf-8")
    proc = run_two_processes("problems_worker.py", out, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_every_rank_holds_the_problems_loaded_in_one_process(ranks) -> None:
    out, results = ranks
    data = out / "codecontests"
    training, evaluation = split_problems(
        load_problems(data, split="train"), None, load_problems(data, split="valid"), None, 0.2
    )
    expected = {
        "training": [[p.id, problem_sha256(p)] for p in training],
        "evaluation": [[p.id, problem_sha256(p)] for p in evaluation],
    }
    assert len(expected["training"]) > 90 and len(expected["evaluation"]) > 70
    for result in results:
        assert result["world_size"] == 2
        assert result["types"] == ["ProblemStore", "ProblemStore"]
        assert result["training"] == expected["training"]
        assert result["evaluation"] == expected["evaluation"]
        assert result["env_holds_the_store"] and result["env_problem"] == expected["training"][-1][1]


def test_one_store_file_per_split_shared_by_the_ranks(ranks) -> None:
    out, results = ranks
    assert results[0]["stores"] == results[1]["stores"]
    files = sorted(str(p) for p in (out / "run" / "problem_cache").glob("*.arrow"))
    assert files == results[0]["stores"] and len(files) == 2
    assert not list((out / "run" / "problem_cache").glob(".*.tmp"))
    written = (out / "run" / "training_problems.txt").read_text().splitlines()
    assert written == [pid for pid, _ in results[0]["training"]]
