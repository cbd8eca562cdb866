"""LLM agents: local transformers, vLLM (GPU) and OpenAI-compatible servers.

Importing this package is cheap: torch, transformers, vllm and openai are imported only when an
agent is built or a model is loaded.
"""

from agents.llm.local_model import export_servable_copy, find_smollm2_gguf, load_causal_lm
from agents.llm.openai_agent import (
    OpenAIAgentError,
    OpenAICompatibleAgent,
    ServerRequestError,
    ServerUnreachableError,
)
from agents.llm.sampling import SamplingConfig
from agents.llm.transformers_agent import Completion, TransformersAgent
from agents.llm.vllm_agent import VLLMAgent, is_vllm_available

__all__ = [
    "Completion",
    "OpenAIAgentError",
    "OpenAICompatibleAgent",
    "SamplingConfig",
    "ServerRequestError",
    "ServerUnreachableError",
    "TransformersAgent",
    "VLLMAgent",
    "export_servable_copy",
    "find_smollm2_gguf",
    "is_vllm_available",
    "load_causal_lm",
]
