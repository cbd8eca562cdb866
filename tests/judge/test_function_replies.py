"""Issue class 6a/6b: a function program's reply costs the judge's process bounded time and memory.

The attacks bypass the child's encoder and write crafted replies straight into the reply pipe: sets and
dicts of keys crafted to share one hash value (quadratic to build), replies past the size or element
caps, deep nesting, huge integers. Each must end as a runtime error with a clear reason, decided well
within the test's time limit, and leave the judge serving.
"""

from __future__ import annotations

import json

import pytest

from codefeedback_env.judge import Verdict, plaindata
from codefeedback_env.judge.subprocess_backend import MAX_REPLY_BYTES, MAX_REPLY_NODES
from tests.judge.function_judges import assert_still_serving, function_problem

TIME_LIMIT = 5.0
TESTS = ["assert f(0) == 1\n", "assert f(1) == 1\n"]
PROBLEM = function_problem(TESTS, time_limit=TIME_LIMIT)
COLLIDING = [i * (2**61 - 1) for i in range(1, 40_001)]

SEND_RAW = """
import os, stat, fcntl, time

def send_raw(payload, size=None):
    header = (len(payload) if size is None else size).to_bytes(8, "little")
    for fd in range(3, 64):
        try:
            if not stat.S_ISFIFO(os.fstat(fd).st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_WRONLY:
                continue
        except OSError:
            continue
        data = header + payload
        while data:
            data = data[os.write(fd, data):]
    time.sleep(100)

def f(x):
    if x == 0:
        send_raw(PAYLOAD, SIZE)
    return 1
"""


def crafted(value: str, *, size: int | None = None) -> str:
    """A program whose f(0) writes `{"value": V}` as its reply, where the Python expression `value` builds
    V's plain-data JSON text in the child; f(1) returns 1."""
    return f"PAYLOAD = ('{{\"d\":[[\"value\",' + {value} + ']]}}').encode()\nSIZE = {size!r}\n" + SEND_RAW


def colliding(template: str) -> str:
    """An expression for 40,000 JSON items `template % key`, the keys distinct ints with one hash value
    (ints hash modulo 2**61 - 1), joined by commas."""
    return f"','.join({template!r} % (i * (2**61 - 1)) for i in range(1, 40_001))"


