"""TRL's GRPOTrainer, unchanged, fed RLEF's token-exact multi-turn rollouts.

The rollout function plays whole episodes (responses and feedback turns back to back in the
completion, feedback tokens masked out through TRL's `env_mask`); the reward is the episode's
environment return. GRPO then normalises returns within each problem's group of episodes, so every
model token of an episode shares one advantage: the critic-free baseline to compare RLEF against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trl import GRPOConfig, GRPOTrainer

from agents.rlef.rollout import ChatEnv, episode_return_reward, make_rollout_func


def make_grpo_config(**overrides: Any) -> GRPOConfig:
    """A GRPOConfig with the RLEF paper's optimiser settings (lr 2e-7, wd 0.1, 50 warm-up steps, T=1.0)."""
    defaults: dict[str, Any] = dict(
        learning_rate=2e-7,
        weight_decay=0.1,
        warmup_steps=50,
        temperature=1.0,
        bf16=False,
        per_device_train_batch_size=8,
        num_generations=4,
        beta=0.0,
    )
    defaults.update(overrides)
    return GRPOConfig(**defaults)


def make_grpo_trainer(
    model: Any,
    env_factory: Callable[[], ChatEnv],
    args: GRPOConfig,
    train_dataset: Any,
    processing_class: Any = None,
    max_turns: int = 3,
    callbacks: list | None = None,
) -> GRPOTrainer:
    """A plain `GRPOTrainer` whose rollouts are multi-turn episodes; `train_dataset["prompt"]` holds problem ids."""
    return GRPOTrainer(
        model=model,
        reward_funcs=[episode_return_reward],
        args=args,
        train_dataset=train_dataset,
        processing_class=processing_class,
        callbacks=callbacks,
        rollout_func=make_rollout_func(env_factory, max_turns),
    )
