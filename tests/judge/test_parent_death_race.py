"""A process that must die with its parent dies with it even when the parent ends before the signal is set.

`PR_SET_PDEATHSIG` only covers a parent that dies after it is set: a parent gone between the fork and that
call leaves the child running alone, with nobody to enforce its time limit (a sleeping program then lives
for as long as it likes). The window is a few microseconds; here a fork hook holds the new process in it
(`HOOK`, installed in the interpreter that runs the worker or the portable bootstrap) while the test kills the
parent, then lets it go on. The child must notice and end before any program code runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from codefeedback_env.judge import Limits, child_runtime
from codefeedback_env.judge.pool import PoolOptions, WorkerPoolBackend
from tests.judge.processes import descendants, wait_until

HOOK = r"""
import os, runpy, sys, time
ARM, WINDOW, GO = sys.argv[1:4]
arguments = sys.argv[4:]
while arguments[0].startswith("-"):  # the interpreter flags the judge passes (-s -S -P)
    arguments.pop(0)
sys.argv = arguments


def hold():
    # Only in the fork the test armed: named by the function that forks (`serve` for a zygote's clone, whose child
    # runs the fork hooks there), or by `start` in `_supervise`.
    frame = sys._getframe(1)
    start = frame.f_locals.get("start")
    where = getattr(start, "__name__", None) or frame.f_code.co_name
    try:
        with open(ARM) as armed:
            if armed.read() != where:
                return
        os.unlink(ARM)
    except OSError:
        return
    with open(WINDOW, "w") as window:  # (in a new pid namespace this process's own pid says nothing: it is 1)
        window.write(str(os.getpid()))
    while not os.path.exists(GO):
        time.sleep(0.005)


os.register_at_fork(after_in_child=hold)
if len(arguments) > 1 and arguments[1] == "no-pid-namespace":  # the portable bootstrap where none can be made
    del arguments[1]
    sys.path.insert(0, os.path.dirname(arguments[0]))
    import child_runtime

    child_runtime.enter_pid_namespace = lambda: False
    child_runtime.main(arguments[1:])
