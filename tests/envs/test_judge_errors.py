"""A step the judge cannot judge ends the episode truncated, with reward 0 and `info["judge_error"]`."""

from __future__ import annotations

import pytest
from gymnasium.error import ResetNeeded

from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.judge import Judge
from codefeedback_env.rewards import UNJUDGED_REWARD
from tests.envs.test_code_feedback_env import ADD, CORRECT, SECRET, WRONG
from tests.failing_backend import LOST_REASON, FailingBackend


def run_step(fails, action: str, max_turns: int = 3):
    backend = FailingBackend(fails)
    with Judge(backend, max_workers=2) as judge:
        env = CodeFeedbackEnv([ADD], judge=judge, max_turns=max_turns)
        env.reset(options={"problem_id": "add"})
        return env, env.step(action), backend


@pytest.mark.parametrize("action", [CORRECT, WRONG])
def test_public_tests_that_cannot_be_judged_truncate_the_episode_unscored(action):
    env, (obs, reward, terminated, truncated, info), backend = run_step(lambda program, stdin: True, action)
    assert (reward, terminated, truncated) == (UNJUDGED_REWARD, False, True) == (0.0, False, True)
    assert LOST_REASON in info["judge_error"] and "hidden" not in info
    assert obs["feedback"] == "" and info["messages"][-1]["role"] == "assistant", "no feedback from a lost run"
    assert {r["verdict"] for r in info["public_results"]} == {"judge_error"}
    assert backend.lost == 2 * len(ADD.public_tests), "each lost test is retried once"
    with pytest.raises(ResetNeeded):
        env.step(CORRECT)


def test_hidden_tests_that_cannot_be_judged_truncate_the_last_step_unscored():
    hidden_inputs = {case.input for case in ADD.hidden_tests}
    env, (obs, reward, terminated, truncated, info), _ = run_step(
        lambda program, stdin: stdin in hidden_inputs, CORRECT
    )
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info["public_passed"] is True and "hidden" not in info
    assert LOST_REASON in info["judge_error"] and SECRET not in repr(info)


def test_a_wrong_last_turn_that_cannot_be_judged_is_not_a_failure():
    hidden_inputs = {case.input for case in ADD.hidden_tests}
    _, (_, reward, terminated, truncated, info), _ = run_step(
        lambda program, stdin: stdin in hidden_inputs, WRONG, max_turns=1
    )
    assert (reward, terminated, truncated) == (0.0, False, True) and "judge_error" in info


def test_judged_steps_carry_no_judge_error_key():
    _, (_, reward, terminated, truncated, info), _ = run_step(lambda program, stdin: False, CORRECT)
    assert (reward, terminated, truncated) == (1.0, True, False) and "judge_error" not in info


def test_a_real_failure_beside_a_lost_test_is_a_scored_failure_with_feedback_on_the_failure_only():
    """The first public test is lost, the second fails for real: the step is an ordinary failing turn, and the
    feedback shows the real failure, nothing about the lost run."""
    first, second = (case.input for case in ADD.public_tests)
    env, (obs, reward, terminated, truncated, info), _ = run_step(lambda program, stdin: stdin == first, WRONG)
    assert (reward, terminated, truncated) == (0.0, False, False) and "judge_error" not in info
    assert [r["verdict"] for r in info["public_results"]] == ["judge_error", "wrong_answer"]
    assert second.strip() in obs["feedback"] and first.strip() not in obs["feedback"]
    assert "could not be judged" not in obs["feedback"] and LOST_REASON not in obs["feedback"]


def test_a_real_hidden_failure_beside_a_lost_hidden_test_scores_the_episode_as_failed():
    lost = ADD.hidden_tests[0].input
    _, (_, reward, terminated, truncated, info), _ = run_step(lambda program, stdin: stdin == lost, WRONG, max_turns=1)
    assert (reward, terminated, truncated) == (-1.0, True, False) and "judge_error" not in info
    assert info["hidden"] == {"passed": 0, "failed": 1, "skipped": 1, "total": 2, "all_passed": False}
