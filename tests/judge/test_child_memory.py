"""A child holds nothing of another request: not through frames, not among the collector's objects, not in
its raw memory (freed heap included).

Program A carries a secret (in its source, a comment, a string constant, and its stdin); program B then runs
on the same worker (a pool of one) and searches for it three ways: every object reachable from its frames
(walking `f_back` into whatever called it), every object the collector tracks, and every byte of its
anonymous memory (readable regions of /proc/self/maps, read from /proc/self/mem). B also looks for a secret of its
own, which each search must find: that proves the searches work. Secrets are compared by their SHA-256, so
B never holds the text it looks for.
"""

from __future__ import annotations

import hashlib
import sys
import uuid

import pytest

from codefeedback_env.judge import Limits

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")

LIMITS = Limits(time=20.0, memory=1 << 30, output=1 << 20)


# Each test runs on each_backend_showing_proc (conftest): the searches read the child's own /proc.


SEARCHER = r'''
import gc, hashlib, re, sys

PATTERN = re.compile(rb"SECRET_([0-9a-f]{32})")
OWN = "SECRET_@OWN@"
WANTED = {"own": "@OWN_DIGEST@", "other": "@OTHER_DIGEST@", "stdin": "@STDIN_DIGEST@"}


def digests(data):
    return {hashlib.sha256(match.group(0)).hexdigest() for match in PATTERN.finditer(data)}


def inside(value):
    """What a value holds, string dict keys included (the collector does not list those)."""
    inner = gc.get_referents(value)
    if isinstance(value, dict):
        inner += list(value)
    return inner


def check(value, found):
    if isinstance(value, str):
        found |= digests(value.encode("utf-8", "surrogatepass"))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        found |= digests(bytes(value))


def search_frames():
    found, seen, frontier = set(), set(), []
    frame = sys._getframe()
    while frame is not None:
        frontier.append(frame)
        frame = frame.f_back
    while frontier:
        value = frontier.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        check(value, found)
        if isinstance(value, type(sys._getframe())):
            frontier += [value.f_locals, value.f_globals, value.f_code]
            if value.f_back is not None:
                frontier.append(value.f_back)
        frontier += inside(value)
    return found


def search_gc():
    found = set()
    for value in gc.get_objects():
        check(value, found)
        for inner in inside(value):
            check(inner, found)
    return found


def search_heap():
    """Every byte of anonymous memory, through /proc/self/mem: a region the search itself frees meanwhile
    reads as an error there, where reading it with ctypes would crash."""
    import ctypes

    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: a process that switched uid may read itself again
    found = set()
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    with open("/proc/self/mem", "rb", buffering=0) as memory:
        for fields in regions:
            name = fields[5] if len(fields) > 5 else ""
            if fields[1][0] != "r" or name not in ("", "[heap]", "[stack]"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            for offset in range(start, end, 1 << 20):
                try:
                    memory.seek(offset)
                    chunk = memory.read(min(1 << 20, end - offset) + 64)  # overlap: a match across chunks
                except OSError:
                    continue
                found |= digests(chunk)
    return found


for search in (search_frames, search_gc, search_heap):
    found = search()
    print(search.__name__, " ".join(f"{name}={digest in found}" for name, digest in WANTED.items()), flush=True)
'''


def _secret() -> tuple[str, str]:
    text = f"SECRET_{uuid.uuid4().hex}"
    return text, hashlib.sha256(text.encode()).hexdigest()


def _victim_programs(secret: str) -> tuple[str, str]:
    """A stdio program and a function program that hold `secret` in every form a program can."""
    stdio = f"# {secret}\nKEY = {secret!r}\nprint(input()[:3], KEY[:3])\n"
    function = f"# {secret}\nKEY = {secret!r}\ndef add(a, b):\n    return a + b\n"
    return stdio, function


def _search(backend, other_digest: str, stdin_digest: str) -> dict[str, dict[str, bool]]:
    own, own_digest = _secret()
    program = (
        SEARCHER.replace("@OWN@", own[len("SECRET_") :])
        .replace("@OWN_DIGEST@", own_digest)
        .replace("@OTHER_DIGEST@", other_digest)
        .replace("@STDIN_DIGEST@", stdin_digest)
    )
    outcome = backend.run_stdio(program, "", LIMITS)
    assert outcome.exit_code == 0, outcome.stderr.decode(errors="replace")
    report = {}
    for line in outcome.stdout.decode().splitlines():
        name, *pairs = line.split()
        report[name] = {key: value == "True" for key, value in (pair.split("=") for pair in pairs)}
    return report


