"""codefeedback_env: a Gymnasium multi-turn code environment with execution feedback (RLEF).

Importing the package registers the environments; it imports neither torch nor transformers.
"""

from codefeedback_env.feedback import FeedbackMode
from codefeedback_env.judge import Judge, JudgeResult, TestResult, Verdict
from codefeedback_env.problems import Problem, ProblemKind, TestCase, load_problems
from codefeedback_env.registration import ENV_IDS, REMOTE_ENV_ID, register_envs
from codefeedback_env.rewards import RewardConfig

register_envs()

__version__ = "0.1.0"

__all__ = [
    "ENV_IDS",
    "REMOTE_ENV_ID",
    "FeedbackMode",
    "Judge",
    "JudgeResult",
    "Problem",
    "ProblemKind",
    "RewardConfig",
    "TestCase",
    "TestResult",
    "Verdict",
    "load_problems",
]
