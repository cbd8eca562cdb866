"""Class 8 (fidelity): `/dev/stdin`, `/dev/stdout`, `/dev/stderr`, `/dev/fd/N` and `/proc/self/fd/N` opened by a
program give what `python3 program.py < input` gives, on the pool too, where children have no /proc (the links
behind those paths) and the built-in `open` knows them (`standard_paths`). Each idiom is compared with a real
`python3` run of the same program (stdin a file, stdout a pipe, as `plain_python` runs it).
"""

from __future__ import annotations

import functools

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.pool import WorkerPoolBackend
from tests.judge.test_exit_fidelity import plain_python

LIMITS = Limits(time=10.0, memory=512 << 20, output=1 << 20)
NUMBERS = "3\n1 2 3\n4 5\n"

IDIOMS: dict[str, str] = {
    "dev_stdin_read": "print(sum(map(int, open('/dev/stdin').read().split())))\n",
    "dev_stdin_readlines": "lines = open('/dev/stdin').readlines()\nprint(len(lines), lines[-1].split())\n",
    "dev_stdin_binary": "data = open('/dev/stdin', 'rb').read()\nprint(len(data), data.split()[0])\n",
    "dev_stdin_unbuffered": "f = open('/dev/stdin', 'rb', buffering=0)\nprint(f.read(3), f.read())\n",
    "dev_fd_0": "print(open('/dev/fd/0').read().split())\n",
    "proc_self_fd_0": "print(open('/proc/self/fd/0').readline().strip())\n",
    "pathlib_read_text": "import pathlib\nprint(pathlib.Path('/dev/stdin').read_text().count('\\n'))\n",
    "with_block_then_input": "with open('/dev/stdin') as f:\n    print(f.readline().strip())\nprint(input())\n",
    # a reopened file starts from its start, with an offset of its own: stdin's offset is not moved
    "reopen_after_reading_stdin": (
        "import sys\nfirst = sys.stdin.readline()\nagain = open('/dev/stdin').read()\n"
        "print(repr(first), repr(again), repr(sys.stdin.read()))\n"
    ),
    "two_reopens_independent": (
        "a = open('/dev/stdin')\nb = open('/dev/fd/0')\nprint(a.readline().strip(), b.readline().strip(),"
        " a.readline().strip(), a.tell(), b.seek(0), b.read(1))\n"
    ),
    "names_and_modes": (
        "f = open('/dev/stdin')\ng = open('/dev/stdout', 'w')\nprint(f.name, f.mode, f.buffer.name, g.name, g.mode,"
        " f.readable(), g.writable(), f.seekable())\n"
    ),
    # writers go where print() goes, in the order the buffers are flushed (stdout a pipe; the portable backend's
    # is a file, so there a reopened /dev/stdout writes from its start, as under `python3 program.py > file`)
    "stdout_rebound": "import sys\nsys.stdout = open('/dev/stdout', 'w')\nprint(sum(map(int, input().split())))\n",
    "stdout_interleaved_with_print": (
        "import sys\nprint('a', flush=True)\nout = open('/dev/stdout', 'w')\nout.write('b\\n')\nout.flush()\n"
        "print('c')\nout.write('d\\n')\nout.close()\nprint('e')\n"
    ),
    "stdout_unflushed_print_first": "import sys\nprint('a')\nsys.stdout = open('/dev/stdout', 'w')\nprint('b')\n",
    "stdout_binary_and_fd_1": (
        "with open('/dev/stdout', 'wb') as out:\n    out.write(b'bytes\\n')\n"
        "with open('/dev/fd/1', 'w') as out:\n    out.write('text\\n')\nprint('after close', flush=True)\n"
    ),
    "stderr_written": "import sys\nopen('/dev/stderr', 'w').write('to stderr\\n')\nprint('out')\n",
    # a descriptor that is not open, and names /proc/self/fd does not have, raise as under python3
    "closed_stdin": (
        "import os\nos.close(0)\ntry:\n    open('/dev/stdin')\nexcept OSError as e:\n    print(type(e).__name__,"
        " e.errno, e.filename)\n"
    ),
    "descriptor_not_open": (
        "for path in ('/dev/fd/57', '/proc/self/fd/57', '/dev/fd/01', '/proc/self/fd/x'):\n    try:\n"
        "        open(path)\n    except OSError as e:\n        print(type(e).__name__, e.filename)\n"
    ),
    "uncaught_missing_stdin_exits_1": "import os\nos.close(0)\nprint('before', flush=True)\nopen('/dev/stdin')\n",
    "exclusive_creation": (
        "try:\n    open('/dev/stdout', 'x')\nexcept OSError as e:\n    print(type(e).__name__, e.filename)\n"
    ),
    "closefd_false_with_a_name": (
        "try:\n    open('/dev/stdin', closefd=False)\nexcept ValueError as e:\n    print(e)\n"
    ),
    "ordinary_missing_file": (
        "try:\n    open('nope.txt')\nexcept OSError as e:\n    print(type(e).__name__, e.filename)\n"
    ),
}


WRITERS = ("stdout_interleaved_with_print", "stdout_unflushed_print_first", "stdout_binary_and_fd_1")
"""Reopened stdout after output: a pipe's order under python3 and on the pool; the portable backend's stdout is a
file, and a file reopened for writing starts at 0 (what `python3 program.py > output` does)."""
plain_python_once = functools.cache(plain_python)


@pytest.mark.parametrize("name", sorted(IDIOMS))
def test_standard_stream_paths_open_as_under_plain_python(each_backend, name: str) -> None:
    program = IDIOMS[name]
    if name in WRITERS and not isinstance(each_backend, WorkerPoolBackend):
        pytest.skip("the portable backend's stdout is a file, not python3's pipe here: see WRITERS")
    expected_stdout, expected_status = plain_python_once(program, NUMBERS)
    outcome = each_backend.run_stdio(program, NUMBERS, LIMITS)
    status = -outcome.signal if outcome.signal is not None else outcome.exit_code
    assert (outcome.stdout, status) == (expected_stdout, expected_status), outcome.stderr[-600:]


def test_the_paths_give_no_descriptor_path_or_proc_a_program_did_not_have(pool) -> None:
    """Opening them makes no descriptor (stdin's and stdout's own serve), os-level calls still see no /proc,
    and the pool's traceback of an uncaught error in `open` names only the program's frames."""
    program = (
        "import os\nbefore = sorted(os.listdir('/dev/fd') if os.path.isdir('/dev/fd') else [])\n"
        "f = open('/dev/stdin')\ng = open('/dev/stdout', 'w')\n"
        "print(f.fileno(), g.fileno(), os.path.exists('/dev/stdin'), os.path.exists('/proc/self/fd/0'),"
        " os.listdir('/proc'), before)\n"
        "try:\n    os.open('/dev/stdin', os.O_RDONLY)\nexcept OSError as e:\n    print(type(e).__name__)\n"
        "import sys\nsys.stdout.flush()\nopen('/dev/fd/9')\n"
    )
    outcome = pool.run_stdio(program, NUMBERS, LIMITS)
    assert outcome.stdout == b"0 1 False False [] []\nFileNotFoundError\n", outcome
    assert outcome.exit_code == 1
    assert b"standard_paths" not in outcome.stderr and b"solution.py" in outcome.stderr, outcome.stderr
