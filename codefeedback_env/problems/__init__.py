"""Problems, their tests, and loaders for the datasets the project supports."""

from codefeedback_env.problems.records import DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT, Problem, ProblemKind, TestCase

__all__ = ["DEFAULT_MEMORY_LIMIT", "DEFAULT_TIME_LIMIT", "Problem", "ProblemKind", "TestCase"]
from codefeedback_env.problems.errors import DatasetError  # noqa: E402
from codefeedback_env.problems.registry import DATASET_NAMES, load_problems  # noqa: E402

__all__ += ["DATASET_NAMES", "DatasetError", "load_problems"]
