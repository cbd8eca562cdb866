"""Turn public-test verdicts into the next user message, in the paper's format."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from codefeedback_env.judge.results import JudgeResult, TestResult, Verdict
from codefeedback_env.problems.records import Problem, ProblemKind, TestCase
from codefeedback_env.templates import PAPER_TEMPLATES, Templates

DEFAULT_MAX_CHARS = 1000
"""Longest input, output or traceback shown in a feedback message before it is cut."""


class FeedbackMode(StrEnum):
    """The paper's feedback ablations."""

    EXECUTION = "execution"
    """Failing public tests with expected and actual output (the default)."""
    NONE = "none"
    """Only "Give it another try"; the episode never ends early."""
    RANDOM = "random"
    """Feedback of a failing run on another problem: a dataset wrong solution where the data has some (the
    paper), see `codefeedback_env.random_feedback`."""


def truncate(text: str, max_chars: int) -> str:
    """Cut `text` to `max_chars` with a visible marker saying how much was left out."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}... [truncated {len(text) - max_chars} characters]"


def _field(text: str, max_chars: int) -> str:
    """A test's input or output as the paper shows it: as given, trailing newline included (cut if long)."""
    return truncate(text, max_chars)


def _block(text: str, max_chars: int) -> str:
    """A traceback or an assert, on lines of its own: without its trailing newline (cut if long)."""
    return truncate(text.rstrip("\n"), max_chars)


def _stdio_line(test: TestCase, result: TestResult, templates: Templates, max_chars: int) -> str:
    shown = _field(test.input, max_chars)
    if result.verdict is Verdict.WRONG_ANSWER:
        return templates.wrong_answer.format(
            input=shown, expected=_field(test.output, max_chars), observed=_field(result.stdout, max_chars)
        )
    if result.verdict is Verdict.TIME_LIMIT:
        return templates.time_limit.format(input=shown)
    if result.verdict is Verdict.MEMORY_LIMIT:
        return templates.memory_limit.format(input=shown)
    if result.verdict is Verdict.OUTPUT_LIMIT:
        return templates.output_limit.format(input=shown)
    traceback = _block(result.detail or result.stderr, max_chars)
    return templates.runtime_error.format(input=shown, traceback=traceback)


def _function_line(test: TestCase, result: TestResult, templates: Templates, max_chars: int) -> str:
    shown = _block(test.input, max_chars)
    if result.passed:
        return templates.assert_passed.format(input=shown)
    if result.verdict is Verdict.TIME_LIMIT:
        return templates.assert_time_limit.format(input=shown)
    if result.verdict is Verdict.WRONG_ANSWER:  # the assert itself failed
        return templates.assert_failed.format(input=shown, detail=_block(result.detail, max_chars))
    return templates.assert_error.format(input=shown, traceback=_block(result.detail or result.stderr, max_chars))


def execution_feedback(
    problem: Problem,
    tests: Sequence[TestCase],
    result: JudgeResult,
    *,
    templates: Templates = PAPER_TEMPLATES,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> str:
    """The feedback message for a program that failed some of `tests` (judged into `result`)."""
    if problem.kind is ProblemKind.FUNCTION:  # the paper's MBPP+ feedback: failures first, then successes
        pairs = sorted(zip(tests, result.results, strict=True), key=lambda pair: pair[1].passed)
        lines = [_function_line(t, r, templates, max_chars) for t, r in pairs if r.verdict is not Verdict.SKIPPED]
        return templates.function_header + "\n".join(lines) + "\n\n" + templates.function_retry
    lines = [
        _stdio_line(t, r, templates, max_chars)
        for t, r in zip(tests, result.results, strict=True)
        if r.failed  # not a skipped or unjudged test: only what the program did
    ]
    return templates.failed_header + "\n".join(lines) + "\n\n" + templates.retry


def no_code_feedback(templates: Templates = PAPER_TEMPLATES) -> str:
    """The message after a response without a code block."""
    return f"{templates.no_code}\n\n{templates.retry}"


def retry_only_feedback(templates: Templates = PAPER_TEMPLATES) -> str:
    """The "no feedback" ablation's message."""
    return templates.retry


def initial_prompt(problem: Problem, templates: Templates = PAPER_TEMPLATES) -> str:
    """The first user message: the paper's prompt, or its function-style variant listing the prompt's asserts
    (`Problem.prompt_tests`, else every public test)."""
    if problem.kind is ProblemKind.FUNCTION:
        tests = "\n".join(test.input.strip() for test in problem.prompt_tests or problem.public_tests)
        return templates.function_prompt.format(problem=problem.statement.strip(), tests=tests)
    return templates.stdio_prompt.format(problem=problem.statement.strip())