runpy.run_path(arguments[0], run_name="__main__")
"""
SLEEPER = "import time\ntime.sleep(60)\n"


class Window:
    """The files through which the hook and the test meet."""

    def __init__(self, folder: Path) -> None:
        self.arm_file, self.window, self.go = folder / "arm", folder / "window", folder / "go"
        self.hook = folder / "hook.py"
        self.hook.write_text(HOOK)

    def command(self) -> list[str]:
        return [sys.executable, "-s", "-S", "-P", str(self.hook), str(self.arm_file), str(self.window), str(self.go)]

    def interpreter(self, folder: Path) -> str:
        """An executable the pool can start as its `python`: the real one, with the hook in front."""
        wrapper = folder / "python"
        wrapper.write_text("#!/bin/sh\nexec " + " ".join(f"'{part}'" for part in self.command()) + ' "$@"\n')
        wrapper.chmod(0o755)
        return str(wrapper)

    def arm(self, where: str) -> None:
        """Hold the next fork made in `where` (a function name)."""
        self.arm_file.write_text(where)

    def orphan(self, parent: int, held_pid_known: bool = False) -> int:
        """Wait until the hook holds a child of `parent` (its only one, or the one whose pid it wrote), SIGKILL
        `parent`, let the child go on, and return its pid."""
        assert wait_until(self.window.exists, timeout=60), "the armed fork never came"
        if held_pid_known:
            assert wait_until(lambda: self.window.read_text() != "", timeout=10)
            held = int(self.window.read_text())
            assert _parent(held) == parent
        else:
            (held,) = _children(parent)
        os.kill(parent, signal.SIGKILL)
        assert wait_until(lambda: _parent(held) != parent, timeout=10), "the parent did not die"
        self.go.write_text("")
        return held


def _children(parent: int) -> list[int]:
    return [pid for pid in descendants(parent) if _parent(pid) == parent]


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b") ", 1)[1][:1] != b"Z"
    except OSError:
        return False


def _assert_ends(held: int) -> None:
    """`held` and everything it started end within seconds (a sleeping program would hold on for 60 s)."""
    family = [held, *descendants(held)]
    try:
        assert wait_until(lambda: not any(_alive(pid) for pid in [held, *descendants(held)]), timeout=10), (
            f"process {held} outlived its parent"
        )
    finally:
        for pid in family + descendants(held):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _run_until_lost(backend: WorkerPoolBackend, program: str, limits: Limits) -> None:
    try:
        backend.run_stdio(program, "", limits)
    except Exception:  # noqa: BLE001 - the worker is killed under it: WorkerLost, or a run on a new worker
        pass


def test_a_pool_child_whose_worker_died_before_its_death_signal_ends(tmp_path):
    # Without the pool's pid namespace (which ends with the worker and takes every child with it), the
    # parent-death signal is what ends a child when its worker dies.
    window = Window(tmp_path)
    options = PoolOptions(namespaces=False)
    with WorkerPoolBackend(1, python=window.interpreter(tmp_path), options=options) as backend:
        backend.start()
        (worker,) = backend.worker_pids()
        limits = Limits(time=2.0, memory=256 << 20, output=1 << 20)
        runner = threading.Thread(target=_run_until_lost, args=(backend, SLEEPER, limits))
        window.arm("run")
        runner.start()
        try:
            _assert_ends(window.orphan(worker))
        finally:
            runner.join(timeout=60)


def test_a_child_a_zygote_made_whose_worker_died_before_its_death_signal_ends(tmp_path):
    # Tests queued behind one another are made by a zygote, as children of the worker: the worker's death must end
    # them as it ends the children it forks itself (the zygote dies with it, and is not their parent).
    window = Window(tmp_path)
    options = PoolOptions(namespaces=False)
    with WorkerPoolBackend(1, python=window.interpreter(tmp_path), options=options) as backend:
        backend.start()
        limits = Limits(time=1.0, memory=256 << 20, output=1 << 20)

        def queue_pairs() -> None:  # two tests of one program at once, until one queues behind the other
            with ThreadPoolExecutor(2) as executor:
                for _ in range(30):
                    list(executor.map(lambda _: _run_until_lost(backend, SLEEPER, limits), range(2)))
                    if window.window.exists():
                        return

        runner = threading.Thread(target=queue_pairs)
        window.arm("serve")
        runner.start()
        try:
            assert wait_until(window.window.exists, timeout=90), "no test's child was made by a zygote"
            _assert_ends(window.orphan(backend.worker_pids()[0], held_pid_known=True))
        finally:
            runner.join(timeout=120)


@pytest.mark.parametrize("namespace", [True, False], ids=["pid_namespace", "no_pid_namespace"])
def test_a_portable_run_whose_bootstrap_died_before_its_death_signal_ends(tmp_path, namespace):
    # The bootstrap forks the program (or, with a pid namespace, the namespace's first process, which forks the
    # program): what it forks must not run on alone if the bootstrap was killed in between.
    if namespace and not _pid_namespace_allowed():
        pytest.skip("no pid namespace can be made here")
    window = Window(tmp_path)
    program = tmp_path / "program.py"
    program.write_text(SLEEPER)
    flag = [] if namespace else ["no-pid-namespace"]
    script = str(Path(child_runtime.__file__))
    arguments = ["stdio", str(program), "30", str(256 << 20), str(1 << 20)]
    process = subprocess.Popen(
        [*window.command(), script, *flag, *arguments],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    try:
        window.arm("start_namespace" if namespace else "start_program")
        held = window.orphan(process.pid)
        process.wait(timeout=10)
        _assert_ends(held)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def _pid_namespace_allowed() -> bool:
    pid = os.fork()
    if pid == 0:
        os._exit(0 if child_runtime.enter_pid_namespace() else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0
