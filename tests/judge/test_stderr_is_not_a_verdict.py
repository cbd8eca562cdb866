"""Class 8 (fidelity): how much a program writes to stderr never decides its verdict.

`python3 program.py` accepts any amount of debug output on stderr. Here stderr was a file capped like stdout
(the output limit), so a correct program that logged more than 1 MB of debug lines got an output-limit verdict
(or `OSError: File too large`). The child's `sys.stderr` now keeps the file's end when it reaches the cap
(`child_runtime.TailKeepingWriter`): the program goes on, the judge holds at most the cap and reads back only
the end (`STDERR_TAIL_BYTES`), which is what feedback shows.
"""

from __future__ import annotations

import pytest

from codefeedback_env.judge import Judge, Limits, Verdict
from codefeedback_env.judge.child_runtime import STDERR_TAIL_BYTES
from codefeedback_env.judge.pool import WorkerPoolBackend
from codefeedback_env.judge.subprocess_backend import SubprocessBackend
from codefeedback_env.problems.records import Problem, TestCase
from tests.judge.function_judges import assert_still_serving, function_problem

LIMITS = Limits(time=10.0, memory=256 << 20, output=200_000)
"""A small output limit: the programs below write ten times as much to stderr."""
LINE = "debug {} " + "x" * 80

FLOODS = {
    "print_to_stderr": f"import sys\nfor i in range(25000):\n    print({LINE!r}.format(i), file=sys.stderr)\n",
    "stderr_buffer_bytes": (
        "import sys\n"
        f"for i in range(25000):\n    sys.stderr.buffer.write(({LINE!r}.format(i) + '\\n').encode())\n"
        "sys.stderr.flush()\n"
    ),
    "one_huge_write": "import sys\nsys.stderr.write('z' * (3 << 20) + '\\nlast line\\n')\n",
    "warnings_every_step": (
        "import warnings\nwarnings.simplefilter('always')\n"
        "for i in range(20000):\n    warnings.warn(f'step {i} ' + 'w' * 60)\n"
    ),
    "logging_debug": (
        "import logging\nlogging.basicConfig(level=logging.DEBUG)\n"
        "for i in range(25000):\n    logging.debug('state %d %s', i, 'y' * 70)\n"
    ),
}


@pytest.mark.parametrize("name", sorted(FLOODS))
def test_a_stderr_flood_keeps_the_verdict(each_backend, name: str) -> None:
    program = FLOODS[name] + "print(int(input()) * 2)\n"
    outcome = each_backend.run_stdio(program, "21\n", LIMITS)
    assert (outcome.exit_code, outcome.stdout, outcome.output_exceeded) == (0, b"42\n", False), outcome.stderr[-300:]
    assert 0 < len(outcome.stderr) <= STDERR_TAIL_BYTES


def test_the_end_of_stderr_is_kept(each_backend) -> None:
    """What feedback shows is the real end of stderr: the last debug line, then the traceback."""
    program = FLOODS["print_to_stderr"] + "raise ValueError('after the flood')\n"
    outcome = each_backend.run_stdio(program, "", LIMITS)
    assert outcome.exit_code == 1 and not outcome.output_exceeded
    lines = outcome.stderr.decode().splitlines()
    assert lines[-1] == "ValueError: after the flood"
    assert LINE.format(24999) in lines
    assert "debug 24998" in outcome.stderr.decode()  # the lines before it too, in order
    assert outcome.stderr.decode().index("debug 24998") < outcome.stderr.decode().index("debug 24999")


def test_stdout_still_has_its_limit(each_backend) -> None:
    outcome = each_backend.run_stdio("import sys\nsys.stderr.write('e' * 10**6)\nprint('o' * 300_000)\n", "", LIMITS)
    assert outcome.output_exceeded


def test_a_flooding_program_is_accepted_end_to_end() -> None:
    problem = Problem(
        id="double",
        statement="",
        public_tests=(TestCase("21\n", "42\n"), TestCase("5\n", "10\n")),
        hidden_tests=(),
        time_limit=10.0,
        memory_limit=256 << 20,
    )
    program = FLOODS["print_to_stderr"].replace("25000", "15000") + "print(int(input()) * 2)\n"
    for made in (WorkerPoolBackend(1), SubprocessBackend()):
        with Judge(backend=made, max_workers=1) as judge:
            result = judge.judge(problem, program, problem.public_tests)
        assert [r.verdict for r in result.results] == [Verdict.ACCEPTED] * 2, result.results[0]
        assert "debug 14999" in result.results[0].stderr


def test_a_function_logging_to_stderr_passes(judge_and_processes) -> None:
    """Every call of a function session writes to the same stderr: 3 MB of it over the session."""
    judge, processes = judge_and_processes
    program = "import sys\ndef f(xs):\n    sys.stderr.write(repr(xs) * 40000 + '\\n')\n    return sum(xs)\n"
    tests = [f"assert f([{k}, 1]) == {k + 1}\n" for k in range(12)]
    result = judge.judge(function_problem(tests, time_limit=10.0), program, "hidden")
    assert [r.verdict for r in result.results] == [Verdict.ACCEPTED] * len(tests), result.results[-1]
    assert_still_serving(judge, processes)
