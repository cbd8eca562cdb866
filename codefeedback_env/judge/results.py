"""Typed results of judging a program: one verdict per test, decided in the parent process."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum


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

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.ACCEPTED


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
        """Why the judge could not judge some test (the first one's reason), or None when every test has a
        verdict. A result with a judge error says nothing about the program: do not score it as a pass or as a
        failure (`passed` is False, `failures` leaves those tests out)."""
        return next((r.detail or "unknown" for r in self.results if r.verdict is Verdict.JUDGE_ERROR), None)

    @property
    def num_passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[TestResult, ...]:
        """Tests that ran and did not pass (skipped tests and judge errors are not failures)."""
        unjudged = (Verdict.SKIPPED, Verdict.JUDGE_ERROR)
        return tuple(r for r in self.results if not r.passed and r.verdict not in unjudged)

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
