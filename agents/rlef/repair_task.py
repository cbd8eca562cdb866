"""The repair task: stdio problems that only a policy which repairs its program from execution feedback solves.

Every problem has the same statement, "read a word and print it next to the secret word". An instance
hides one of K = 2 x |SECRET_WORDS| programs: the secret word printed before or after the input word.
The statement says neither; the public test's feedback (input, expected output, the program's output)
reveals both, and the hidden tests use other input words, so printing the public expected output fails.
A policy that never sees feedback gets the same turn-1 prompt for every instance, so its best chance
within t independent samples is 1 - (1 - 1/K)^t (`independent_ceiling`).

Used by the CPU learning demo (`agents.rlef.repair_demo`): the toy tokenizer and policy of
`agents.rlef.toy`, a supervised warm start that gives the policy the program forms but never the repair,
then RLEF in the real CodeFeedback environment, judged by running the programs.
"""

from __future__ import annotations

import random
from typing import Literal

from transformers import PreTrainedTokenizerFast, Qwen2ForCausalLM

from agents.rlef.toy import CORPUS, SECRET_WORDS, build_tokenizer, supervised_fit, template_phrases
from codefeedback_env.extraction import extract_code
from codefeedback_env.feedback import execution_feedback, initial_prompt
from codefeedback_env.judge.results import JudgeResult, TestResult, Verdict
from codefeedback_env.problems.records import Problem, TestCase
from codefeedback_env.templates import PAPER_TEMPLATES

STATEMENT = "Read a word and print it next to the secret word"
ORDERS: tuple[str, ...] = ("before", "after")
"""Where the secret word goes: before the input word ("apple cat") or after it ("cat apple")."""
TRAIN_INPUTS: tuple[str, ...] = ("cat", "dog", "fox", "owl", "bee", "ant")
HELD_OUT_INPUTS: tuple[str, ...] = ("elk", "yak", "cow", "pig", "hen", "ram")
_CODE = {  # the two program forms around the secret word; each stretch is one token of the demo tokenizer
    "before": ("```python\nprint('", "',input())\n```"),
    "after": ("```python\nprint(input(),'", "')\n```"),
}
_COPY = ("```python\nprint('", "')\n```")  # printing a constant (the shortcut the hidden tests defeat)
PriorKind = Literal["explicit", "example"]


def program_response(word: str, order: str) -> str:
    """The fenced answer whose program prints `word` on the given side of the input word."""
    head, tail = _CODE[order]
    return f"{head}{word}{tail}"


def program(word: str, order: str) -> str:
    """The program inside `program_response(word, order)`."""
    return program_response(word, order).removeprefix("```python\n").removesuffix("```")


def answer_variant(response: str) -> tuple[str, str] | None:
    """The (word, order) of the program the environment would run for `response` (its code block, as the
    environment extracts it) when that program is one of the K forms around a single word, else None."""
    code = extract_code(response)
    for order, (head, tail) in _CODE.items():
        word = (code or "").strip().removeprefix(head.removeprefix("```python\n"))
        word = word.removesuffix(tail.removesuffix("\n```").strip())
        if word.isalpha() and code is not None and code.strip() == program(word, order).strip():
            return word, order
    return None


def instance_variant(problem_id: str) -> tuple[str, str]:
    """The (secret word, order) a `repair_problems` instance asks for, from its id."""
    order, _, word = problem_id.split("/")[1].partition("-")
    return word, order


def copy_response(text: str) -> str:
    """The fenced answer whose program prints `text` whatever the input."""
    return f"{_COPY[0]}{text}{_COPY[1]}"


def expected_output(word: str, order: str, given: str) -> str:
    return f"{word} {given}" if order == "before" else f"{given} {word}"


def variants() -> list[tuple[str, str]]:
    """The K hidden programs an instance may ask for, as (secret word, order)."""
    return [(word, order) for order in ORDERS for word in SECRET_WORDS]


def independent_ceiling(turns: int = 3) -> list[float]:
    """The best solve rate within 1..turns turns of any policy that never sees feedback, on instances spread
    evenly over the K variants.

    Without feedback every turn is a fresh sample from the same turn-1 prompt (the statement is the same
    for every instance), so a policy writing variant k with probability p_k solves an instance of variant k
    within t turns with probability 1 - (1 - p_k)^t. Averaged over variants this is concave in p, so by
    Jensen's inequality it is largest at p_k = 1/K: 1 - (1 - 1/K)^t (0.27 within 3 turns for K = 10).
    """
    k = len(variants())
    return [1 - (1 - 1 / k) ** t for t in range(1, turns + 1)]


