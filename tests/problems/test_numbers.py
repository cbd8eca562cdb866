"""Which tokens are integers or real numbers, and which problems have real answers."""

from __future__ import annotations

import pytest

from codefeedback_env.problems.numbers import has_real_answers, is_integer_token, is_real_token, tolerance_for
from codefeedback_env.problems.records import TestCase

INTEGERS = ["1", "-1", "+3", "007", "123456789012345678901234567890"]
REALS = ["0.5", "-2.", ".25", "1e-9", "3.0E+5", "1e5", "+0.0"]
NEITHER = ["nan", "inf", "-Infinity", "1_000", "0x10", "1e", ".", "e5", "1.2.3", "YES", "1.5x", "-", "٣"]


@pytest.mark.parametrize("token", INTEGERS + REALS + NEITHER)
def test_token_kinds(token):
    assert is_integer_token(token) == (token in INTEGERS)
    assert is_real_token(token) == (token in REALS)
    assert has_real_answers([TestCase("", f"x\n{token} 3\n")]) == (token in REALS)


def test_any_test_with_a_real_token_makes_the_answers_real():
    integer = TestCase("", "3\n1000001\n")
    assert tolerance_for([integer, integer], 1e-6) is None
    assert tolerance_for([integer, TestCase("", "YES 2.50\n")], 1e-6) == 1e-6
    assert tolerance_for([TestCase("", "2.5")], None) is None
