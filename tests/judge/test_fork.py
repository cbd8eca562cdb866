"""A judge used before `os.fork()` keeps judging correctly in both processes, and neither leaks workers."""

from __future__ import annotations

import os
import threading

import pytest

from codefeedback_env.judge import Judge
from codefeedback_env.problems.records import Problem, TestCase
from tests.judge.processes import in_child, wait_until
from tests.process_table import alive

PROBLEM = Problem(
    id="echo-sum",
    statement="",
    public_tests=(TestCase("1 2\n", "3\n"), TestCase("5 7\n", "12\n")),
    hidden_tests=(),
    time_limit=5.0,
)
RIGHT = "a, b = map(int, input().split())\nprint(a + b)"
WRONG = "print(0)"
SLEEPY = "import time\ntime.sleep(0.5)\na, b = map(int, input().split())\nprint(a + b)"


def verdicts(judge: Judge, code: str) -> list[str]:
    return [r.verdict.value for r in judge.judge(PROBLEM, code).results]


@pytest.mark.parametrize("close_in_child", [True, False], ids=["closed", "left-open"])
def test_pool_judge_used_before_fork_works_in_child_and_parent(close_in_child):
    with Judge("pool", max_workers=2) as judge:
        assert verdicts(judge, RIGHT) == ["accepted", "accepted"]
        parent_workers = judge.backend.worker_pids()
        assert parent_workers

        def child() -> dict:
            result = {"right": verdicts(judge, RIGHT), "wrong": verdicts(judge, WRONG)}
            result["workers"] = judge.backend.worker_pids()
            if close_in_child:
                judge.close()
            return result

        seen = in_child(child)
        assert seen["right"] == ["accepted", "accepted"]
        assert seen["wrong"] == ["wrong_answer", "wrong_answer"]
        assert seen["workers"] and not set(seen["workers"]) & set(parent_workers), "the child used the parent's workers"
        # The child's workers end with it (closed, or on seeing its connection close), the parent's live on.
        assert wait_until(lambda: not any(alive(pid) for pid in seen["workers"]), timeout=30), "child's workers leaked"
        assert all(alive(pid) for pid in parent_workers), "the child stopped the parent's workers"
        assert verdicts(judge, RIGHT) == ["accepted", "accepted"]
        assert verdicts(judge, WRONG) == ["wrong_answer", "wrong_answer"]
        assert judge.backend.worker_pids() == parent_workers


def test_subprocess_judge_used_before_fork_works_in_child_and_parent():
    with Judge("subprocess", max_workers=2) as judge:
        assert verdicts(judge, RIGHT) == ["accepted", "accepted"]
        parent_root = judge.backend._root

        def child() -> dict:
            result = {"right": verdicts(judge, RIGHT), "wrong": verdicts(judge, WRONG), "root": judge.backend._root}
            judge.close()
            return result

        seen = in_child(child)
        assert seen["right"] == ["accepted", "accepted"] and seen["wrong"] == ["wrong_answer", "wrong_answer"]
        assert seen["root"] != parent_root and not os.path.exists(seen["root"])
        assert os.path.isdir(parent_root), "the child removed the parent's folder"
        assert verdicts(judge, RIGHT) == ["accepted", "accepted"]


@pytest.mark.parametrize("backend", ["pool", "subprocess"])
def test_fork_while_other_threads_are_judging(backend):
    """Forking while the parent's threads hold the pool's locks and sockets mid-run deadlocks nothing."""
    with Judge(backend, max_workers=2) as judge:
        started = threading.Event()
        outcome: list[list[str]] = []

        def judge_sleepy() -> None:
            started.set()
            outcome.append(verdicts(judge, SLEEPY))

        thread = threading.Thread(target=judge_sleepy)
        thread.start()
        started.wait()
        seen = in_child(lambda: {"right": verdicts(judge, RIGHT)})
        thread.join()
        assert seen["right"] == ["accepted", "accepted"]
        assert outcome == [["accepted", "accepted"]]
        assert verdicts(judge, WRONG) == ["wrong_answer", "wrong_answer"]


def test_a_closed_judge_stays_closed_in_a_forked_child():
    judge = Judge("pool", max_workers=2)
    judge.close()

    def child() -> dict:
        try:
            judge.judge(PROBLEM, RIGHT)
        except RuntimeError as error:
            return {"error": type(error).__name__}
        return {"error": None}

    assert in_child(child)["error"] == "RuntimeError"
