"""An agent answering through the vLLM server a training run generates with (TRL's `trl vllm-serve`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents.llm import SamplingConfig
from agents.llm.vllm_agent import vllm_chat_request
from codefeedback_env.agent import conversations_from_infos


class ServerAgent:
    """Answers each `info["messages"]` chat with one `VLLMClient.generate` call to a TRL vLLM server.

    `client` is the training run's own (`trainer.vllm_generation.vllm_client`, main process only), so the server
    answers with the weights the trainer last synced to it. Prompts are the tokenizer's chat template with the
    assistant header; responses are decoded without special tokens. The server samples (`sampling`: temperature,
    top-p, `max_new_tokens`; a greedy config is temperature 0); its sampling is not seeded per request, since
    requests of one batch share a context when a problem has several rollouts.
    """

    def __init__(self, client: Any, tokenizer: Any, sampling: SamplingConfig | None = None) -> None:
        self.client = client
        self.tokenizer = tokenizer
        self.sampling = sampling or SamplingConfig()
        if self.sampling.stop_at_program_end:
            raise ValueError("ServerAgent does not stop at the program's end: use a SamplingConfig without it.")

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """Return the assistant response to each `info["messages"]`."""
        conversations = conversations_from_infos(observations, infos)
        if not conversations:
            return []
        prompts = [
            list(self.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=True, return_dict=False))
            for c in conversations
        ]
        # The same sampling keywords as VLLMAgent's engine requests (n, temperature, top_p, max_tokens).
        params = vllm_chat_request(conversations, self.sampling).sampling_params
        output = self.client.generate(prompts=prompts, **params)
        completions = output["completion_ids"]
        if len(completions) != len(prompts):
            raise RuntimeError(f"the vLLM server returned {len(completions)} completions for {len(prompts)} prompts")
        return [self.tokenizer.decode(ids, skip_special_tokens=True) for ids in completions]
