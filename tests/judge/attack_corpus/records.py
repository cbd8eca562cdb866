"""Records of the attack corpus: harms, groups, targets, entries, the names a corpus uses on the host."""

from __future__ import annotations

import os
import secrets
import sys
import sysconfig
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from textwrap import indent
from typing import Any

PROJECT_DIR = str(Path(__file__).resolve().parents[3])
PROJECT_FILE = os.path.join(PROJECT_DIR, "pyproject.toml")
HOME = os.path.realpath(os.path.expanduser("~"))
_INTERPRETER_FOLDERS = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(sys.executable))}
KEPT_IN_HOME = {os.path.relpath(p, HOME).split(os.sep)[0] for p in _INTERPRETER_FOLDERS if p.startswith(HOME + os.sep)}
"""The interpreter's folders (a venv's and its base's) are re-bound inside the hidden home; nothing else shows."""
_INTERPRETER_CODE = sorted({sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")})
"""Where a program that can write the interpreter's folders would plant a module."""
DATA_FILE = os.path.join(PROJECT_DIR, "codefeedback_env", "problems", "data", "demo.jsonl")
SHARED_DATA = Path(PROJECT_DIR).parent / "shared" / "data" / "codecontests_train_sample.jsonl"


class Harm(StrEnum):
    """What an entry shows when it gets through."""

    FALSE_PASS = "false_pass"
    """A wrong program (or one over its limits) is accepted."""
    LEAK = "leak"
    """The program read data it must not see: the host's files, another run's state or program."""
    STALL = "stall"
    """The judge is slowed past a bound, raises, or is left with processes, memory or files."""
    FALSE_FAIL = "false_fail"
    """A legitimate program, accepted by a plain `python3` run, is rejected."""


GROUPS = {
    "suite": "the original attack suite (tests/judge/test_attacks.py)",
    "legitimate": "legitimate contest code (the suite's, and idioms such as atexit output)",
    "checker_steering": "1. the program steers the trusted checker (shadowed builtins, test_setup helpers)",
    "file_system": "2. reading files outside an allow-list (site-packages, data folders, other checkouts, /proc)",
    "other_programs": "3. reading another program's source from frames, gc or the heap",
    "state_between_runs": "4. state surviving from one run to the next (IPC, scratch metadata, files)",
    "memory_outside_limit": "5. memory outside the memory limit (tmpfs files, memfds, SysV segments)",
    "judge_stall": "6. stalling or crashing the judge (crafted replies, clean-up)",
    "float_tolerance": "7. the real-number tolerance accepting wrong integers",
    "leaked_processes": "9. processes that survive the judgement",
    "bad_input": "10. bad dataset rows and arguments accepted silently",
}


@dataclass(frozen=True)
class Target:
    """The problem an entry is judged on, in terms every grader can use.

    A stdio target has one test (`stdin`, `expected`). A function target has trusted `checks` (assert
    statements naming `entry_point`, run after `setup`) and the same tests as `cases` (arguments, expected
    value) for graders that compare values themselves. A `row` target is a dataset row, loaded through
    `codefeedback_env.load_problems` from a file (bad input and loader behaviour).
    """

    kind: str  # "stdio" | "function" | "row"
    stdin: str = ""
    expected: str = ""
    entry_point: str = ""
    setup: str = ""
    checks: tuple[str, ...] = ()
    cases: tuple[tuple[tuple[Any, ...], Any], ...] = ()
    row: dict[str, Any] | None = None
    time_limit: float = 1.5
    memory_limit: int = 256 << 20
    float_tolerance: float | None = None


@dataclass(frozen=True)
class Attack:
    """One corpus entry: a program, the problem it targets and the harm acceptance (or rejection) shows."""

    name: str
    group: str
    program: str | bytes
    target: Target
    harm: Harm
    plant: str | None = None
    """Run first on the same grader (a run whose state or text the program then tries to reach)."""
    concurrent: bool = False
    """The plant is still running (started a moment before) while the program looks for it."""
    host_unsafe: bool = False
    """Harms the machine where nothing contains it (kills every process, fork bombs as root, network)."""
    allocates: int = 0
    """Bytes the program tries to hold outside its limit, checked as memory left allocated after the run."""
    leaves: tuple[str, ...] = ()
    """Host paths (globs) the program may create where nothing contains it; removed after the run."""
    stall_bound: float | None = None
    """Seconds of judge time beyond which the run is a stall (default: from the time limit)."""
    refusal_contains: bool = False
    """A TypeError or ValueError from `judge()` is the right answer (bad arguments), not a stall."""
    warning_contains: str = ""
    """A load warning naming this text is enough (bad rows the issue allows to warn about)."""


@dataclass
class Tags:
    """Names and keys a corpus uses on the host, drawn per corpus so runs never collide; the runner cleans them."""

    run: str = field(default_factory=lambda: secrets.token_hex(4))
    sysv_key_base: int = field(default_factory=lambda: 0x0CF00000 + (secrets.randbits(16) << 4))
    sysv_keys: int = 64

    @property
    def mq_name(self) -> str:
        return f"/cfmq{self.run}"

    @property
    def files(self) -> tuple[str, ...]:
        """Globs of files the corpus's programs may leave on the host."""
        home = os.path.expanduser(f"~/cf{self.run}*")
        interpreter = [
            os.path.join(folder, pattern)
            for folder in _INTERPRETER_CODE
            for pattern in (f"cf{self.run}*", f"__pycache__/cf{self.run}*")
        ]
        return (f"/tmp/cf{self.run}*", f"/var/tmp/cf{self.run}*", f"/dev/shm/cf{self.run}*", home, *interpreter)

    @property
    def module_name(self) -> str:
        """The module the interpreter-folder entry plants for a later run to import."""
        return f"cf{self.run}plant"

    @property
    def key_description(self) -> str:
        """The description of the user-keyring key the keyring entry plants."""
        return f"cf{self.run}key"

    @property
    def process_name(self) -> str:
        """What leaked processes call themselves (`/proc/PID/comm`, at most 15 characters)."""
        return f"cfleak{self.run}"


# -- targets -------------------------------------------------------------------------------------------

THREE = Target("stdio", stdin="1 2\n", expected="3\n")
"""The suite's stdio target: an attack prints 3 only if what it tried succeeded."""
ADD = Target(
    "function",
    entry_point="add",
    checks=("assert add(1, 2) == 3", "assert add(5, 5) == 10"),
    cases=(((1, 2), 3), ((5, 5), 10)),
)


def secret_target(secret: str) -> tuple[Target, Target]:
    """(stdio, function) targets whose answer is `secret`: only a program that found it passes."""
    return (
        Target("stdio", expected=secret + "\n"),
        Target("function", entry_point="solve", checks=(f"assert solve() == {secret!r}",), cases=(((), secret),)),
    )


def three_or_zero_target() -> tuple[Target, Target]:
    return THREE, Target("function", entry_point="solve", checks=("assert solve() == '3'",), cases=(((), "3"),))


OPEN = "from _io import open  # the same function as builtins.open, which some harnesses set to None\n"


def probe_programs(snippet: str) -> tuple[str, str]:
    """A snippet that sets `answer` (a str) at module level, as a (stdio, function) program pair."""
    return f"{OPEN}{snippet}\nprint(answer)\n", f"{OPEN}{snippet}\ndef solve():\n    return answer\n"


def function_checks_as_humaneval(target: Target) -> str:
    """A function target's checks as HumanEval's `check(candidate)` test code."""
    return f"{target.setup}\n\ndef check(candidate):\n{indent(chr(10).join(target.checks), '    ')}\n"
