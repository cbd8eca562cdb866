"""Classes 6, 7, 9 and 10 of issue 10: stalling the judge, the float tolerance, leaked processes, bad input."""

from __future__ import annotations

import math
from typing import Any

from codefeedback_env.problems.mbpp import PLUS_TEST_SETUP
from tests.judge.attack_corpus.other_runs import SPAWN
from tests.judge.attack_corpus.records import (
    THREE,
    Attack,
    Harm,
    Tags,
    Target,
    probe_programs,
    three_or_zero_target,
)

# -- 6. stalling the judge ----------------------------------------------------------------------------------

_CRAFTED_REPLY = """
import os, time
def solve():
    payload = {payload}
    message = len(payload).to_bytes(8, 'little') + payload
    for fd in range(3, 32):
        try:
            os.write(fd, message)
        except OSError:
            pass
    time.sleep(60)
"""
COLLIDING = 25_000
HUGE_REPLY_ITEMS = 3_000_000
REPLY_BOUND = 5.0
"""Seconds the judge may take over a call whose limit is 2 s: reading and checking a reply is quick work."""


def judge_stall() -> list[Attack]:
    function_target = Target(
        "function", entry_point="solve", checks=("assert solve() == 0",), cases=(((), 0),), time_limit=2.0
    )
    # The reply as the child would send it, {"value": ...} in plain-data form, written past the encoder.
    colliding = (
        '(\'{"d":[["value",{"s":[\' + \',\'.join(str(((1 << 61) - 1) * k) for k in range(1, '
        f"{COLLIDING + 1})) + ']}}]]}}').encode()"
    )
    huge = f"b'{{\"d\":[[\"value\",[' + b'[],' * {HUGE_REPLY_ITEMS - 1} + b'[]]]]}}'"
    stop = (
        "import os, signal\ntry:\n    os.killpg(0, signal.SIGSTOP)\nexcept OSError:\n"
        "    os.kill(os.getpid(), signal.SIGSTOP)\nprint(3)\n"
    )
    many_dirs = "import os\nfor i in range(80000):\n    os.mkdir(f'd{i}')\nprint(0)\n"
    # The kernel sends the owner of an O_ASYNC descriptor its signal (SIGKILL here) when data arrives.
    descriptor_signal = (
        "import fcntl, os, signal\nr, w = os.pipe()\nfor target in sorted({os.getppid(), 1, 2}):\n    try:\n"
        "        fcntl.fcntl(r, fcntl.F_SETOWN, target)\n        fcntl.fcntl(r, fcntl.F_SETSIG, signal.SIGKILL)\n"
        "        fcntl.fcntl(r, fcntl.F_SETFL, os.O_ASYNC)\n        os.write(w, b'x')\n        os.read(r, 1)\n"
        "    except OSError:\n        pass\nprint(0)\n"
    )
    # Plain returned values crafted to share a hash value, which trusted checker code puts in a set or dict:
    # one C call the checker's deadline cannot interrupt, holding the judge's process.
    colliders = f"[((1 << 61) - 1) * k for k in range(1, {COLLIDING + 1})]"
    into_set = Target(
        "function", entry_point="solve", checks=("assert len(set(solve())) == 1",), cases=(((), [1]),), time_limit=2.0
    )
    into_counter = Target(
        "function",
        entry_point="solve",
        setup="from collections import Counter",
        checks=("assert Counter(solve()) == Counter([(1,)])",),
        cases=(((), [(1,)]),),
        time_limit=2.0,
    )
    return [
        Attack(
            "colliding_list_into_checker_set",
            "judge_stall",
            f"def solve():\n    return {colliders}\n",
            into_set,
            Harm.STALL,
            stall_bound=REPLY_BOUND,
        ),
        Attack(
            "colliding_tuples_into_checker_counter",
            "judge_stall",
            f"def solve():\n    return [(value,) for value in {colliders}]\n",
            into_counter,
            Harm.STALL,
            stall_bound=REPLY_BOUND,
        ),
        Attack(
            "huge_reply",
            "judge_stall",
            _CRAFTED_REPLY.format(payload=huge),
            function_target,
            Harm.STALL,
            stall_bound=REPLY_BOUND,
        ),
        Attack(
            "hash_colliding_reply",
            "judge_stall",
            _CRAFTED_REPLY.format(payload=colliding),
            function_target,
            Harm.STALL,
            stall_bound=REPLY_BOUND,
        ),
        Attack("stop_own_group", "judge_stall", stop, Target("stdio", expected="0\n"), Harm.STALL),
        # A 200 kB program of int literals sharing one hash value: compiling it as is (the judge's syntax check,
        # in the judge's own process) takes seconds; the program's own compile is its own time.
        Attack(
            "colliding_literals_for_the_syntax_check",
            "judge_stall",
            "x = {" + ",".join(str(((1 << 61) - 1) * k) for k in range(1, 9000)) + "}\nprint(3)\n",
            THREE,
            Harm.STALL,
        ),
        Attack(
            "kill_worker_through_descriptor_owner",
            "judge_stall",
            descriptor_signal,
            Target("stdio", expected="0\n"),
            Harm.STALL,
            host_unsafe=True,  # unconfined, it would kill the grader's own process
        ),
        Attack(
            "80k_directories_to_clean",
            "judge_stall",
            many_dirs,
            Target("stdio", stdin="", expected="3\n", time_limit=2.0),
            Harm.STALL,
        ),
    ]


