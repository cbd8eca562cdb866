"""The GRPO agent trains on the same multi-turn rollouts (feedback tokens masked)."""

from __future__ import annotations

import math

import torch
from datasets import Dataset

from agents.grpo import make_grpo_config, make_grpo_trainer
from agents.rlef.toy import SECRET_WORDS, SecretWordEnv, build_policy


def test_grpo_step_on_multi_turn_rollouts(tokenizer, tmp_path) -> None:
    policy = build_policy(tokenizer, hidden=32, layers=1)
    before = [p.detach().clone() for p in policy.parameters()]
    config = make_grpo_config(
        output_dir=str(tmp_path),
        use_cpu=True,
        report_to="none",
        max_steps=1,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=12,
        learning_rate=1e-3,
        warmup_steps=0,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
    )
    dataset = Dataset.from_dict({"prompt": [f"secret/{w}" for w in SECRET_WORDS] * 2})
    trainer = make_grpo_trainer(policy, lambda: SecretWordEnv(3), config, dataset, processing_class=tokenizer)
    trainer.train()
    log = trainer.state.log_history[0]
    assert math.isfinite(log["loss"]) and "rewards/episode_return_reward/mean" in log
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters(), strict=True))