ATTACKS = {
    "colliding_set": (crafted("'{\"s\":[' + " + colliding("%d") + " + ']}'"), "same hash"),
    "colliding_dict": (crafted("'{\"d\":[' + " + colliding("[%d,0]") + " + ']}'"), "same hash"),
    "colliding_frozenset_in_list": (crafted("'[{\"f\":[' + " + colliding("%d") + " + ']}]'"), "same hash"),
    "colliding_tuples": (crafted("'{\"s\":[' + " + colliding('{"t":[%d]}') + " + ']}'"), "same hash"),
    "huge_header": (crafted("'0'", size=1 << 40), "bytes long"),
    "over_size_cap": (crafted(f"'\"' + 'x' * {MAX_REPLY_BYTES + 10} + '\"'"), "bytes long"),
    "over_element_cap": (crafted(f"'[' + ','.join(['[]'] * {MAX_REPLY_NODES + 10}) + ']'"), "elements"),
    "deep_nesting": (crafted("'[' * 100_000 + ']' * 100_000"), "refused"),
    "huge_int": (crafted("'9' * 100_000"), "refused"),
    "not_json": (crafted("'{{{'"), "refused"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_crafted_replies_are_refused_quickly(judge_and_processes, name):
    judge, processes = judge_and_processes
    code, reason = ATTACKS[name]
    first, second = judge.judge(PROBLEM, code, "hidden").results
    assert first.verdict is Verdict.RUNTIME_ERROR, first
    assert reason in first.detail, first.detail
    assert first.time < TIME_LIMIT, "the refusal must be decided within the test's time limit"
    assert second.verdict is Verdict.ACCEPTED  # a new session: the next test gets its own verdict
    assert_still_serving(judge, processes)


def test_large_legitimate_replies_still_cross(judge_and_processes):
    judge, processes = judge_and_processes
    problem = function_problem(
        [
            "assert f(200_000) == list(range(200_000))\n",
            "assert g(50_000) == {i: str(i) for i in range(50_000)}\n",
            "assert h() == {-1, -2}\n",  # -1 and -2 share a hash value: a few collisions are fine
        ]
    )
    code = (
        "def f(n):\n    return list(range(n))\n"
        "def g(n):\n    return {i: str(i) for i in range(n)}\n"
        "def h():\n    return {-1, -2}\n"
    )
    assert judge.judge(problem, code, "hidden").passed
    assert_still_serving(judge, processes)


def _peak_rss_kb() -> int:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmHWM:")[1].split()[0])


def test_a_maximal_reply_grows_the_judge_by_a_bounded_amount(judge_and_processes):
    """The worst reply under the caps (many empty containers) costs the judge's process ~100 MB at peak."""
    judge, processes = judge_and_processes
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset the peak resident set size
    except OSError:
        pytest.skip("cannot reset the peak RSS of this process")
    count = MAX_REPLY_NODES // 2 - 10  # '[' and ',' per empty list
    code = crafted(f"'[' + ','.join(['[]'] * {count}) + ']'")
    # A roomy limit: this test is about memory, and decoding a maximal reply on a busy host can take seconds.
    problem = function_problem(TESTS, time_limit=20.0)
    before = _peak_rss_kb()
    first, _ = judge.judge(problem, code, "hidden").results
    assert first.verdict is Verdict.WRONG_ANSWER  # decoded (a list of empty lists is not 1)
    assert (_peak_rss_kb() - before) < 256 * 1024
    assert_still_serving(judge, processes)


def test_decoder_refuses_colliding_keys_in_linear_time():
    for tag in ("s", "f"):
        with pytest.raises(plaindata.PlainDataError, match="same hash"):
            plaindata.loads(json.dumps({tag: COLLIDING}).encode())
    with pytest.raises(plaindata.PlainDataError, match="elements"):
        plaindata.loads(b"[" + b",".join([b"1"] * 100) + b"]", max_nodes=50)
    assert plaindata.loads(json.dumps({"s": COLLIDING[:8]}).encode()) == set(COLLIDING[:8])


@pytest.mark.parametrize(
    "check",
    [
        "n = f(0)\nfor i in range(n):\n    pass\nassert n == 1\n",
        "n = f(0)\ntotal = 0\nwhile total < n:\n    total += 1\nassert n == 1\n",
        # checker code that catches everything cannot turn the deadline into a pass
        "n = f(0)\ntry:\n    for i in range(n):\n        pass\nexcept BaseException:\n    pass\nassert True\n",
    ],
)
def test_checker_work_driven_by_a_returned_value_ends_at_the_deadline(judge_and_processes, check):
    judge, processes = judge_and_processes
    problem = function_problem([check, "assert f(1) == 1\n"], time_limit=1.0)
    first, second = judge.judge(problem, "def f(x):\n    return 10**12 if x == 0 else 1\n", "hidden").results
    assert first.verdict is Verdict.TIME_LIMIT and "checker" in first.detail, first
    assert second.verdict is Verdict.ACCEPTED
    assert_still_serving(judge, processes)


# Checker code that builds a set or dict from what the program returned does so in one C call, which the
# checker's deadline cannot interrupt: a returned list of values crafted to share a hash value would hold
# the judge's process (every thread: the call holds the GIL) for minutes. Such replies are refused wherever
# the colliding values sit (list, tuple, dict values, inside tuples), and ordinary repeats still cross.
P61 = "(2**61 - 1)"
COLLIDING_RETURNS = {
    "list_into_set": ("assert len(set(f(0))) == 3\n", f"[i * {P61} for i in range(1, 40_001)]"),
    "list_into_counter": (
        "from collections import Counter\nassert Counter(f(0)) == Counter([1, 2])\n",
        f"[i * {P61} + 7 for i in range(1, 40_001)]",
    ),
    "tuples_into_set": ("assert sorted(set(f(0))) == [(1,)]\n", f"[(i * {P61},) for i in range(1, 40_001)]"),
    "tuple_into_dict_keys": ("assert dict.fromkeys(f(0)) == {}\n", f"tuple(-i * {P61} for i in range(1, 40_001))"),
    "dict_values_into_set": ("assert set(f(0).values()) == {1}\n", f"{{i: i * {P61} for i in range(1, 40_001)}}"),
    "nested_in_tuples": ("assert set(f(0)[0][0][0]) == {1}\n", f"((([i * {P61} for i in range(1, 40_001)],),),)"),
}


@pytest.mark.parametrize("name", sorted(COLLIDING_RETURNS))
def test_returned_values_crafted_to_collide_are_refused(judge_and_processes, name):
    judge, processes = judge_and_processes
    check, value = COLLIDING_RETURNS[name]
    problem = function_problem([check, "assert f(1) == 1\n"], time_limit=TIME_LIMIT)
    code = f"def f(x):\n    return {value} if x == 0 else 1\n"
    first, second = judge.judge(problem, code, "hidden").results
    assert first.verdict is Verdict.RUNTIME_ERROR, first
    assert "same hash" in first.detail, first.detail
    assert first.time < TIME_LIMIT
    assert second.verdict is Verdict.ACCEPTED
    assert_still_serving(judge, processes)


def test_repeated_and_mixed_values_still_cross(judge_and_processes):
    judge, processes = judge_and_processes
    problem = function_problem(
        [
            "assert f(0) == [0] * 100_000\n",
            f"assert f(1) == [10**30] * 1000 + [-1, -2] * 4 + [{P61}, 2 * {P61}]\n",
            "assert set(f(2)) == {(i % 7, str(i % 7)) for i in range(50_000)}\n",
            "assert f(3) == [[i, i] for i in range(20_000)] + [(1, [2])] * 20\n",
        ]
    )
    code = (
        "def f(x):\n"
        "    if x == 0:\n        return [0] * 100_000\n"
        f"    if x == 1:\n        return [10**30] * 1000 + [-1, -2] * 4 + [{P61}, 2 * {P61}]\n"
        "    if x == 2:\n        return [(i % 7, str(i % 7)) for i in range(50_000)]\n"
        "    return [[i, i] for i in range(20_000)] + [(1, [2])] * 20\n"
    )
    result = judge.judge(problem, code, "hidden")
    assert result.passed, result.results
    assert_still_serving(judge, processes)


def test_decoder_refuses_colliding_values_in_any_container():
    colliding = COLLIDING[:9]
    for tree in (
        colliding,
        {"t": colliding},
        {"d": [[i, c] for i, c in enumerate(colliding)]},
        [{"t": [{"t": colliding}]}],
    ):
        with pytest.raises(plaindata.PlainDataError, match="same hash"):
            plaindata.loads(json.dumps(tree).encode())
    assert plaindata.loads(json.dumps(COLLIDING[:8] + [COLLIDING[0]] * 100).encode())[-1] == COLLIDING[0]
    deep = [{"t": [{"t": [{"t": [{"t": [{"t": [{"t": colliding}]}]}]}]}]}]  # beyond the checked run: decoded
    assert plaindata.loads(json.dumps(deep).encode())[0][0][0][0][0][0] == tuple(colliding)