# -- 7. float tolerance -----------------------------------------------------------------------------------


def _codecontests_row(name: str, outputs: list[str]) -> Target:
    """A CodeContests-format row (real-number answers get the loader's tolerance), one test per output."""
    inputs = [f"{i}\n" for i in range(len(outputs))]
    row = {
        "name": name,
        "description": "print the answer",
        "public_tests": {"input": inputs[:1], "output": outputs[:1]},
        "private_tests": {"input": inputs, "output": outputs},
    }
    return Target("row", row=row, time_limit=2.0)


_FLOATS = (
    # (name, group, printed answers, expected answers, harm)
    ("integer_printed_as_float", "float_tolerance", ["1000000.0"], ["1000001\n"], Harm.FALSE_PASS),
    ("integer_in_scientific_notation", "float_tolerance", ["1.234568e+17"], ["123456789012345678\n"], Harm.FALSE_PASS),
    # Tokens built to make the comparison itself expensive or crash (a real answer beside them turns the tolerance on).
    ("integer_of_900k_digits", "float_tolerance", ["0.5 3" + "0" * 900_000], ["0.5 3\n"], Harm.FALSE_PASS),
    ("exponent_beyond_range", "float_tolerance", ["0.5 3e999999999999"], ["0.5 3\n"], Harm.FALSE_PASS),
    (
        "real_answers_within_tolerance",
        "legitimate",
        ["0.3333333334", "20.0"],
        ["0.333333333\n", "20\n"],
        Harm.FALSE_FAIL,
    ),
)


INFINITE_EXPECTED = Target(
    "function",
    entry_point="count_binary_seq",
    setup=PLUS_TEST_SETUP,
    checks=("assert _cf_close(count_binary_seq(1000), inf, 0.0001)",),
    cases=(((1000,), math.inf),),
)
"""Mbpp/300's extra inputs: the reference result overflowed to inf, so the expected value is infinite."""


def float_tolerance() -> list[Attack]:
    program = "answers = {!r}\nprint(answers[int(input())])\n"
    entries = [
        Attack(name, group, program.format(printed), _codecontests_row(f"cf-{name}", expected), harm)
        for name, group, printed, expected, harm in _FLOATS
    ]
    finite = "def count_binary_seq(n):\n    return 0.0\n"
    entries.append(Attack("mbpp_plus_infinite_expected", "float_tolerance", finite, INFINITE_EXPECTED, Harm.FALSE_PASS))
    return entries


# -- 9. leaked processes --------------------------------------------------------------------------------------

