"""Shared fixtures: the read-only data folder beside the repository, and a judge per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(name: str) -> Path:
    """A file of ../shared/data, or skip the test when the folder is absent (e.g. on a user's machine)."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent: these tests need the shared data folder beside the repository")
    return path


@pytest.fixture(scope="session")
def judge():
    from codefeedback_env.judge import Judge

    with Judge() as shared:
        yield shared