def repair_problems(inputs: tuple[str, ...], hidden: int = 2) -> list[Problem]:
    """One problem per (variant, public input word): hidden tests on the next `hidden` words of `inputs`."""
    if not 1 <= hidden < len(inputs):
        raise ValueError(f"hidden must be in [1, {len(inputs) - 1}] for {len(inputs)} input words, got {hidden}")
    problems = []
    for word, order in variants():
        for i, given in enumerate(inputs):
            others = [inputs[(i + j) % len(inputs)] for j in range(1, hidden + 1)]
            problems.append(
                Problem(
                    id=f"repair/{order}-{word}/{given}",
                    statement=STATEMENT,
                    public_tests=(TestCase(input=f"{given}\n", output=f"{expected_output(word, order, given)}\n"),),
                    hidden_tests=tuple(
                        TestCase(input=f"{o}\n", output=f"{expected_output(word, order, o)}\n") for o in others
                    ),
                    solutions=(program(word, order),),
                    source="synthetic",
                )
            )
    return problems


def _instruction(word: str, order: str, given: str, prior: PriorKind) -> str:
    if prior == "explicit":
        return f"Read a word and print it {'after' if order == 'before' else 'before'} the word `{word}`"
    return (
        f"Read a word and print it next to a word, for example `{given}` gives `{expected_output(word, order, given)}`"
    )


def _failed_feedback(problem: Problem, got: str) -> str:
    """The environment's own feedback text for a wrong answer printing `got` on the public test."""
    result = JudgeResult(results=(TestResult(index=0, verdict=Verdict.WRONG_ANSWER, stdout=f"{got}\n"),))
    return execution_feedback(problem, problem.public_tests, result)


def warm_start_example(
    rng: random.Random,
    problems: list[Problem],
    prior: PriorKind = "explicit",
    instruction_fraction: float = 0.4,
    feedback_fraction: float = 0.3,
    repeat_fraction: float = 0.0,
) -> tuple[list[dict[str, str]], str]:
    """One warm-start example (messages, answer); it never teaches the repair.

    Every answer is one of the K programs:
      * with probability `instruction_fraction`, a generic instruction that names the variant ("explicit":
        the word and the side; "example": one input/output pair, in the statement) -> its program;
      * otherwise the task's turn-1 prompt for one of `problems`, with probability `feedback_fraction`
        followed by 1-2 failed turns and the environment's feedback for them -> a uniformly random variant,
        drawn independently of the problem and of the feedback, or with probability `repeat_fraction` (after
        feedback) the last wrong program again, as LLMs often do.
    """
    word, order = rng.choice(variants())
    draw = rng.random()
    if draw < instruction_fraction:
        statement = _instruction(word, order, rng.choice(TRAIN_INPUTS + HELD_OUT_INPUTS), prior)
        prompt = PAPER_TEMPLATES.stdio_prompt.format(problem=statement)
        return [{"role": "user", "content": prompt}], program_response(word, order)
    problem = rng.choice(problems)
    messages = [{"role": "user", "content": initial_prompt(problem)}]
    if draw < instruction_fraction + feedback_fraction:
        given, expected = problem.public_tests[0].input.strip(), problem.public_tests[0].output.strip()
        wrong = [v for v in variants() if expected_output(*v, given) != expected]
        for _ in range(rng.randrange(1, 3)):
            guess = rng.choice(wrong)
            messages += [
                {"role": "assistant", "content": program_response(*guess)},
                {"role": "user", "content": _failed_feedback(problem, expected_output(*guess, given))},
            ]
        if rng.random() < repeat_fraction:
            return messages, program_response(*guess)
    return messages, program_response(word, order)


def warm_start(
    model: Qwen2ForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    *,
    steps: int,
    inputs: tuple[str, ...],
    prior: PriorKind = "explicit",
    instruction_fraction: float = 0.4,
    feedback_fraction: float = 0.3,
    repeat_fraction: float = 0.0,
    batch_size: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
) -> float:
    """Supervised warm start standing in for an instruct LLM's prior, on `warm_start_example`s for problems
    built from `inputs`: the policy can write every program and knows the task's format, but nothing maps
    feedback to the program it reveals; using the feedback is left to RL. Returns the final loss."""
    problems = repair_problems(inputs)

    def sample(rng: random.Random) -> tuple[list[dict[str, str]], str]:
        return warm_start_example(rng, problems, prior, instruction_fraction, feedback_fraction, repeat_fraction)

    return supervised_fit(model, tokenizer, sample, steps=steps, batch_size=batch_size, lr=lr, seed=seed)


def build_repair_tokenizer() -> PreTrainedTokenizerFast:
    """The toy tokenizer with the task's words and its program forms as single tokens."""
    words = " ".join(SECRET_WORDS + TRAIN_INPUTS + HELD_OUT_INPUTS)
    texts = (
        STATEMENT,
        _instruction("apple", "before", "cat", "explicit"),
        _instruction("apple", "after", "cat", "example"),
        words,
    )
    phrases = tuple(piece for pair in (*_CODE.values(), _COPY) for piece in pair)
    # feedback fields keep their trailing newline: the newline and the template text after a field are one token
    phrases += tuple("\n" + p for p in template_phrases() if p.startswith("`"))
    return build_tokenizer(corpus=CORPUS + texts, extra_phrases=phrases)
