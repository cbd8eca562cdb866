"""The paper's random-feedback ablation: feedback that is real, but about another problem.

RLEF (Gehring et al., 2024) replaces the execution feedback with that of running a *dataset* wrong solution
of another problem on that problem's tests. `RandomFeedback` builds it the same way where the data has
wrong solutions (CodeContests' `incorrect_solutions`, or `incorrect_solutions` in the project's JSONL):
it draws another problem that has some, draws one of them, runs it on that problem's public tests and
formats the failing tests in the usual template. Where this differs from the paper:

- A wrong solution that passes the public tests (common: most fail only hidden tests) gives no feedback,
  so another draw is made, up to `MAX_DRAWS` times.
- When no other problem has wrong solutions (the demo set, HumanEval, MBPP, the CodeContests sample), or
  every draw passed, the message is the feedback of a failing run of the agent's own program on another
  problem, from this environment's recent turns; before there is one, only the retry line is shown.

`source` in each result says which construction produced a message, and from which problem.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from codefeedback_env.feedback import DEFAULT_MAX_CHARS, execution_feedback, retry_only_feedback
from codefeedback_env.judge import Judge
from codefeedback_env.problems import Problem
from codefeedback_env.problems.store import ProblemStore, problem_ids
from codefeedback_env.templates import PAPER_TEMPLATES, Templates

MAX_DRAWS = 8
"""Wrong solutions tried for one message before falling back to the agent's own failing runs."""
POOL_SIZE = 256
"""Recent failing-run messages of this environment kept for the fallback."""

DATASET_SOLUTION = "dataset_incorrect_solution"
AGENT_PROGRAM = "agent_program"
RETRY_ONLY = "retry_only"


@dataclass(frozen=True)
class RandomMessage:
    """One random-feedback message and where it came from."""

    text: str
    source: str
    """`DATASET_SOLUTION` (the paper's construction), `AGENT_PROGRAM` (the fallback) or `RETRY_ONLY`."""
    problem_id: str | None = None
    """The problem whose tests produced the message."""
    solution_index: int | None = None
    """Which of that problem's `incorrect_solutions` ran (`DATASET_SOLUTION` only)."""


def _donors(problems: Sequence[Problem]) -> Sequence[Problem]:
    """The problems with wrong solutions and public tests to run them on (a store's found without decoding)."""
    if isinstance(problems, ProblemStore):
        counts = zip(problems.list_lengths("incorrect_solutions"), problems.list_lengths("public_tests"), strict=True)
        return problems.select(i for i, (wrong, public) in enumerate(counts) if wrong and public)
    return [p for p in problems if p.incorrect_solutions and p.public_tests]


class RandomFeedback:
    """Draws random-feedback messages for the problems of one environment (see the module docstring)."""

    def __init__(
        self,
        problems: Sequence[Problem],
        judge: Judge,
        *,
        templates: Templates = PAPER_TEMPLATES,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        self.donors = _donors(problems)
        self._donor_ids = problem_ids(self.donors)
        self.judge = judge
        self.templates = templates
        self.max_chars = max_chars
        self._runs: dict[tuple[str, int], str | None] = {}
        self._pool: deque[tuple[str, str]] = deque(maxlen=POOL_SIZE)

    def message(self, problem: Problem, real_feedback: str, rng: np.random.Generator) -> RandomMessage:
        """A message for a failed turn on `problem`; `real_feedback` (that turn's own) feeds the fallback pool."""
        others = [(pid, text) for pid, text in self._pool if pid != problem.id]
        self._pool.append((problem.id, real_feedback))
        donors = [i for i, donor_id in enumerate(self._donor_ids) if donor_id != problem.id]
        for _ in range(MAX_DRAWS if donors else 0):
            donor = self.donors[donors[int(rng.integers(len(donors)))]]
            index = int(rng.integers(len(donor.incorrect_solutions)))
            text = self._failing_run(donor, index)
            if text is not None:
                return RandomMessage(text, DATASET_SOLUTION, donor.id, index)
        if not others:
            return RandomMessage(retry_only_feedback(self.templates), RETRY_ONLY)
        problem_id, text = others[int(rng.integers(len(others)))]
        return RandomMessage(text, AGENT_PROGRAM, problem_id)

    def _failing_run(self, donor: Problem, index: int) -> str | None:
        """The feedback of `donor`'s wrong solution `index` on its public tests; None when it passes them,
        or cannot be judged. Each solution runs once per environment."""
        key = (donor.id, index)
        if key not in self._runs:
            result = self.judge.judge(donor, donor.incorrect_solutions[index], "public")
            if result.judge_error:  # an infrastructure failure: not remembered, a later draw may run it again
                return None
            self._runs[key] = None
            if not result.passed:
                self._runs[key] = execution_feedback(
                    donor, donor.public_tests, result, templates=self.templates, max_chars=self.max_chars
                )
        return self._runs[key]
