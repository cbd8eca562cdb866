"""Shared fixtures: a tiny word-level chat tokenizer and a tiny warm-started policy."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tokenizer():
    from agents.rlef.toy import build_tokenizer

    return build_tokenizer()


@pytest.fixture()
def policy(tokenizer):
    from agents.rlef.toy import build_policy

    return build_policy(tokenizer, hidden=32, layers=1)
