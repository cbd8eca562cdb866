"""A vector environment whose sub-environments are judged concurrently, sharing one judge.

Gymnasium's own vector environments step their copies one after another (`SyncVectorEnv`) or in processes
that each need a judge of their own (`AsyncVectorEnv`); this one steps them in threads of this process, with
the episode driver's round (`codefeedback_env.driver.step_concurrently`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from codefeedback_env.driver import StepResult, step_concurrently
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.problems import Problem, load_problems


class CodeFeedbackVectorEnv(VectorEnv):
    """`num_envs` copies of `CodeFeedbackEnv` stepped in threads, so their programs run side by side.

    The judge's worker count bounds how many tests run at once across all copies. Autoreset follows
    Gymnasium's next-step mode: the step after an episode ends resets that copy (its action is ignored).
    `reset(options=...)` takes a dict, or a list with one options dict per copy (e.g. problem ids).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int,
        dataset: str | Path | Sequence[Problem] = "demo",
        *,
        dataset_options: dict[str, Any] | None = None,
        **env_kwargs: Any,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        problems = (
            load_problems(dataset, **(dataset_options or {})) if isinstance(dataset, (str, Path)) else list(dataset)
        )
        self.envs = [CodeFeedbackEnv(problems, **env_kwargs) for _ in range(num_envs)]
        self.num_envs = num_envs
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._threads = ThreadPoolExecutor(num_envs, thread_name_prefix="codefeedback-vector")

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        seeds = seed if isinstance(seed, list) else [None if seed is None else seed + i for i in range(self.num_envs)]
        per_env = options if isinstance(options, list) else [options] * self.num_envs
        if len(seeds) != self.num_envs or len(per_env) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} seeds/options, got {len(seeds)} and {len(per_env)}")
        results = [env.reset(seed=s, options=o) for env, s, o in zip(self.envs, seeds, per_env, strict=True)]
        self._needs_reset[:] = False
        infos: dict[str, Any] = {}
        for i, (_, info) in enumerate(results):
            infos = self._add_info(infos, info, i)
        return self._batch([obs for obs, _ in results]), infos

    def step(self, actions: Sequence[Any]) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        by_index: dict[int, StepResult] = {}
        for i in np.flatnonzero(self._needs_reset):  # the copies whose episode ended: reset, the action ignored
            obs, info = self.envs[i].reset()
            by_index[int(i)] = (obs, 0.0, False, False, info)
        stepped = [int(i) for i in np.flatnonzero(~self._needs_reset)]
        for k, result in step_concurrently(self._threads, [(self.envs[i], actions[i]) for i in stepped]):
            by_index[stepped[k]] = result
        results = [by_index[i] for i in range(self.num_envs)]
        rewards = np.array([r[1] for r in results], dtype=np.float64)
        terminated = np.array([r[2] for r in results], dtype=bool)
        truncated = np.array([r[3] for r in results], dtype=bool)
        self._needs_reset = terminated | truncated
        infos: dict[str, Any] = {}
        for i, result in enumerate(results):
            infos = self._add_info(infos, result[4], i)
        return self._batch([r[0] for r in results]), rewards, terminated, truncated, infos

    def _batch(self, observations: list[Any]) -> Any:
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, observations, out)

    def close_extras(self, **kwargs: Any) -> None:
        self._threads.shutdown(wait=True)
        for env in self.envs:
            env.close()
