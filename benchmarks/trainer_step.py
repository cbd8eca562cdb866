"""One RLEF step vs one plain TRL GRPO step: the critic's overhead on the same tiny model and batch.

    python benchmarks/trainer_step.py [--batch 8] [--warmup 2] [--steps 20]

Both trainers use the same tiny policy, the same multi-turn rollout function and in-process secret-word
environment, the same batch size, generation length and rollout batches per optimizer step
(`--updates-per-generation`, 1 by default: every timed step generates). The two run in one process and take
turns, one optimizer step each (each trainer's loop runs in its own thread and waits for its turn between
steps, so only one computes at a time): a load change on a busy host slows both alike. Each keeps its own
random stream from the same seed, so repeated runs sample the same episodes. The first `--warmup`
steps of each are dropped; then `--steps` timed steps each. Printed: the median and the minimum step time of
each, the ratio of the medians, of the minima, and the headline (target <= 1.5x): the median over step pairs of
RLEF's step time over GRPO's step just before it, which a load change between the two halves of a run does not
move; the last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from agents.grpo import make_grpo_config, make_grpo_trainer  # noqa: E402
from agents.rlef import RLEFConfig, RLEFTrainer  # noqa: E402
from agents.rlef.toy import SECRET_WORDS, SecretWordEnv, build_policy, build_tokenizer, cpu_run_settings  # noqa: E402

KINDS = ("grpo", "rlef")
TARGET = 1.5


class Turns:
    """Lets the trainers run one optimizer step at a time, in turn (GRPO first)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._turn = KINDS[0]
        self._finished: set[str] = set()
        self.started = threading.Barrier(len(KINDS))
        """Both loops set up (their data loaders drew their seeds) before the first step computes."""

    def wait(self, kind: str) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._turn == kind or set(KINDS) - {kind} <= self._finished)

    def pass_on(self, kind: str, finished: bool = False) -> None:
        with self._condition:
            if finished:
                self._finished.add(kind)
            self._turn = KINDS[1 - KINDS.index(kind)]
            self._condition.notify_all()


class TurnTimer(TrainerCallback):
    """Waits for its trainer's turn before each optimizer step, times the step, then hands over.

    Each trainer keeps its own random stream (both start from the same seed), so its rollouts do not depend on
    the other's draws: repeated runs sample the same episodes, and the two trainers start from the same ones.
    """

    def __init__(self, kind: str, turns: Turns, seed: int = 0) -> None:
        self.kind, self.turns = kind, turns
        self.times: list[float] = []
        self._start = 0.0
        self._rng = torch.Generator().manual_seed(seed).get_state()

    def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001, D102
        if not self.times:
            self.turns.started.wait()
        self.turns.wait(self.kind)
        torch.set_rng_state(self._rng)
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, D102
        self.times.append(time.perf_counter() - self._start)
        self._rng = torch.get_rng_state()
        self.turns.pass_on(self.kind)

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, D102
        self.turns.pass_on(self.kind, finished=True)


def build(kind: str, total_steps: int, args: argparse.Namespace, out: str, callback: TrainerCallback):  # noqa: ANN201
    """A trainer of `kind` over `total_steps` optimizer steps, with `callback`."""
    tokenizer = build_tokenizer()
    policy = build_policy(tokenizer, hidden=64, layers=2, seed=0)
    dataset = Dataset.from_dict({"prompt": [f"secret/{w}" for w in SECRET_WORDS] * (args.batch * total_steps)})
    common = cpu_run_settings(
        out,
        max_steps=total_steps,
        per_device_train_batch_size=args.batch,
        max_completion_length=args.max_new_tokens,
        learning_rate=1e-4,
        seed=0,
        steps_per_generation=args.updates_per_generation,
    )
    torch.manual_seed(0)
    if kind == "rlef":
        config = RLEFConfig(**common, value_model_mode=args.value_mode)
        return RLEFTrainer(policy, lambda: SecretWordEnv(3), config, dataset, tokenizer, callbacks=[callback])
    config = make_grpo_config(**common)
    return make_grpo_trainer(policy, lambda: SecretWordEnv(3), config, dataset, tokenizer, callbacks=[callback])


def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    """Step times of each trainer after the warm-up, the two taking turns."""
    turns = Turns()
    total = args.warmup + args.steps
    errors: list[BaseException] = []
    with tempfile.TemporaryDirectory() as tmp:
        timers = {kind: TurnTimer(kind, turns) for kind in KINDS}
        trainers = {kind: build(kind, total, args, os.path.join(tmp, kind), timers[kind]) for kind in KINDS}

        def train(kind: str) -> None:
            try:
                trainers[kind].train()
            except BaseException as error:  # reported by the main thread
                errors.append(error)
                turns.started.abort()
                turns.pass_on(kind, finished=True)

        threads = [threading.Thread(target=train, args=(kind,), name=f"train-{kind}") for kind in KINDS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return {kind: timers[kind].times[args.warmup :] for kind in KINDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2, help="steps of each trainer not timed")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each trainer")
    parser.add_argument("--value-mode", default="separate", choices=["separate", "shared"])
    parser.add_argument("--max-new-tokens", type=int, default=16, help="per turn")
    parser.add_argument("--updates-per-generation", type=int, default=1, help="optimizer steps per rollout batch")
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    torch.set_num_threads(1)
    times = measure(args)
    grpo, rlef = times["grpo"], times["rlef"]
    medians = {kind: statistics.median(times[kind]) for kind in KINDS}
    minima = {kind: min(times[kind]) for kind in KINDS}
    median_ratio = medians["rlef"] / medians["grpo"]
    min_ratio = minima["rlef"] / minima["grpo"]
    ratio = statistics.median(r / g for r, g in zip(rlef, grpo, strict=True))  # GRPO's step i runs just before
    print(
        f"GRPO step median {medians['grpo']:.3f}s min {minima['grpo']:.3f}s, RLEF step median "
        f"{medians['rlef']:.3f}s min {minima['rlef']:.3f}s ({args.steps} steps each, taking turns, after "
        f"{args.warmup} warm-up)"
    )
    print(f"RLEF/GRPO: median of paired steps {ratio:.2f}x (target <= {TARGET}x), medians {median_ratio:.2f}x, minima "
          f"{min_ratio:.2f}x")  # fmt: skip
    summary = {
        "grpo_step_s": medians["grpo"],
        "rlef_step_s": medians["rlef"],
        "grpo_min_s": minima["grpo"],
        "rlef_min_s": minima["rlef"],
        "ratio": ratio,
        "median_ratio": median_ratio,
        "min_ratio": min_ratio,
        "grpo_times": grpo,
        "rlef_times": rlef,
        "batch": args.batch,
        "warmup": args.warmup,
        "steps": args.steps,
        "value_mode": args.value_mode,
        "max_new_tokens": args.max_new_tokens,
        "updates_per_generation": args.updates_per_generation,
        "target": TARGET,
        "within_target": ratio <= TARGET,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
