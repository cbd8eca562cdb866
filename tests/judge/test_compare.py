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


def test_integer_tokens_stay_exact_under_tolerance():
    assert not outputs_match("1000000000", "1000000001", 1e-6)


def test_an_integer_written_as_a_real_matches_under_tolerance():
    assert outputs_match("20", "20.0000000", 1e-6)
    assert outputs_match("1.0", "1", 1e-6)
    assert not outputs_match("20", "20.0", None)
