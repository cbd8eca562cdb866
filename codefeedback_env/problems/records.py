"""Typed records for programming problems and their tests."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_TIME_LIMIT = 10.0
"""Seconds per test when the data gives none (the paper's default)."""

DEFAULT_MEMORY_LIMIT = 1 << 30
"""Bytes per test when the data gives none (the paper's 1 GB)."""


class ProblemKind(StrEnum):
    """How a problem's tests exercise a program."""

    STDIO = "stdio"
    """The program reads a test's input on stdin and its stdout is compared with the expected output."""
    FUNCTION = "function"
    """The program defines a function; each test is trusted checker code (asserts) calling it."""


@dataclass(frozen=True)
class TestCase:
    """One test: stdin and expected stdout (stdio), or checker code such as an assert (function)."""

    __test__ = False  # not a pytest test class

    input: str
    output: str = ""


@dataclass(frozen=True)
class Problem:
    """A programming problem with public tests (shown to the model) and hidden tests (never shown)."""

    id: str
    statement: str
    public_tests: tuple[TestCase, ...]
    hidden_tests: tuple[TestCase, ...]
    kind: ProblemKind = ProblemKind.STDIO
    time_limit: float = DEFAULT_TIME_LIMIT
    memory_limit: int = DEFAULT_MEMORY_LIMIT
    float_tolerance: float | None = None
    """Absolute/relative tolerance for tokens that are floating-point numbers; None compares exactly."""
    solutions: tuple[str, ...] = ()
    """Complete reference programs known to be correct."""
    entry_point: str | None = None
    """The function under test (function problems)."""
    test_setup: str = ""
    """Trusted code the checker runs before function tests (helpers, imports). Never sent to the program."""
    code_prefix: str = ""
    """Code prepended to a submitted program, e.g. the helper functions of a HumanEval prompt."""
    source: str = ""
    difficulty: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("Problem.id must be a non-empty string")
        if self.time_limit <= 0:
            raise ValueError(f"Problem {self.id!r}: time_limit must be > 0 seconds, got {self.time_limit}")
        if self.memory_limit <= 0:
            raise ValueError(f"Problem {self.id!r}: memory_limit must be > 0 bytes, got {self.memory_limit}")
        if self.kind is ProblemKind.FUNCTION and not self.entry_point:
            raise ValueError(f"Problem {self.id!r}: a function problem needs an entry_point")

    def tests(self, which: str) -> tuple[TestCase, ...]:
        """The tests of one split: "public", "hidden" or "all"."""
        if which == "public":
            return self.public_tests
        if which == "hidden":
            return self.hidden_tests
        if which == "all":
            return self.public_tests + self.hidden_tests
        raise ValueError(f"unknown test split {which!r}; expected 'public', 'hidden' or 'all'")