def test_no_other_program_or_input_is_reachable(each_backend_showing_proc):
    secret, digest = _secret()
    stdin_secret, stdin_digest = _secret()
    stdio, function = _victim_programs(secret)
    for _ in range(3):  # several tests of the victim, as a judge runs them, before the searcher's
        assert each_backend_showing_proc.run_stdio(stdio, stdin_secret + "\n", LIMITS).exit_code == 0
    session = each_backend_showing_proc.open_function_session(function, LIMITS)
    assert session.call("add", [1, 2], {}) == 3
    session.close()
    report = _search(each_backend_showing_proc, digest, stdin_digest)
    assert set(report) == {"search_frames", "search_gc", "search_heap"}
    for search, found in report.items():
        assert found["own"], f"{search} did not find the searcher's own secret: the search is broken"
        assert not found["other"], f"{search} found another program's text"
        assert not found["stdin"], f"{search} found another test's input"


def test_the_searches_find_a_secret_the_process_held_and_freed(each_backend_showing_proc):
    """Freed memory counts: a string built, used and dropped inside the searcher is still found in its heap
    (so the heap search would see a remnant the worker had freed before forking)."""
    secret, digest = _secret()
    half = len(secret) // 2
    program = (
        "import gc, hashlib, re, sys\n"
        f"parts = [{secret[:half]!r}, {secret[half:]!r}, ' ' * 3000]\n"
        "held = [(''.join(parts), bytearray(3000)) for _ in range(50)]\n"
        "print(hashlib.sha256(held[0][0].split()[0].encode()).hexdigest()[:4])\n"
        "held = [guard for _, guard in held]\n"
        "del parts\n" + SEARCHER
    )
    own, own_digest = _secret()
    program = (
        program.replace("@OWN@", own[len("SECRET_") :])
        .replace("@OWN_DIGEST@", own_digest)
        .replace("@OTHER_DIGEST@", digest)
        .replace("@STDIN_DIGEST@", "0" * 64)
    )
    outcome = each_backend_showing_proc.run_stdio(program, "", LIMITS)
    lines = outcome.stdout.decode().split("\n")
    assert lines[0] == digest[:4], (outcome, outcome.stderr.decode(errors="replace"))
    assert "search_heap own=True other=True stdin=False" in lines


def test_a_child_holds_no_fd_but_its_own(each_backend_showing_proc):
    """No fd of the worker, the bootstrap or another request: a stdio program has its three streams only."""
    probe = (
        "import os\n"
        "def is_open(fd):\n"
        "    try:\n"
        "        os.fstat(fd)\n"
        "        return True\n"
        "    except OSError:\n"
        "        return False\n"
        "print([fd for fd in range(3, 4096) if is_open(fd)])\n"
    )
    each_backend_showing_proc.run_stdio("print(input())", "an earlier test\n", LIMITS)
    outcome = each_backend_showing_proc.run_stdio(probe, "", LIMITS)
    assert outcome.stdout == b"[]\n", outcome.stderr


ADDRESS_SPACE = "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmSize:')))\n"


def test_the_pools_address_space_starts_about_2_mb_larger_than_the_portable_backends():
    """The worker's image counts against a pool child's memory limit (README: about 2 MB more than a fresh
    interpreter's at the program's first line); a larger worker image would take that from every program."""
    from codefeedback_env.judge.pool import PoolOptions, WorkerPoolBackend
    from codefeedback_env.judge.subprocess_backend import SubprocessBackend

    sizes = {}
    for made in (WorkerPoolBackend(1, options=PoolOptions(hide_proc=False)), SubprocessBackend()):
        with made:
            outcome = made.run_stdio(ADDRESS_SPACE, "", LIMITS)
        assert outcome.exit_code == 0, outcome.stderr
        sizes[type(made).__name__] = int(outcome.stdout) / 1024  # MB
    larger = sizes["WorkerPoolBackend"] - sizes["SubprocessBackend"]
    assert 0 < larger < 3, sizes
