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

__all__ = ["Completion", "TransformersAgent"]

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
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(model, (str, os.PathLike)):
            if tokenizer is not None:
                raise ValueError(
                    "tokenizer is only accepted with an already loaded model; for a model reference "
                    "the tokenizer is loaded from the same place"
                )
            model, tokenizer = load_causal_lm(model, dtype=dtype, device=device, cache_dir=cache_dir)
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
        """Called after each generated batch with (responses done, responses asked for, batch tokens)."""

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """Return the assistant response to each ``info["messages"]``."""
        completions = self.generate(conversations_from_infos(observations, infos))
        self.last_generation = [
            {"generated_tokens": len(c.token_ids), "stop_reason": c.finish_reason} for c in completions
        ]
        return [c.text for c in completions]

    def time_one_batch(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> tuple[int, int, float]:
        """Generate one batch (up to `batch_size` of `conversations`) and time it: (responses, tokens, seconds).

        A copy of this agent generates it (same model, tokenizer, sampling and batch size, its own seed
        stream), so this agent's later responses are those it would give without the measurement.
        """
        probe = TransformersAgent(self.model, self.sampling, batch_size=self.batch_size, tokenizer=self.tokenizer)
        started = time.perf_counter()
        completions = probe.generate(list(conversations[: self.batch_size]))
        return len(completions), sum(len(c.token_ids) for c in completions), time.perf_counter() - started

    def render_prompt(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Return the prompt text the model continues for one chat transcript."""
        prompt = self.tokenizer.apply_chat_template(
            [dict(m) for m in messages], add_generation_prompt=True, tokenize=False
        )
        if not isinstance(prompt, str):  # pragma: no cover - depends on the tokenizer class
            raise TypeError(f"apply_chat_template returned {type(prompt).__name__}, expected str")
        return prompt

    def generate(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[Completion]:
        """Generate one completion per chat transcript, in order."""
        import torch

        prompts = [self.render_prompt(messages) for messages in conversations]
        if not prompts:
            return []
        completions: list[Completion] = []
        with torch.inference_mode(), self._seeded():
            for start in range(0, len(prompts), self.batch_size):
                batch = self._generate_batch(prompts[start : start + self.batch_size])
                completions.extend(batch)
                if self.progress_callback is not None:
                    self.progress_callback(len(completions), len(prompts), sum(len(c.token_ids) for c in batch))
        return completions

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
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        return kwargs

    def _generate_batch(self, prompts: list[str]) -> list[Completion]:
        started = time.perf_counter()
        encoded = self.tokenizer(
            prompts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False
        ).to(self.model.device)
        prompt_length = encoded["input_ids"].shape[1]
        kwargs = self._generation_kwargs()
        criteria = None
        if self.sampling.stop_at_program_end:
            from agents.llm.stopping import ProgramEndCriteria

            criteria = ProgramEndCriteria(self.tokenizer, prompt_length, len(prompts))
            kwargs["stopping_criteria"] = [criteria]
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


def _stop_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """Token ids that end a response: the generation config's eos ids and the tokenizer's eos."""
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    if not ids:
        raise ValueError("neither the generation config nor the tokenizer defines an eos token id")
    return frozenset(ids)
