"""A verdict cache: an identical (problem, program, tests, limits) is judged once per run.

GRPO and RLEF groups sample several responses per problem and often repeat a program. The key is a
SHA-256 of everything that decides the verdicts: the program text (with the problem's code prefix), every
field of every judged test, `stop_on_failure`, and every field of the problem except its test lists and
solutions (id, kind, time and memory limits, float tolerance, entry point, test setup, ...). Two problems
never share an entry, and a field added to `Problem` or `TestCase` later joins the key without a change here.

Only deterministic verdicts are kept: a result whose every test has a verdict in `CACHEABLE_VERDICTS`.
Anything else (an infrastructure failure such as `judge_error`, or a verdict added later) is judged again
next time. `time_limit` is kept: the limit counts wall time net of waiting for a core, so a program
that ran out of time almost always does so again, and re-running it costs the full limit each time; a
borderline program keeps its first verdict for the run, as it would if it had been judged once. A program
whose output depends on chance or the clock keeps its first verdict too. A hit returns the first run's
result as it was, including its output excerpts and times.

Callers asking for a key being judged right now wait for that run instead of starting another one (GRPO
judges a group's responses at once). Bounded by entries and by an estimate of the bytes held (least
recently used first out); thread-safe and fork-safe (a forked child starts empty).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from codefeedback_env.judge import forksafe
from codefeedback_env.judge.results import JudgeResult, Verdict
from codefeedback_env.problems.records import Problem, TestCase

CACHEABLE_VERDICTS = frozenset(
    {
        Verdict.ACCEPTED,
        Verdict.WRONG_ANSWER,
        Verdict.RUNTIME_ERROR,
        Verdict.TIME_LIMIT,
        Verdict.MEMORY_LIMIT,
        Verdict.OUTPUT_LIMIT,
        Verdict.SYNTAX_ERROR,
        Verdict.SKIPPED,
    }
)
"""Verdicts that are facts about the program; a result with any other verdict is never cached."""
_UNJUDGED_FIELDS = frozenset({"public_tests", "hidden_tests", "generated_tests", "solutions"})
"""Problem fields outside the key: the judged tests enter it by content, and solutions are never run."""
_RESULT_OVERHEAD = 64
_TEST_OVERHEAD = 256
"""Rough bytes of a result's and of a test result's objects besides their strings."""


def cache_key(problem: Problem, program: str, tests: Sequence[TestCase], stop_on_failure: bool) -> bytes:
    """The SHA-256 of everything that decides the verdicts of `program` on `tests` of `problem`."""
    digest = hashlib.sha256()

    def add(value: object) -> None:
        # Strings as they are (tests can be megabytes; repr would copy them), anything else by repr;
        # every value is length-prefixed, so no two different sequences of values hash alike.
        data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else repr(value).encode()
        digest.update(b"s" if isinstance(value, str) else b"r")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)

    def add_record(record: Problem | TestCase, skip: frozenset[str] = frozenset()) -> None:
        for field in dataclasses.fields(record):
            if field.name not in skip:
                add(field.name)
                add(getattr(record, field.name))

    add_record(problem, _UNJUDGED_FIELDS)
    add(program)
    add(stop_on_failure)
    add(len(tests))
    for case in tests:
        add_record(case)
    return digest.digest()


def is_cacheable(result: JudgeResult) -> bool:
    """Whether every test of `result` has a deterministic verdict (see `CACHEABLE_VERDICTS`)."""
    return all(test.verdict in CACHEABLE_VERDICTS for test in result.results)


def result_size(result: JudgeResult) -> int:
    """An estimate of the bytes `result` holds (its strings plus a fixed cost per object)."""
    return _RESULT_OVERHEAD + sum(
        _TEST_OVERHEAD + sys.getsizeof(t.stdout) + sys.getsizeof(t.stderr) + sys.getsizeof(t.detail)
        for t in result.results
    )


@dataclass(frozen=True)
class CacheStats:
    """Counts since the cache was made (or since a fork)."""

    hits: int
    """Answers from a stored result or from a run another caller had in progress."""
    misses: int
    """Runs started."""
    entries: int
    bytes: int
    """Estimated bytes held (see `result_size`)."""

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class VerdictCache:
    """A bounded, thread-safe map from `cache_key` to a deterministic `JudgeResult`.

    Args:
        max_entries: most results held.
        max_bytes: most estimated bytes held; a result larger than this is never stored.
    """

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 256 << 20) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._start()
        forksafe.register(self)

    def _start(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[JudgeResult, int]] = OrderedDict()
        self._running: dict[bytes, Future[JudgeResult]] = {}
        self._bytes = self._hits = self._misses = 0

    def _after_fork_in_child(self) -> None:
        # Runs in progress belong to the parent's threads, and the lock or the entries may be mid-update.
        self._start()

    def get_or_judge(self, key: bytes, judge: Callable[[], JudgeResult]) -> JudgeResult:
        """The stored result for `key`, else the result of a run in progress for it, else `judge()`'s."""
        with self._lock:
            stored = self._entries.get(key)
            if stored is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return stored[0]
            running = self._running.get(key)
            if running is None:
                self._running[key] = future = Future()
        if running is not None:
            try:
                shared = running.result()
            except BaseException:  # the other caller's failure (e.g. its interruption): judge here instead
                shared = None
            if shared is not None and is_cacheable(shared):
                with self._lock:
                    self._hits += 1
                return shared
            with self._lock:
                self._misses += 1
            return judge()
        with self._lock:
            self._misses += 1
        try:
            result = judge()
        except BaseException as error:
            with self._lock:
                del self._running[key]
            future.set_exception(error)
            raise
        with self._lock:
            del self._running[key]
            self._store(key, result)
        future.set_result(result)
        return result

    def _store(self, key: bytes, result: JudgeResult) -> None:
        size = result_size(result)
        if not is_cacheable(result) or size > self.max_bytes:
            return
        self._entries[key] = (result, size)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries), self._bytes)

    def clear(self) -> None:
        """Drop every stored result (runs in progress still finish and are stored)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
