"""The repair task of the learning demo: only a program that implements what the feedback reveals passes."""

from __future__ import annotations

import random
from collections import Counter

import gymnasium as gym
import pytest

import codefeedback_env  # noqa: F401
from agents.rlef.repair_task import (
    HELD_OUT_INPUTS,
    TRAIN_INPUTS,
    answer_variant,
    build_repair_tokenizer,
    copy_response,
    expected_output,
    independent_ceiling,
    instance_variant,
    program,
    program_response,
    repair_problems,
    variants,
    warm_start_example,
)


def test_training_and_evaluation_instances_share_no_test_and_cover_every_variant_evenly() -> None:
    train, held_out = repair_problems(TRAIN_INPUTS), repair_problems(HELD_OUT_INPUTS)
    tests = lambda problems: {t for p in problems for t in (*p.public_tests, *p.hidden_tests)}  # noqa: E731
    assert not tests(train) & tests(held_out)
    assert not {p.id for p in train} & {p.id for p in held_out}
    for problems in (train, held_out):
        assert len({p.statement for p in problems}) == 1  # the statement never tells the variants apart
        per_variant = Counter(p.id.split("/")[1] for p in problems)
        assert len(per_variant) == len(variants()) == 10 and len(set(per_variant.values())) == 1
        for p in problems:  # hidden inputs differ from the public one
            assert p.public_tests[0].input not in {t.input for t in p.hidden_tests}


def test_judged_for_real_only_the_revealed_program_passes_and_copying_the_expected_output_fails() -> None:
    problem = repair_problems(HELD_OUT_INPUTS)[0]  # secret word before the input: "apple elk"
    given, expected = problem.public_tests[0].input.strip(), problem.public_tests[0].output.strip()
    word, order = expected.split()[0], "before"
    assert expected == expected_output(word, order, given)
    env = gym.make("CodeFeedback/CodeFeedback-v0", dataset=[problem], max_turns=3)

    env.reset(options={"problem_id": problem.id})
    _, reward, terminated, _, info = env.step(copy_response(expected))  # passes the public test only
    assert terminated and reward == -1.0 and info["hidden"]["all_passed"] is False

    env.reset(options={"problem_id": problem.id})
    for other in [v for v in variants() if v != (word, order)][:3]:  # a wrong variant: the feedback reveals it
        _, reward, terminated, _, info = env.step(program_response(*other))
        assert not terminated and reward == 0.0
        feedback = info["messages"][-1]["content"]
        assert f"input `{given}" in feedback and f"Expected output `{expected}" in feedback
        assert f"but got `{expected_output(*other, given)}" in feedback
        env.reset(options={"problem_id": problem.id})
    _, reward, terminated, _, info = env.step(program_response(word, order))
    assert terminated and reward == 1.0 and info["hidden"] == info["hidden"] | {"all_passed": True, "total": 2}


def test_independent_ceiling_is_the_best_any_feedback_free_policy_can_do() -> None:
    """1 - (1 - 1/K)^t, and no other distribution over the K variants does better on an even mix."""
    k = len(variants())
    assert independent_ceiling(3) == pytest.approx([1 - (1 - 1 / k) ** t for t in (1, 2, 3)])
    rng = random.Random(0)
    for _ in range(200):
        weights = [rng.random() ** 3 for _ in range(k)]
        p = [w / sum(weights) for w in weights]
        assert sum(1 - (1 - pk) ** 3 for pk in p) / k <= independent_ceiling(3)[2] + 1e-12


@pytest.mark.parametrize("repeat", [0.0, 0.5])
def test_warm_start_answers_ignore_the_feedback(repeat: float) -> None:
    """After feedback the warm start's answer is the revealed program no more often than chance: 1/K for
    its random answers, never when it repeats the last wrong program."""
    problems, rng = repair_problems(TRAIN_INPUTS), random.Random(0)
    hits = total = 0
    for _ in range(3000):
        messages, answer = warm_start_example(
            rng, problems, instruction_fraction=0.0, feedback_fraction=1.0, repeat_fraction=repeat
        )
        assert len(messages) in (3, 5) and messages[-1]["content"].startswith("Your code failed")
        feedback = messages[-1]["content"]
        revealed = feedback.split("Expected output `")[1].split("`")[0].strip()
        given = feedback.split("input `")[1].split("`")[0].strip()
        hits += answer == program_response(*_variant_of(revealed, given))
        total += 1
    assert hits / total == pytest.approx((1 - repeat) / len(variants()), abs=0.02)


def _variant_of(expected: str, given: str) -> tuple[str, str]:
    return next(v for v in variants() if expected_output(*v, given) == expected)


def test_tokenizer_writes_every_program_and_decodes_exactly() -> None:
    tokenizer = build_repair_tokenizer()
    for word, order in variants():
        text = program_response(word, order)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert len(ids) == 3 and tokenizer.decode(ids) == text
    copy = copy_response("apple elk")
    assert tokenizer.decode(tokenizer(copy, add_special_tokens=False)["input_ids"]) == copy


def test_answers_are_read_back_as_the_variant_they_write() -> None:
    """The demo's breakdown of answers after feedback reads (word, order) back from a response and an instance."""
    for word, order in variants():
        assert answer_variant(program_response(word, order)) == (word, order)
        assert answer_variant(program_response(word, order) + "\n") == (word, order)
        assert answer_variant(f"Here:\n{program_response(word, order)} done") == (word, order)  # the env runs it
    for response in (copy_response("apple elk"), copy_response("apple"), "print('apple',input())", ""):
        assert answer_variant(response) is None
    for problem in repair_problems(HELD_OUT_INPUTS):
        assert (program(*instance_variant(problem.id)),) == problem.solutions
