"""Output comparison as in competitive programming: whitespace-separated tokens, optional real tolerance.

Without a tolerance every token compares as text, like a contest's default token checker. With one
(set per problem, see `problems.numbers.tolerance_for`), an expected real-number token accepts any
number within `tolerance` (absolute or relative), and an expected integer token accepts only a number
equal to it: another integer token never (`05` is not `5`), and a real-number token only when its
exact decimal value is that integer (`20.0`, `2e1`), so no tolerance turns `1000000.0` into `1000001`.
"""

from __future__ import annotations

import math
from decimal import Decimal, DecimalException

from codefeedback_env.problems.numbers import is_integer_token, number_value


def _same_decimal(expected: str, actual: str) -> bool:
    """Exact decimal equality (no rounding in a comparison): 1.234568e+17 is not 123456789012345678."""
    try:
        return Decimal(actual) == Decimal(expected)
    except DecimalException:  # an exponent beyond what decimal represents (1e9999999999999999999)
        return False


def tokens_match(expected: str, actual: str, tolerance: float | None) -> bool:
    """Whether two tokens are equal, allowing `tolerance` between real numbers (see the module docstring)."""
    if expected == actual:
        return True
    if tolerance is None:
        return False
    if is_integer_token(expected):
        if is_integer_token(actual):
            return False
        got = number_value(actual)  # equal exact values round to equal floats: a float mismatch settles it
        return got is not None and got == float(expected) and _same_decimal(expected, actual)
    want, got = number_value(expected), number_value(actual)
    if want is None or got is None or not (math.isfinite(want) and math.isfinite(got)):
        return False
    return abs(want - got) <= tolerance * max(1.0, abs(want))


def outputs_match(expected: str, actual: str, tolerance: float | None = None) -> bool:
    """Compare program output with the expected output token by token, ignoring whitespace layout."""
    want, got = expected.split(), actual.split()
    if len(want) != len(got):
        return False
    return all(tokens_match(w, g, tolerance) for w, g in zip(want, got, strict=True))
