"""Every `gym.register` call of the package, with string entry points so nothing heavy is imported."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

ENTRY_POINT = "codefeedback_env.envs.code_feedback_env:CodeFeedbackEnv"
VECTOR_ENTRY_POINT = "codefeedback_env.envs.vector:CodeFeedbackVectorEnv"
REMOTE_ENV_ID = "CodeFeedback/Remote-v0"
"""The environment served by `codefeedback serve`; `gym.make(REMOTE_ENV_ID, base_url="http://host:port")`."""
REMOTE_ENTRY_POINT = "codefeedback_env.envs.remote_env:CodeFeedbackRemoteEnv"

ENV_IDS: dict[str, dict[str, object]] = {
    "CodeFeedback/Demo-v0": {"dataset": "demo"},
    "CodeFeedback/CodeContests-v0": {"dataset": "codecontests"},
    "CodeFeedback/HumanEval-v0": {"dataset": "humaneval"},
    "CodeFeedback/MBPP-v0": {"dataset": "mbpp"},
    "CodeFeedback/MBPPPlus-v0": {"dataset": "mbpp+"},
    "CodeFeedback/CodeFeedback-v0": {},  # any dataset: pass dataset= (a name, a file or a list of Problem)
}


def register_envs() -> None:
    """Register the environments (idempotent)."""
    for env_id, kwargs in ENV_IDS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT, kwargs=dict(kwargs))
    if REMOTE_ENV_ID not in registry:
        register(id=REMOTE_ENV_ID, entry_point=REMOTE_ENTRY_POINT)
