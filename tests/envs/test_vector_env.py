"""The vector environment steps sub-environments concurrently and autoresets on the next step."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest

from codefeedback_env.envs.vector import CodeFeedbackVectorEnv
from codefeedback_env.errors import InvalidActionError

SLEEPY = "```python\nimport time\ntime.sleep(2)\nprint({})\n```"
"""Two different programs (the shared judge's verdict cache would run two identical ones once)."""


def test_make_vec_uses_the_concurrent_vector_env():
    envs = gym.make_vec("CodeFeedback/Demo-v0", num_envs=2)
    assert isinstance(envs, CodeFeedbackVectorEnv)
    obs, infos = envs.reset(seed=0)
    assert list(obs["turn"]) == [0, 0] and len(infos["messages"]) == 2
    envs.close()


def test_steps_of_all_sub_environments_are_judged_concurrently():
    envs = CodeFeedbackVectorEnv(2, "demo", max_turns=3)
    envs.reset(options=[{"problem_id": "demo/hello-world"}] * 2)
    started = time.monotonic()
    envs.step([SLEEPY.format(0), SLEEPY.format(1)])  # one public test each, 2 s of sleep per run
    elapsed = time.monotonic() - started
    # One after the other they take at least 4 s; side by side about 2 s plus start-up, even on a busy host.
    assert elapsed < 3.5, f"two 2 s runs took {elapsed:.2f} s: not concurrent"
    envs.close()


def test_finished_sub_environment_resets_on_the_next_step():
    envs = CodeFeedbackVectorEnv(2, "demo", max_turns=3)
    envs.reset(seed=1, options=[{"problem_id": "demo/hello-world"}, {"problem_id": "demo/sum-two"}])
    solve = "```python\nprint('Hello, World!')\n```"
    _, rewards, terminated, _, infos = envs.step([solve, "no code"])
    assert list(terminated) == [True, False]
    assert rewards[0] == 1.0 and rewards[1] == np.float64(-0.2)
    obs, rewards, terminated, _, infos = envs.step(["ignored", "no code"])
    assert obs["turn"][0] == 0 and rewards[0] == 0.0  # reset, the action was ignored
    assert obs["turn"][1] == 2
    envs.close()


def test_a_bad_action_raises_after_the_other_copies_stepped_and_keeps_its_episode():
    envs = CodeFeedbackVectorEnv(2, "demo", max_turns=3)
    envs.reset(options=[{"problem_id": "demo/hello-world"}] * 2)
    with pytest.raises(InvalidActionError, match="expects the response text as str"):
        envs.step([42, "no code"])
    assert [env.turn for env in envs.envs] == [0, 1]  # the other copy's step had finished
    _, rewards, terminated, _, _ = envs.step(["```python\nprint('Hello, World!')\n```", "no code"])
    assert list(terminated) == [True, False] and rewards[0] == 1.0
    envs.close()
