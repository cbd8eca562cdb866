"""An agent that generates responses with vLLM's offline engine (``vllm.LLM``); needs a CUDA GPU."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.llm.sampling import PROGRAM_END_STOP, SamplingConfig
from agents.protocol import conversations_from_infos

__all__ = ["VLLM_INSTALL_HINT", "VLLMAgent", "VLLMChatRequest", "is_vllm_available", "vllm_chat_request"]

logger = logging.getLogger(__name__)

VLLM_INSTALL_HINT = (
    "install it with `pip install 'codefeedback[vllm]'` on a machine with a CUDA GPU "
    "(vLLM needs a CUDA GPU; on CPU use TransformersAgent or OpenAICompatibleAgent instead)"
)


def is_vllm_available() -> bool:
    """Whether the ``vllm`` package is installed (it is not imported)."""
    return importlib.util.find_spec("vllm") is not None


@dataclass(frozen=True)
class VLLMChatRequest:
    """The arguments of one ``vllm.LLM.chat`` call, built without importing vLLM."""

    messages: list[list[dict[str, str]]]
    """One chat transcript per response, each ending with the user turn to answer."""
    sampling_params: dict[str, Any]
    """Keyword arguments for ``vllm.SamplingParams``."""


def vllm_chat_request(
    conversations: Sequence[Sequence[Mapping[str, str]]], sampling: SamplingConfig
) -> VLLMChatRequest:
    """Convert chat transcripts and sampling settings to a ``vllm.LLM.chat`` request.

    Sampling uses temperature and top-p only (vLLM leaves top-k off by default); temperature 0 is
    greedy. The seed is an engine setting (``vllm.LLM(seed=...)``), not a per-request one, so that
    repeated prompts still get distinct samples.
    """
    messages = [[{"role": m["role"], "content": m["content"]} for m in conv] for conv in conversations]
    params: dict[str, Any] = {
        "n": 1,
        "temperature": float(sampling.temperature),
        "top_p": float(sampling.top_p),
        "max_tokens": sampling.max_new_tokens,
    }
    if sampling.stop_at_program_end:  # the matched fence line stays in the text the next turn shows
        params.update(stop=[PROGRAM_END_STOP], include_stop_str_in_output=True)
    return VLLMChatRequest(messages=messages, sampling_params=params)


def _require_vllm() -> Any:
    """Import vLLM, or raise an error that says how to get it."""
    if not is_vllm_available():
        raise ImportError(f"VLLMAgent needs the vllm package, which is not installed; {VLLM_INSTALL_HINT}")
    try:
        import vllm
    except ImportError as error:
        raise ImportError(f"vllm is installed but failed to import ({error}); {VLLM_INSTALL_HINT}") from error
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError(f"VLLMAgent found no CUDA GPU (torch.cuda.is_available() is False); {VLLM_INSTALL_HINT}")
    return vllm


class VLLMAgent:
    """Answers each ``info["messages"]`` chat with ``vllm.LLM.chat`` in one batched call.

    Args:
        model: a hub id or a local model folder, as ``vllm.LLM`` takes it.
        sampling: sampling settings (default ``SamplingConfig()``); ``sampling.seed`` becomes the engine seed.
        **engine_kwargs: passed to ``vllm.LLM`` unchanged (e.g. ``gpu_memory_utilization=0.5``,
            ``max_model_len=4096``, ``dtype="bfloat16"``).
    """

    def __init__(self, model: str, sampling: SamplingConfig | None = None, **engine_kwargs: Any) -> None:
        sampling = sampling or SamplingConfig()
        if "seed" in engine_kwargs and sampling.seed is not None and engine_kwargs["seed"] != sampling.seed:
            raise ValueError(
                f"seed given twice: sampling.seed={sampling.seed} and seed={engine_kwargs['seed']}; "
                "set it only in SamplingConfig"
            )
        vllm = _require_vllm()
        if sampling.seed is not None:
            engine_kwargs["seed"] = sampling.seed
        logger.info("starting vLLM engine for %s with %s", model, engine_kwargs)
        self.model = model
        self.sampling = sampling
        self._vllm = vllm
        self.llm = vllm.LLM(model=model, **engine_kwargs)

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """Return the assistant response to each ``info["messages"]``."""
        request = vllm_chat_request(conversations_from_infos(observations, infos), self.sampling)
        if not request.messages:
            return []
        completions = self._chat(request.messages, request.sampling_params)
        texts = [c.text for c in completions]
        if self.sampling.stop_at_program_end:  # a stop on a fence that closed no program: generate in full
            from agents.llm.openai_agent import program_after_stop

            redo = [
                i
                for i, c in enumerate(completions)
                if program_after_stop(c.text, c.finish_reason, getattr(c, "stop_reason", None)) is None
            ]
            if redo:
                params = {
                    k: v for k, v in request.sampling_params.items() if k not in ("stop", "include_stop_str_in_output")
                }
                for i, again in zip(redo, self._chat([request.messages[i] for i in redo], params), strict=True):
                    texts[i] = again.text
        return texts

    def _chat(self, messages: list[list[dict[str, str]]], params: dict[str, Any]) -> list[Any]:
        """One ``LLM.chat`` call; the first ``CompletionOutput`` of each request."""
        outputs = self.llm.chat(
            messages, sampling_params=self._vllm.SamplingParams(**params), use_tqdm=False, add_generation_prompt=True
        )
        return [output.outputs[0] for output in outputs]
