"""The pieces of the GPU check run by `benchmarks/gpu_smoke.sh` (read that script first).

    python benchmarks/gpu_smoke.py prepare-model DIR [--tiny]     # SmolLM2-135M-Instruct if installed, else tiny random
    python benchmarks/gpu_smoke.py train --generation vllm|hf --model DIR --out FILE [--device cuda|cpu]
    python benchmarks/gpu_smoke.py report FILE [FILE ...]        # one JSON line

`train` runs RLEF steps (one rollout batch per step, so step 2 generates with the weights step 1 updated,
which for vLLM means after a weight sync), then evaluates the trained policy 1@3 (one 3-turn episode per
problem, temperature 0.2, top-p 0.95) on held-out demo problems. Anything that does not go as asked (fewer
steps, a non-finite loss, vLLM not in use, an evaluation with unjudged episodes) exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

TRAIN_PROBLEMS = 8  # demo problems trained on; evaluation uses the ones after them


def fail(message: str) -> None:
    """Stop the check with a non-zero exit and one line saying what went wrong."""
    raise SystemExit(f"gpu_smoke.py: error: {message}")


def prepare_model(folder: Path, tiny: bool) -> str:
    """Write a model folder (bfloat16, as vLLM serves it) that vLLM and transformers both load; returns which
    model it is. Training loads it in the dtype the example scripts choose (`policy_dtype`: float32 without
    DeepSpeed, with bf16 autocast on GPUs that have it)."""
    import torch

    from agents.llm.local_model import ModelNotFoundError, export_servable_copy, find_smollm2_gguf

    if not tiny:
        try:
            find_smollm2_gguf()
        except ModelNotFoundError as error:
            print(f"gpu_smoke.py: {error}; using a tiny random model instead", file=sys.stderr)
            tiny = True
    if tiny:  # head size 64, which every vLLM attention backend supports
        from agents.rlef.toy import build_policy, build_tokenizer

        tokenizer = build_tokenizer()
        model = build_policy(tokenizer, hidden=256, layers=2, seed=0).to(torch.bfloat16)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return "tiny-random"
    from agents.rlef.pretrained import load_policy

    model, tokenizer = load_policy(None)
    export_servable_copy(model.to(torch.bfloat16), tokenizer, folder)
    return "SmolLM2-135M-Instruct"


def _step_timer() -> Any:
    """A trainer callback that records each optimizer step's wall time in `.times`."""
    import time

    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN202
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN202
            self.times.append(time.perf_counter() - self._start)

    return StepTimer()


