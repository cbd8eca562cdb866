"""How a training episode runs: the environment options shared by the RLEF config and the GRPO example."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codefeedback_env.envs import TRAINING_FINAL_TESTS
from codefeedback_env.envs.code_feedback_env import checked_final_tests
from codefeedback_env.feedback import FeedbackMode


@dataclass
class EpisodeArguments:
    """The training environment's turn limit, feedback mode and reward tests; `env_kwargs()` builds it.

    Checked on construction. A subclass whose `__post_init__` does not reach this one (`RLEFConfig`, through
    TRL's) calls `EpisodeArguments.__post_init__(self)` itself.
    """

    max_turns: int = field(default=3, metadata={"help": "Maximum turns per episode (paper: 3)."})
    feedback: str = field(
        default="execution",
        metadata={
            "help": "Feedback between training turns: 'execution' (the failing public tests, paper), 'random' "
            "(another problem's failing run) or 'none' (only 'Give it another try.'), the paper's ablations. "
            "Evaluation always shows execution feedback."
        },
    )
    final_tests: list[str] = field(
        default_factory=lambda: list(TRAINING_FINAL_TESTS),
        metadata={
            "help": "Test sets that decide the final reward in training, among public, hidden (private) and "
            "generated (paper: public hidden). Evaluation uses the environment's default, hidden generated."
        },
    )

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError(f"max_turns={self.max_turns!r} is invalid: use at least 1 (paper: 3).")
        if self.feedback not in tuple(FeedbackMode):
            raise ValueError(
                f"feedback={self.feedback!r} is invalid: use one of {', '.join(FeedbackMode)} (paper: execution)."
            )
        self.final_tests = list(checked_final_tests(self.final_tests))

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the training environment: `CodeFeedbackEnv(problems, **args.env_kwargs())`."""
        return {"max_turns": self.max_turns, "feedback": self.feedback, "final_tests": tuple(self.final_tests)}
