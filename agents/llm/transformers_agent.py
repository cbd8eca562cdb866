"""An agent that generates responses locally with a Hugging Face transformers causal LM."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from agents.llm.local_model import SMOLLM2_ALIAS, Dtype, load_causal_lm
from agents.llm.sampling import SamplingConfig, SeedStream
from agents.protocol import conversations_from_infos

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from codefeedback_env.evaluation.plan import GenerationSpeed

__all__ = ["MAX_BATCH_TOKENS", "Completion", "TransformersAgent"]

MAX_BATCH_TOKENS = 16384
"""Default cap on a batch's padded prompt tokens: 32 short prompts, or 8 of 2,048 tokens (the KV cache and the
prefill's activations grow with it)."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    """One generated response."""

    text: str
    """Decoded response, special tokens removed."""
    token_ids: tuple[int, ...]
    """Generated token ids, including the stop token when there is one, without padding."""
    finish_reason: Literal["stop", "length", "program_end"]
    """``"stop"``: the model emitted a stop token; ``"length"``: ``max_new_tokens`` was reached;
    ``"program_end"``: its first complete ```python block ended (``sampling.stop_at_program_end``)."""


class TransformersAgent:
    """Answers each ``info["messages"]`` chat with a locally run transformers causal LM.

    Prompts are rendered with the tokenizer's chat template (``add_generation_prompt=True``) and
    generated in left-padded batches of ``batch_size``. Sampling uses temperature and top-p only
    (no top-k); temperature 0 decodes greedily. With ``sampling.seed`` set, each call draws its
    torch seed from a stream started at that seed, without touching the global torch RNG, so the
    same sequence of calls gives the same responses. With ``sampling.stop_at_program_end``, a row stops
    just after its first complete ```python block, and its text ends with that closing fence, exactly as
    generated.

    ``progress_callback``, when set, is called after each generated batch with the responses done so
    far in this call, the responses it asked for, and the tokens that batch generated.

    Args:
        model: a model reference for :func:`~agents.llm.local_model.load_causal_lm` (folder, hub
            id, ``.gguf`` file, or ``"smollm2"``), or an already loaded ``PreTrainedModel`` (then
            ``tokenizer`` is required; the objects are shared, e.g. with a trainer).
        sampling: sampling settings (default ``SamplingConfig()``).
        batch_size: number of prompts generated together.
        dtype: dtype used when loading ``model`` from a reference.
        device: device used when loading ``model`` from a reference.
        tokenizer: the tokenizer of an already loaded ``model``; given no pad token, it gets its eos
            token as pad token.
        cache_dir: for a ``.gguf`` model (``"smollm2"`` included): keep its converted copy here, so later
            loads skip the conversion.
        reprobe_dtype: with ``dtype="best"``, time float32 and bfloat16 again instead of reading the decision
            stored in ``cache_dir``.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | PreTrainedModel = SMOLLM2_ALIAS,
        sampling: SamplingConfig | None = None,
        batch_size: int = 8,
        dtype: Dtype = "auto",
        device: str = "cpu",
        tokenizer: PreTrainedTokenizerBase | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        reprobe_dtype: bool = False,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(model, (str, os.PathLike)):
            if tokenizer is not None:
                raise ValueError(
                    "tokenizer is only accepted with an already loaded model; for a model reference "
                    "the tokenizer is loaded from the same place"
                )
            model, tokenizer = load_causal_lm(
                model, dtype=dtype, device=device, cache_dir=cache_dir, reprobe_dtype=reprobe_dtype
            )
        elif tokenizer is None:
            raise ValueError("an already loaded model needs its tokenizer: pass tokenizer=...")
        if tokenizer.chat_template is None:
            raise ValueError(
                "the tokenizer has no chat template; set tokenizer.chat_template to a Jinja template "
                "(LLM agents render info['messages'] with it)"
            )
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token is None:
                raise ValueError("the tokenizer has neither a pad token nor an eos token; set tokenizer.pad_token")
            tokenizer.pad_token = tokenizer.eos_token
        self.model = model
        self.tokenizer = tokenizer
        self.last_generation: list[dict[str, Any]] = []
        """Per response of the latest `act` call: generated tokens and stop reason (read by the runner)."""
        self.sampling = sampling = sampling or SamplingConfig()
        self.batch_size = batch_size
        self._seeds = SeedStream(sampling.seed, bits=63)
        self._stop_ids = _stop_token_ids(model, tokenizer)
        self.progress_callback: Callable[[int, int, int], None] | None = None
        """Called after each generated batch with (responses done, responses asked for, batch tokens), and
        every `progress_interval` seconds while a batch generates (with the tokens generated since)."""
        self.progress_interval = 2.0
        self.max_batch_tokens = MAX_BATCH_TOKENS
        """Padded prompt tokens a batch may hold (rows x its longest prompt); a single prompt always fits."""

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """Return the assistant response to each ``info["messages"]``."""
        completions = self.generate(conversations_from_infos(observations, infos))
        self.last_generation = [
            {"generated_tokens": len(c.token_ids), "stop_reason": c.finish_reason} for c in completions
        ]
        return [c.text for c in completions]

    def prompt_tokens(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[int]:
        """The number of prompt tokens of each chat transcript, as `generate` would feed them."""
        return [len(features["input_ids"]) for features in self._encode([self.render_prompt(m) for m in conversations])]

    def _encode(self, prompts: Sequence[str]) -> list[dict[str, list[int]]]:
        """Each rendered prompt's tokenizer features (`input_ids`, `attention_mask`, ...), unpadded; no special
        tokens: the chat template holds them."""
        if not prompts:
            return []
        encoded = self.tokenizer(list(prompts), add_special_tokens=False)
        return [{key: values[row] for key, values in encoded.items()} for row in range(len(prompts))]

    def measure_speed(self, rows: int, prompt_tokens: int = 128, steps: int = 4) -> GenerationSpeed:
        """Time this model's prefill and decode steps on random tokens (a few seconds on a CPU).

        The prefill is timed on up to 4 rows of `prompt_tokens` tokens; a decode step on `rows` rows (a batch
        of the size the run generates) with a short context. Samples of this agent are unaffected (greedy
        steps, no random numbers drawn).
        """
        import torch

        from codefeedback_env.evaluation.plan import GenerationSpeed

        if rows < 1 or prompt_tokens < 1 or steps < 1:
            raise ValueError(f"rows, prompt_tokens and steps must be at least 1, got {rows}, {prompt_tokens}, {steps}")
        model, vocab = self.model, int(self.model.config.vocab_size)
        ids = torch.randint(0, vocab, (max(rows, 4), prompt_tokens), generator=torch.Generator().manual_seed(0))
        ids = ids.to(model.device)
        with torch.inference_mode():
            model(input_ids=ids[:1, :8])  # warm-up: kernel choice, allocator growth
            prefill_rows = min(4, rows)
            started = time.perf_counter()
            model(input_ids=ids[:prefill_rows], use_cache=False, logits_to_keep=1)
            prefill = (time.perf_counter() - started) / (prefill_rows * prompt_tokens)
            output = model(input_ids=ids[:rows, :16], use_cache=True, logits_to_keep=1)
            started = time.perf_counter()
            for _ in range(steps):
                token = output.logits[:, -1:].argmax(-1)
                output = model(input_ids=token, past_key_values=output.past_key_values, use_cache=True)
            decode = (time.perf_counter() - started) / steps
        return GenerationSpeed(prefill_token_seconds=prefill, decode_step_seconds=decode, rows=rows)

    def render_prompt(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Return the prompt text the model continues for one chat transcript."""
        prompt = self.tokenizer.apply_chat_template(
            [dict(m) for m in messages], add_generation_prompt=True, tokenize=False
        )
        if not isinstance(prompt, str):  # pragma: no cover - depends on the tokenizer class
            raise TypeError(f"apply_chat_template returned {type(prompt).__name__}, expected str")
        return prompt

    def generate(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[Completion]:
        """Generate one completion per chat transcript, in order.

        Prompts are batched in order of length (shortest first), so that a batch pads its prompts as little
        as possible, at most `batch_size` of them and, past the first, at most `max_batch_tokens` padded prompt
        tokens (long prompts go in smaller batches); the completions come back in the order of `conversations`.
        """
        import torch

        prompts = self._encode([self.render_prompt(messages) for messages in conversations])
        if not prompts:
            return []
        lengths = [len(features["input_ids"]) for features in prompts]
        order = sorted(range(len(prompts)), key=lengths.__getitem__)
        completions: list[Completion | None] = [None] * len(prompts)
        done = 0
        with torch.inference_mode(), self._seeded():
            for rows in _length_batches(order, lengths, self.batch_size, self.max_batch_tokens):
                reported = [0]
                batch = self._generate_batch(
                    [prompts[i] for i in rows], self._step_reporter(done, len(prompts), reported)
                )
                for row, completion in zip(rows, batch, strict=True):
                    completions[row] = completion
                done += len(batch)
                if self.progress_callback is not None:
                    tokens = sum(len(c.token_ids) for c in batch)
                    self.progress_callback(done, len(prompts), max(0, tokens - reported[0]))
        return [c for c in completions if c is not None]

    def _step_reporter(self, done: int, total: int, reported: list[int]) -> Callable[[int], None] | None:
        """While a batch generates: pass its new tokens to `progress_callback` (`done` responses so far), and
        count them in `reported[0]`."""
        callback = self.progress_callback
        if callback is None:
            return None

        def report(tokens: int) -> None:
            reported[0] += tokens
            callback(done, total, tokens)

        return report

    @contextlib.contextmanager
    def _seeded(self) -> Iterator[None]:
        import torch

        seed = self._seeds.next()
        if seed is None:
            yield
            return
        device_type = self.model.device.type
        fork = (
            torch.random.fork_rng(devices=[])  # the CPU generator only
            if device_type == "cpu"
            else torch.random.fork_rng(device_type=device_type)
        )
        with fork:
            torch.manual_seed(seed)
            yield

    def _generation_kwargs(self) -> dict[str, Any]:
        sampling = self.sampling
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": list(self._stop_ids),
        }
        if sampling.greedy:
            kwargs["do_sample"] = False
        else:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=1.0, top_k=0)
            if sampling.top_p < 1:
                from transformers import LogitsProcessorList

                from agents.llm.top_p import TopPFromCandidates

                kwargs["logits_processor"] = LogitsProcessorList([TopPFromCandidates(sampling.top_p)])
        return kwargs

    def _generate_batch(
        self, prompts: list[dict[str, list[int]]], report: Callable[[int], None] | None = None
    ) -> list[Completion]:
        """Completions of `prompts` (`_encode`'s features), padded on the left into one batch."""
        started = time.perf_counter()
        encoded = self.tokenizer.pad(prompts, padding=True, padding_side="left", return_tensors="pt").to(
            self.model.device
        )
        prompt_length = encoded["input_ids"].shape[1]
        kwargs = self._generation_kwargs()
        criteria = None
        stopping: list[Any] = []
        if self.sampling.stop_at_program_end:
            from agents.llm.stopping import ProgramEndCriteria

            criteria = ProgramEndCriteria(self.tokenizer, prompt_length, len(prompts))
            stopping.append(criteria)
        if report is not None:
            from agents.llm.stopping import TokenProgress

            stopping.append(TokenProgress(report, self._stop_ids, criteria, interval=self.progress_interval))
        if stopping:
            kwargs["stopping_criteria"] = stopping
        output: torch.Tensor = self.model.generate(**encoded, **kwargs)
        new_tokens = output[:, prompt_length:].tolist()  # (batch, generated)
        ends = criteria.ends if criteria is not None else [None] * len(new_tokens)
        completions = [self._completion(row, end) for row, end in zip(new_tokens, ends, strict=True)]
        logger.debug(
            "generated %d responses (%d new tokens at most) in %.2f s",
            len(prompts),
            max((len(c.token_ids) for c in completions), default=0),
            time.perf_counter() - started,
        )
        return completions

    def _completion(self, row: list[int], program_end: int | None = None) -> Completion:
        stop = next((i for i, token in enumerate(row) if token in self._stop_ids), None)
        if program_end is not None and (stop is None or program_end <= stop):
            token_ids = tuple(row[:program_end])  # what follows is padding of a stopped row
            text = self.tokenizer.decode(token_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            return Completion(text=text, token_ids=token_ids, finish_reason="program_end")
        token_ids = tuple(row if stop is None else row[: stop + 1])
        text = self.tokenizer.decode(token_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return Completion(text=text, token_ids=token_ids, finish_reason="length" if stop is None else "stop")


def _length_batches(order: list[int], lengths: list[int], rows: int, tokens: int) -> list[list[int]]:
    """Split `order` (indices sorted by `lengths`, shortest first) into batches of at most `rows` indices and
    at most `tokens` padded tokens (the count times the batch's longest length), each holding at least one."""
    batches: list[list[int]] = []
    for index in order:
        batch = batches[-1] if batches else None
        if batch is None or len(batch) >= rows or (len(batch) + 1) * lengths[index] > tokens:
            batches.append([index])
        else:
            batch.append(index)
    return batches


def _stop_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """Token ids that end a response: the generation config's eos ids and the tokenizer's eos."""
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    if not ids:
        raise ValueError("neither the generation config nor the tokenizer defines an eos token id")
    return frozenset(ids)
