"""The multi-turn code environment of RLEF: write a program, read the public-test feedback, retry."""

from __future__ import annotations

import difflib
import operator
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from codefeedback_env.errors import InvalidActionError, InvalidOptionsError, UnknownProblemError
from codefeedback_env.extraction import extract_code
from codefeedback_env.feedback import (
    DEFAULT_MAX_CHARS,
    FeedbackMode,
    execution_feedback,
    initial_prompt,
    no_code_feedback,
    retry_only_feedback,
)
from codefeedback_env.judge import Judge, JudgeResult, TestResult, VerdictCache
from codefeedback_env.judge.judge import syntax_error
from codefeedback_env.problems import Problem, load_problems
from codefeedback_env.problems.store import ProblemStore, problem_ids
from codefeedback_env.random_feedback import RandomFeedback
from codefeedback_env.rewards import UNJUDGED_REWARD, RewardConfig, turn_reward
from codefeedback_env.spaces import UnicodeText
from codefeedback_env.templates import PAPER_TEMPLATES, Templates

MAX_TEXT_CHARS = 1 << 20
"""Bound of the observation text spaces."""
DEFAULT_MAX_RESPONSE_CHARS = 200_000
"""Longer responses are invalid turns, not programs to run."""

RESET_OPTIONS = ("problem_id", "problem_index")

TEST_SETS = ("public", "hidden", "generated")
"""The problem's test sets (`Problem.public_tests`, `.hidden_tests`, `.generated_tests`)."""
EVALUATION_FINAL_TESTS = ("hidden", "generated")
"""The paper's evaluation: the final program runs on the private and the generated tests (the env's default)."""
TRAINING_FINAL_TESTS = ("public", "hidden")
"""The paper's training reward: the final program must pass every public and private test (the trainers' default)."""

_shared_judge: Judge | None = None


def shared_judge() -> Judge:
    """One judge per process, shared by every environment that was not given its own.

    It has a verdict cache: training and evaluation often submit a program again (a GRPO group, a retry
    that changes nothing). Pass `judge=Judge()` to an environment for one without (e.g. to time it).
    """
    global _shared_judge
    if _shared_judge is None:
        _shared_judge = Judge(cache=VerdictCache())
    return _shared_judge


