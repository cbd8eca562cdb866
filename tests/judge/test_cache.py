"""The verdict cache: an identical (problem, program, tests, limits) is judged once, nothing else is shared."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from codefeedback_env.judge import BackendFailure, Judge, JudgeResult, TestResult, Verdict, VerdictCache
from codefeedback_env.judge.cache import cache_key, result_size
from codefeedback_env.judge.judge import RUN_ATTEMPTS
from codefeedback_env.judge.subprocess_backend import SubprocessBackend
from codefeedback_env.problems.records import Problem, ProblemKind, TestCase
from tests.judge.processes import in_child

PROBLEM = Problem(
    id="sum",
    statement="Add two numbers.",
    public_tests=(TestCase("1 2\n", "3\n"), TestCase("5 7\n", "12\n")),
    hidden_tests=(TestCase("2 2\n", "4\n"),),
)
RIGHT = "a, b = map(int, input().split())\nprint(a + b)"
WRONG = "print(3)"
SLEEPY = "import time\ntime.sleep(0.3)\n" + RIGHT


class CountingBackend(SubprocessBackend):
    """The portable backend, counting the programs it starts."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0
        self._count_lock = threading.Lock()

    def run_stdio(self, program, stdin, limits):
        with self._count_lock:
            self.runs += 1
        return super().run_stdio(program, stdin, limits)

    def open_function_session(self, program, limits):
        with self._count_lock:
            self.runs += 1
        return super().open_function_session(program, limits)


@pytest.fixture
def counted():
    backend = CountingBackend()
    with Judge(backend, max_workers=4, cache=VerdictCache()) as judge:
        yield judge, backend


def test_a_repeated_program_is_judged_once_with_an_equal_result(counted):
    judge, backend = counted
    first = judge.judge(PROBLEM, WRONG)
    assert [r.verdict for r in first.results] == [Verdict.ACCEPTED, Verdict.WRONG_ANSWER]
    assert backend.runs == 2
    again = judge.judge(PROBLEM, WRONG)
    assert again == first and backend.runs == 2
    stats = judge.cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1) and stats.hit_rate == 0.5


def test_without_a_cache_every_call_runs():
    backend = CountingBackend()
    with Judge(backend, max_workers=2) as judge:
        assert judge.cache is None
        judge.judge(PROBLEM, RIGHT)
        judge.judge(PROBLEM, RIGHT)
    assert backend.runs == 4


def test_other_problems_tests_limits_and_options_never_share(counted):
    judge, backend = counted
    assert judge.judge(PROBLEM, RIGHT).passed
    runs = backend.runs
    variants = [
        lambda: judge.judge(dataclasses.replace(PROBLEM, id="sum-copy"), RIGHT),
        lambda: judge.judge(dataclasses.replace(PROBLEM, time_limit=3.0), RIGHT),
        lambda: judge.judge(dataclasses.replace(PROBLEM, memory_limit=256 << 20), RIGHT),
        lambda: judge.judge(dataclasses.replace(PROBLEM, float_tolerance=1e-6), RIGHT),
        lambda: judge.judge(dataclasses.replace(PROBLEM, code_prefix="import sys"), RIGHT),
        lambda: judge.judge(PROBLEM, RIGHT, "hidden"),
        lambda: judge.judge(PROBLEM, RIGHT, [TestCase("1 2\n", "4\n")]),
        lambda: judge.judge(PROBLEM, RIGHT, [TestCase("1 3\n", "3\n")]),
        lambda: judge.judge(PROBLEM, RIGHT, stop_on_failure=True),
        lambda: judge.judge(PROBLEM, RIGHT + "\n"),
    ]
    for variant in variants:
        variant()
        assert backend.runs > runs, "a different problem, test set, limit or option was answered from the cache"
        runs = backend.runs
    assert judge.judge(PROBLEM, RIGHT, [TestCase("1 2\n", "4\n")]).results[0].verdict is Verdict.WRONG_ANSWER
    assert judge.cache.stats().entries == len(variants) + 1


def test_the_key_covers_every_judged_field_and_ignores_the_rest():
    key = cache_key(PROBLEM, RIGHT, PROBLEM.public_tests, False)
    function = dataclasses.replace(PROBLEM, kind=ProblemKind.FUNCTION, entry_point="f")
    assert cache_key(function, RIGHT, PROBLEM.public_tests, False) != key
    assert cache_key(dataclasses.replace(function, test_setup="x = 1"), RIGHT, PROBLEM.public_tests, False) != (
        cache_key(function, RIGHT, PROBLEM.public_tests, False)
    )
    # Splitting the same characters differently between input and output is another test set.
    assert cache_key(PROBLEM, RIGHT, (TestCase("1 2\n3", "\n"),), False) != cache_key(
        PROBLEM, RIGHT, (TestCase("1 2\n", "3\n"),), False
    )
    # Tests that are not judged and reference solutions do not split the cache.
    other_hidden = dataclasses.replace(PROBLEM, hidden_tests=(), solutions=("print(1)",))
    assert cache_key(other_hidden, RIGHT, PROBLEM.public_tests, False) == key


def judged(verdict: Verdict, text: str = "") -> JudgeResult:
    return JudgeResult((TestResult(0, verdict, stdout=text),))


