import pytest

from codefeedback_env.judge.compare import outputs_match


def test_whitespace_layout_is_ignored():
    assert outputs_match("1 2\n3\n", "1\n2 3")
    assert outputs_match("", "\n\n")


def test_tokens_must_match_exactly_without_tolerance():
    assert not outputs_match("1 2", "1 2 3")
    assert not outputs_match("0.5", "0.50")
    assert not outputs_match("YES", "yes")


def test_float_tolerance_accepts_close_reals_only():
    assert outputs_match("0.3333333", "0.33333331", 1e-6)
    assert outputs_match("1000000.0", "1000000.5", 1e-6)
    assert not outputs_match("0.5", "0.6", 1e-6)
    assert not outputs_match("0.5", "nan", 1e-6)
    assert outputs_match("2.5", "2.50000001", 1e-6) and outputs_match("1e-9", "0", 1e-6)


def test_integer_tokens_stay_exact_under_tolerance():
    assert not outputs_match("1000000000", "1000000001", 1e-6)
    assert not outputs_match("5", "05", 1e-6) and not outputs_match("5", "+5", 1e-6)


def test_a_tolerance_never_accepts_another_integer_written_as_a_real():
    # A relative tolerance of 1e-6 spans whole units from 10^6 on: the expected integer must be met exactly.
    assert not outputs_match("1000001", "1000000.0", 1e-6)
    assert not outputs_match("123456789012345678", "1.234568e+17", 1e-6)
    assert not outputs_match("123456789012345678", "123456789012345677.9999999", 1e-6)
    assert not outputs_match("689974806", "6.899748e+08", 1e-6)
    assert not outputs_match("20", "19.9999999", 1e-6)
    assert not outputs_match("7", "1e999999999", 1e-6)  # exact arithmetic, no overflow


@pytest.mark.parametrize("printed", ["1e9999999999999999999", "-1e-9999999999999999999", "1e" + "9" * 40])
def test_exponents_beyond_any_arithmetic_are_wrong_not_a_crash(printed):
    for expected in ("20", "20.5", "0"):
        assert not outputs_match(expected, printed, 1e-6)


def test_an_integer_written_as_a_real_matches_where_answers_are_real():
    assert outputs_match("20", "20.0000000", 1e-6)
    assert outputs_match("20", "2e1", 1e-6)
    assert outputs_match("123456789012345678", "123456789012345678.000", 1e-6)
    assert outputs_match("1.0", "1", 1e-6)
    assert not outputs_match("20", "20.0", None)


def test_only_decimal_numbers_are_numbers():
    for token in ("nan", "inf", "-inf", "1_0", "0x10", "1e", "."):
        assert not outputs_match("10", token, 0.5)
        assert not outputs_match("10.0", token, 0.5)


def test_the_judge_gives_wrong_answer_for_such_output(judge):
    from codefeedback_env.judge import Verdict
    from codefeedback_env.problems import Problem, TestCase

    real = Problem(
        "half", "Print 1/2 and 20.", (TestCase("", "0.5 20\n"),), (TestCase("", "0.5 20\n"),), float_tolerance=1e-6
    )
    for program in ("print('0.5 1e9999999999999999999')", "print('1e9999999999999999999 20')"):
        assert [r.verdict for r in judge.judge(real, program).results] == [Verdict.WRONG_ANSWER]
    assert judge.judge(real, "print('0.50000001 20.0')").passed
