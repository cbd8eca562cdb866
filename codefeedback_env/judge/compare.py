"""Output comparison as in competitive programming: whitespace-separated tokens, optional float tolerance."""

from __future__ import annotations

import math


def _as_float(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _is_integer_token(token: str) -> bool:
    return token.lstrip("+-").isdigit()


def tokens_match(expected: str, actual: str, tolerance: float | None) -> bool:
    """Whether two tokens are equal, allowing `tolerance` (absolute or relative) between real numbers.

    Two integer tokens always compare exactly, so a tolerance never accepts an off-by-one count;
    with a tolerance, "20" and "20.0" are the same real number.
    """
    if expected == actual:
        return True
    if tolerance is None or (_is_integer_token(expected) and _is_integer_token(actual)):
        return False
    want, got = _as_float(expected), _as_float(actual)
    if want is None or got is None:
        return False
    return abs(want - got) <= tolerance * max(1.0, abs(want))


def outputs_match(expected: str, actual: str, tolerance: float | None = None) -> bool:
    """Compare program output with the expected output token by token, ignoring whitespace layout."""
    want, got = expected.split(), actual.split()
    if len(want) != len(got):
        return False
    return all(tokens_match(w, g, tolerance) for w, g in zip(want, got, strict=True))
