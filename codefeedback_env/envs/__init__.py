"""Gymnasium environments."""

from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv

__all__ = ["CodeFeedbackEnv"]
