"""Generation speed of float32 and bfloat16 on this CPU, natively and with torch limited to AVX2.

    python benchmarks/cpu_dtype.py [--model smollm2] [--batch-size 8] [--new-tokens 32] [--rounds 3] [--threads N]

Each instruction set runs in its own process ("native": torch's own choice; "avx2": an emulation of an
AVX2-only CPU through `ATEN_CPU_CAPABILITY=avx2` and `ONEDNN_MAX_CPU_ISA=AVX2`, which limit torch's and
oneDNN's kernels; the CPU itself is unchanged). In a process, the model is loaded once in float32 and
copied to bfloat16, then the two generate in alternating order for `--rounds` rounds: a batch of demo
turn-1 prompts, greedy, exactly `--new-tokens` tokens per row. Prints tokens/s per dtype per round, the
median per dtype, the bfloat16/float32 ratio (measured side by side, so a loaded host affects both),
what `--dtype best`'s probe (`agents.llm.dtype_probe.probe_cpu_dtype`, run first, nothing stored) measured
and chose under that instruction set, how long the probe took, and the load average. `--rounds 0` runs the
probe alone. `--threads` sets torch's thread count (default: torch's own, one per core); on a host loaded
by other processes, one thread can be several times faster than two, so give the same count to every run
that is compared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ISAS = {"native": {}, "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}


def measure(args: argparse.Namespace) -> dict:
    """One process: both dtypes, alternating, on the same prompts."""
    import copy

    import torch

    from agents.llm.dtype_probe import probe_cpu_dtype
    from agents.llm.local_model import load_causal_lm
    from codefeedback_env.feedback import initial_prompt
    from codefeedback_env.problems import load_problems

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_causal_lm(args.model, dtype="float32", cache_dir=args.model_cache)
    started = time.perf_counter()
    probe = probe_cpu_dtype(model, args.model)
    probe_wall = time.perf_counter() - started
    models = {"float32": model, "bfloat16": copy.deepcopy(model).to(torch.bfloat16)}
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": initial_prompt(p)}], add_generation_prompt=True, tokenize=False
        )
        for p in load_problems("demo")[: args.batch_size]
    ]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    rates: dict[str, list[float]] = {name: [] for name in models}
    order = list(models)
    with torch.inference_mode():
        for _ in range(args.rounds):
            for name in order:
                started = time.perf_counter()
                out = models[name].generate(
                    **batch,
                    do_sample=False,
                    max_new_tokens=args.new_tokens,
                    min_new_tokens=args.new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                )
                seconds = time.perf_counter() - started
                tokens = (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]
                rates[name].append(tokens / seconds)
                print(f"  {name}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.1f} tok/s", file=sys.stderr)
            order.reverse()
    return {
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "probe": {
            "float32_seconds": probe.float32_seconds,
            "bfloat16_seconds": probe.bfloat16_seconds,
            "dtype": probe.dtype,
            "wall_seconds": probe_wall,
        },
        "tokens_per_s": rates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--model-cache", default=str(Path.home() / ".cache" / "codefeedback" / "models"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="generation rounds per dtype (0: the probe only)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--isa", choices=tuple(ISAS), action="append", help="default: all")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    rows = []
    for isa in args.isa or ISAS:
        print(f"{isa}: load average before {os.getloadavg()[0]:.1f}", file=sys.stderr)
        argv = [sys.executable, __file__, "--child", "--model", args.model, "--model-cache", args.model_cache]
        argv += ["--batch-size", str(args.batch_size), "--new-tokens", str(args.new_tokens)]
        argv += ["--rounds", str(args.rounds), "--threads", str(args.threads)]
        done = subprocess.run(argv, env=os.environ | ISAS[isa], stdout=subprocess.PIPE, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append({"isa": isa, "load_average": round(os.getloadavg()[0], 1)} | result)
        row, probe = rows[-1], result["probe"]
        line = f"{isa} (torch {row['torch_cpu_capability']}, {row['threads']} threads): "
        if args.rounds:
            median = {name: statistics.median(values) for name, values in result["tokens_per_s"].items()}
            row |= {"median_tokens_per_s": median, "bf16_over_fp32": median["bfloat16"] / median["float32"]}
            line += (
                f"generate: float32 {median['float32']:.1f} tok/s, bfloat16 {median['bfloat16']:.1f} tok/s, "
                f"bf16/fp32 x{row['bf16_over_fp32']:.2f}; "
            )
        print(
            line + f"probe ({probe['wall_seconds']:.1f} s): float32 {probe['float32_seconds']:.2f} s, "
            f"bfloat16 {probe['bfloat16_seconds']:.2f} s, time ratio bf16/fp32 "
            f"{probe['bfloat16_seconds'] / probe['float32_seconds']:.2f} -> {probe['dtype']}; "
            f"load average {row['load_average']}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
