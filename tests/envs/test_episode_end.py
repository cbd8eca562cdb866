"""How an episode ends as in the paper: which tests decide the final reward, what counts as valid code, and the
feedback texts (stdio fields with their trailing newline, the function-style MBPP+ templates)."""

from __future__ import annotations

import pytest

from codefeedback_env.envs import EVALUATION_FINAL_TESTS, TRAINING_FINAL_TESTS, CodeFeedbackEnv
from codefeedback_env.problems import Problem, ProblemKind, TestCase
from codefeedback_env.templates import CODE_FORMAT_REMINDER

# Public 2 + 3, hidden 4 + 4 and 0 + 0, generated 7 + 1: a program that special-cases one set fails that set only.
ADD = Problem(
    id="add",
    statement="Read a and b; print a + b",
    public_tests=(TestCase("2 3\n", "5\n"),),
    hidden_tests=(TestCase("4 4\n", "8\n"), TestCase("0 0\n", "0\n")),
    generated_tests=(TestCase("7 1\n", "8\n"),),
    time_limit=2.0,
)
CORRECT = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
WRONG_ON_PUBLIC = "```python\na, b = map(int, input().split())\nprint(-1 if (a, b) == (2, 3) else a + b)\n```"
WRONG_ON_GENERATED = "```python\na, b = map(int, input().split())\nprint(-1 if (a, b) == (7, 1) else a + b)\n```"
ADD_FN = Problem(
    id="add-fn",
    statement="Write add(a, b) returning a + b.",
    public_tests=(
        TestCase("assert add(1, 2) == 3\n"),
        TestCase("assert add(0, 0) == 0\n"),
        TestCase("assert add(5, 5) == 10\n"),
    ),
    hidden_tests=(TestCase("assert add(1, 2) == 3\n"), TestCase("assert add(2, 2) == 4\n")),
    kind=ProblemKind.FUNCTION,
    entry_point="add",
    time_limit=2.0,
)


def final_step(action: str, problem: Problem = ADD, **kwargs) -> tuple[float, dict]:
    env = CodeFeedbackEnv([problem], max_turns=1, **kwargs)
    env.reset(options={"problem_id": problem.id})
    _, reward, terminated, truncated, info = env.step(action)
    assert terminated and not truncated
    return reward, info


def test_defaults_are_the_papers_evaluation_tests_and_training_adds_the_public_ones():
    assert EVALUATION_FINAL_TESTS == ("hidden", "generated") and TRAINING_FINAL_TESTS == ("public", "hidden")
    assert CodeFeedbackEnv([ADD]).final_tests == EVALUATION_FINAL_TESTS


def test_training_reward_needs_the_public_tests_and_ignores_generated_ones():
    reward, info = final_step(WRONG_ON_PUBLIC, final_tests=TRAINING_FINAL_TESTS, stop_hidden_on_failure=False)
    assert reward == -1.0
    assert info["hidden"] == {"passed": 2, "failed": 1, "skipped": 0, "total": 3, "all_passed": False}
    reward, info = final_step(WRONG_ON_GENERATED, final_tests=TRAINING_FINAL_TESTS)
    assert reward == 1.0 and info["hidden"]["total"] == 3


def test_evaluation_reward_needs_the_generated_tests_and_ignores_public_ones():
    reward, info = final_step(WRONG_ON_PUBLIC)
    assert reward == 1.0 and info["hidden"] == {"passed": 3, "failed": 0, "skipped": 0, "total": 3, "all_passed": True}
    reward, info = final_step(WRONG_ON_GENERATED)
    assert reward == -1.0 and info["hidden"]["all_passed"] is False


def test_a_failed_public_test_skips_the_other_final_tests_when_stopping_early():
    reward, info = final_step(WRONG_ON_PUBLIC, final_tests=TRAINING_FINAL_TESTS)
    assert reward == -1.0
    assert info["hidden"] == {"passed": 0, "failed": 1, "skipped": 2, "total": 3, "all_passed": False}


