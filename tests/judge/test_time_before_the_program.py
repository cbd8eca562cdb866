"""The time limit judges the program, not the portable bootstrap's start-up (issue 10, one rule on both backends).

The portable backend starts a fresh interpreter per test (`child_runtime`'s bootstrap), which forks the program.
The run's time used to start when the bootstrap was spawned, so its interpreter start-up (about 50 ms of CPU,
more net of waiting on a loaded host) counted against the program: at a load of 14, a program sleeping 0.93 s
under a 1 s limit was a time-out on the portable backend, 3 runs of 3, and accepted on the pool up to 0.98 s. The
program's reaper now marks the program's start (`child_runtime.PROGRAM_STARTS`) and the time counts from there.
These tests make the start-up slow on purpose (a second before the interpreter starts) rather than hoping for a
loaded host; the program's own time still counts in full.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.subprocess_backend import SubprocessBackend

LIMITS = Limits(0.5, 256 << 20, 1 << 20)
START_UP_SECONDS = 1.0
"""How long the bootstrap takes to start: twice the limit."""


@pytest.fixture(scope="module")
def slow_start(tmp_path_factory) -> SubprocessBackend:
    folder = tmp_path_factory.mktemp("slow")
    wrapper = Path(folder) / "python"
    wrapper.write_text(f'#!/bin/sh\nsleep {START_UP_SECONDS}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    with SubprocessBackend(python=str(wrapper)) as backend:
        yield backend


def test_the_bootstraps_start_up_is_not_the_programs_time(slow_start):
    outcome = slow_start.run_stdio("print(input())", "in time\n", LIMITS)
    assert (outcome.stdout, outcome.exit_code, outcome.timed_out) == (b"in time\n", 0, False), outcome
    assert outcome.wall_time < START_UP_SECONDS  # the run's wall time is the program's too


@pytest.mark.parametrize(("seconds", "timed_out"), [(0.3, False), (0.8, True)])
def test_the_programs_own_time_counts_in_full(slow_start, seconds, timed_out):
    outcome = slow_start.run_stdio(f"import time\ntime.sleep({seconds})\nprint('done')\n", "", LIMITS)
    assert outcome.timed_out is timed_out, outcome
    assert outcome.stdout == (b"" if timed_out else b"done\n"), outcome


def test_a_function_sessions_loading_counts_from_the_programs_start(slow_start):
    session = slow_start.open_function_session("def f(x):\n    return x + 1\n", LIMITS)
    try:
        assert session.load_error is None
        assert session.call("f", [1], {}) == 2
    finally:
        outcome = session.close()
    assert not outcome.timed_out, outcome
