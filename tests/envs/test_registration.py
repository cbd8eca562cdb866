"""Every registered id passes Gymnasium's checker with no warnings, and imports stay light."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import codefeedback_env
from tests.conftest import shared_file

DATASET_OPTIONS = {
    "CodeFeedback/CodeContests-v0": lambda: {
        "dataset_options": {"path": shared_file("codecontests_train_sample.jsonl")}
    },
    "CodeFeedback/MBPP-v0": lambda: {"dataset_options": {"path": shared_file("mbpp.jsonl")}},
    # The base asserts only: the extra tests need `codefeedback prepare mbpp+` first (tested with the loader).
    "CodeFeedback/MBPPPlus-v0": lambda: {"dataset_options": {"path": shared_file("mbppplus.jsonl"), "plus": False}},
    "CodeFeedback/CodeFeedback-v0": lambda: {"dataset": "demo"},
}


@pytest.mark.parametrize("env_id", sorted(codefeedback_env.ENV_IDS))
def test_check_env_passes_without_warnings(env_id):
    kwargs = DATASET_OPTIONS.get(env_id, dict)()
    env = gym.make(env_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)
    env.close()


def test_every_registered_id_has_a_vector_entry_point():
    for env_id in codefeedback_env.ENV_IDS:
        assert gym.spec(env_id).vector_entry_point is not None


HEAVY = ("torch", "transformers", "pyarrow", "datasets", "fastapi", "matplotlib", "sacrebleu", "ray")
"""Libraries that importing the package and its environments (what `gym.make` loads) must not load: the problem
store, imported by the environment, imports pyarrow only when a store is used."""


def test_import_does_not_load_heavy_libraries():
    code = (
        f"import sys, codefeedback_env.envs; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