class CodeFeedbackEnv(gym.Env[dict[str, Any], str]):
    """Solve a programming problem in up to `max_turns` attempts, seeing public-test feedback after each.

    ## Description
    The RLEF environment (Gehring et al., 2024). Turn 1 shows the problem in the paper's prompt. Each
    action is a model response; its first ```python block (else its first fenced block) is run on the
    problem's public tests. If any fails, the next observation carries feedback listing the failing
    tests (paper template). The episode ends when the public tests pass or after `max_turns`; the last
    program is then judged on the hidden tests, whose content never appears in observations or info.

    ## Action space
    `UnicodeText(0, max_response_chars)`: the response text. `bytes` are decoded as UTF-8; anything
    else raises `InvalidActionError`. Empty, non-UTF-8 or overlong responses are invalid turns.

    ## Observation space
    `Dict(problem=UnicodeText, feedback=UnicodeText, turn=Discrete(max_turns + 1))`: the statement,
    the latest feedback ("" on the first turn) and the number of turns taken.

    ## Rewards
    `rewards.invalid_response` (-0.2) on a turn without valid code: no fenced block, or a block that is not
    Python the interpreter can compile (a syntax error, another language); such code is still run, so the
    feedback shows the interpreter's error as the paper's stack trace. At the end `rewards.solved` (+1) if the
    last program passes every test of `final_tests`, else `rewards.failed` (-1). Zero otherwise, and zero on a
    step the judge could not judge (`info["judge_error"]`): an infrastructure failure is no signal about the
    policy.

    ## Episode end
    `terminated` when the public tests pass (unless `feedback="none"`) or at the turn limit. `truncated`
    only when the judge could not judge a program (a worker lost twice: `info["judge_error"]`): the episode
    stops there, unscored, and trainers must leave it out of the loss (the turn limit is part of the task).

    ## Info
    - `problem_id` (str), `turn` (int)
    - `messages` (list[dict]): the chat transcript in OpenAI format, ending with the user message to answer
    - `code` (str | None): the program extracted from the last response; `valid_response` (bool): it compiles
    - `public_results` (list[dict]): per public test `{"index", "verdict", "time"}` after a step
    - `public_passed` (bool) after a step
    - `hidden` (dict, at episode end only): `{"passed", "failed", "skipped", "total", "all_passed"}` counts
      over the `final_tests` (each test once, public results of the last turn reused)
    - `random_feedback` (dict, `feedback="random"` only, after a failed turn): where the message came from,
      `{"source", "problem_id", "solution_index"}` (see `codefeedback_env.random_feedback`)
    - `judge_error` (str, only on a truncated step): why the public or hidden tests could not be judged; the
      step then has no `hidden` key and reward 0. A test that could not be judged beside one the program
      really failed leaves no doubt: that step is a failure like any other (the test counts as skipped)

    ## Arguments
    - `dataset`: a dataset name (`demo`, `codecontests`, `humaneval`, `mbpp`, `mbpp+`), a file, or problems
      (a `ProblemStore` is used as is: its problems stay memory-mapped, decoded when an episode starts)
    - `dataset_options`: keyword arguments for the loader (e.g. `{"path": ...}` for `codecontests`)
    - `max_turns` (3), `feedback` ("execution", "none", "random"), `rewards`, `templates`,
      `feedback_max_chars` (cap per shown input/output/traceback), `max_response_chars`,
      `stop_hidden_on_failure` (skip the remaining final tests after one fails; default True),
      `final_tests`: the test sets that decide the final reward, among "public", "hidden" (the dataset's
      private tests) and "generated"; default `EVALUATION_FINAL_TESTS` (hidden + generated, the paper's
      evaluation); training uses `TRAINING_FINAL_TESTS` (public + hidden, the paper's reward),
      `judge` (shared per process by default)

    ## Version history
    - v0: initial version; a judge error truncates the episode with reward 0 and `info["judge_error"]`.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}  # fps: unused by text rendering, asked by checkers

    def __init__(
        self,
        dataset: str | Path | Sequence[Problem] = "demo",
        *,
        dataset_options: dict[str, Any] | None = None,
        max_turns: int = 3,
        feedback: str | FeedbackMode = FeedbackMode.EXECUTION,
        rewards: RewardConfig | None = None,
        templates: Templates = PAPER_TEMPLATES,
        feedback_max_chars: int = DEFAULT_MAX_CHARS,
        max_response_chars: int = DEFAULT_MAX_RESPONSE_CHARS,
        stop_hidden_on_failure: bool = True,
        final_tests: Sequence[str] = EVALUATION_FINAL_TESTS,
        judge: Judge | None = None,
        render_mode: str | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {max_turns}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        if isinstance(dataset, (str, Path)):
            problems = load_problems(dataset, **(dataset_options or {}))
        else:
            problems = dataset if isinstance(dataset, ProblemStore) else list(dataset)
        if not problems:
            raise ValueError(f"dataset {dataset!r} holds no judgeable problems")
        self.problems: Sequence[Problem] = problems
        self._index = {problem_id: i for i, problem_id in enumerate(problem_ids(problems))}
        self.max_turns = max_turns
        self.feedback_mode = FeedbackMode(feedback)
        self.rewards = rewards or RewardConfig()
        self.templates = templates
        self.feedback_max_chars = feedback_max_chars
        self.max_response_chars = max_response_chars
        self.stop_hidden_on_failure = stop_hidden_on_failure
        self.final_tests = checked_final_tests(final_tests)
        self.judge = judge or shared_judge()
        self.render_mode = render_mode

        self.action_space = UnicodeText(max_response_chars)
        self.observation_space = spaces.Dict(
            {
                "problem": UnicodeText(MAX_TEXT_CHARS),
                "feedback": UnicodeText(MAX_TEXT_CHARS),
                "turn": spaces.Discrete(max_turns + 1),
            }
        )

        self.problem: Problem | None = None
        self.turn = 0
        self.messages: list[dict[str, str]] = []
        self.done = True
        self._feedback = ""
        self._random = (
            RandomFeedback(problems, self.judge, templates=templates, max_chars=feedback_max_chars)
            if self.feedback_mode is FeedbackMode.RANDOM
            else None
        )
        self._random_source: dict[str, Any] | None = None

    # -- episode ------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode on `options["problem_id"]` (or `"problem_index"`), else a seeded random problem.

        Other options, or values of the wrong type, raise `InvalidOptionsError`.
        """
        super().reset(seed=seed)
        self.problem = self.problems[self._select(options)]
        self.turn = 0
        self.done = False
        self._feedback = ""
        self.messages = [{"role": "user", "content": initial_prompt(self.problem, self.templates)}]
        return self._observation(), self._info()

    def _select(self, options: Any) -> int:
        problem_id, index = _reset_options(options)
        if problem_id is not None:
            if problem_id not in self._index:
                close = difflib.get_close_matches(problem_id, list(self._index), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise UnknownProblemError(f"no problem with id {problem_id!r} in this dataset{hint}")
            return self._index[problem_id]
        if index is not None:
            if not 0 <= index < len(self.problems):
                raise UnknownProblemError(f"problem_index {index} is out of range [0, {len(self.problems)})")
            return index
        return int(self.np_random.integers(len(self.problems)))

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.done or self.problem is None:
            raise ResetNeeded("the episode is over; call reset() before step()")
        response, invalid_reason = self._read_action(action)
        code = extract_code(response) if invalid_reason is None else None
        self.turn += 1
        self.messages.append({"role": "assistant", "content": response})

        valid = code is not None and syntax_error(self._program(code)) is None
        public: JudgeResult | None = None
        if code is not None:
            public = self.judge.judge(self.problem, code, "public")
        public_passed = public is not None and public.passed
        early_stop = public_passed and self.feedback_mode is not FeedbackMode.NONE
        final = early_stop or self.turn >= self.max_turns

        info: dict[str, Any] = {
            "code": code,
            "valid_response": valid,
            "public_passed": public_passed,
            "public_results": [
                {"index": r.index, "verdict": r.verdict.value, "time": round(r.time, 4)}
                for r in (public.results if public else ())
            ],
        }
        if public is not None and public.judge_error:
            return self._unjudged(public.judge_error, info)
        hidden_passed = False
        if final:
            self.done = True
            hidden = self._judge_final(code, public)
            if isinstance(hidden, str):
                return self._unjudged(hidden, info)
            hidden_passed = hidden["all_passed"]
            info["hidden"] = hidden
        self._random_source = None
        self._feedback = self._feedback_for(code, public, invalid_reason)
        if self._random_source is not None:
            info["random_feedback"] = self._random_source
        if not final:
            self.messages.append({"role": "user", "content": self._feedback})
        reward = turn_reward(self.rewards, valid=valid, final=final, hidden_passed=hidden_passed)
        return self._observation(), reward, final, False, self._info() | info

    def _unjudged(self, reason: str, info: dict[str, Any]) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """End the episode, truncated and unscored: the judge could not judge this step's program."""
        self.done = True
        self._feedback = ""
        return self._observation(), UNJUDGED_REWARD, False, True, self._info() | info | {"judge_error": reason}

    def _read_action(self, action: Any) -> tuple[str, str | None]:
        """The response text, and why it cannot be run (None when it can)."""
        if isinstance(action, (bytes, bytearray)):
            try:
                action = bytes(action).decode("utf-8")
            except UnicodeDecodeError:
                return "", "the response is not valid UTF-8"
        if not isinstance(action, str):
            raise InvalidActionError(
                f"step() expects the response text as str (or UTF-8 bytes), got {type(action).__name__}"
            )
        if len(action) > self.max_response_chars:
            return action[
                : self.max_response_chars
            ], f"the response is longer than {self.max_response_chars} characters"
        try:
            action.encode("utf-8")
        except UnicodeEncodeError:
            return action.encode("utf-8", "replace").decode("utf-8"), "the response is not valid UTF-8"
        return action, None

    def _program(self, code: str) -> str:
        """The program the judge runs for `code` (a function problem's prefix first)."""
        assert self.problem is not None
        return f"{self.problem.code_prefix}\n{code}" if self.problem.code_prefix else code

    def _judge_final(self, code: str | None, public: JudgeResult | None) -> dict[str, Any] | str:
        """Counts over the final tests, or the judge error (str) when they could not be judged.

        A test in several sets counts once. The public tests' results of this turn are reused, not run again;
        when one failed and `stop_hidden_on_failure` is set, the other final tests are skipped.
        """
        assert self.problem is not None
        shown = self.problem.public_tests if "public" in self.final_tests else ()
        others = (test for name in self.final_tests if name != "public" for test in self.problem.tests(name))
        rest = tuple(test for test in dict.fromkeys(others) if test not in shown)
        total = len(shown) + len(rest)
        if code is None:
            return {"passed": 0, "failed": total, "skipped": 0, "total": total, "all_passed": False}
        results: list[TestResult] = list(public.results) if shown and public is not None else []
        stop = self.stop_hidden_on_failure and any(r.failed for r in results)
        if rest and not stop:
            results += self.judge.judge(self.problem, code, rest, stop_on_failure=self.stop_hidden_on_failure).results
        outcome = JudgeResult(tuple(results))
        if outcome.judge_error:
            return outcome.judge_error
        passed, failed = outcome.num_passed, len(outcome.failures)
        return {
            "passed": passed,
            "failed": failed,
            "skipped": total - passed - failed,  # beside a failure, an unjudged test counts as skipped
            "total": total,
            "all_passed": passed == total > 0,
        }

    def _feedback_for(self, code: str | None, public: JudgeResult | None, invalid_reason: str | None) -> str:
        """The next user message (also kept on the final turn, for inspection)."""
        assert self.problem is not None
        if self.feedback_mode is FeedbackMode.NONE:
            return retry_only_feedback(self.templates)
        if code is None:
            message = no_code_feedback(self.templates)
            return (
                message if invalid_reason is None else f"Your response was not accepted: {invalid_reason}.\n\n{message}"
            )
        assert public is not None
        if public.passed:
            return ""
        real = execution_feedback(
            self.problem, self.problem.public_tests, public, templates=self.templates, max_chars=self.feedback_max_chars
        )
        if self._random is not None:
            message = self._random.message(self.problem, real, self.np_random)
            self._random_source = {
                "source": message.source, "problem_id": message.problem_id, "solution_index": message.solution_index
            }  # fmt: skip
            return message.text
        return real

    # -- views --------------------------------------------------------------------------------

    def _observation(self) -> dict[str, Any]:
        assert self.problem is not None
        return {"problem": self.problem.statement, "feedback": self._feedback, "turn": self.turn}

    def _info(self) -> dict[str, Any]:
        assert self.problem is not None
        return {
            "problem_id": self.problem.id,
            "turn": self.turn,
            "messages": [dict(message) for message in self.messages],
        }

    def render(self) -> str | None:
        """The transcript as text ("ansi" mode)."""
        if self.render_mode != "ansi":
            return None
        return render_transcript(self.messages)


def render_transcript(messages: Sequence[Mapping[str, str]]) -> str:
    """A chat transcript as text, one `[role]` header per message (the "ansi" render of the environments)."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def checked_final_tests(final_tests: Any) -> tuple[str, ...]:
    """`final_tests` as a tuple of known test-set names; raises ValueError naming the fix."""
    names = (final_tests,) if isinstance(final_tests, str) else tuple(final_tests)
    unknown = [name for name in names if name not in TEST_SETS]
    if unknown or not names:
        raise ValueError(
            f"final_tests={final_tests!r} is invalid: use one or more of {', '.join(TEST_SETS)} (paper: "
            f"{'+'.join(TRAINING_FINAL_TESTS)} in training, {'+'.join(EVALUATION_FINAL_TESTS)} in evaluation)"
        )
    return tuple(dict.fromkeys(names))


def _reset_options(options: Any) -> tuple[str | None, int | None]:
    """`reset`'s options checked: (problem_id, problem_index), either or both None; raises InvalidOptionsError."""
    if options is None:
        return None, None
    if not isinstance(options, Mapping):
        raise InvalidOptionsError(
            f"reset options must be a dict such as {{'problem_id': ...}} or None, got {type(options).__name__} "
            f"{options!r:.60}"
        )
    for key in options:
        if key not in RESET_OPTIONS:
            close = difflib.get_close_matches(str(key), RESET_OPTIONS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known options: {', '.join(RESET_OPTIONS)}"
            raise InvalidOptionsError(f"unknown reset option {key!r}; {hint}")
    problem_id, index = options.get("problem_id"), options.get("problem_index")
    if problem_id is not None and not isinstance(problem_id, str):
        raise InvalidOptionsError(f"problem_id must be a str, got {type(problem_id).__name__} {problem_id!r:.60}")
    if index is not None:
        try:
            if isinstance(index, bool):
                raise TypeError
            index = operator.index(index)
        except TypeError:
            raise InvalidOptionsError(
                f"problem_index must be an int, got {type(index).__name__} {index!r:.60}"
            ) from None
    if problem_id is not None and index is not None:
        raise InvalidOptionsError("give problem_id or problem_index, not both")
    return problem_id, index
