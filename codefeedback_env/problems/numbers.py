"""What counts as an integer or a real-number token in expected outputs, and which problems have real answers.

A token is an integer if it is digits with an optional sign (`-12`, `+3`, `007`), and a real number if
it is a decimal number with a point or an exponent (`0.5`, `-2.`, `.25`, `1e-9`, `3.0E+5`). Words,
`nan`, `inf`, `1_000` and hexadecimal are neither, so they only ever compare as text.
"""

from __future__ import annotations

from collections.abc import Iterable

from codefeedback_env.problems.records import TestCase

_NOT_NUMBER_CHARS = {ord(c): None for c in "0123456789+-.eE"}
"""`str.translate` table deleting the characters a decimal number may have: what is left disqualifies."""


def is_integer_token(token: str) -> bool:
    """ASCII digits with an optional sign."""
    digits = token[1:] if token[:1] in ("+", "-") else token
    return digits.isascii() and digits.isdigit()


def number_value(token: str) -> float | None:
    """The value of an integer or decimal real token (point and/or exponent), else None.

    Only digits, signs, `.`, `e` and `E` are allowed, so `nan`, `inf`, `1_000` and non-ASCII digits,
    which `float()` alone would take, are not numbers. Huge values come back as an infinity.
    """
    if not token.isascii() or token.translate(_NOT_NUMBER_CHARS):
        return None
    try:
        return float(token)
    except ValueError:
        return None


def is_number_token(token: str) -> bool:
    """An integer or a decimal real number (point and/or exponent); never `nan`, `inf` or `1_000`."""
    return number_value(token) is not None


def is_real_token(token: str) -> bool:
    """A decimal number that is not an integer token: it has a point or an exponent."""
    return is_number_token(token) and not is_integer_token(token)


def has_real_answers(tests: Iterable[TestCase]) -> bool:
    """Whether any test's expected output holds a real-number token (the problem's answers are real)."""
    return any(_holds_real_token(case.output) for case in tests)


def _holds_real_token(text: str) -> bool:
    # Substring tests first: a real token needs a point or an exponent, and most outputs have neither.
    if "." not in text and "e" not in text and "E" not in text:
        return False
    return any(is_real_token(token) for token in text.split() if "." in token or "e" in token or "E" in token)


def tolerance_for(tests: Iterable[TestCase], tolerance: float | None) -> float | None:
    """`tolerance` for a problem whose expected outputs (all its tests) hold a real number, else None."""
    return tolerance if tolerance is not None and has_real_answers(tests) else None