_DETACH = (
    SPAWN
    + """
import time
make = {make}
try:
    if make() == 0:
        try:
            posix.setsid()
            if make() == 0:
                try:
                    with open('/proc/self/comm', 'w') as handle:
                        handle.write({name!r})
                except OSError:
                    pass
                time.sleep(60)
        finally:
            os._exit(0)
except OSError:
    pass
time.sleep(0.2)
answer = '0'
"""
)
"""Fork (or clone3), start a session, fork again and sleep: the grandchild belongs to no group the judge kills."""


def leaked_processes(tags: Tags) -> list[Attack]:
    stdio_three, function_three = three_or_zero_target()
    entries = []
    for name, make in (("fork", "posix.fork"), ("clone3", "clone3")):
        stdio, function = probe_programs(_DETACH.format(make=make, name=tags.process_name))
        entries.append(Attack(f"{name}_setsid_{name}_sleep", "leaked_processes", stdio, stdio_three, Harm.STALL))
        entries.append(
            Attack(f"fn_{name}_setsid_{name}_sleep", "leaked_processes", function, function_three, Harm.STALL)
        )
    return entries


# -- 10. bad input ---------------------------------------------------------------------------------------


def _project_row(**fields: Any) -> Target:
    row = {
        "id": "bad-input",
        "statement": "print 3",
        "public_tests": [{"input": "1 2\n", "output": "3\n"}],
        "hidden_tests": [{"input": "1 2\n", "output": "3\n"}],
    }
    row.update(fields)
    return Target("row", row={k: v for k, v in row.items() if v is not None}, time_limit=2.0)


_FUNCTION_ROW = {"kind": "function", "entry_point": "three", "hidden_tests": [{"input": "assert three() == 3"}]}


def bad_input() -> list[Attack]:
    slow = "import time\ntime.sleep(1.2)\nprint(3)\n"
    spin = "while True:\n    pass\n"
    no_output = [{"input": "1 2\n"}]
    return [
        # Rows: a clear DatasetError at load contains each; loading silently lets the harm through.
        Attack("time_limit_nan", "bad_input", "print(3)\n", _project_row(time_limit=float("nan")), Harm.STALL),
        Attack(
            "time_limit_infinite",
            "bad_input",
            spin,
            _project_row(time_limit=float("inf")),
            Harm.STALL,
            stall_bound=20.0,
        ),
        Attack("time_limit_zero", "bad_input", slow, _project_row(time_limit=0), Harm.FALSE_PASS),
        Attack(
            "time_limit_misspelled",
            "bad_input",
            slow,
            _project_row(time_limt=0.5),
            Harm.FALSE_PASS,
            warning_contains="time_limt",
        ),
        Attack("memory_limit_1e30", "bad_input", "print(3)\n", _project_row(memory_limit=1e30), Harm.FALSE_FAIL),
        Attack("memory_limit_fraction", "bad_input", "print(3)\n", _project_row(memory_limit=1.5), Harm.FALSE_FAIL),
        Attack(
            "stdio_test_without_output",
            "bad_input",
            "pass\n",
            _project_row(public_tests=no_output, hidden_tests=no_output),
            Harm.FALSE_PASS,
        ),
        # Function rows whose trusted code cannot judge: tests that never call the program accept any program; a
        # test that is not Python crashed the checker process at every run (a judge error for every program).
        Attack(
            "function_test_never_calls",
            "bad_input",
            "def three():\n    return 0\n",
            _project_row(
                **_FUNCTION_ROW | {"public_tests": [{"input": "assert 3 == 3"}], "hidden_tests": [{"input": "x = 3"}]}
            ),
            Harm.FALSE_PASS,
        ),
        Attack(
            "function_test_not_python",
            "bad_input",
            "def three():\n    return 3\n",
            _project_row(**_FUNCTION_ROW | {"public_tests": [{"input": "assert three() == (3"}]}),
            Harm.FALSE_FAIL,
        ),
        # An argument: the judge must refuse bytes clearly, not run them and leave memfds open.
        Attack("program_as_bytes", "bad_input", b"print(3)\n", THREE, Harm.STALL, refusal_contains=True),
    ]
