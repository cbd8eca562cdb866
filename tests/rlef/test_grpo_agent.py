"""The GRPO agent trains on the same multi-turn rollouts (feedback tokens masked)."""

from __future__ import annotations

import math

import torch
from datasets import Dataset

from agents.grpo import make_grpo_config, make_grpo_trainer
from agents.rlef.toy import SECRET_WORDS, SecretWordEnv, build_policy, cpu_run_settings


def test_grpo_step_on_multi_turn_rollouts(tokenizer, tmp_path) -> None:
    policy = build_policy(tokenizer, hidden=32, layers=1)
    before = [p.detach().clone() for p in policy.parameters()]
    config = make_grpo_config(**cpu_run_settings(str(tmp_path)))
    dataset = Dataset.from_dict({"prompt": [f"secret/{w}" for w in SECRET_WORDS] * 2})
    trainer = make_grpo_trainer(policy, lambda: SecretWordEnv(3), config, dataset, processing_class=tokenizer)
    trainer.train()
    log = trainer.state.log_history[0]
    assert math.isfinite(log["loss"]) and "rewards/episode_return_reward/mean" in log
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters(), strict=True))
