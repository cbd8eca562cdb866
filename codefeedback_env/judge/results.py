"""Typed results of judging a program: one verdict per test, decided in the parent process."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """`text` with every lone surrogate (which no UTF-8 encoder takes) replaced by U+FFFD.

    Text a program wrote reaches results through plain data, which carries `'\\ud800'` as it is; such a string
    would make the tokenizer, a UTF-8 file or a JSON answer that receives the feedback raise.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text)
    return text


class Verdict(StrEnum):
    """The outcome of one test."""

    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    RUNTIME_ERROR = "runtime_error"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    SYNTAX_ERROR = "syntax_error"
    SKIPPED = "skipped"
    """Not run because an earlier test failed and the caller asked to stop at the first failure."""
    JUDGE_ERROR = "judge_error"
    """The judge could not run the test (its worker was lost, twice): no verdict on the program, neither a pass
    nor a failure. `TestResult.detail` says why."""


@dataclass(frozen=True)
class TestResult:
    """What happened on one test. Output fields are excerpts, bounded in size."""

    __test__ = False  # not a pytest test class

    index: int
    verdict: Verdict
    stdout: str = ""
    """Start of the program's output (stdio), or the repr of the values it returned (function)."""
    stderr: str = ""
    """End of the program's error output."""
    detail: str = ""
    """The traceback (runtime or syntax error) or the failed assertion (function tests)."""
    time: float = 0.0
    """Wall-clock seconds."""

    def __post_init__(self) -> None:
        # Valid Unicode whatever the program wrote (see `valid_text`): readers encode these as UTF-8.
        for name in ("stdout", "stderr", "detail"):
            text = getattr(self, name)
            if not text.isascii():
                object.__setattr__(self, name, valid_text(text))

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.ACCEPTED

    @property
    def failed(self) -> bool:
        """The test ran and the program did not pass it: a fact about the program (skipped and unjudged tests
        are neither passed nor failed)."""
        return self.verdict not in (Verdict.ACCEPTED, Verdict.SKIPPED, Verdict.JUDGE_ERROR)


@dataclass(frozen=True)
class JudgeResult:
    """The verdicts of one program on a sequence of tests."""

    results: tuple[TestResult, ...]

    @property
    def passed(self) -> bool:
        """True when every test was run and accepted (vacuously true for no tests)."""
        return all(r.passed for r in self.results)

    @property
    def judge_error(self) -> str | None:
        """Why the judge could not judge some test (the first one's reason) when that leaves the outcome open;
        None when every test has a verdict, or when some test that ran failed.

        A result with a judge error says nothing about the program: score it neither as a pass nor as a
        failure. A failing verdict is a fact about the program whatever the unjudged tests would have given
        (each test runs in its own process from a clean start, so a lost run cannot cause another test's
        verdict), so a result with one is a failure like any other: `passed` is False and `failures` lists the
        tests that ran and failed; the unjudged tests stay `JUDGE_ERROR`, never listed as failures."""
        if any(r.failed for r in self.results):
            return None
        return next((r.detail or "unknown" for r in self.results if r.verdict is Verdict.JUDGE_ERROR), None)

    @property
    def num_passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[TestResult, ...]:
        """Tests that ran and did not pass (skipped tests and judge errors are not failures)."""
        return tuple(r for r in self.results if r.failed)

    def counts(self) -> dict[str, int]:
        """Number of tests per verdict value."""
        return dict(Counter(r.verdict.value for r in self.results))

    def to_dict(self) -> dict:
        """Plain-data form, e.g. for JSON output."""
        return {
            "passed": self.passed,
            "judge_error": self.judge_error,
            "num_passed": self.num_passed,
            "num_tests": len(self.results),
            "tests": [
                {
                    "index": r.index,
                    "verdict": r.verdict.value,
                    "time": round(r.time, 4),
                    "stdout": r.stdout,
                    "stderr": r.stderr,
                    "detail": r.detail,
                }
                for r in self.results
            ],
        }
