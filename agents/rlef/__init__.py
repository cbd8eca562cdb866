"""RLEF: PPO with a turn-level critic that teaches code LLMs to use execution feedback (on TRL)."""

from .rlef_config import RLEFConfig
from .rlef_trainer import ResumeError, RLEFTrainer
from .rollout import ChatTemplateError, Trajectory, TurnTokenizer, make_rollout_func, run_episodes, solve_rates

__all__ = [
    "ChatTemplateError",
    "RLEFConfig",
    "RLEFTrainer",
    "ResumeError",
    "Trajectory",
    "TurnTokenizer",
    "make_rollout_func",
    "run_episodes",
    "solve_rates",
]