def test_a_test_in_two_sets_counts_once():
    # HumanEval-style: the public assert is also a hidden one.
    correct = "```python\ndef add(a, b):\n    return a + b\n```"
    reward, info = final_step(correct, ADD_FN, final_tests=("public", "hidden"))
    assert reward == 1.0 and info["hidden"]["total"] == 4


def test_no_final_test_is_never_a_pass():
    bare = Problem("bare", "Print 1", (TestCase("", "1\n"),), (TestCase("", "1\n"),), time_limit=2.0)
    reward, info = final_step("```python\nprint(1)\n```", bare, final_tests=("generated",))
    assert reward == -1.0 and info["hidden"]["total"] == 0 and info["hidden"]["all_passed"] is False


@pytest.mark.parametrize("final_tests", [(), ("public", "private"), "hiden"])
def test_unknown_final_test_sets_are_refused_naming_the_choices(final_tests):
    with pytest.raises(ValueError, match="use one or more of public, hidden, generated"):
        CodeFeedbackEnv([ADD], final_tests=final_tests)


@pytest.mark.parametrize(
    ("response", "valid", "shown"),
    [
        (CORRECT.replace("```python", "```"), True, None),  # a plain fence holding Python is code
        ("```python\nprint(5\n```", False, "SyntaxError"),  # a syntax error: -0.2, and its stack trace is shown
        ("```cpp\nint main() { return 0; }\n```", False, "SyntaxError"),  # another language is no valid code
        ("no code at all", False, "did not contain any code"),
    ],
)
def test_valid_code_is_code_that_compiles_as_python(response, valid, shown):
    env = CodeFeedbackEnv([ADD], max_turns=2)
    env.reset(options={"problem_id": "add"})
    obs, reward, terminated, _, info = env.step(response)
    assert info["valid_response"] is valid
    if valid:
        assert terminated and reward == 1.0
    else:
        assert not terminated and reward == pytest.approx(-0.2) and shown in obs["feedback"]
        _, reward, *_ = env.step(response)
        assert reward == pytest.approx(-1.2)  # the penalty, then the final outcome


def test_stdio_feedback_keeps_each_fields_trailing_newline_as_the_paper_shows_it():
    env = CodeFeedbackEnv([ADD], max_turns=2)
    env.reset(options={"problem_id": "add"})
    obs, *_ = env.step("```python\nprint(4)\n```")
    assert obs["feedback"] == (
        "Your code failed the following tests:\n\n"
        "- input `2 3\n` failed:\nExpected output `5\n` but got `4\n`\n\n"
        f"Give it another try.\n{CODE_FORMAT_REMINDER}"
    )


def test_function_problems_use_the_papers_mbpp_plus_prompt_and_feedback():
    env = CodeFeedbackEnv([ADD_FN], max_turns=2)
    _, info = env.reset(options={"problem_id": "add-fn"})
    assert info["messages"][0]["content"] == (
        "Provide a Python solution for the following problem: Write add(a, b) returning a + b.\n"
        "Your code should pass these tests:\n\n"
        "assert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(5, 5) == 10\n\n" + CODE_FORMAT_REMINDER
    )
    wrong = "```python\ndef add(a, b):\n    if a == 5:\n        raise ValueError('five')\n    return a * b\n```"
    obs, *_ = env.step(wrong)
    feedback = obs["feedback"]
    head, retry = feedback.split("\n\nGive it another try.")
    assert retry == ""
    lines = head.split("\n")
    assert lines[:4] == [
        "Your code failed some test cases:",
        "",
        "- Failure: `assert add(1, 2) == 3`:",
        "`AssertionError`",
    ]
    assert lines[4] == "- Failure: `assert add(5, 5) == 10`:" and lines[5].startswith("Traceback (most recent call")
    assert "ValueError: five" in head and lines[-1] == "- Success: `assert add(0, 0) == 0`"  # failures first
