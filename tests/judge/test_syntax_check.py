"""Issue class 6: the syntax check the judge and the environment run in their own process.

Every program is compiled in the trainer's process before it runs (holding the interpreter's lock, so
every judge and environment thread waits). Numbers crafted to share a hash value made the compiler's
constant tables quadratic: a 200 kB response held the process for 8-17 s per check, three checks per
step. The check must cost about what compiling an ordinary program of that size costs, and must give
exactly the message `compile` gives, for every kind of syntax error.
"""

from __future__ import annotations

import time
import traceback

import pytest

from codefeedback_env.judge import Judge, Verdict, syntax_check, syntax_error
from codefeedback_env.judge.syntax_check import MANY_NUMBERS, compile_error
from codefeedback_env.problems import Problem, TestCase
from tests.judge.function_judges import ECHO, ECHO_CODE

P = 2**61 - 1
TWO = "(True+True)"
BOOL_P = f"({TWO}**({TWO}**{TWO}**{TWO}*{TWO}*{TWO}-{TWO}-True)-True)"
"""2**61 - 1 folded from bools alone: a program needs no digit to make colliding constants."""
BOOL_OTHER = f"({TWO}**({TWO}**{TWO}**{TWO}*{TWO}*{TWO}-{TWO}-True)+True)"


def _big(k: int, collide: bool) -> int:
    """Distinct ints sharing one hash value (congruent modulo 2**61 - 1), or as many that do not."""
    return k * P if collide else k * P + k


ATTACKS = {
    "literal_set": lambda c: "x = {" + ",".join(str(_big(k, c)) for k in range(1, 9000)) + "}\nprint(3)\n",
    "literal_assignments": lambda c: "\n".join(f"a{k} = {_big(k, c)}" for k in range(1, 7000)) + "\nprint(3)\n",
    "folded_products": lambda c: "x = [" + ",".join(f"(2**61-{1 if c else 3})*{k}" for k in range(1, 11000)) + "]\n",
    "folded_from_bools": lambda c: (
        "x = [" + ",".join(f"{BOOL_P if c else BOOL_OTHER}*{k}" for k in range(1, 400)) + "]\n"
    ),
    "mapping_pattern_keys": lambda c: (
        "match 1:\n    case {" + ",".join(f"{_big(k, c)}: _" for k in range(1, 7000)) + "}:\n        pass\n"
    ),
}


def _cpu_seconds(program: str) -> float:
    started = time.thread_time()
    compile_error(program)  # not `syntax_error`: it remembers the verdict, and a repeat would cost nothing
    return time.thread_time() - started


def test_the_bool_expression_is_the_colliding_modulus():
    assert eval(BOOL_P) == P and hash(eval(BOOL_OTHER)) != hash(P)  # noqa: S307 - the test's own constants


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_numbers_crafted_to_collide_cost_what_ordinary_numbers_cost(name):
    attack, ordinary = ATTACKS[name](True), ATTACKS[name](False)
    assert syntax_error(attack) is None and syntax_error(ordinary) is None
    # CPU time of this thread, best of two, against the same check of the same program with numbers that do
    # not collide, in the same run. Compiling the attack as is costs 20-70x; the check stays within 4x.
    ratio = min(_cpu_seconds(attack) for _ in range(2)) / max(min(_cpu_seconds(ordinary) for _ in range(2)), 1e-3)
    assert ratio < 4, f"{name}: {ratio:.1f}x the cost of ordinary numbers"


