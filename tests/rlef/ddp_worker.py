"""Worker for the two-process CPU test: `torchrun --nproc_per_node 2 tests/rlef/ddp_worker.py OUT_DIR`.

Each rank plays and judges its own episodes, gradients synchronise through gloo, the checkpoint of
step 1 resumes to the same weights. Rank 0 writes a JSON summary to OUT_DIR/summary.json.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.distributed as dist
from datasets import Dataset

from agents.rlef import RLEFConfig, RLEFTrainer
from agents.rlef.toy import SECRET_WORDS, SecretWordEnv, build_policy, build_tokenizer, cpu_run_settings


class CountingEnv(SecretWordEnv):
    """Records which problems this process judged."""

    judged: list[str] = []

    def step(self, action: str):
        CountingEnv.judged.append(f"secret/{self._word}")
        return super().step(action)


def make(out: str, **overrides) -> RLEFTrainer:
    tokenizer = build_tokenizer()
    policy = build_policy(tokenizer, hidden=32, layers=1, seed=0)
    settings = dict(max_steps=2, per_device_train_batch_size=2, seed=0, save_strategy="steps", save_steps=1)
    kwargs = cpu_run_settings(out, **settings, ddp_backend="gloo") | overrides
    dataset = Dataset.from_dict({"prompt": [f"secret/{w}" for w in SECRET_WORDS] * 4})
    return RLEFTrainer(policy, CountingEnv, RLEFConfig(**kwargs), dataset, processing_class=tokenizer)


def flat(trainer: RLEFTrainer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in trainer.model.parameters()])


def main(out: str) -> None:
    torch.set_num_threads(1)
    trainer = make(os.path.join(out, "run"))
    trainer.train()
    rank, world = dist.get_rank(), dist.get_world_size()
    params = flat(trainer)
    gathered = [torch.zeros_like(params) for _ in range(world)]
    dist.all_gather(gathered, params)
    judged = [None] * world
    dist.all_gather_object(judged, CountingEnv.judged)
    resumed = make(os.path.join(out, "resumed"), save_strategy="no")
    judged_before = len(CountingEnv.judged)
    resumed.train(resume_from_checkpoint=os.path.join(out, "run", "checkpoint-1"))
    judged_on_resume = [None] * world  # 0: step 2 trained on the rank's pending rollouts from the checkpoint
    dist.all_gather_object(judged_on_resume, len(CountingEnv.judged) - judged_before)
    if rank == 0:
        summary = {
            "world_size": world,
            "params_equal_across_ranks": all(torch.equal(gathered[0], g) for g in gathered),
            "params_changed": not torch.equal(flat(make(os.path.join(out, "fresh"))), params),
            "judged_per_rank": [len(j) for j in judged],
            "resume_matches": bool(torch.allclose(flat(resumed), params, atol=1e-6)),
            "resumed_step": resumed.state.global_step,
            "judged_on_resume": judged_on_resume,
        }
        with open(os.path.join(out, "summary.json"), "w") as f:
            json.dump(summary, f)


if __name__ == "__main__":
    main(sys.argv[1])
