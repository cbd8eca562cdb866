"""Gymnasium's async vector environment works after this process has judged, with fork and spawn contexts."""

from __future__ import annotations

import gymnasium as gym
import pytest

import codefeedback_env  # noqa: F401 - registers the environments

SOLVE = "```python\nprint('Hello, World!')\n```"
WRONG = "```python\nprint('hello')\n```"
HELLO = {"problem_id": "demo/hello-world"}
WAIT_SECONDS = 120


@pytest.mark.parametrize("context", [None, "spawn"], ids=["default-context", "spawn"])
def test_async_vector_env_after_judging_in_this_process(context):
    """The default context is fork on Linux (Python < 3.14): the subprocesses inherit the judge."""
    # Judge first with the process-wide shared judge: its threads and workers exist when the subprocesses start.
    env = gym.make("CodeFeedback/Demo-v0", max_turns=2)
    env.reset(options=HELLO)
    assert env.step(SOLVE)[2] is True
    env.close()

    envs = gym.make_vec(
        "CodeFeedback/Demo-v0",
        num_envs=2,
        vectorization_mode="async",
        vector_kwargs={"context": context},
        max_turns=2,
    )
    try:
        envs.reset_async(seed=0, options=HELLO)
        obs, _ = envs.reset_wait(timeout=WAIT_SECONDS)
        assert list(obs["turn"]) == [0, 0]
        envs.step_async([SOLVE, WRONG])
        _, rewards, terminated, _, infos = envs.step_wait(timeout=WAIT_SECONDS)
        assert list(terminated) == [True, False]
        assert rewards[0] == 1.0
        assert [r["verdict"] for r in infos["public_results"][1]] == ["wrong_answer"]
    finally:
        envs.close(terminate=True)
