"""Soak: 10,000 judged programs, mixed good, bad and malicious, through one pool; nothing may leak.

Slow (minutes): run with `python -m pytest tests/judge/test_soak.py -m slow`. Set CODEFEEDBACK_SOAK_RUNS
to change the number of programs.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from codefeedback_env.judge import Judge, Verdict
from codefeedback_env.judge.pool import WorkerPoolBackend
from tests.judge.test_attacks import ATTACKS, PROBLEM
from tests.judge.test_pool_backend import descendants, hold_the_shared_files, open_fds

FAST_ATTACKS = sorted(
    name for name in ATTACKS if name not in ("sleep_forever", "loop_ignoring_signals", "network", "memory_bomb")
)
GOOD = "a, b = map(int, input().split())\nprint(a + b)\n"
BAD = ("print(4)\n", "raise ValueError('x')\n", "import sys\nsys.exit(1)\n", "print(int(input()))\n")


def judge_one(judge: Judge, i: int) -> bool:
    """Judge program number `i` of the mix; True when its verdict is the right one."""
    kind = i % 10
    if kind < 5:
        return judge.judge(PROBLEM, GOOD).passed
    if kind < 8:
        return not judge.judge(PROBLEM, BAD[i % len(BAD)]).passed
    result = judge.judge(PROBLEM, ATTACKS[FAST_ATTACKS[i % len(FAST_ATTACKS)]]).results[0]
    return result.verdict is not Verdict.ACCEPTED


@pytest.mark.slow
def test_soak_ten_thousand_programs():
    runs = int(os.environ.get("CODEFEEDBACK_SOAK_RUNS", "10000"))
    hold_the_shared_files()
    procs_before, fds_before = len(descendants()), open_fds()
    with Judge(backend=WorkerPoolBackend(), max_workers=os.cpu_count()) as judge:
        judge.backend.start()
        workers = len(descendants())
        with ThreadPoolExecutor(2 * judge.max_workers) as callers:  # several environments at once
            for start in range(0, runs, 500):
                assert all(callers.map(lambda i: judge_one(judge, i), range(start, min(runs, start + 500))))
                assert len(descendants()) == workers, f"process count changed after {start + 500} runs"
    assert len(descendants()) == procs_before
    assert open_fds() == fds_before
