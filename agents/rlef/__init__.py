"""RLEF: PPO with a turn-level critic that teaches code LLMs to use execution feedback (on TRL)."""

from .rlef_config import RLEFConfig
from .rlef_trainer import RLEFTrainer
from .rollout import ChatTemplateError, Trajectory, TurnTokenizer, make_rollout_func, run_episodes, solve_rates

__all__ = [
    "ChatTemplateError",
    "RLEFConfig",
    "RLEFTrainer",
    "Trajectory",
    "TurnTokenizer",
    "make_rollout_func",
    "run_episodes",
    "solve_rates",
]
