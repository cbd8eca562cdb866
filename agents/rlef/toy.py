"""A tiny word-level chat tokenizer, a tiny random policy and an in-process secret-word environment.

Used by the tests, the benchmark and the CPU learning demo. The secret-word task is RLEF in
miniature: the statement never names the word, the public test's expected output does, so only a
policy that reads the execution feedback can solve it reliably within 3 turns.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

SECRET_WORDS: tuple[str, ...] = ("apple", "river", "stone", "cloud", "tiger")
SECRET_STATEMENT = "Print the secret word."
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ("<pad>", "<unk>", "<|im_start|>", "<|im_end|>")
_PIECES = r"```|\w+|[^\w\s]|\s+"
_PROMPT = (
    "Provide a Python solution for the following competitive programming question: {problem}.\n\n"
    "Your code should be enclosed in triple backticks like so: ```python YOUR CODE HERE ```. "
    "Use the backticks for your code only."
)
_FEEDBACK = (
    "Your code failed the following tests:\n\n- input `{input}` failed:\nExpected output `{expected}` but got "
    "`{got}`\n\nGive it another try.\nYour code should be enclosed in triple backticks like so: "
    "```python YOUR CODE HERE ```. Use the backticks for your code only."
)
_NO_CODE = (
    "Your response did not contain any code in triple backticks.\n\nGive it another try.\nYour code should be "
    "enclosed in triple backticks like so: ```python YOUR CODE HERE ```. Use the backticks for your code only."
)
CORPUS = (
    _PROMPT,
    _FEEDBACK,
    "Traceback (most recent call last): File line Error NameError SyntaxError invalid syntax is not defined",
    "Execution took too long. Out of memory. user assistant system python print input ( ) ' \" ` \n\n \n  ",
    SECRET_STATEMENT,
    _NO_CODE,
    " ".join(SECRET_WORDS),
)
# Reward constants of the CodeFeedback environment (mirrored by the toy environment).
REWARD_PASS, REWARD_FAIL, REWARD_INVALID = 1.0, -1.0, -0.2


def template_phrases() -> list[str]:
    """The fixed text between the placeholders of the prompt and feedback templates, longest first."""
    pieces = re.split(r"\{\w+\}", _PROMPT) + re.split(r"\{\w+\}", _FEEDBACK) + [_NO_CODE]
    return sorted({p for p in pieces if len(p) > 1}, key=len, reverse=True)


def build_tokenizer(
    corpus: tuple[str, ...] = CORPUS, phrases: bool = True, extra_phrases: tuple[str, ...] = ()
) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over `corpus` whose decode is exact for in-vocabulary text.

    With `phrases`, each fixed stretch of the prompt and feedback templates is one token (as a real
    tokenizer's merges shorten common text), so a tiny model sees short contexts in which the word a
    feedback reveals sits a few tokens from where it answers. `extra_phrases` are more such tokens (for
    example common stretches of code); every piece of them is also in the vocabulary on its own.
    """
    chosen = (template_phrases() if phrases else []) + list(extra_phrases)
    fixed = [re.escape(p) for p in sorted(set(chosen), key=lambda p: (-len(p), p))]
    pattern = "|".join([*fixed, _PIECES])
    split = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIALS)}
    # the phrases, and every piece also on its own (the phrases may swallow some)
    for text in (*corpus, *extra_phrases):
        for piece in re.findall(pattern, text) + re.findall(_PIECES, text):
            vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = split
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<|im_end|>", bos_token=None
    )
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def build_policy(
    tokenizer: PreTrainedTokenizerFast, hidden: int = 64, layers: int = 2, seed: int = 0
) -> Qwen2ForCausalLM:
    """A tiny random Qwen2 causal LM sized to `tokenizer`."""
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def cpu_run_settings(output_dir: str, **overrides: Any) -> dict[str, Any]:
    """Trainer-config keywords for a small CPU run (no reporting, no checkpoints, a log every step, no
    warm-up, a tiny batch); `overrides` win. Shared by the tests, the benchmark and the learning demo."""
    return {
        "output_dir": output_dir,
        "use_cpu": True,
        "report_to": "none",
        "max_steps": 1,
        "per_device_train_batch_size": 4,
        "num_generations": 2,
        "max_completion_length": 12,
        "learning_rate": 1e-3,
        "warmup_steps": 0,
        "save_strategy": "no",
        "logging_steps": 1,
        "disable_tqdm": True,
    } | overrides


def secret_response(word: str) -> str:
    """The canonical answer format: a python fence printing `word`."""
    return f"```python\nprint('{word}')\n```"


def _feedback(expected: str, got: str) -> str:
    return _FEEDBACK.format(input="", expected=expected, got=got)


