"""The sandbox's files: exactly the documented tree, served from one shared copy in memory (issue 10, class 2:
an allow-list file system; class 4: nothing a run does reaches another run).

What a program sees of the standard library is the host's, without installed packages, the `LEFT_OUT`
folders and optimised bytecode; the copy is shared by the pools and processes of one user and removed by the
last one out. The channel itself (page and directory caches) is tested in `test_page_cache_channel.py`.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from codefeedback_env.judge import Limits
from codefeedback_env.judge.pool import WorkerPoolBackend, memory_files, namespaces
from tests.judge.test_pool_backend import machine_has_all_layers, machine_has_room_for_files_in_memory

LIMITS = Limits(time=5.0, memory=256 << 20, output=4 << 20)
LIBRARY = os.path.dirname(os.__file__)
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

needs_sandbox = pytest.mark.skipif(not machine_has_all_layers(), reason="needs root and bubblewrap")
pytestmark = pytest.mark.skipif(
    not machine_has_room_for_files_in_memory(), reason="no tmpfs with room for the files-in-memory copy"
)


def _documented_tree(folder: str) -> set[tuple[str, int]]:
    """(path relative to `folder`, size or -1 for a folder) the README says a program sees of `folder`."""
    seen = set()
    for root, dirs, files in os.walk(folder):
        inside = os.path.relpath(root, folder)
        if inside == "." or os.path.basename(root) not in namespaces.PACKAGE_FOLDERS:
            kept = [d for d in dirs if d not in namespaces.LEFT_OUT and not d.startswith("config-")]
            dirs[:] = kept if inside == "." else dirs
        else:
            dirs[:], files = [], []  # installed packages: the folder is shown empty
        seen |= {(os.path.normpath(os.path.join(inside, d)), -1) for d in dirs}
        for name in files:
            if not name.endswith((".opt-1.pyc", ".opt-2.pyc")):
                path = os.path.join(root, name)
                size = -1 if os.path.isdir(path) else os.path.getsize(path)
                seen.add((os.path.normpath(os.path.join(inside, name)), size))
    return seen


@needs_sandbox
def test_a_program_listing_the_standard_library_sees_exactly_the_documented_tree(pool):
    program = (
        f"import os\nfor root, dirs, files in os.walk({LIBRARY!r}):\n"
        "    for name in dirs + files:\n        path = os.path.join(root, name)\n"
        f"        size = -1 if os.path.isdir(path) else os.path.getsize(path)\n"
        f"        print(os.path.relpath(path, {LIBRARY!r}), size)\n"
    )
    outcome = pool.run_stdio(program, "", LIMITS)
    assert outcome.exit_code == 0 and not outcome.output_exceeded, outcome.stderr
    seen = {(line.rsplit(" ", 1)[0], int(line.rsplit(" ", 1)[1])) for line in outcome.stdout.decode().splitlines()}
    expected = _documented_tree(LIBRARY)
    assert sorted(seen - expected)[:10] == [] and sorted(expected - seen)[:10] == []
    assert ("os.py", os.path.getsize(os.__file__)) in seen and ("site-packages", -1) in seen
    assert not [path for path, _ in seen if path.split("/")[0] in namespaces.LEFT_OUT or ".opt-" in path]


@needs_sandbox
def test_left_out_packages_are_absent_and_the_rest_imports(pool):
    program = (
        "import importlib\nmissing = []\n"
        "for name in ('test', 'idlelib', 'tkinter', 'turtledemo', 'lib2to3', 'ensurepip', 'pydoc_data'):\n"
        "    try:\n        importlib.import_module(name)\n    except ImportError:\n        missing.append(name)\n"
        "import unittest, pydoc, sqlite3, curses, xml.etree.ElementTree, email, asyncio, ssl, decimal\n"
        "print(' '.join(missing))\n"
    )
    outcome = pool.run_stdio(program, "", LIMITS)
    assert outcome.stdout.decode().split() == list(namespaces.LEFT_OUT), outcome.stderr
    assert pool.isolation_layers()["files_in_memory"] is True


# -- the copy's lifetime -----------------------------------------------------------------------------------

_HOLD = """
import os, sys, time
from codefeedback_env.judge.pool import memory_files, namespaces
files = namespaces.SandboxFiles(binds=(({source!r}, "/data"),), emptied=(), left_out=(), python="", worker_script="")
copy, reason = memory_files.acquire(files)
print(copy.root if copy else "none: " + reason, flush=True)
if {fork!r} and os.fork() == 0:  # the child reads the copy once its parent has exited
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.01)
    print(open(copy.root + "/data/a.txt").read(), flush=True)
    sys.exit(0)
