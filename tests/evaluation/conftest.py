"""Shared fixtures: the demo problems and a judge with more workers than cores (tests mostly wait)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codefeedback_env.judge import Judge
from codefeedback_env.problems import Problem, load_problems


@pytest.fixture(scope="session")
def demo() -> list[Problem]:
    return load_problems("demo")


@pytest.fixture(scope="session")
def judge() -> Iterator[Judge]:
    with Judge(max_workers=6) as shared:
        yield shared
