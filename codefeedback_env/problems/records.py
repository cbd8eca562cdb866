"""Typed records for programming problems and their tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from keyword import iskeyword
from typing import Any

DEFAULT_TIME_LIMIT = 10.0
"""Seconds per test when the data gives none (the paper's default)."""

DEFAULT_MEMORY_LIMIT = 1 << 30
"""Bytes per test when the data gives none (the paper's 1 GB)."""

MAX_TIME_LIMIT = 600.0
"""Seconds; a larger limit is taken for a unit mistake (milliseconds given as seconds)."""
MIN_MEMORY_LIMIT = 1 << 20
"""Bytes; a smaller limit is taken for a unit mistake (megabytes given as bytes)."""
MAX_MEMORY_LIMIT = 1 << 40
"""Bytes; more than any host this runs on, and far below what the kernel's limits can hold."""


def time_limit_error(value: Any) -> str | None:
    """Why `value` is not a usable time limit in seconds (a finite number in (0, 600]), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number of seconds, got {type(value).__name__} {value!r}"
    if not math.isfinite(value) or not 0 < value <= MAX_TIME_LIMIT:
        hint = " (milliseconds given as seconds?)" if MAX_TIME_LIMIT < value < math.inf else ""
        return f"expected seconds in (0, {MAX_TIME_LIMIT:g}], got {value!r}{hint}"
    return None


def memory_limit_error(value: Any) -> str | None:
    """Why `value` is not a usable memory limit (a whole number of bytes in [1 MiB, 1 TiB]), or None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected a whole number of bytes, got {type(value).__name__} {value!r}"
    if not MIN_MEMORY_LIMIT <= value <= MAX_MEMORY_LIMIT:
        hint = " (megabytes given as bytes?)" if 0 < value < MIN_MEMORY_LIMIT else ""
        return f"expected bytes in [{MIN_MEMORY_LIMIT}, {MAX_MEMORY_LIMIT}] (1 MiB to 1 TiB), got {value!r}{hint}"
    return None


def float_tolerance_error(value: Any) -> str | None:
    """Why `value` is not a usable real-number tolerance (a number in [0, 1)), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        return f"expected a number in [0, 1) or null, got {value!r}"
    return None


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

    def __post_init__(self) -> None:
        if not (isinstance(self.input, str) and isinstance(self.output, str)):
            for name in ("input", "output"):
                value = getattr(self, name)
                if not isinstance(value, str):
                    raise TypeError(f"TestCase.{name} must be text (str), got {type(value).__name__} {value!r:.60}")


TEST_FIELDS = ("public_tests", "hidden_tests", "generated_tests", "prompt_tests")
TEXT_FIELDS = ("statement", "test_setup", "code_prefix", "source", "difficulty")
PROGRAM_FIELDS = ("solutions", "incorrect_solutions")


def _tuple_of(problem_id: str, field: str, value: Any, kind: type) -> tuple:
    """`value` (a tuple or list of `kind`) as a tuple; TypeError naming the field and the first bad item."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(
            f"Problem {problem_id!r}: {field} must be a tuple of {kind.__name__}, "
            f"got {type(value).__name__} {value!r:.60}"
        )
    for position, item in enumerate(value):
        if not isinstance(item, kind):
            raise TypeError(
                f"Problem {problem_id!r}: {field}[{position}] must be a {kind.__name__}, got {type(item).__name__} "
                f"{item!r:.60}"
            )
    return tuple(value)


@dataclass(frozen=True)
class Problem:
    """A programming problem with public tests (shown to the model) and hidden tests (never shown).

    `hidden_tests` are the dataset's own held-back tests (CodeContests' private tests); `generated_tests`
    are extra tests a dataset generated (CodeContests' generated tests), never shown either. Which of the
    three sets decide an episode's outcome is the environment's `final_tests` option.
    """

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
    incorrect_solutions: tuple[str, ...] = ()
    """Complete programs known to be wrong (CodeContests' `incorrect_solutions`): the paper's random-feedback
    ablation shows another problem the feedback of one of these."""
    entry_point: str | None = None
    """The function under test (function problems)."""
    test_setup: str = ""
    """Trusted code the checker runs before function tests (helpers, imports). Never sent to the program."""
    code_prefix: str = ""
    """Code prepended to a submitted program, e.g. the helper functions of a HumanEval prompt."""
    source: str = ""
    difficulty: str = ""
    generated_tests: tuple[TestCase, ...] = ()
    """Extra hidden tests generated for the dataset (CodeContests' `generated_tests`); may be empty."""
    prompt_tests: tuple[TestCase, ...] = ()
    """The public tests written into a function problem's first prompt (the paper's MBPP+ `${test}` is the
    first of several base tests); empty: every public test."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"Problem.id must be a non-empty string, got {self.id!r:.60}")
        # Checked like a dataset row: `kind` was compared by identity, so kind="function" judged a function
        # problem as stdio (its asserts as stdin, nothing expected on stdout: every silent program passed).
        try:
            object.__setattr__(self, "kind", ProblemKind(self.kind))
        except ValueError:
            raise ValueError(f"Problem {self.id!r}: kind must be 'stdio' or 'function', got {self.kind!r}") from None
        for field in TEST_FIELDS:
            object.__setattr__(self, field, _tuple_of(self.id, field, getattr(self, field), TestCase))
        for field in PROGRAM_FIELDS:
            object.__setattr__(self, field, _tuple_of(self.id, field, getattr(self, field), str))
        for field in TEXT_FIELDS:
            if not isinstance(getattr(self, field), str):
                raise TypeError(f"Problem {self.id!r}: {field} must be a str, got {getattr(self, field)!r:.60}")
        if self.entry_point is not None and not isinstance(self.entry_point, str):
            raise TypeError(f"Problem {self.id!r}: entry_point must be a str, got {self.entry_point!r:.60}")
        for field, error in (
            ("time_limit", time_limit_error(self.time_limit)),
            ("memory_limit", memory_limit_error(self.memory_limit)),
        ):
            if error:
                raise ValueError(f"Problem {self.id!r}: {field}: {error}")
        if isinstance(self.memory_limit, float):  # a whole number of bytes written as 2.5e8
            object.__setattr__(self, "memory_limit", int(self.memory_limit))
        if self.float_tolerance is not None and float_tolerance_error(self.float_tolerance):
            raise ValueError(f"Problem {self.id!r}: float_tolerance: {float_tolerance_error(self.float_tolerance)}")
        if self.kind is ProblemKind.FUNCTION and not self.entry_point:
            raise ValueError(f"Problem {self.id!r}: a function problem needs an entry_point")
        if self.kind is ProblemKind.FUNCTION and not (
            self.entry_point.isidentifier() and not iskeyword(self.entry_point)
        ):
            raise ValueError(
                f"Problem {self.id!r}: entry_point must be the function's name (a Python identifier), "
                f"got {self.entry_point!r:.60}"
            )
        if self.prompt_tests and not set(self.prompt_tests) <= set(self.public_tests):
            raise ValueError(f"Problem {self.id!r}: prompt_tests must be public tests (the prompt never shows others)")

    def tests(self, which: str) -> tuple[TestCase, ...]:
        """The tests of one split: "public", "hidden", "generated" or "all" (the three in that order)."""
        if which == "public":
            return self.public_tests
        if which == "hidden":
            return self.hidden_tests
        if which == "generated":
            return self.generated_tests
        if which == "all":
            return self.public_tests + self.hidden_tests + self.generated_tests
        raise ValueError(f"unknown test split {which!r}; expected 'public', 'hidden', 'generated' or 'all'")