def warm_start(
    model: Qwen2ForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    steps: int = 600,
    batch_size: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
    words: tuple[str, ...] = SECRET_WORDS,
    instruction_fraction: float = 0.5,
    feedback_fraction: float = 0.0,
    feedback_use: float = 0.0,
) -> float:
    """Supervised warm start standing in for an instruct LLM's prior. Returns the final loss.

    Three kinds of single-answer examples, all answered in the fenced format:
      * "Print the secret word." (the task's turn-1 prompt) -> a uniformly random word;
      * with probability `instruction_fraction`, a generic instruction "Print the word `w`." -> w
        (the skill of copying a quoted word, which instruct LLMs have);
      * with probability `feedback_fraction`, the task's prompt followed by 1-2 failed turns and their
        feedback -> with probability `feedback_use` the word the feedback reveals, otherwise the previous
        wrong guess again (an LLM that mostly repeats its mistake and only sometimes reads the feedback).
    With `feedback_use=0` no example maps feedback to the word it reveals: using it is left to RL.
    """

    def sample(rng: random.Random) -> tuple[list[dict[str, str]], str]:
        target = rng.choice(words)
        draw = rng.random()
        if draw < instruction_fraction:
            prompt = _PROMPT.format(problem=f"Print the word `{target}`.")
            return [{"role": "user", "content": prompt}], secret_response(target)
        messages = [{"role": "user", "content": _PROMPT.format(problem=SECRET_STATEMENT)}]
        if draw < instruction_fraction + feedback_fraction:
            secret = target
            guess = rng.choice([w for w in words if w != secret])
            for _ in range(rng.randrange(1, 3)):
                messages += [
                    {"role": "assistant", "content": secret_response(guess)},
                    {"role": "user", "content": _feedback(secret, guess)},
                ]
            target = secret if rng.random() < feedback_use else guess
        return messages, secret_response(target)

    return supervised_fit(model, tokenizer, sample, steps=steps, batch_size=batch_size, lr=lr, seed=seed)


def supervised_fit(
    model: Qwen2ForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    sample: Callable[[random.Random], tuple[list[dict[str, str]], str]],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> float:
    """Teacher-forced fine-tuning on chat examples `sample(rng) -> (messages, answer)`; the loss covers the
    answer and its end of turn only. Returns the last batch's loss."""
    rng = random.Random(seed)
    optim = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        rows, labels = [], []
        for _ in range(batch_size):
            messages, response = sample(rng)
            prompt = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=False
            )
            answer = [*tokenizer(response, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
            rows.append(list(prompt) + answer)
            labels.append([-100] * len(prompt) + answer)
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id)
        lab = torch.full((len(rows), width), -100)
        att = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (r, lb) in enumerate(zip(rows, labels, strict=True)):
            ids[i, : len(r)], lab[i, : len(r)], att[i, : len(r)] = torch.tensor(r), torch.tensor(lb), 1
        loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    return float(loss.detach())


class SecretWordEnv:
    """In-process secret-word environment with the CodeFeedback gymnasium API (no subprocess judge).

    Problem ids are `secret/<word>`. A response "runs" if it holds a python fence whose code is
    `print('<word>')`; the public test's expected output is the secret word.
    """

    def __init__(self, max_turns: int = 3) -> None:
        self.max_turns = max_turns
        self._word = ""
        self._turn = 0
        self._messages: list[dict[str, str]] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        problem_id = (options or {}).get("problem_id", f"secret/{SECRET_WORDS[0]}")
        self._word = problem_id.split("/", 1)[1]
        self._turn = 0
        self._messages = [{"role": "user", "content": _PROMPT.format(problem=SECRET_STATEMENT)}]
        obs = {"problem": SECRET_STATEMENT, "feedback": "", "turn": 0}
        return obs, {"problem_id": problem_id, "turn": 0, "messages": list(self._messages)}

    def step(self, action: str) -> tuple[dict, float, bool, bool, dict]:
        self._turn += 1
        self._messages.append({"role": "assistant", "content": action})
        fence = re.search(r"```python\n(.*?)```", action, re.S)
        output = None
        if fence:
            printed = re.fullmatch(r"\s*print\('(\w+)'\)\s*", fence.group(1))
            output = printed.group(1) if printed else ""
        reward = 0.0 if fence else REWARD_INVALID
        passed = output == self._word
        info: dict[str, Any] = {"problem_id": f"secret/{self._word}", "turn": self._turn, "valid_response": bool(fence)}
        if passed or self._turn >= self.max_turns:
            reward += REWARD_PASS if passed else REWARD_FAIL
            info["hidden"] = {"passed": int(passed), "total": 1, "all_passed": passed}
            info["messages"] = list(self._messages)
            return {"problem": SECRET_STATEMENT, "feedback": "", "turn": self._turn}, reward, True, False, info
        feedback = _feedback(self._word, output or "") if fence else _NO_CODE
        self._messages.append({"role": "user", "content": feedback})
        info["messages"] = list(self._messages)
        return {"problem": SECRET_STATEMENT, "feedback": feedback, "turn": self._turn}, reward, False, False, info
