"""CPU time of one turn of the default eval job's generation: this library's fast path against the plain one.

Generates the turn-1 responses of `demo-quick` (every problem x `--rollouts`) with SmolLM2 at the eval defaults
(temperature 0.2, top-p 0.95, stop at the program's end), in one process, alternating two setups per round:

- baseline: transformers' `sdpa` attention (repeats the KV heads in padded batches), its sorting top-p
  warper, batches of 8 (the old eval default);
- fast: grouped-query attention without the copy (`agents.llm.attention`), top-p from 64 candidates
  (`agents.llm.top_p`), one batch for the turn (the eval default, 32).

Prints per setup and round the process CPU seconds (getrusage, all threads: a loaded host changes it little),
wall seconds, decode steps and tokens, then the CPU-time ratio fast / baseline. Samples can differ between
the setups (different batches draw different random numbers); the token counts say by how much.

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/generation_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds of both setups")
    parser.add_argument("--rollouts", type=int, default=2, help="responses per problem")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--model-cache", default=str(Path.home() / ".cache" / "codefeedback" / "models"))
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from agents.llm.sampling import SamplingConfig
    from agents.llm.transformers_agent import TransformersAgent
    from codefeedback_env.feedback import initial_prompt
    from codefeedback_env.problems.demo import load_demo_quick

    sampling = SamplingConfig(temperature=0.2, top_p=0.95, max_new_tokens=128, seed=0, stop_at_program_end=True)
    agent = TransformersAgent("smollm2", sampling, batch_size=32, dtype="float32", cache_dir=args.model_cache)
    model = agent.model
    fast_kwargs = agent._generation_kwargs

    def plain_kwargs() -> dict:
        kwargs = fast_kwargs()
        kwargs.pop("logits_processor", None)
        return kwargs | {"top_p": sampling.top_p}

    steps = [0]
    model.register_forward_hook(lambda module, inputs, output: steps.__setitem__(0, steps[0] + 1))
    conversations = [[{"role": "user", "content": initial_prompt(p)}] for p in load_demo_quick()] * args.rollouts
    print(
        f"torch {torch.__version__}, kernels {torch.backends.cpu.get_cpu_capability()}, "
        f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '')}, threads {torch.get_num_threads()}, "
        f"{len(conversations)} prompts, load average {os.getloadavg()[0]:.1f}"
    )
    setups = {
        "baseline": ("sdpa", plain_kwargs, 8),
        "fast": (model.config._attn_implementation, fast_kwargs, 32),
    }
    cpu: dict[str, list[float]] = {name: [] for name in setups}
    for round_index in range(args.rounds):
        for name, (attention, kwargs, batch_size) in setups.items():
            model.set_attn_implementation(attention)
            agent._generation_kwargs = kwargs  # type: ignore[method-assign]
            agent.batch_size = batch_size
            agent._seeds.__init__(sampling.seed, bits=63)  # the same seed stream for both setups
            steps[0] = 0
            cpu_started, wall_started = _cpu_seconds(), time.perf_counter()
            completions = agent.generate(conversations)
            cpu[name].append(_cpu_seconds() - cpu_started)
            tokens = sum(len(c.token_ids) for c in completions)
            print(
                f"round {round_index + 1} {name:8s} ({attention}, batch {batch_size}): cpu {cpu[name][-1]:.1f} s, "
                f"wall {time.perf_counter() - wall_started:.1f} s, {steps[0]} forward passes, {tokens} tokens, "
                f"longest {max(len(c.token_ids) for c in completions)}",
                flush=True,
            )
    ratio = statistics.median(cpu["fast"]) / statistics.median(cpu["baseline"])
    rounds = [round(f / b, 2) for f, b in zip(cpu["fast"], cpu["baseline"], strict=True)]
    print(f"cpu seconds fast / baseline: {ratio:.2f} (per round: {rounds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
