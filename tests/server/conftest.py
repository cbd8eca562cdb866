"""Real servers for the server tests: `codefeedback serve` (and a test server) in subprocesses on free ports.

Each is started once per test session, on first use, and stopped at the end. The tests of this folder share one
xdist worker (`xdist_group("server")`), so each server starts once per run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence

import pytest

from tests.conftest import shared_file
from tests.server.process import CLI, Server


def _serve(command: Sequence[str]) -> Iterator[Server]:
    server = Server(command)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_server() -> Iterator[Server]:
    """`codefeedback serve demo`."""
    yield from _serve([*CLI, "demo"])


@pytest.fixture(scope="session")
def codecontests_server() -> Iterator[Server]:
    """`codefeedback serve` on the CodeContests sample file."""
    yield from _serve([*CLI, str(shared_file("codecontests_train_sample.jsonl"))])


@pytest.fixture(scope="session")
def tight_server() -> Iterator[Server]:
    """The demo set with a judge that loses marked programs' runs, a short idle timeout and few sessions."""
    yield from _serve([sys.executable, "-m", "tests.server.tight_server"])
