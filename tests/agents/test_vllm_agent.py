"""VLLMAgent without vLLM: the request conversion, the errors, and the wiring against a fake engine."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from agents.llm import vllm_agent
from agents.llm.sampling import SamplingConfig
from agents.llm.vllm_agent import VLLMAgent, is_vllm_available, vllm_chat_request
from agents.protocol import Agent

MESSAGES = [
    [{"role": "user", "content": "Write a program."}],
    [
        {"role": "user", "content": "Write a program."},
        {"role": "assistant", "content": "```python\nprint(1)\n```"},
        {"role": "user", "content": "Wrong answer on test 1. Fix it."},
    ],
]


def test_request_conversion_maps_sampling_settings() -> None:
    request = vllm_chat_request(MESSAGES, SamplingConfig(temperature=0.7, top_p=0.9, max_new_tokens=64, seed=3))
    assert request.messages == MESSAGES and request.messages[0] is not MESSAGES[0]
    assert request.sampling_params == {"n": 1, "temperature": 0.7, "top_p": 0.9, "max_tokens": 64}


def test_request_conversion_greedy_and_extra_keys_dropped() -> None:
    request = vllm_chat_request([[{"role": "user", "content": "x", "name": "bob"}]], SamplingConfig(temperature=0))
    assert request.messages == [[{"role": "user", "content": "x"}]]
    assert request.sampling_params["temperature"] == 0.0


@pytest.mark.skipif(is_vllm_available(), reason="vllm is installed here")
def test_missing_vllm_is_a_clear_import_error() -> None:
    with pytest.raises(ImportError, match=r"pip install 'codefeedback\[vllm\]'.*CUDA GPU"):
        VLLMAgent("some/model")


class _FakeLLM:
    """Stands in for vllm.LLM: echoes the last user message."""

    def __init__(self, model: str, **kwargs: Any) -> None:
        self.model, self.kwargs, self.calls = model, kwargs, []

    def chat(self, messages: list, sampling_params: Any, **kwargs: Any) -> list:
        self.calls.append((messages, sampling_params, kwargs))
        completion = types.SimpleNamespace
        return [completion(outputs=[completion(text=f"echo: {m[-1]['content']}")]) for m in messages]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("vllm")
    module.LLM = _FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = lambda **kwargs: kwargs  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(vllm_agent, "is_vllm_available", lambda: True)
    return module


def test_no_cuda_is_a_clear_runtime_error(fake_vllm: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"no CUDA GPU.*pip install 'codefeedback\[vllm\]'"):
        VLLMAgent("some/model")


def test_agent_wiring_with_a_fake_engine(fake_vllm: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    agent = VLLMAgent("some/model", SamplingConfig(max_new_tokens=32, seed=11), gpu_memory_utilization=0.5)
    assert isinstance(agent, Agent)
    assert agent.llm.kwargs == {"gpu_memory_utilization": 0.5, "seed": 11}
    infos = [{"messages": m} for m in MESSAGES]
    assert agent.act([{}, {}], infos) == ["echo: Write a program.", "echo: Wrong answer on test 1. Fix it."]
    [(messages, params, kwargs)] = agent.llm.calls
    assert messages == MESSAGES and params["max_tokens"] == 32 and kwargs["use_tqdm"] is False
    assert agent.act([], []) == []
    with pytest.raises(ValueError, match="seed given twice"):
        VLLMAgent("some/model", SamplingConfig(seed=1), seed=2)


def test_request_conversion_stops_at_the_program_end_and_keeps_the_fence() -> None:
    sampling = SamplingConfig(max_new_tokens=64, stop_at_program_end=True)
    params = vllm_chat_request([[{"role": "user", "content": "hi"}]], sampling).sampling_params
    assert params["stop"] == ["\n```\n"] and params["include_stop_str_in_output"] is True
