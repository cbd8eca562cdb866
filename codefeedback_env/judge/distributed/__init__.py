"""Judging on a Ray cluster: `RayBackend` (this process) sends whole programs to `JudgeActor`s (on the nodes)."""

from codefeedback_env.judge.distributed.backend import ADDRESS_ENV_VAR, RayBackend

__all__ = ["ADDRESS_ENV_VAR", "RayBackend"]