class FlakyBackend(CountingBackend):
    """Loses every run whose input says "lost" (as a dying worker would), runs the others."""

    def run_stdio(self, program, stdin, limits):
        if "lost" in stdin:
            with self._count_lock:
                self.runs += 1
            raise BackendFailure("the worker stopped answering")
        return super().run_stdio(program, stdin, limits)


def test_judge_errors_and_exceptions_are_never_stored():
    backend = FlakyBackend()
    lost = [TestCase("lost\n", "3\n"), TestCase("lost again\n", "3\n")]
    mixed = [TestCase("1 2\n", "3\n"), TestCase("lost\n", "3\n")]
    with Judge(backend, max_workers=2, cache=VerdictCache()) as judge:
        for attempt in (1, 2):
            result = judge.judge(PROBLEM, WRONG, lost)
            assert {r.verdict for r in result.results} == {Verdict.JUDGE_ERROR}
            assert backend.runs == attempt * len(lost) * RUN_ATTEMPTS, "a judge error was answered from the cache"
        # Every test must have a real verdict: a judge error beside an accepted test is not stored either.
        for _ in range(2):
            runs = backend.runs
            result = judge.judge(PROBLEM, WRONG, mixed)
            assert [r.verdict for r in result.results] == [Verdict.ACCEPTED, Verdict.JUDGE_ERROR]
            assert backend.runs == runs + 1 + RUN_ATTEMPTS
        assert judge.cache.stats().entries == 0

    cache = VerdictCache()
    calls = []

    def crash() -> JudgeResult:
        calls.append(1)
        raise RuntimeError("the backend could not start")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            cache.get_or_judge(b"c", crash)
    assert len(calls) == 2 and cache.stats().entries == 0
    assert cache.get_or_judge(b"c", lambda: judged(Verdict.TIME_LIMIT)).results[0].verdict is Verdict.TIME_LIMIT
    assert cache.get_or_judge(b"c", crash).results[0].verdict is Verdict.TIME_LIMIT  # time limits are kept
    assert cache.get_or_judge(b"m", lambda: judged(Verdict.JUDGE_ERROR)).judge_error is not None
    assert cache.stats().entries == 1


def test_least_recently_used_results_go_first_within_the_entry_bound():
    cache = VerdictCache(max_entries=3)
    for name in (b"a", b"b", b"c"):
        cache.get_or_judge(name, lambda: judged(Verdict.ACCEPTED))
    cache.get_or_judge(b"a", lambda: pytest.fail("a is stored"))  # a becomes the most recently used
    cache.get_or_judge(b"d", lambda: judged(Verdict.ACCEPTED))
    assert cache.stats().entries == 3
    rerun = []
    cache.get_or_judge(b"b", lambda: rerun.append(1) or judged(Verdict.ACCEPTED))
    assert rerun == [1], "b, the least recently used, should have been evicted"
    cache.get_or_judge(b"a", lambda: pytest.fail("a was evicted although used recently"))


def test_the_byte_bound_holds():
    big = judged(Verdict.WRONG_ANSWER, "x" * 10_000)
    size = result_size(big)
    cache = VerdictCache(max_bytes=3 * size + size // 2)
    for k in range(10):
        cache.get_or_judge(bytes([k]), lambda: big)
        assert cache.stats().bytes <= cache.max_bytes
    assert cache.stats().entries == 3
    too_big = VerdictCache(max_bytes=size - 1)
    too_big.get_or_judge(b"k", lambda: big)
    assert too_big.stats().entries == 0


def test_concurrent_callers_of_one_key_share_one_run():
    cache = VerdictCache()
    release = threading.Event()
    calls = []

    def slow() -> JudgeResult:
        calls.append(1)
        release.wait(10)
        return judged(Verdict.ACCEPTED)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_judge(b"k", slow))) for _ in range(8)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 8 and all(r is results[0] for r in results)
    assert (cache.stats().hits, cache.stats().misses) == (7, 1)


def test_concurrent_judging_of_a_group_with_repeats(counted):
    """A GRPO-like group judged at once: each distinct program runs once, every caller gets its verdicts."""
    judge, backend = counted
    group = [SLEEPY, WRONG, SLEEPY, RIGHT, WRONG, SLEEPY, RIGHT, SLEEPY]
    results: dict[int, JudgeResult] = {}
    threads = [
        threading.Thread(target=lambda k=k, code=code: results.__setitem__(k, judge.judge(PROBLEM, code)))
        for k, code in enumerate(group)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert backend.runs == 3 * len(PROBLEM.public_tests)
    for k, code in enumerate(group):
        assert results[k].passed == (code != WRONG)
    assert judge.cache.stats().hits == len(group) - 3


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="max_entries"):
        VerdictCache(max_entries=0)
    with pytest.raises(ValueError, match="max_bytes"):
        VerdictCache(max_bytes=0)


def test_a_forked_child_starts_with_an_empty_cache(counted):
    judge, backend = counted
    judge.judge(PROBLEM, RIGHT)

    def child() -> dict:
        before = judge.cache.stats()
        judge.judge(PROBLEM, RIGHT)
        return {"entries_before": before.entries, "runs": backend.runs}

    seen = in_child(child)
    assert seen == {"entries_before": 0, "runs": 4}
    judge.judge(PROBLEM, RIGHT)
    assert backend.runs == 2 and judge.cache.stats().hits == 1
