"""GRPO over the same multi-turn execution-feedback rollouts and rewards as RLEF (critic-free)."""

from .grpo_agent import make_grpo_config, make_grpo_trainer

__all__ = ["make_grpo_config", "make_grpo_trainer"]
