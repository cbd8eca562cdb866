"""Equal generation requests on every rank, for generation engines that gather prompts across ranks.

TRL's vLLM generation in server mode (and in colocate mode with tensor parallelism > 1) gathers every
rank's prompts into one list, generates, and gives rank r the slice `[r*n, (r+1)*n)` of the results,
where n is the number of prompts rank r sent. The slice is right only if every rank sent the same n.
A multi-turn rollout sends only its still-running episodes after the first turn, and episodes stop at
different turns on different ranks, so the counts differ: a rank would get another rank's completions
(silently wrong) or fewer completions than it asked for. `pad_requests_across_ranks` makes every rank
send the largest count (its own contexts plus copies of its first one) and drops the copies' outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from agents.rlef.rollout import Generator


def gathers_across_ranks(vllm_generation: Any, num_processes: int) -> bool:
    """Whether TRL's `VLLMGeneration` slices one gathered batch between ranks (server mode, or colocate with
    tensor parallelism > 1, with more than one process)."""
    if num_processes <= 1:
        return False
    return vllm_generation.mode == "server" or vllm_generation.tensor_parallel_size > 1


def pad_requests_across_ranks(generate: Generator, accelerator: Any, filler: list[int]) -> Generator:
    """Wrap `generate` so that every rank sends the same number of contexts on every call.

    The ranks exchange their counts (one collective per call, so every rank must call the wrapper the same
    number of times, as it must call `generate`). A rank with fewer contexts appends copies of its first
    context (or `filler`, a short context, when it has none) and returns only its own contexts' outputs.
    When no rank has a context, nothing is generated and nothing is exchanged beyond the counts.
    """
    if not filler:
        raise ValueError("filler must be a non-empty list of token ids (a context to pad with).")

    def generate_padded(contexts: list[list[int]]) -> tuple[list[list[int]], list[list[float]] | None]:
        counts = accelerator.gather(torch.tensor([len(contexts)], device=accelerator.device))
        width = int(counts.max().item())
        if width == 0:
            return [], []
        dummy = contexts[0] if contexts else filler
        ids, logprobs = generate([*contexts, *([dummy] * (width - len(contexts)))])
        if len(ids) != width:
            raise RuntimeError(
                f"the generation engine returned {len(ids)} completions for {width} contexts on rank "
                f"{accelerator.process_index}; every rank must send the same number of contexts."
            )
        own = len(contexts)
        return ids[:own], (logprobs[:own] if logprobs is not None else None)

    return generate_padded
