"""`codefeedback eval`'s defaults are sized for a CPU: demo-quick with a 128-token cap, a turn in one batch."""

from __future__ import annotations

from codefeedback_env import cli


def _inputs(*argv: str):
    args = cli.build_parser().parse_args(["eval", *argv])
    problems, _ = cli._evaluation_inputs(args)
    return args, problems


def test_the_default_run_is_demo_quick_with_short_responses_in_one_batch_per_turn():
    args, problems = _inputs()
    assert (args.dataset, len(problems), args.max_new_tokens, args.batch_size) == ("demo-quick", 8, 128, 32)
    assert args.rollouts * len(problems) <= args.batch_size  # every turn of a mode is one batch
    assert cli._sampling(args).max_new_tokens == 128


def test_other_datasets_and_explicit_caps_keep_their_token_budget():
    assert _inputs("--dataset", "demo")[0].max_new_tokens == 256
    assert _inputs("--max-new-tokens", "40")[0].max_new_tokens == 40
    assert _inputs("--dataset", "demo", "--max-new-tokens", "512")[0].max_new_tokens == 512
