"""Whether a program compiles, decided in the judge's own process at a cost its literals cannot inflate.

The environment and the judge ask this of every program before running it, in the trainer's process,
holding the interpreter's lock. Compiling the text as is lets the program choose the cost: the compiler
keeps its constants in hash tables, and numbers crafted to share a hash value (ints congruent modulo
2**61 - 1, written out or folded from expressions such as `(2**61 - 1) * 7`) make them quadratic; a
200 kB program of such literals held the process for seconds per compile.

A program with few numbers (fewer than `MANY_NUMBERS` digit runs and `True`/`False`, from which every
number constant, folded or not, is made) is compiled as is: its constants are too few to cost much.
Otherwise the text is parsed as is (every error of the parser, with its message), and the syntax tree is
compiled with every number replaced by the zero of its type: compiling sees the same structure, which is
all the compiler's own errors (`return` outside a function, `nonlocal` without a binding, ...) depend on.
The one check that depends on values, duplicate keys in a `match` mapping pattern, gets distinct random
stand-ins there, equal where the originals are equal, and its message names the original key.

The verdict depends on the text alone, so `syntax_error` remembers it for the last programs checked: an
environment step asks it for its program once for `valid_response` and again in each judge call (public
tests, then final tests), and a GRPO group often submits one program several times.
"""

from __future__ import annotations

import ast
import hashlib
import re
import secrets
import threading
import traceback
import warnings
from typing import Any

from codefeedback_env.judge.child_runtime import PROGRAM_FILENAME  # the name the program runs under

PARSE_LOCK = threading.Lock()
"""Held while converting between source, syntax trees and code: the conversion is not thread-safe in
CPython 3.11 (its recursion-depth counter is shared: concurrent calls can fail with "AST constructor
recursion depth mismatch"), and judge threads check programs concurrently."""
_WARNINGS_LOCK = threading.Lock()
_NUMBERS = (int, float, complex)
MANY_NUMBERS = 1000
"""From this many number-making tokens on, a program is compiled with its numbers replaced (see above)."""
_NUMBER_MAKERS = re.compile(r"\d+|\bTrue\b|\bFalse\b")
REMEMBERED = 256
"""How many programs' verdicts `syntax_error` keeps (then it forgets them all and starts again)."""
REMEMBERED_MESSAGE_CHARS = 4096
"""Longer messages (they quote the offending line) are not kept: the memory stays bounded."""
_checked: dict[bytes, str | None] = {}
"""Content hash of a program -> its verdict. Plain dict operations, atomic under the interpreter's lock: no
lock to be left held in a forked child."""


def compile_as_python3(source: str | ast.AST, filename: str, flags: int = 0) -> Any:
    """`compile(source, filename, "exec")` as a fresh `python3` compiles a script: asserts kept whatever the
    judge's optimization level, and warnings never errors whatever warning filters the judge's process set
    (`-W error`, `PYTHONWARNINGS`, a test runner's): under those, an invalid escape such as `"\\d"` in a
    regular expression raised SyntaxError here, while `python3` only warns."""
    try:
        return compile(source, filename, "exec", flags, dont_inherit=True, optimize=0)
    except SyntaxError:
        with _WARNINGS_LOCK, warnings.catch_warnings():  # the filters are process-wide: one thread at a time
            warnings.simplefilter("ignore")
            return compile(source, filename, "exec", flags, dont_inherit=True, optimize=0)


def syntax_error(program: str) -> str | None:
    """The interpreter's message for a program that does not compile, else None (`compile_error`, remembered
    by the program's content hash for the last `REMEMBERED` programs)."""
    key = hashlib.blake2b(program.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    try:
        return _checked[key]
    except KeyError:
        pass
    error = compile_error(program)
    if error is None or len(error) <= REMEMBERED_MESSAGE_CHARS:
        if len(_checked) >= REMEMBERED:
            _checked.clear()
        _checked[key] = error
    return error


def compile_error(program: str) -> str | None:
    """The interpreter's message for a program that does not compile, else None (computed every time)."""
    originals: dict[str, str] = {}
    try:
        if len(_NUMBER_MAKERS.findall(program)) < MANY_NUMBERS:
            compile_as_python3(program, PROGRAM_FILENAME)
            return None
        with PARSE_LOCK:
            tree = compile_as_python3(program, PROGRAM_FILENAME, ast.PyCF_ONLY_AST)
            originals = _neutralise_numbers(tree)
            compile_as_python3(tree, PROGRAM_FILENAME)
    except (SyntaxError, ValueError) as error:  # ValueError: null bytes in the source
        if isinstance(error, SyntaxError) and error.msg.startswith("mapping pattern checks duplicate key ("):
            key = error.msg.removeprefix("mapping pattern checks duplicate key (").removesuffix(")")
            error.msg = f"mapping pattern checks duplicate key ({originals.get(key, key)})"
        return "".join(traceback.format_exception_only(type(error), error))
    except (RecursionError, MemoryError) as error:
        return f"SyntaxError: the program is too deeply nested to compile ({type(error).__name__})\n"
    return None


def _neutralise_numbers(tree: ast.AST) -> dict[str, str]:
    """Replace every number in `tree` by the zero of its type, or inside a mapping pattern's keys by a random
    stand-in (equal stand-ins for equal numbers); returns the stand-ins' reprs mapped to the originals'."""
    stand_ins: dict[str, int] = {}  # keyed by text: a program cannot aim a str's hash value
    originals: dict[str, str] = {}
    in_patterns: set[int] = set()
    for node in ast.walk(tree):  # breadth first: a mapping pattern comes before the numbers of its keys
        if type(node) is ast.MatchMapping:
            for key in node.keys:
                for constant in ast.walk(key):
                    if type(constant) is ast.Constant and type(constant.value) in _NUMBERS:
                        value = constant.value
                        number = stand_ins.setdefault(_equality_class(value), secrets.randbits(52) | 1)
                        constant.value = complex(0, number) if type(value) is complex else type(value)(number)
                        originals[repr(constant.value)] = repr(value)
                        originals[repr(-constant.value)] = repr(-value)  # a negative key: `-1` is `-(1)` folded
                        in_patterns.add(id(constant))
        elif type(node) is ast.Constant and type(node.value) in _NUMBERS and id(node) not in in_patterns:
            node.value = type(node.value)()
    return originals


def _equality_class(value: int | float | complex) -> str:
    """The same text for numbers that compare equal (`1`, `1.0`, `1+0j`), distinct texts otherwise."""
    if type(value) is int:
        return repr(value)
    if type(value) is complex:
        if value.imag:
            return repr(value)
        value = value.real
    assert isinstance(value, float)
    return repr(int(value)) if value.is_integer() else repr(value + 0.0)  # + 0.0: -0.0 is 0.0