sys.stdin.readline()
"""


class _Holder:
    """A Python process holding a copy of `source` until told to exit (`finish`)."""

    def __init__(self, source: str, *, fork: bool = False) -> None:
        script = textwrap.dedent(_HOLD).format(source=source, fork=fork)
        self.process = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=PROJECT
        )
        self.root = self.process.stdout.readline().strip()
        assert self.root.startswith("/"), self.root

    def finish(self) -> str:
        output, _ = self.process.communicate("\n", timeout=60)
        assert self.process.returncode == 0
        return output


@pytest.fixture
def source(tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("beta")
    (tmp_path / "sub" / "b.opt-1.pyc").write_text("never read")
    os.utime(tmp_path / "a.txt", ns=(1, 1_000_000_123))
    return str(tmp_path)


def test_the_copy_holds_the_files_with_their_times_and_is_shared_until_the_last_holder_exits(source):
    first = _Holder(source)
    second = _Holder(source)
    assert first.root == second.root and first.root.startswith(tuple(b for b in memory_files.BASES if b))
    assert open(first.root + "/data/a.txt").read() == "alpha"
    assert os.stat(first.root + "/data/a.txt").st_mtime_ns == 1_000_000_123
    assert sorted(os.listdir(first.root + "/data/sub")) == ["b.py"]
    first.finish()
    assert os.path.isdir(second.root)
    second.finish()
    assert not os.path.exists(second.root)
    assert not os.path.exists(second.root + ".lock"), "an empty lock file per copy ever made stayed in the base"


def test_a_forked_child_keeps_the_copy_after_its_parent_lets_go(source):
    holder = _Holder(source, fork=True)
    assert holder.finish().split() == ["alpha"]
    assert not os.path.exists(holder.root)


def test_a_copy_left_by_a_killed_process_is_removed_by_the_next_copy_made(source, tmp_path_factory):
    killed = _Holder(source)
    killed.process.kill()
    killed.process.wait()
    assert os.path.isdir(killed.root)
    other = tmp_path_factory.mktemp("other")
    (other / "c.txt").write_text("gamma")
    holder = _Holder(str(other))
    assert not os.path.exists(killed.root)
    assert not os.path.exists(killed.root + ".lock")
    holder.finish()
    assert not os.path.exists(holder.root + ".lock")


def test_holders_coming_and_going_at_once_always_find_the_copy(source):
    """The last holder removes the lock file with the copy: a process that opened it just before must open the new
    one, or it and a later process would lock different files and one could remove the copy the other holds."""
    files = namespaces.SandboxFiles(binds=((source, "/data"),), emptied=(), left_out=(), python="", worker_script="")
    entries, key, size = memory_files.inventory(files)
    base, reason = memory_files.choose_base(f"codefeedback-files-{os.geteuid()}-{key}", size)
    assert base is not None, reason
    root = os.path.join(base, f"codefeedback-files-{os.geteuid()}-{key}")
    children = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                for _ in range(40):
                    copy = memory_files.MemoryCopy(root, entries, ())
                    if open(root + "/data/a.txt").read() != "alpha":
                        status = 1
                    copy.release()
            except BaseException:
                status = 2
            os._exit(status)
        children.append(pid)
    statuses = [os.waitpid(pid, 0)[1] for pid in children]
    assert statuses == [0] * 4, "a holder found the copy missing (or failed)"
    assert not os.path.exists(root) and not os.path.exists(root + ".lock")


def test_a_changed_file_gets_a_new_copy(source):
    first = _Holder(source)
    with open(os.path.join(source, "a.txt"), "a") as handle:
        handle.write("!")
    second = _Holder(source)
    assert first.root != second.root and open(second.root + "/data/a.txt").read() == "alpha!"
    first.finish()
    second.finish()


@needs_sandbox
def test_without_a_memory_file_system_the_pool_binds_the_host_files_and_says_so(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(memory_files, "BASES", (str(tmp_path),))
    monkeypatch.setattr(memory_files, "_held", {})  # not the copy this process holds already
    monkeypatch.setattr("codefeedback_env.judge.pool.backend._warned", set())
    with caplog.at_level(logging.WARNING), WorkerPoolBackend(1) as fallback:
        assert fallback.isolation_layers()["files_in_memory"] is False
        program = "import os, tkinter\nprint(os.listdir(tkinter.__path__[0]))"
        outcome = fallback.run_stdio(program, "", LIMITS)
    assert "is not a tmpfs" in caplog.text and "page and directory caches" in caplog.text
    assert outcome.stdout == b"[]\n"  # left-out folders are shown empty there
    assert not list(tmp_path.iterdir())


_FORK_FROM_THREADS = """
import os, sys, threading
from codefeedback_env.judge.pool import memory_files, namespaces
files = namespaces.SandboxFiles(binds=(({source!r}, "/data"),), emptied=(), left_out=(), python="", worker_script="")
copy, reason = memory_files.acquire(files)
assert copy is not None, reason
before = sorted(os.listdir("/proc/self/fd"))
closed_by_another = []

