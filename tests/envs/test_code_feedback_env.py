"""Episode logic: prompts, feedback in the paper's format, rewards, early stop, ablations, bad actions."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.error import ResetNeeded

from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.errors import InvalidActionError, InvalidOptionsError, UnknownProblemError
from codefeedback_env.judge import syntax_check
from codefeedback_env.problems import Problem, TestCase
from codefeedback_env.templates import CODE_FORMAT_REMINDER

SECRET = "HIDDEN-ONLY-9d41"
ADD = Problem(
    id="add",
    statement="Read a and b; print a + b",
    public_tests=(TestCase("1 2\n", "3\n"), TestCase("10 -4\n", "6\n")),
    hidden_tests=(TestCase(f"5 5\n{SECRET}\n", "10\n"), TestCase("-1 1\n", "0\n")),
    time_limit=2.0,
)
MUL = Problem("mul", "Print a * b", (TestCase("2 3\n", "6\n"),), (TestCase("4 4\n", "16\n"),), time_limit=2.0)
CORRECT = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
PUBLIC_ONLY = "```python\nimport sys\nprint({'1 2': 3, '10 -4': 6}[sys.stdin.readline().strip()])\n```"
WRONG = "Here you go:\n```python\nprint(4)\n```"


def make(**kwargs) -> CodeFeedbackEnv:
    return CodeFeedbackEnv([ADD, MUL], **kwargs)


def test_first_observation_is_the_papers_prompt():
    env = make()
    obs, info = env.reset(options={"problem_id": "add"})
    assert obs == {"problem": ADD.statement, "feedback": "", "turn": 0}
    assert info["messages"] == [
        {
            "role": "user",
            "content": "Provide a Python solution for the following competitive programming question: "
            f"Read a and b; print a + b.\n\n{CODE_FORMAT_REMINDER}",
        }
    ]


def test_wrong_program_gets_paper_feedback_with_public_input_expected_and_actual():
    env = make()
    env.reset(options={"problem_id": "add"})
    obs, reward, terminated, truncated, info = env.step(WRONG)
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert obs["feedback"] == (
        "Your code failed the following tests:\n\n"
        "- input `1 2\n` failed:\nExpected output `3\n` but got `4\n`\n"
        "- input `10 -4\n` failed:\nExpected output `6\n` but got `4\n`\n\n"
        f"Give it another try.\n{CODE_FORMAT_REMINDER}"
    )
    assert info["messages"][-2] == {"role": "assistant", "content": WRONG}
    assert info["messages"][-1] == {"role": "user", "content": obs["feedback"]}
    assert [r["verdict"] for r in info["public_results"]] == ["wrong_answer", "wrong_answer"]


def test_runtime_error_feedback_shows_the_traceback():
    env = make()
    env.reset(options={"problem_id": "add"})
    obs, *_ = env.step("```python\nraise ValueError('boom')\n```")
    assert "- input `1 2\n` failed:\nTraceback (most recent call last):" in obs["feedback"]
    assert "ValueError: boom" in obs["feedback"]


def test_passing_public_tests_ends_the_episode_with_the_hidden_outcome_as_counts():
    env = make()
    env.reset(options={"problem_id": "add"})
    obs, reward, terminated, _, info = env.step(CORRECT)
    assert terminated and reward == 1.0 and info["turn"] == 1
    assert info["hidden"] == {"passed": 2, "failed": 0, "skipped": 0, "total": 2, "all_passed": True}


def test_a_step_compiles_its_program_once(monkeypatch, judge):
    """The step's own validity check, its public-test call and its final-test call share one compilation."""
    compiled: list[str] = []
    check = syntax_check.compile_error
    monkeypatch.setattr(syntax_check, "compile_error", lambda program: compiled.append(program) or check(program))
    monkeypatch.setattr(syntax_check, "_checked", {})
    env = make(judge=judge)
    env.reset(options={"problem_id": "add"})
    env.step(WRONG)  # public tests, then feedback
    assert compiled == ["print(4)\n"]
    solution = "a, b = map(int, input().split())\nprint(b + a)\n"
    _, reward, terminated, _, info = env.step(f"```python\n{solution}```")  # public tests, then the final ones
    assert terminated and reward == 1.0 and info["hidden"]["total"] == 2
    assert compiled == ["print(4)\n", solution]


def test_overfitting_the_public_tests_fails_the_hidden_tests():
    env = make(stop_hidden_on_failure=False)
    env.reset(options={"problem_id": "add"})
    _, reward, terminated, _, info = env.step(PUBLIC_ONLY)
    assert terminated and reward == -1.0
    assert info["hidden"]["all_passed"] is False and info["hidden"]["failed"] == 2


def test_no_hidden_test_content_reaches_observations_or_info():
    env = make()
    env.reset(options={"problem_id": "add"})
    seen = []
    for action in (WRONG, "```python\nimport sys\nprint(sys.stdin.read())\n```", PUBLIC_ONLY):
        obs, _, terminated, _, info = env.step(action)
        seen.append(repr(obs) + repr(info))
        if terminated:
            break
    assert SECRET not in "".join(seen)
    assert "5 5" not in "".join(seen)


def test_turn_limit_rewards_and_invalid_turns():
    env = make(max_turns=3)
    env.reset(options={"problem_id": "add"})
    _, r1, t1, _, info = env.step("I don't know.")
    assert (r1, t1, info["valid_response"]) == (-0.2, False, False)
    assert info["messages"][-1]["content"].startswith("Your response did not contain any code")
    _, r2, t2, _, _ = env.step(WRONG)
    assert (r2, t2) == (0.0, False)
    _, r3, t3, _, info = env.step("still no code")
    assert t3 and r3 == pytest.approx(-1.2)
    assert info["hidden"]["all_passed"] is False
    with pytest.raises(ResetNeeded):
        env.step(CORRECT)


