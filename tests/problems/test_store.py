"""ProblemStore: problems written once to an Arrow file and read back, memory-mapped, exactly as loaded."""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from codefeedback_env.envs import CodeFeedbackEnv
from codefeedback_env.problems import DatasetError, Problem, ProblemKind, TestCase, load_problems
from codefeedback_env.problems.overlap import ProblemList, leave_out, write_problem_list
from codefeedback_env.problems.store import ProblemStore, problem_ids, problem_store, write_problem_store
from codefeedback_env.random_feedback import RandomFeedback

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SAMPLE = DATA / "codecontests_train_sample.jsonl"
needs_data = pytest.mark.skipif(not SAMPLE.is_file(), reason="../shared/data (the CodeContests sample) is absent")

# Every field set to a value other than its default, so a field the store drops or alters fails the test.
FULL = Problem(
    id="full/1",
    statement="Print the sum.\n",
    public_tests=(TestCase("1 2\n", "3\n"),),
    hidden_tests=(TestCase("2 2\n", "4\n"), TestCase("", "")),
    time_limit=2.5,
    memory_limit=256 << 20,
    float_tolerance=1e-6,
    solutions=("print(sum(map(int, input().split())))",),
    incorrect_solutions=("print(3)", "print(0)"),
    test_setup="import math",
    code_prefix="# prefix\n",
    source="unit",
    difficulty="7",
    generated_tests=(TestCase("5 5\n", "10\n"),),
    prompt_tests=(TestCase("1 2\n", "3\n"),),
)
FUNCTION = Problem(
    id="f/1",
    statement="def add(a, b): ...",
    public_tests=(TestCase("assert add(1, 2) == 3"),),
    hidden_tests=(),
    kind=ProblemKind.FUNCTION,
    entry_point="add",
    test_setup="import math",
)


def test_every_problem_field_is_stored(tmp_path) -> None:
    assert {f.name for f in fields(Problem)} - {"id"}, "Problem has fields"
    for field in fields(Problem):
        if field.name not in ("kind", "entry_point"):
            assert getattr(FULL, field.name) != field.default, f"FULL must set {field.name} to a non-default value"
    store = ProblemStore(write_problem_store([FULL, FUNCTION], tmp_path / "p.arrow"))
    assert list(store) == [FULL, FUNCTION]
    assert store[1].kind == "function" and store[1].entry_point == "add" and store[0].float_tolerance == 1e-6


@pytest.mark.parametrize("dataset", ["demo", "mbpp", "codecontests"])
def test_a_store_holds_the_loaded_problems(tmp_path, dataset) -> None:
    path = {"mbpp": DATA / "mbpp.jsonl", "codecontests": SAMPLE}.get(dataset, dataset)
    if isinstance(path, Path) and not path.is_file():
        pytest.skip(f"{path} is absent")
    loaded = load_problems(path)
    store = problem_store(path, tmp_path)
    assert len(store) == len(loaded) and store.ids == [p.id for p in loaded]
    assert list(store) == loaded


def test_views_index_like_lists(tmp_path) -> None:
    demo = load_problems("demo")
    store = problem_store("demo", tmp_path)
    assert store[-1] == demo[-1] and store[3] == demo[3]
    assert list(store[2:9:3]) == demo[2:9:3] and store[2:9:3].ids == problem_ids(demo[2:9:3])
    view = store[5:].select([4, 0, 2])
    assert list(view) == [demo[9], demo[5], demo[7]] and view.ids == [demo[i].id for i in (9, 5, 7)]
    assert list(pickle.loads(pickle.dumps(view))) == list(view)
    with pytest.raises(IndexError):
        store[len(demo)]


@needs_data
def test_the_store_is_reused_and_rebuilt_when_the_data_changes(tmp_path) -> None:
    source = tmp_path / "data.jsonl"
    shutil.copy(SAMPLE, source)
    first = problem_store(source, tmp_path / "cache")
    mtime = first.path.stat().st_mtime_ns
    again = problem_store(source, tmp_path / "cache", build=False)  # reused: nothing to build
    assert again.path == first.path and again.path.stat().st_mtime_ns == mtime
    lines = source.read_text().splitlines(keepends=True)
    source.write_text("".join(lines[:5]))
    os.utime(source, ns=(mtime + 10**9, mtime + 10**9))
    with pytest.raises(FileNotFoundError, match="must run first"):
        problem_store(source, tmp_path / "cache", build=False)
    changed = problem_store(source, tmp_path / "cache")
    assert changed.path != first.path and changed.ids == [p.id for p in load_problems(source)] and len(changed) <= 5
    assert problem_store(source, tmp_path / "cache", split="train").path != changed.path  # options are in the key


def test_a_store_of_another_layout_is_refused(tmp_path) -> None:
    import pyarrow as pa

    path = tmp_path / "old.arrow"
    schema = pa.schema([("id", pa.string())])
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_batch(pa.RecordBatch.from_pylist([{"id": "x"}], schema=schema))
    with pytest.raises(ValueError, match="another layout.*delete it"):
        ProblemStore(path)


def test_an_env_on_a_store_plays_the_same_episodes(tmp_path) -> None:
    demo = load_problems("demo")
    store = problem_store("demo", tmp_path)
    on_list, on_store = CodeFeedbackEnv(demo), CodeFeedbackEnv(store)
    assert on_store.problems is store
    for options in ({"problem_id": demo[7].id}, {"problem_index": 3}, None):
        first, _ = on_list.reset(seed=5, options=options)
        second, _ = on_store.reset(seed=5, options=options)
        assert first == second and on_list.problem == on_store.problem
        assert on_list.step("```python\nprint(1)\n```")[:4] == on_store.step("```python\nprint(1)\n```")[:4]


def test_random_feedback_donors_of_a_store(tmp_path) -> None:
    wrong = [
        Problem(f"p{i}", "s", (TestCase("1\n", "1\n"),) if i % 2 else (), (), incorrect_solutions=("print(2)",) * i)
        for i in range(6)
    ]
    store = ProblemStore(write_problem_store(wrong, tmp_path / "w.arrow"))
    from_list, from_store = RandomFeedback(wrong, judge=None), RandomFeedback(store, judge=None)
    assert [p.id for p in from_store.donors] == [p.id for p in from_list.donors] == ["p1", "p3", "p5"]
    assert isinstance(from_store.donors, ProblemStore)
    rng = np.random.default_rng(0)
    assert from_store.donors[int(rng.integers(3))] in wrong


def test_leave_out_and_problem_lists_on_a_store(tmp_path) -> None:
    demo = load_problems("demo")
    store = problem_store("demo", tmp_path)
    for excluded in (ProblemList.of(demo[:4], "train"), ProblemList("ids", frozenset(p.id for p in demo[10:12]))):
        on_list, on_store = leave_out(demo, excluded), leave_out(store, excluded)
        assert isinstance(on_store.kept, ProblemStore) and list(on_store.kept) == on_list.kept
        assert (on_store.by_id, on_store.by_statement) == (on_list.by_id, on_list.by_statement)
    assert write_problem_list(tmp_path / "a.txt", store[:3]).read_text() == "".join(f"{p.id}\n" for p in demo[:3])


def test_a_dataset_that_does_not_load_names_the_problem(tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "x"}\n{"broken\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl: not converted into a problem store \(DatasetError: .*row"):
        problem_store(bad, tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("*.arrow"))
