"""Gymnasium environments."""

from codefeedback_env.envs.code_feedback_env import (
    EVALUATION_FINAL_TESTS,
    TEST_SETS,
    TRAINING_FINAL_TESTS,
    CodeFeedbackEnv,
)

__all__ = ["EVALUATION_FINAL_TESTS", "TEST_SETS", "TRAINING_FINAL_TESTS", "CodeFeedbackEnv"]
