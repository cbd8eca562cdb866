"""One RLEF step vs one plain TRL GRPO step: the critic's overhead on the same tiny model and batch.

    python benchmarks/trainer_step.py [--batch 8] [--steps 3]

Both trainers use the same tiny policy, the same multi-turn rollout function and in-process
secret-word environment, the same batch size, generation length and rollout batches per optimizer step
(`--updates-per-generation`, 1 by default: every timed step generates). Each runs one warm-up step
and then `--steps` timed steps; the median step times and their ratio (target <= 1.5x) are printed,
and the last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from agents.grpo import make_grpo_config, make_grpo_trainer  # noqa: E402
from agents.rlef import RLEFConfig, RLEFTrainer  # noqa: E402
from agents.rlef.toy import SECRET_WORDS, SecretWordEnv, build_policy, build_tokenizer, cpu_run_settings  # noqa: E402


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step (rollout, scoring, loss, backward, update)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001, D102
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, D102
        self.times.append(time.perf_counter() - self._start)


def run(kind: str, batch: int, steps: int, out: str, value_mode: str, max_new_tokens: int, updates: int) -> list[float]:
    tokenizer = build_tokenizer()
    policy = build_policy(tokenizer, hidden=64, layers=2, seed=0)
    dataset = Dataset.from_dict({"prompt": [f"secret/{w}" for w in SECRET_WORDS] * (batch * (steps + 1))})
    common = cpu_run_settings(
        out,
        max_steps=steps + 1,
        per_device_train_batch_size=batch,
        max_completion_length=max_new_tokens,
        learning_rate=1e-4,
        seed=0,
        steps_per_generation=updates,
    )
    timer = StepTimer()
    torch.manual_seed(0)
    if kind == "rlef":
        trainer = RLEFTrainer(
            policy,
            lambda: SecretWordEnv(3),
            RLEFConfig(**common, value_model_mode=value_mode),
            dataset,
            tokenizer,
            callbacks=[timer],
        )
    else:
        trainer = make_grpo_trainer(
            policy, lambda: SecretWordEnv(3), make_grpo_config(**common), dataset, tokenizer, callbacks=[timer]
        )
    trainer.train()
    return timer.times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--value-mode", default="separate", choices=["separate", "shared"])
    parser.add_argument("--max-new-tokens", type=int, default=16, help="per turn")
    parser.add_argument("--updates-per-generation", type=int, default=1, help="optimizer steps per rollout batch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        settings = (args.value_mode, args.max_new_tokens, args.updates_per_generation)
        grpo = run("grpo", args.batch, args.steps, os.path.join(tmp, "grpo"), *settings)
        rlef = run("rlef", args.batch, args.steps, os.path.join(tmp, "rlef"), *settings)
    grpo_s, rlef_s = statistics.median(grpo), statistics.median(rlef)
    ratio = rlef_s / grpo_s
    print(f"GRPO step {grpo_s:.3f}s  RLEF step {rlef_s:.3f}s  ratio {ratio:.2f}x (target <= 1.5x)")
    print(
        json.dumps(
            {
                "grpo_step_s": grpo_s,
                "rlef_step_s": rlef_s,
                "ratio": ratio,
                "batch": args.batch,
                "steps": args.steps,
                "value_mode": args.value_mode,
                "max_new_tokens": args.max_new_tokens,
                "updates_per_generation": args.updates_per_generation,
                "target": 1.5,
                "within_target": ratio <= 1.5,
            }
        )
    )


if __name__ == "__main__":
    main()
