"""The portable backend's process-count limit binds a program run as root (issue 10).

The kernel exempts root from the process-count rlimit: under the portable backend run by root, a program
started 300 processes under its limit of 64. Each run now gets a pids cgroup where the judge can make one
(`run_cgroups`), which binds everyone, and it is removed after the run.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

from codefeedback_env.judge import Limits, run_cgroups
from codefeedback_env.judge.subprocess_backend import SubprocessBackend

LIMITS = Limits(10.0, 256 << 20, 1 << 16)
MANY = (
    "import os, time\nstarted = 0\nfor _ in range(300):\n    try:\n        if os.fork() == 0:\n"
    "            time.sleep(30)\n            os._exit(0)\n        started += 1\n    except OSError:\n        break\n"
    "print(started)\n"
)
THREADS = (
    "import threading\nresults = []\n"
    "threads = [threading.Thread(target=results.append, args=(i,)) for i in range(20)]\n"
    "for t in threads:\n    t.start()\nfor t in threads:\n    t.join()\nprint(len(results))\n"
)

needs_a_pids_cgroup = pytest.mark.skipif(
    run_cgroups.hierarchy("pids") is None, reason="no writable pids cgroup here (the judge is not root)"
)


@pytest.fixture(scope="module")
def backend():
    with SubprocessBackend() as backend:
        yield backend


def _left_cgroups() -> list[str]:
    parent = run_cgroups.hierarchy("pids")
    return glob.glob(os.path.join(parent, f"{run_cgroups.PREFIX}{os.getpid()}-*")) if parent else []


@needs_a_pids_cgroup
def test_a_program_run_as_root_starts_at_most_its_process_limit(backend):
    outcome = backend.run_stdio(MANY, "", LIMITS)
    assert outcome.exit_code == 0, outcome
    assert int(outcome.stdout) < 64, outcome
    assert _left_cgroups() == []


@needs_a_pids_cgroup
def test_a_function_session_is_bound_too(backend):
    session = backend.open_function_session(MANY.replace("print(started)", "def f():\n    return started"), LIMITS)
    try:
        assert session.call("f", [], {}) < 64
    finally:
        session.close()
    assert _left_cgroups() == []


def test_threads_within_the_limit_still_start(backend):
    outcome = backend.run_stdio(THREADS, "", LIMITS)
    assert outcome.stdout == b"20\n", outcome


@needs_a_pids_cgroup
def test_the_run_cgroups_of_a_killed_judge_are_removed(backend):
    """A judge killed mid-run (SIGKILL) leaves its run's cgroup: the next judge's first run removes it, as it
    removes those of ended judges only (a live judge's runs go on)."""
    parent = run_cgroups.hierarchy("pids")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [os.path.join(parent, f"{run_cgroups.PREFIX}{dead.pid}-{n}") for n in range(2)]
    live = os.path.join(parent, f"{run_cgroups.PREFIX}{os.getppid()}-0")
    for folder in (*stale, live):
        os.mkdir(folder)
    try:
        run_cgroups._remove_stale.cache_clear()  # as in a judge process that has not run anything yet
        assert backend.run_stdio("print(1)", "", LIMITS).stdout == b"1\n"
        assert [folder for folder in stale if os.path.isdir(folder)] == []
        assert os.path.isdir(live)
    finally:
        for folder in (*stale, live):
            if os.path.isdir(folder):
                os.rmdir(folder)
