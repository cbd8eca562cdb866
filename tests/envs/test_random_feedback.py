"""The random-feedback ablation: a dataset wrong solution of another problem, run on that problem's tests."""

from __future__ import annotations

import json

from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.problems import Problem, TestCase, load_problems
from codefeedback_env.random_feedback import AGENT_PROGRAM, DATASET_SOLUTION, RETRY_ONLY
from codefeedback_env.templates import CODE_FORMAT_REMINDER

ADD = Problem("add", "Print a + b", (TestCase("1 2\n", "3\n"),), (TestCase("5 5\n", "10\n"),), time_limit=2.0)
MUL = Problem(
    "mul",
    "Print a * b",
    (TestCase("2 3\n", "6\n"), TestCase("2 2\n", "4\n")),
    (TestCase("4 4\n", "16\n"),),
    time_limit=2.0,
    incorrect_solutions=(
        "print(6 if input() == '2 3' else 4)\n",  # passes the public tests: no feedback, another is drawn
        "a, b = map(int, input().split())\nprint(a + b)\n",  # fails public test 0: 5 instead of 6
    ),
)
ECHO = Problem("echo", "Print the input", (TestCase("x\n", "x\n"),), (TestCase("y\n", "y\n"),), time_limit=2.0)
WRONG = "```python\nprint(4)\n```"


def test_feedback_is_a_dataset_wrong_solution_of_another_problem_on_its_tests():
    env = CodeFeedbackEnv([ADD, MUL], feedback="random", max_turns=3)
    for seed in range(4):
        env.reset(seed=seed, options={"problem_id": "add"})
        obs, _, terminated, _, info = env.step(WRONG)
        assert not terminated
        assert info["random_feedback"] == {"source": DATASET_SOLUTION, "problem_id": "mul", "solution_index": 1}
        assert "input `2 3\n` failed:" in obs["feedback"]
        assert "Expected output `6\n` but got `5\n`" in obs["feedback"]
        assert "`2 2" not in obs["feedback"]  # the passing public test of mul is not listed
        assert obs["feedback"] == info["messages"][-1]["content"]
        assert "`3`" not in obs["feedback"] and "but got `4`" not in obs["feedback"]  # nothing of add's own run
    assert env._random._runs[("mul", 0)] is None  # drawn, passed the public tests, and another was drawn


def test_without_wrong_solutions_of_other_problems_it_falls_back_to_the_agents_failing_runs():
    env = CodeFeedbackEnv([ADD, MUL, ECHO], feedback="random", max_turns=2)
    env.reset(seed=0, options={"problem_id": "mul"})  # mul's own wrong solutions never feed mul
    obs, *_, info = env.step(WRONG)
    assert info["random_feedback"]["source"] == RETRY_ONLY
    assert obs["feedback"] == f"Give it another try.\n{CODE_FORMAT_REMINDER}"
    env.step(WRONG)
    env.reset(seed=0, options={"problem_id": "mul"})
    obs, *_, info = env.step(WRONG)
    assert info["random_feedback"]["source"] == RETRY_ONLY  # only mul's own runs in the pool so far
    env.reset(seed=0, options={"problem_id": "echo"})
    obs, *_, info = env.step(WRONG)
    assert info["random_feedback"]["source"] == DATASET_SOLUTION  # echo can take mul's wrong solution
    env.reset(seed=0, options={"problem_id": "mul"})
    obs, *_, info = env.step(WRONG)
    assert info["random_feedback"]["source"] == AGENT_PROGRAM and info["random_feedback"]["problem_id"] == "echo"
    assert "input `x\n` failed:" in obs["feedback"] and "Expected output `x\n` but got `4\n`" in obs["feedback"]


def test_execution_feedback_mode_reports_no_random_source():
    env = CodeFeedbackEnv([ADD, MUL], max_turns=2)
    env.reset(options={"problem_id": "add"})
    *_, info = env.step(WRONG)
    assert "random_feedback" not in info


def test_jsonl_rows_carry_incorrect_solutions(tmp_path):
    row = {
        "id": "p",
        "statement": "Print 1",
        "public_tests": [{"input": "", "output": "1\n"}],
        "hidden_tests": [{"input": "", "output": "1\n"}],
        "incorrect_solutions": ["print(2)\n"],
    }
    (tmp_path / "p.jsonl").write_text(json.dumps(row) + "\n")
    (problem,) = load_problems(tmp_path / "p.jsonl")
    assert problem.incorrect_solutions == ("print(2)\n",)
