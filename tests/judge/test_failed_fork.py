"""A worker whose fork of a test's child fails is back at its own OOM score before the error leaves `Worker.run`.

The worker raises its own score to the OOM killer's first choice just before each fork (the child inherits it:
`isolation.OomScore`) and puts it back just after. A fork that fails (no memory, the process limit) must put it back
too: a worker left at the first choice is what the OOM killer ends when the next run fills the memory cgroup.
"""

from __future__ import annotations

import sys

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.pool import PoolOptions, WorkerPoolBackend

LIMITS = Limits(time=5.0, memory=256 << 20, output=1 << 20)
FAILING_FORK = """
import os, runpy, sys
arguments = sys.argv[1:]
while arguments[0].startswith("-"):  # the interpreter flags the judge passes (-s -S -P)
    arguments.pop(0)
sys.argv = arguments
marker, record = {marker!r}, {record!r}
real_fork = os.fork
def fork():
    if os.path.exists(marker):  # once: the next fork fails, as under the process limit
        os.unlink(marker)
        raise BlockingIOError(11, "Resource temporarily unavailable")
    return real_fork()
os.fork = fork
try:
    runpy.run_path(arguments[0], run_name="__main__")
except OSError:  # what the worker's own score was as the error left it
    with open(record, "w") as out:
        out.write(open("/proc/self/oom_score_adj").read().strip())
    raise
"""


def test_a_worker_whose_fork_failed_is_back_at_its_own_oom_score(tmp_path):
    marker, record = tmp_path / "fail_the_next_fork", tmp_path / "score_after_the_failed_fork"
    script = tmp_path / "failing_fork.py"
    script.write_text(FAILING_FORK.format(marker=str(marker), record=str(record)))
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexec '{sys.executable}' -s -S -P '{script}' \"$@\"\n")
    python.chmod(0o755)
    with WorkerPoolBackend(1, python=str(python), options=PoolOptions(namespaces=False)) as pool:
        assert pool.run_stdio("print(1)", "", LIMITS).stdout == b"1\n"
        if not pool.isolation_layers()["memory_cgroup"]:
            pytest.skip("no memory cgroup here: the worker does not raise its OOM score")
        marker.write_text("")
        try:  # (the worker ends on the error; the pool may answer the run from a new worker)
            pool.run_stdio("print(1)", "", LIMITS)
        except Exception:  # noqa: BLE001 - only the worker's score is checked
            pass
    assert not marker.exists(), "the worker never forked again"
    with open("/proc/self/oom_score_adj") as own:  # the judge's score, which each worker starts with
        assert record.read_text() == own.read().strip()