def train(args: argparse.Namespace) -> dict[str, Any]:
    """RLEF steps on one generation path, then 1@3 of the trained policy on held-out problems."""
    import gymnasium as gym
    import torch
    from datasets import Dataset

    import codefeedback_env  # noqa: F401  (registers the environments)
    from agents.rlef import RLEFConfig, RLEFTrainer
    from agents.rlef.evaluate import evaluate_policy, held_out_problems
    from agents.rlef.pretrained import load_policy, policy_dtype
    from codefeedback_env.problems.store import problem_ids, problem_store

    if args.device == "cuda" and not torch.cuda.is_available():
        fail("no CUDA device is visible to torch; the GPU check needs one (--device cpu runs the transformers path).")
    if args.generation == "vllm" and args.device != "cuda":
        fail("vLLM generation needs a CUDA device; --generation vllm runs only with --device cuda.")
    run_dir = args.out.with_suffix("")
    problems = problem_store("demo", run_dir / "problem_cache")  # memory-mapped, as the example scripts hold them
    training = problems[:TRAIN_PROBLEMS]
    evaluation = held_out_problems(training, problems, args.eval_problems)
    if len(evaluation) < args.eval_problems:
        fail(f"only {len(evaluation)} held-out demo problems for --eval-problems {args.eval_problems}.")
    config = RLEFConfig(
        output_dir=str(run_dir / "trainer"),
        use_cpu=args.device == "cpu",
        bf16=args.device == "cuda" and torch.cuda.is_bf16_supported(),
        max_steps=args.steps,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=args.max_new_tokens,
        updates_per_generation=1,
        learning_rate=1e-6,
        warmup_steps=0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        use_vllm=args.generation == "vllm",
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=0.3,
    )
    dtype = policy_dtype(None, config)
    model, tokenizer = load_policy(str(args.model), dtype)
    make_env = lambda: gym.make("CodeFeedback/CodeFeedback-v0", dataset=training, **config.env_kwargs())  # noqa: E731
    timer = _step_timer()
    prompts = Dataset.from_dict({"prompt": problem_ids(training)})
    trainer = RLEFTrainer(model, make_env, config, prompts, processing_class=tokenizer, callbacks=[timer])
    if trainer.use_vllm != (args.generation == "vllm"):
        fail(f"the trainer's use_vllm is {trainer.use_vllm} for --generation {args.generation}.")
    trainer.train()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    if trainer.state.global_step != args.steps or len(timer.times) != args.steps:
        fail(f"{trainer.state.global_step} of {args.steps} steps ran ({len(timer.times)} timed).")
    if len(losses) != args.steps or not all(math.isfinite(loss) for loss in losses):
        fail(f"the logged losses are {losses}, expected {args.steps} finite values.")
    rates = evaluate_policy(
        trainer.model,
        tokenizer,
        evaluation,
        run_dir / "eval",
        rollouts=1,
        max_turns=3,
        max_new_tokens=args.max_new_tokens,
    )
    if not all(math.isfinite(rate) for rate in rates):
        fail(f"the evaluation could not judge its episodes (solve rates {rates}).")
    return {
        "generation": "vllm_colocate" if args.generation == "vllm" else "transformers",
        "device": args.device,
        "dtype": dtype,
        "step_times_s": [round(t, 3) for t in timer.times],
        "losses": losses,
        "solve_rate_by_turn": rates,
        "solve_rate_1at3": rates[-1],
        "eval_problems": len(evaluation),
    }


def report(paths: list[Path], model: str) -> dict[str, Any]:
    """One summary of the runs; the vLLM step time as a ratio of the transformers one measured alongside it."""
    runs = {run["generation"]: run for run in (json.loads(path.read_text()) for path in paths)}
    summary: dict[str, Any] = {"model": model, **runs}
    hf, vllm = runs.get("transformers"), runs.get("vllm_colocate")
    if hf and vllm:
        median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        summary["vllm_over_transformers_step_time"] = round(
            median(vllm["step_times_s"]) / median(hf["step_times_s"]), 3
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare-model", help="write the model folder the runs load")
    prep.add_argument("folder", type=Path)
    prep.add_argument("--tiny", action="store_true", help="a tiny random model even if SmolLM2 is installed")
    run = commands.add_parser("train", help="RLEF steps on one generation path, then 1@3")
    run.add_argument("--generation", choices=("vllm", "hf"), required=True)
    run.add_argument("--model", type=Path, required=True)
    run.add_argument("--out", type=Path, required=True, help="the run's JSON result (its folder sits beside it)")
    run.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    run.add_argument("--steps", type=int, default=2)
    run.add_argument("--eval-problems", type=int, default=10)
    run.add_argument("--max-new-tokens", type=int, default=256)
    rep = commands.add_parser("report", help="print one JSON line summarising the runs")
    rep.add_argument("results", type=Path, nargs="+")
    rep.add_argument("--model", required=True, help="which model the runs used")
    args = parser.parse_args()
    if args.command == "prepare-model":
        print(prepare_model(args.folder, args.tiny))
    elif args.command == "train":
        result = train(args)
        args.out.write_text(json.dumps(result))
    else:
        print(json.dumps(report(args.results, args.model)))


if __name__ == "__main__":
    main()
