"""Choosing a CPU model's weights dtype by timing it: float32 or bfloat16, whichever generates faster here.

Whether bfloat16 is faster than float32 on a CPU depends on more than its instruction-set flags (native
AVX512-BF16/AMX kernels, oneDNN's conversion paths, the memory bandwidth a smaller copy saves), so
:func:`probe_cpu_dtype` measures it: a short prefill and a few decode steps of the loaded model at batch 8,
in each dtype, after a warm-up. float32 is kept unless bfloat16 is clearly faster (exact arithmetic is worth a
small loss). The decision is stored on disk, keyed by the CPU, torch, the thread count and the model, so
later runs skip the measurement; a decision whose rounds disagree (a busy machine) is float32 and is not stored.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["BFLOAT16_MARGIN", "DtypeProbe", "choose_dtype", "probe_cpu_dtype", "probe_key", "time_decode"]

BFLOAT16_MARGIN = 0.10
"""bfloat16 is chosen only when it takes less than (1 - margin) of float32's time."""

PROBE_FOLDER = "dtype-probe"
"""Sub-folder of the model cache that holds the stored decisions (one JSON file per key)."""


@dataclass(frozen=True)
class DtypeProbe:
    """A dtype decision and the timings it rests on."""

    dtype: Literal["bfloat16", "float32"]
    float32_seconds: float
    """Best time of the probe's forward passes in float32."""
    bfloat16_seconds: float
    """The same in bfloat16."""
    cached: bool
    """True when read from the model cache instead of measured in this process."""
    key: dict[str, Any]
    """What the decision depends on (CPU, torch, threads, model)."""
    agreed: bool = True
    """False when the timing rounds disagreed on the faster dtype (then the choice is float32, not stored)."""

    def as_record(self) -> dict[str, Any]:
        """The JSON-ready form recorded in a run's config."""
        return asdict(self)


def choose_dtype(float32_seconds: float, bfloat16_seconds: float, margin: float = BFLOAT16_MARGIN) -> str:
    """``"bfloat16"`` when it took less than ``(1 - margin)`` of float32's time, else ``"float32"``."""
    if not (float32_seconds > 0 and bfloat16_seconds > 0):
        raise ValueError(f"timings must be positive, got {float32_seconds!r} and {bfloat16_seconds!r}")
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    return "bfloat16" if bfloat16_seconds < (1 - margin) * float32_seconds else "float32"


def _cpu_description() -> dict[str, str]:
    """The CPU's model name and feature flags (Linux /proc/cpuinfo; the platform's name elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        name = name.strip()
        if sep and name in ("model name", "flags", "Features") and name not in fields:
            fields[name] = value.strip()
    flags = fields.get("flags") or fields.get("Features") or ""
    return {
        "cpu": fields.get("model name") or platform.processor() or platform.machine(),
        "cpu_flags_sha256": hashlib.sha256(flags.encode()).hexdigest()[:16],
    }


def probe_key(model_identity: str, threads: int | None = None) -> dict[str, Any]:
    """What a dtype decision depends on: the CPU (model and flags), the kernel limits torch and oneDNN run
    under (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``), torch's version, the thread count and the model."""
    import torch

    return _cpu_description() | {
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        "torch": torch.__version__,
        "threads": torch.get_num_threads() if threads is None else threads,
        "model": model_identity,
    }


def time_decode(model: PreTrainedModel, batch: int = 8, prompt_tokens: int = 8, steps: int = 4) -> float:
    """Seconds for one prefill of ``batch`` x ``prompt_tokens`` random tokens and ``steps`` cached greedy
    decode steps (call it once untimed first: the first call also selects kernels and grows the allocator)."""
    import torch

    vocab = int(model.config.vocab_size)
    generator = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, vocab, (batch, prompt_tokens), generator=generator).to(model.device)
    with torch.inference_mode():
        started = time.perf_counter()
        output = model(input_ids=prompt, use_cache=True)
        for _ in range(steps):
            token = output.logits[:, -1:].argmax(-1)
            output = model(input_ids=token, past_key_values=output.past_key_values, use_cache=True)
        return time.perf_counter() - started


def _stored(path: Path, key: dict[str, Any]) -> DtypeProbe | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["key"] != key or record["dtype"] not in ("bfloat16", "float32"):
            return None
        return DtypeProbe(
            record["dtype"], float(record["float32_seconds"]), float(record["bfloat16_seconds"]), True, key, True
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(path: Path, probe: DtypeProbe) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f"{path.name}.partial-{os.getpid()}")
    record = probe.as_record()
    del record["cached"], record["agreed"]
    staging.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(staging, path)  # atomic: a half-written decision is never read


def probe_cpu_dtype(
    model: PreTrainedModel,
    model_identity: str,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    rounds: int = 2,
    margin: float = BFLOAT16_MARGIN,
    attempts: int = 2,
    reprobe: bool = False,
) -> DtypeProbe:
    """Time ``model`` (loaded in float32, on the CPU) in float32 and in a bfloat16 copy and pick the faster.

    Each dtype is timed ``rounds`` times, alternating, and its best time kept (a loaded machine slows some
    rounds, never speeds one up). Each round also makes its own choice; when the rounds disagree (other work
    slowed one dtype's rounds), all rounds are timed again, up to ``attempts`` times, and if they still
    disagree the result is float32 with ``agreed`` False, and nothing is stored. With ``cache_dir``, a decision
    stored there under the same :func:`probe_key` is returned without measuring (unless ``reprobe``: then it
    is measured again, and replaced, or removed when the new rounds disagree), and an agreed one is stored.
    """
    import torch

    if model.dtype != torch.float32:
        raise ValueError(f"the dtype probe needs the model in float32, got {model.dtype}; load it with dtype='float32'")
    if rounds < 1 or attempts < 1:
        raise ValueError(f"rounds and attempts must be at least 1, got {rounds!r} and {attempts!r}")
    key = probe_key(model_identity)
    path = None
    if cache_dir is not None:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        path = Path(cache_dir) / PROBE_FOLDER / f"{digest}.json"
        stored = None if reprobe else _stored(path, key)
        if stored is not None:
            return stored
    half = copy.deepcopy(model).to(torch.bfloat16)
    for warming in (model, half):
        time_decode(warming, prompt_tokens=4, steps=1)
    for _ in range(attempts):
        timings: dict[str, list[float]] = {"float32": [], "bfloat16": []}
        for _ in range(rounds):
            timings["float32"].append(time_decode(model))
            timings["bfloat16"].append(time_decode(half))
        choices = {choose_dtype(f, b, margin) for f, b in zip(timings["float32"], timings["bfloat16"], strict=True)}
        if len(choices) == 1:
            break
    del half
    fp32, bf16 = min(timings["float32"]), min(timings["bfloat16"])
    agreed = len(choices) == 1
    dtype = choices.pop() if agreed else "float32"
    probe = DtypeProbe(dtype, fp32, bf16, False, key, agreed)  # type: ignore[arg-type]
    if path is not None and agreed:
        _store(path, probe)
    elif path is not None and reprobe:
        path.unlink(missing_ok=True)  # the decision asked to be replaced is not kept either
    return probe
