"""An in-process stand-in for the vLLM engine behind TRL's `VLLMGeneration`, for CPU tests of TRL's vLLM code path.

Only the engine is replaced (the server client, or `vllm.LLM`); TRL's gather of every rank's prompts, the
per-rank slice of the results and the weight sync run unchanged. The engine's completion (and log-probs) for a
context are a function of that context (the first user message and the number of assistant turns), so a
rank can check that it got the completions of its own contexts (`check_rollout`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import torch
from trl.generation.vllm_generation import VLLMGeneration

from agents.rlef.toy import build_tokenizer

TOKENIZER = build_tokenizer()
EOS = TOKENIZER.eos_token_id


def completion_text(problem: str, turn: int) -> str:
    """The stand-in engine's response at `turn` of `problem`'s episode."""
    return " ".join([problem, *["print"] * turn])


def engine_output(context: list[int]) -> tuple[list[int], list[float]]:
    """Completion ids and log-probs for a context: derived from the problem and turn it holds."""
    text = TOKENIZER.decode(context, skip_special_tokens=False)
    first_user = re.search(r"<\|im_start\|>user\n(.*?)<\|im_end\|>", text, re.S)
    problem = first_user.group(1) if first_user else ""  # a padding context may hold no message
    turn = text.count("<|im_start|>assistant")
    ids = [*TOKENIZER(completion_text(problem, turn), add_special_tokens=False)["input_ids"], EOS]
    return ids, [-len(context) / 1000.0] * len(ids)


class FakeServerClient:
    """Stands in for `trl.generation.vllm_client.VLLMClient` (rank 0 only, as in TRL); keeps every weight sync."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.syncs: list[dict[str, torch.Tensor]] = []
        self.sampling: list[dict[str, Any]] = []
        """The sampling keywords of each `generate` call."""

    def get_server_info(self) -> dict[str, Any]:
        return {"model_config": {"logprobs_mode": "processed_logprobs"}}

    def update_named_params(self, metadata: list, params: Iterator[tuple[str, torch.Tensor]]) -> None:
        pushed = {name: tensor.detach().clone() for name, tensor in params}
        assert [m[0] for m in metadata] == list(pushed), "metadata and streamed tensors disagree"
        self.syncs.append(pushed)

    def reset_prefix_cache(self) -> None:
        pass

    def generate(self, prompts: list[list[int]], n: int = 1, **sampling: Any) -> dict[str, Any]:
        assert n == 1
        self.calls.append(len(prompts))
        self.sampling.append(sampling)
        outputs = [engine_output(p) for p in prompts]
        return {
            "prompt_ids": prompts,
            "completion_ids": [ids for ids, _ in outputs],
            "logprobs": [[[lp] for lp in lps] for _, lps in outputs],
            "logprob_token_ids": [[[t] for t in ids] for ids, _ in outputs],
        }


class WeightRecorder:
    """Stands in for the engine's model, whose `load_weights` TRL's colocate weight sync calls per parameter."""

    def __init__(self) -> None:
        self.pending: dict[str, torch.Tensor] = {}

    def load_weights(self, weights: list[tuple[str, torch.Tensor]]) -> None:
        for name, tensor in weights:
            self.pending[name] = tensor.detach().clone()


class FakeLLM:
    """Stands in for `vllm.LLM` in colocate mode: returns `RequestOutput`-shaped objects; keeps every weight sync
    (TRL loads each parameter into `llm.llm_engine.model_executor.driver_worker.model_runner.model`, then resets
    the prefix cache)."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.syncs: list[dict[str, torch.Tensor]] = []
        self.model = WeightRecorder()
        worker = SimpleNamespace(model_runner=SimpleNamespace(model=self.model))
        self.llm_engine = SimpleNamespace(
            model_executor=SimpleNamespace(driver_worker=worker), model_config=SimpleNamespace(max_model_len=1024)
        )

    def reset_prefix_cache(self) -> None:
        if self.model.pending:
            self.syncs.append(self.model.pending)
            self.model.pending = {}

    def generate(self, prompts: list[dict[str, Any]], sampling_params: Any = None, use_tqdm: bool = False) -> list:
        self.calls.append(len(prompts))
        results = []
        for prompt in prompts:
            ids, lps = engine_output(prompt["prompt_token_ids"])
            logprobs = [{t: SimpleNamespace(logprob=lp, rank=1)} for t, lp in zip(ids, lps, strict=True)]
            output = SimpleNamespace(token_ids=ids, logprobs=logprobs)
            results.append(SimpleNamespace(prompt_token_ids=prompt["prompt_token_ids"], outputs=[output]))
        return results


class InProcessVLLMGeneration(VLLMGeneration):
    """TRL's `VLLMGeneration` (its `generate` unchanged) with the engine replaced by an in-process stand-in."""

    def _init_vllm(self) -> None:
        if self.mode == "server":
            self.vllm_client = FakeServerClient() if self.accelerator.is_main_process else None
        else:  # the same TP groups TRL builds
            world, tp = self.accelerator.num_processes, self.tensor_parallel_size
            groups = [list(range(i * tp, (i + 1) * tp)) for i in range(world // tp)]
            self.tp_group, _ = torch.distributed.new_subgroups_by_enumeration(groups)
            self.llm = FakeLLM()

    @property
    def engine(self) -> FakeServerClient | FakeLLM | None:
        """The stand-in engine this rank holds (none on ranks > 0 in server mode)."""
        return self.vllm_client if self.mode == "server" else self.llm


def check_rollout(rollout: dict[str, Any]) -> dict[str, Any]:
    """Whether every response (ids and log-probs) is the engine's output for the episode's own context."""
    wrong, turns = 0, []
    for prompt, completion, logprobs, spans in zip(
        rollout["prompt_ids"], rollout["completion_ids"], rollout["logprobs"], rollout["turn_spans"], strict=True
    ):
        turns.append(len(spans))
        for start, end in spans:
            ids, lps = engine_output(prompt + completion[:start])
            wrong += int(completion[start:end] != ids or logprobs[start:end] != lps)
    return {"wrong_responses": wrong, "turns": turns}
