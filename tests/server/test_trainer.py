"""A TRL GRPO trainer learns from episodes played in `codefeedback serve`, through the remote env's `gym.make`."""

from __future__ import annotations

import math
import os

import gymnasium as gym
import httpx
import pytest

from codefeedback_env import REMOTE_ENV_ID

pytestmark = pytest.mark.xdist_group("server")


class Returns(gym.Wrapper):
    """Records each finished episode's return as the environment reported it."""

    def __init__(self, env: gym.Env, returns: list[float]) -> None:
        super().__init__(env)
        self.returns, self._total = returns, 0.0

    def reset(self, **kwargs):
        self._total = 0.0
        return self.env.reset(**kwargs)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._total += reward
        if terminated or truncated:
            self.returns.append(self._total)
        return observation, reward, terminated, truncated, info


def test_a_grpo_step_trains_on_rollouts_played_in_the_server(demo_server, tmp_path):
    pytest.importorskip("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    from datasets import Dataset

    from agents.grpo import make_grpo_config, make_grpo_trainer
    from agents.rlef.toy import build_policy, build_tokenizer, cpu_run_settings

    torch.set_num_threads(1)
    tokenizer = build_tokenizer()
    policy = build_policy(tokenizer, hidden=32, layers=1)
    envs: list[gym.Env] = []
    returns: list[float] = []

    def env_factory() -> gym.Env:
        envs.append(Returns(gym.make(REMOTE_ENV_ID, base_url=demo_server.url), returns))
        return envs[-1]

    max_turns = httpx.get(f"{demo_server.url}/metadata").json()["max_turns"]  # the rollout plays whole episodes
    before = demo_server.health()["sessions"]
    dataset = Dataset.from_dict({"prompt": ["demo/sum-two", "demo/hello-world"] * 2})
    config = make_grpo_config(**cpu_run_settings(str(tmp_path)))
    trainer = make_grpo_trainer(policy, env_factory, config, dataset, processing_class=tokenizer, max_turns=max_turns)
    try:
        trainer.train()
        log = trainer.state.log_history[0]
        assert math.isfinite(log["loss"])
        assert len(returns) == 4, "one episode per prompt, each played to its end in the server"
        assert log["rewards/episode_return_reward/mean"] == pytest.approx(sum(returns) / len(returns))
        assert len({env.unwrapped.episode_id for env in envs}) == len(envs) == 4
        assert demo_server.health()["sessions"] == before + 4
    finally:
        for env in envs:
            env.close()
    assert demo_server.health()["sessions"] == before
