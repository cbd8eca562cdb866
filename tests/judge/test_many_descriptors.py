"""A judge inside a process holding many descriptors (a trainer: datasets, sockets, a raised descriptor limit)
still judges: waiting on a descriptor numbered 1024 or more must work (`select.select` refuses them)."""

from __future__ import annotations

import os
import resource

import pytest

from codefeedback_env.judge import Judge, Verdict
from codefeedback_env.problems import Problem, TestCase
from tests.judge.function_judges import ECHO, ECHO_CODE

HELD = 1100
"""Descriptors held open during the test, so that every one the judge opens is numbered above 1024."""
STDIO = Problem(
    id="echo-line",
    statement="print the line",
    public_tests=(TestCase("1\n", "1\n"),),
    hidden_tests=(TestCase("2\n", "2\n"),),
    time_limit=3.0,
    memory_limit=256 << 20,
)


@pytest.fixture
def many_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < HELD + 256:
        pytest.skip(f"the descriptor limit ({hard}) is too low to hold {HELD} descriptors")
    if soft != resource.RLIM_INFINITY and soft < HELD + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (HELD + 256, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(HELD)]
    try:
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("backend", ["pool", "subprocess"])
def test_a_judge_in_a_process_with_many_descriptors_judges(many_descriptors, backend):
    with Judge(backend) as judge:
        for problem, program in ((STDIO, "print(input())\n"), (ECHO, ECHO_CODE)):
            results = judge.judge(problem, program, "all").results
            assert [r.verdict for r in results] == [Verdict.ACCEPTED] * 2, results