def test_no_feedback_ablation_shows_only_retry_and_never_stops_early():
    env = make(feedback="none", max_turns=2)
    env.reset(options={"problem_id": "add"})
    obs, reward, terminated, *_ = env.step(CORRECT)
    assert not terminated and reward == 0.0
    assert obs["feedback"] == f"Give it another try.\n{CODE_FORMAT_REMINDER}"
    _, reward, terminated, *_ = env.step(CORRECT)
    assert terminated and reward == 1.0


def test_random_feedback_comes_from_another_problems_failing_run():
    env = make(feedback="random")
    env.reset(options={"problem_id": "mul"})
    mul_feedback = env.step(WRONG)[0]["feedback"]
    assert mul_feedback == f"Give it another try.\n{CODE_FORMAT_REMINDER}"  # nothing from other problems yet
    env.reset(options={"problem_id": "add"})
    obs, *_ = env.step(WRONG)
    assert "Expected output `6\n` but got `4\n`" in obs["feedback"] and "input `2 3\n`" in obs["feedback"]


def test_same_seed_and_actions_give_the_same_trajectory():
    def rollout(seed):
        env = gym.make("CodeFeedback/Demo-v0")
        obs, info = env.reset(seed=seed)
        trace = [(obs, info["problem_id"])]
        for action in (WRONG, "no code", "```python\nprint(input())\n```"):
            obs, reward, terminated, truncated, info = env.step(action)
            trace.append(
                (
                    obs,
                    reward,
                    terminated,
                    info["public_results"] and [r["verdict"] for r in info["public_results"]],
                    info.get("hidden"),
                )
            )
            if terminated:
                break
        return trace

    assert rollout(3) == rollout(3)
    assert rollout(3)[0][1] != rollout(4)[0][1] or rollout(3)[0][1] != rollout(5)[0][1]


def test_unknown_problem_id_suggests_a_close_one():
    env = make()
    with pytest.raises(UnknownProblemError, match="did you mean 'add'"):
        env.reset(options={"problem_id": "ad"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("add", "reset options must be a dict such as {'problem_id': ...} or None, got str 'add'"),
        (["add"], "must be a dict .* got list"),
        ({"problem_index": "abc"}, "problem_index must be an int, got str 'abc'"),
        ({"problem_index": 1.0}, "problem_index must be an int, got float"),
        ({"problem_index": True}, "problem_index must be an int, got bool"),
        ({"problem_id": []}, r"problem_id must be a str, got list \[\]"),
        ({"problem_id": 0}, "problem_id must be a str, got int"),
        ({"problem": "add"}, "unknown reset option 'problem'; did you mean 'problem_id'"),
        ({"seed": 3}, "unknown reset option 'seed'; known options: problem_id, problem_index"),
        ({"problem_id": "add", "problem_index": 1}, "give problem_id or problem_index, not both"),
    ],
)
def test_bad_reset_options_raise_a_clear_error(options, message):
    env = make()
    with pytest.raises(InvalidOptionsError, match=message):
        env.reset(options=options)
    obs, info = env.reset(options={"problem_id": "add"})  # the environment is still usable
    assert info["problem_id"] == "add"


def test_reset_options_accept_integer_like_indices_and_none_values():
    np = pytest.importorskip("numpy")
    env = make()
    assert env.reset(options={"problem_index": np.int64(1)})[1]["problem_id"] == "mul"
    assert env.reset(options={"problem_id": None, "problem_index": 0})[1]["problem_id"] == "add"
    with pytest.raises(UnknownProblemError, match=r"problem_index -1 is out of range \[0, 2\)"):
        env.reset(options={"problem_index": -1})


@pytest.mark.parametrize("action", [None, 42, ["print(1)"], {"code": "x"}])
def test_non_string_actions_raise_a_clear_error_and_keep_the_episode(action):
    env = make()
    env.reset(options={"problem_id": "add"})
    with pytest.raises(InvalidActionError, match="expects the response text as str"):
        env.step(action)
    _, reward, terminated, *_ = env.step(CORRECT)
    assert terminated and reward == 1.0


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("", None),
        (b"\xff\xfe```python\nprint(3)\n```", "not valid UTF-8"),
        ("```python\nprint(3)\n```\ud800", "not valid UTF-8"),
        ("```python\n" + "#" * 10_000_000 + "\n```", "longer than"),
    ],
)
def test_unusable_responses_are_invalid_turns(action, reason):
    env = make()
    env.reset(options={"problem_id": "add"})
    obs, reward, terminated, _, info = env.step(action)
    assert reward == -0.2 and not terminated and info["valid_response"] is False
    if reason:
        assert reason in obs["feedback"]


def test_utf8_bytes_are_accepted_as_a_response():
    env = make()
    env.reset(options={"problem_id": "add"})
    _, reward, terminated, *_ = env.step(CORRECT.encode())
    assert terminated and reward == 1.0


def test_feedback_truncates_long_fields_with_a_visible_marker():
    env = make(feedback_max_chars=20)
    env.reset(options={"problem_id": "add"})
    obs, *_ = env.step("```python\nprint('y' * 500)\n```")
    assert "... [truncated 481 characters]" in obs["feedback"]  # 500 y and the newline, less 20
