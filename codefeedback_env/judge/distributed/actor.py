"""`JudgeActor`: what runs on each node of a Ray cluster, a local judge over a local worker pool.

A plain class (no `ray` import): `RayBackend` turns it into a Ray actor. Each actor judges whole programs with
the same `Judge` code as local judging, over a `WorkerPoolBackend` with every isolation layer, so a verdict does
not depend on where it was decided. Function problems run entirely here: their sessions need an interactive
channel to the program, and the trusted checker (the judge's side) runs in this process, next to the pool.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from codefeedback_env.judge.backend import Limits
from codefeedback_env.judge.judge import Judge
from codefeedback_env.judge.pool import WorkerPoolBackend
from codefeedback_env.judge.pool.backend import PoolOptions
from codefeedback_env.judge.results import TestResult
from codefeedback_env.problems.records import Problem, TestCase

READY_PROGRAM = "print(input())"
READY_LIMITS = Limits(time=10.0, memory=256 << 20, output=1 << 20)


class JudgeActor:
    """A judge with its own pool of `workers` sandboxed workers, judging the programs sent to it."""

    def __init__(self, workers: int | None = None, options: PoolOptions | None = None) -> None:
        self._pool = WorkerPoolBackend(workers, options=options)
        self._judge = Judge(self._pool)

    def ready(self) -> dict[str, Any]:
        """Start the workers, run a trivial program and describe this actor; raises if the pool cannot serve."""
        outcome = self._pool.run_stdio(READY_PROGRAM, "ready\n", READY_LIMITS)
        if outcome.stdout != b"ready\n":
            raise RuntimeError(f"the judge actor's pool failed a trivial program: {outcome!r}")
        return {"pid": os.getpid(), "host": socket.gethostname(), "layers": self._pool.isolation_layers()}

    def judge_tests(
        self, problem: Problem, program: str, cases: Sequence[TestCase], stop_on_failure: bool
    ) -> list[TestResult]:
        """The results of `program` (already prefixed and compiled) on `cases`, exactly as a local judge decides."""
        return list(self._judge._judge(problem, program, tuple(cases), stop_on_failure).results)

    def processes(self) -> list[int]:
        """This actor's process id and its pool's live workers' (for checking that nothing survives a shutdown)."""
        return [os.getpid(), *self._pool.worker_pids()]

    def close(self) -> None:
        """Stop the pool's workers."""
        self._judge.close()