def fork_often():
    for _ in range(150):
        mine = os.pipe()  # opened by this thread: no fork hook may close it
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        for fd in mine:
            try:
                os.fstat(fd)
                os.close(fd)
            except OSError:
                closed_by_another.append(fd)

threads = [threading.Thread(target=fork_often) for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(closed_by_another, sorted(os.listdir("/proc/self/fd")) == before, flush=True)
"""


def test_threads_forking_at_once_each_hand_their_own_lock_to_their_child(source):
    """Each fork's child gets the lock its own fork opened: none leaks, none is closed twice (another thread's)."""
    script = textwrap.dedent(_FORK_FROM_THREADS).format(source=source)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"], done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr


@pytest.mark.parametrize("planted", ["link to a folder", "link to a file", "a file"])
def test_a_name_planted_where_the_copy_is_built_is_refused_and_left_alone(
    source, tmp_path_factory, monkeypatch, planted
):
    """Another local user can create the partial copy's name in the shared /dev/shm first (it is predictable): the
    judge neither follows it (no chmod, no removal of what it leads to) nor uses it; it binds the host paths."""
    private = tmp_path_factory.mktemp("private")
    (private / "secret").mkdir(mode=0o700)
    (private / "secret" / "key").write_text("k")
    os.chmod(private, 0o700)
    files = namespaces.SandboxFiles(binds=((source, "/data"),), emptied=(), left_out=(), python="", worker_script="")
    entries, key, size = memory_files.inventory(files)
    base, reason = memory_files.choose_base(f"codefeedback-files-{os.geteuid()}-{key}", size)
    assert base is not None, reason
    partial = os.path.join(base, f"codefeedback-files-{os.geteuid()}-{key}.partial")
    if planted == "a file":
        open(partial, "w").close()
    else:
        os.symlink(private / ("secret" if planted == "link to a folder" else "secret/key"), partial)
    monkeypatch.setattr(memory_files, "_held", {})
    try:
        copy, reason = memory_files.acquire(files)
        assert stat.S_IMODE(os.stat(private / "secret").st_mode) == 0o700
        assert copy is None and "not a folder only this user can write" in reason
        assert (private / "secret" / "key").read_text() == "k"
    finally:
        os.unlink(partial)
        os.unlink(partial[: -len(".partial")] + ".lock")


_FORK_WHILE_ACQUIRING = """
import os, signal, threading
from codefeedback_env.judge.pool import memory_files, namespaces
files = namespaces.SandboxFiles(binds=(({source!r}, "/data"),), emptied=(), left_out=(), python="", worker_script="")
inside, leave = threading.Event(), threading.Event()

def acquiring():  # another thread in the middle of `acquire` (e.g. waiting while another process builds the copy)
    with memory_files._lock:
        inside.set()
        leave.wait()

threading.Thread(target=acquiring).start()
inside.wait()
pid = os.fork()
if pid == 0:
    signal.alarm(20)
    copy, reason = memory_files.acquire(files)
    os.write(1, b"child: " + (b"copy" if copy else reason.encode()) + b"\\n")
    os._exit(0)
_, status = os.waitpid(pid, 0)
leave.set()
print("exit", os.waitstatus_to_exitcode(status), flush=True)
"""


def test_a_child_forked_while_another_thread_acquires_can_acquire(source):
    script = textwrap.dedent(_FORK_WHILE_ACQUIRING).format(source=source)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert done.stdout.split("\n")[:2] == ["child: copy", "exit 0"], done.stderr


_RELEASE_WITH_A_SHARING_CHILD = """
import fcntl, os, time
from codefeedback_env.judge.pool import memory_files, namespaces
files = namespaces.SandboxFiles(binds=(({source!r}, "/data"),), emptied=(), left_out=(), python="", worker_script="")
copy, reason = memory_files.acquire(files)
assert copy is not None, reason
def refuse(path):
    raise OSError(24, "Too many open files")
memory_files._open_lock = refuse  # the fork hook cannot open a lock of the child's own: the child shares the parent's
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.read(read, 1)
    os._exit(0)
other = os.open(copy.lock_path, os.O_RDONLY | os.O_CLOEXEC)  # the lock file the child shares (removed next)
copy.release()  # the last holder: removes the copy
try:
    fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)
    print("free", flush=True)
except OSError:
    print("still locked by the child", flush=True)
os.write(write, b"x")
os.waitpid(pid, 0)
"""


def test_the_last_holder_lets_go_of_the_lock_even_if_a_child_shares_it(source):
    """Otherwise the child keeps the lock taken to remove the copy, and every other process waits for it to exit."""
    script = textwrap.dedent(_RELEASE_WITH_A_SHARING_CHILD).format(source=source)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert done.stdout.split("\n")[0] == "free", done.stdout + done.stderr