ERRORS = [
    "return 1\n",
    "x = 1\nbreak\n",
    "for i in range(3):\n    pass\ncontinue\n",
    "def f():\n    nonlocal x\n",
    "nonlocal x\n",
    "def f():\n    x = 1\n    global x\n",
    "async def f():\n    yield 1\n    return 2\n",
    "await x\n",
    "a, *b, *c = 1\n",
    "try:\n    pass\nexcept:\n    pass\nexcept ValueError:\n    pass\n",
    "x = [i for i in range(3) if (yield)]\n",
    "def f(a, a):\n    pass\n",
    "class A:\n    return 1\n",
    "from __future__ import braces\n",
    "x = 5\nfrom __future__ import annotations\n",
    "def f():\n    global x\n    x: int = 1\n",
    "print(1 +)\n",
    "print('a')\n\tprint(2)\n",
    "x = 0777\n",
    "x = '\\N{no such name}'\n",
    "del f()\n",
    "print(f'{x!z}')\n",
    "\x00",
    "match x:\n    case {1: a, 1: b}:\n        pass\n",
    "match x:\n    case {-1: a, -1.0: b}:\n        pass\n",
    "match x:\n    case {1: a, 1.0: b}:\n        pass\n",
    "match x:\n    case [a, *b, *c]:\n        pass\n",
    "match x:\n    case a:\n        pass\n    case 1:\n        pass\n",
]
VALID = [
    "match x:\n    case {1: a, 2: b, -3: c, 1.5: d, 2j: e, 'k': f}:\n        pass\n"
    "    case -1 | 1+2j | 0.5:\n        pass\n",
    "print(-1, +2.5, 3j, 10**20, 1e308 * 10, 2**(2**10), True + True, 0x1F, 0o17, 0b101, 1_000)\n",
    "x = 1 if True else 2\nprint([*range(3)], {**{1: 2}}, f'{x:5d}', '\\x41')\n",
]
TABLE = "TABLE = [" + ", ".join(str(i) for i in range(MANY_NUMBERS)) + "]\n"
"""A legitimate data table: enough numbers to take the check's second path."""


def _compile_message(program: str) -> str | None:
    try:
        compile(program, "solution.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        return "".join(traceback.format_exception_only(type(error), error))
    return None


@pytest.mark.parametrize("prefix", ["", TABLE], ids=["few_numbers", "many_numbers"])
@pytest.mark.parametrize("program", ERRORS + VALID)
def test_the_check_gives_exactly_what_compile_gives(prefix, program):
    if program == "\x00" and prefix:
        program = "x = '\x00'\n"
    source = prefix + program
    assert compile_error(source) == _compile_message(source)
    assert syntax_error(source) == _compile_message(source)  # checked, then remembered
    assert syntax_error(source) == _compile_message(source)
    assert (syntax_error(source) is None) == (program in VALID)


def test_each_program_is_compiled_once_and_the_memory_stays_bounded(monkeypatch):
    compiled: list[str] = []
    check = syntax_check.compile_error
    monkeypatch.setattr(syntax_check, "compile_error", lambda program: compiled.append(program) or check(program))
    monkeypatch.setattr(syntax_check, "_checked", {})
    programs = [f"print({i})\n" for i in range(syntax_check.REMEMBERED - 1)] + ["print(1\n"]
    for program in programs * 3:
        syntax_error(program)
    assert compiled == programs
    for i in range(3 * syntax_check.REMEMBERED):
        syntax_error(f"x = {i}\n")
        assert len(syntax_check._checked) <= syntax_check.REMEMBERED
    assert syntax_error("print(1\n") == _compile_message("print(1\n")
    long_line = "x = (" + "1, " * 3000 + "\n"  # its message quotes the line: too long to keep
    assert syntax_error(long_line) == syntax_error(long_line) == _compile_message(long_line)
    assert compiled.count(long_line) == 2


def test_a_response_of_colliding_numbers_is_judged_as_python3_would_and_the_judge_keeps_serving():
    """The program itself takes seconds to compile in its own child too (as under `python3`): a time-out."""
    problem = Problem(
        id="collide", statement="", public_tests=(TestCase("", "3\n"),), hidden_tests=(TestCase("", "3\n"),),
        time_limit=1.0, memory_limit=256 << 20,
    )  # fmt: skip
    with Judge("pool") as judge:
        started = time.monotonic()
        result = judge.judge(problem, ATTACKS["literal_set"](True), "public")
        assert result.results[0].verdict in (Verdict.TIME_LIMIT, Verdict.ACCEPTED), result.results
        assert time.monotonic() - started < 3 * problem.time_limit + 10  # the child's limit, never the parent's
        assert judge.judge(ECHO, ECHO_CODE, "all").passed
