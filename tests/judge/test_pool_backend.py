"""The worker pool backend: results, isolation layers, function sessions (parity with SubprocessBackend), lifecycle."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

from codefeedback_env.judge import Judge, Limits, Verdict, cpu_wait
from codefeedback_env.judge.pool import PoolOptions, WorkerLost, WorkerPoolBackend
from codefeedback_env.judge.subprocess_backend import SubprocessBackend
from codefeedback_env.problems.records import Problem, ProblemKind, TestCase
from tests.judge.processes import descendants, open_fds, pinned_to_one_cpu, wait_until
from tests.process_table import alive

LIMITS = Limits(time=2.0, memory=512 << 20, output=1 << 20)


def machine_has_all_layers() -> bool:
    from codefeedback_env.judge.pool.namespaces import find_bubblewrap

    return os.geteuid() == 0 and find_bubblewrap() is not None


def machine_has_room_for_files_in_memory() -> bool:
    """Whether a tmpfs here can hold the sandbox files' copy (the files-in-memory layer): Docker's default 64 MB
    `/dev/shm` cannot, and the pool then binds the host's files with a warning (run with `--shm-size=128m`)."""
    from codefeedback_env.judge.pool import memory_files

    base, _ = memory_files.choose_base("codefeedback-room-probe", 80 << 20)  # the copy is 40-77 MB
    return base is not None


def _run_concurrently(work, count: int) -> list:
    results: list = [None] * count

    def target(k: int) -> None:
        try:
            results[k] = work(k)
        except BaseException as error:  # noqa: B036 - reported by the assertion
            results[k] = error

    threads = [threading.Thread(target=target, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture(scope="module")
def pool_judge():
    with Judge(backend=WorkerPoolBackend(2), max_workers=2) as judge:
        yield judge


@pytest.fixture(scope="module")
def plain_judge():
    with Judge(SubprocessBackend(), max_workers=2) as judge:
        yield judge


@pytest.fixture(scope="module")
def pool(pool_judge):
    return pool_judge.backend


def function_problem(tests: list[str], time_limit: float = 2.0) -> Problem:
    return Problem(
        id="f",
        statement="",
        public_tests=tuple(TestCase(t) for t in tests),
        hidden_tests=(),
        kind=ProblemKind.FUNCTION,
        time_limit=time_limit,
        memory_limit=512 << 20,
        entry_point="add",
    )


def test_stdio_basics(pool):
    outcome = pool.run_stdio("print(sum(map(int, input().split())))", "1 2\n", LIMITS)
    assert (outcome.stdout, outcome.exit_code, outcome.timed_out) == (b"3\n", 0, False)
    outcome = pool.run_stdio("import sys\nprint('x', file=sys.stderr)\nraise SystemExit(3)", "", LIMITS)
    assert (outcome.stderr, outcome.exit_code) == (b"x\n", 3)
    outcome = pool.run_stdio("1/0", "", LIMITS)
    assert outcome.exit_code == 1 and b"ZeroDivisionError" in outcome.stderr and b"worker" not in outcome.stderr


def test_tests_of_one_program_share_nothing(pool):
    """The worker compiles a program once for all its tests; every run still starts from a clean slate."""
    program = (
        "import random\n"
        "def count(box=[]):\n    box.append(1)\n    return len(box)\n"
        "count()\nprint(count(), random.getrandbits(64))\n"
    )
    runs = [pool.run_stdio(program, "", LIMITS).stdout.split() for _ in range(4)]
    assert [run[0] for run in runs] == [b"2"] * 4
    assert len({run[1] for run in runs}) == 4, "every run must get fresh randomness"
    for _ in range(2):  # more programs than a worker keeps compiled, each seen twice
        for i in range(12):
            assert pool.run_stdio(f"print({i})", "", LIMITS).stdout == f"{i}\n".encode()


def test_deeply_nested_leftovers_are_removed_without_losing_the_worker():
    nest = "import os\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\nopen('f', 'w').write('x')\n"
    with WorkerPoolBackend(1) as pool:
        assert pool.run_stdio(nest, "", LIMITS).exit_code == 0
        workers = pool.worker_pids()
        assert pool.run_stdio("import os\nprint(os.listdir('.'))", "", LIMITS).stdout == b"[]\n"
        assert pool.worker_pids() == workers


def test_compile_time_warnings_reach_the_program_not_the_judge(capfd):
    with WorkerPoolBackend(1) as pool:  # started here, so its workers write to the captured stderr
        outcome = pool.run_stdio("x = 1\nif x is 1:\n    print('one')\n", "", LIMITS)
    assert outcome.stdout == b"one\n"
    assert b"SyntaxWarning" in outcome.stderr
    assert "SyntaxWarning" not in capfd.readouterr().err


def test_limits(pool):
    outcome = pool.run_stdio("while True: pass", "", Limits(1.0, 512 << 20, 1 << 20))
    # At its limit net of waiting for a CPU, or at the wall backstop on a host loaded beyond the cores.
    assert outcome.timed_out and outcome.wall_time < cpu_wait.wall_backstop(1.0) + 0.5
    outcome = pool.run_stdio("print('x' * 3000)", "", Limits(2.0, 512 << 20, 1000))
    assert outcome.output_exceeded and len(outcome.stdout) == 1000
    outcome = pool.run_stdio("x = bytearray(800 << 20)", "", LIMITS)
    assert outcome.exit_code == 1 and b"MemoryError" in outcome.stderr


@pytest.mark.skipif(not os.path.exists("/proc/self/schedstat"), reason="no scheduler statistics on this kernel")
@pytest.mark.parametrize("make_backend", [lambda: WorkerPoolBackend(3), SubprocessBackend], ids=["pool", "subprocess"])
def test_time_limit_does_not_count_waiting_for_a_cpu(make_backend):
    """Three programs of 0.4 s CPU share one core (about 1.2 s of wall time each) under a 0.8 s limit: none
    times out before the wall-clock backstop. A program that sleeps past its limit still does, at the limit."""
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\nprint('done')"
    limits = Limits(0.8, 512 << 20, 1 << 20)
    with pinned_to_one_cpu(), make_backend() as backend:
        if isinstance(backend, WorkerPoolBackend):
            backend.start()
        results = _run_concurrently(lambda k: backend.run_stdio(busy, "", limits), 3)
        sleeper = backend.run_stdio("import time\ntime.sleep(30)", "", limits)
    # Only the wall-clock backstop may end them: on a host loaded beyond this core, sharing can outlast it.
    backstop = cpu_wait.wall_backstop(limits.time)
    assert [r for r in results if r.timed_out and r.wall_time < backstop] == []
    finished = [r for r in results if not r.timed_out]
    assert [r.stdout for r in finished] == [b"done\n"] * len(finished)
    assert len(finished) < 3 or max(r.wall_time for r in finished) > limits.time, "the programs did not share the core"
    assert sleeper.timed_out and sleeper.wall_time < 2 * limits.time


@pytest.mark.skipif(not machine_has_all_layers(), reason="needs root and bubblewrap")
def test_all_layers_on(pool):
    assert pool.isolation_layers() == {
        "namespaces": True, "pid_namespace": True, "uid": True, "seccomp": True, "rlimits": True, "scratch_tmpfs": True,
        "private_proc": True, "memory_cgroup": True, "files_in_memory": machine_has_room_for_files_in_memory(),
    }  # fmt: skip
    outcome = pool.run_stdio("import os\nprint(os.getuid(), os.getcwd(), sorted(os.environ))", "", LIMITS)
    uid, cwd, env = outcome.stdout.decode().split(" ", 2)
    assert int(uid) >= 100_000 and cwd.startswith("/tmp/slot") and "PYTHONHASHSEED" in env


def test_judge_end_to_end_matches_subprocess_backend(pool_judge, plain_judge):
    problem = Problem(
        id="sum",
        statement="",
        public_tests=(TestCase("1 2\n", "3\n"), TestCase("5 5\n", "10\n")),
        hidden_tests=(),
        time_limit=1.0,
        memory_limit=256 << 20,
    )
    programs = [
        "a, b = map(int, input().split())\nprint(a + b)",
        "print(3)",
        "import sys\nsys.exit(2)",
        "while True: pass",
        "x = [0] * (10 ** 9)",
        "print(int(input()))",
    ]
    for program in programs:
        a = [r.verdict for r in pool_judge.judge(problem, program).results]
        b = [r.verdict for r in plain_judge.judge(problem, program).results]
        assert a == b, program


FUNCTION_PROGRAMS: dict[str, tuple[str, Verdict | None]] = {
    "correct": ("def add(a, b):\n    return a + b\n", Verdict.ACCEPTED),
    "wrong": ("def add(a, b):\n    return a - b\n", Verdict.WRONG_ANSWER),
    "raising": ("def add(a, b):\n    raise ValueError('no')\n", Verdict.RUNTIME_ERROR),
    "timing_out": ("def add(a, b):\n    while True: pass\n", Verdict.TIME_LIMIT),
    "always_equal": (
        "class Yes(int):\n    def __eq__(self, other): return True\n    __hash__ = int.__hash__\n"
        "def add(a, b):\n    return Yes(0)\n",
        None,
    ),
    "always_equal_object": (
        "class Yes:\n    def __eq__(self, other): return True\ndef add(a, b):\n    return Yes()\n",
        None,
    ),
    "exits": ("import os\ndef add(a, b):\n    os._exit(0)\n", Verdict.RUNTIME_ERROR),
    "load_error": ("import nonexistent_module\ndef add(a, b):\n    return a + b\n", Verdict.RUNTIME_ERROR),
}


@pytest.mark.parametrize("name", sorted(FUNCTION_PROGRAMS))
def test_function_verdicts_identical_to_subprocess_backend(pool_judge, plain_judge, name):
    program, expected = FUNCTION_PROGRAMS[name]
    problem = function_problem(["assert add(1, 2) == 3\nassert add(2, 2) == 4"], time_limit=1.0)
    a = pool_judge.judge(problem, program).results[0]
    b = plain_judge.judge(problem, program).results[0]
    assert a.verdict is b.verdict, (a, b)
    if expected is None:  # how a fake value is refused (rejected or converted to a plain int) may vary
        assert a.verdict is not Verdict.ACCEPTED, a
    else:
        assert a.verdict is expected, a


def test_function_session_direct(pool):
    session = pool.open_function_session("def add(a, b):\n    return a + b\nx = 1\n", LIMITS)
    assert session.names == ("add",) and session.load_error is None
    assert session.call("add", [[1], [2]], {}) == [1, 2]
    outcome = session.close()
    assert outcome.exit_code is None or outcome.exit_code == 0


def test_concurrent_callers(pool):
    results = _run_concurrently(
        lambda k: [pool.run_stdio("print(int(input()) * 2)", f"{k * 100 + i}\n", LIMITS).stdout for i in range(10)], 6
    )
    assert results == [[f"{2 * (k * 100 + i)}\n".encode() for i in range(10)] for k in range(6)]


def test_queued_requests_get_their_own_replies():
    """One worker, many callers: each test waits in the worker's socket and gets its own reply."""
    with WorkerPoolBackend(1) as backend:
        assert backend.concurrency == 2
        program = "import time\nn = int(input())\ntime.sleep(n % 3 / 100)\nprint(n * 2)"
        results = _run_concurrently(
            lambda k: [backend.run_stdio(program, f"{k * 10 + i}\n", LIMITS).stdout for i in range(8)], 4
        )
        assert results == [[f"{2 * (k * 10 + i)}\n".encode() for i in range(8)] for k in range(4)]
        assert Judge(backend).max_workers == 2


def test_worker_started_by_a_short_lived_thread_survives_it():
    """bubblewrap's --die-with-parent follows the starting *thread*: workers must not die with a caller thread."""
    with WorkerPoolBackend(1) as backend:
        starter = threading.Thread(target=lambda: backend.run_stdio("print(1)", "", LIMITS))
        starter.start()
        starter.join()
        pids = backend.worker_pids()
        time.sleep(0.2)
        assert backend.run_stdio("print(2)", "", LIMITS).stdout == b"2\n"
        assert backend.worker_pids() == pids, "the worker was restarted"


def test_worker_lost_with_requests_queued_is_retried():
    """A worker killed mid-run (here: by the test) loses only the run it was serving (`WorkerLost`, which the judge
    retries); the run queued behind it had not started and is sent again."""
    with WorkerPoolBackend(1, options=PoolOptions(namespaces=False, separate_uids=False, seccomp=False)) as backend:
        backend.start()
        (pid,) = backend.worker_pids()
        killer = threading.Timer(0.3, lambda: os.killpg(pid, signal.SIGKILL))
        killer.start()
        results = _run_concurrently(
            lambda k: backend.run_stdio(f"import time\ntime.sleep(0.5)\nprint({k})", "", LIMITS).stdout, 3
        )
        killer.join()
        lost = [k for k, result in enumerate(results) if isinstance(result, WorkerLost)]
        assert len(lost) == 1, results
        assert [r for k, r in enumerate(results) if k not in lost] == [
            f"{k}\n".encode() for k in range(3) if k not in lost
        ]
        assert backend.worker_pids() and backend.worker_pids() != [pid]


def test_function_sessions_hold_their_worker_alone(pool):
    """Function sessions talk to the worker mid-run, so stdio tests never queue behind them."""

    def work(k: int) -> object:
        if k % 2:
            session = pool.open_function_session("import time\ndef f(x):\n    time.sleep(0.02)\n    return x", LIMITS)
            try:
                return [session.call("f", [i], {}) for i in range(5)]
            finally:
                session.close()
        return [pool.run_stdio("print(input())", f"{i}\n", LIMITS).stdout for i in range(5)]

    results = _run_concurrently(work, 6)
    assert results == [[i for i in range(5)] if k % 2 else [f"{i}\n".encode() for i in range(5)] for k in range(6)]


def hold_the_shared_files() -> None:
    """Start and close a pool, so that this process holds the shared copy of the sandbox's files (a hold, and its
    descriptor, kept for the process's life): count descriptors after this to see only what a pool leaves."""
    with WorkerPoolBackend(1) as first:
        first.start()


def test_lazy_start_restart_and_clean_close():
    hold_the_shared_files()
    fds_before, procs_before = open_fds(), len(descendants())
    backend = WorkerPoolBackend(1)
    assert backend.worker_pids() == []  # lazy
    assert backend.run_stdio("print(1)", "", LIMITS).stdout == b"1\n"
    (pid,) = backend.worker_pids()
    os.killpg(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert backend.run_stdio("print(2)", "", LIMITS).stdout == b"2\n"  # restarted
    assert backend.worker_pids() and backend.worker_pids() != [pid]
    backend.close()
    backend.close()
    assert wait_until(lambda: len(descendants()) == procs_before), "a worker outlived close()"
    assert wait_until(lambda: open_fds() == fds_before), "close() left file descriptors open"


def test_detached_grandchild_does_not_block_without_seccomp():
    """With fork allowed, a grandchild that detaches and sleeps is killed, and the run returns promptly."""
    program = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(1000)\nprint(3)\n"
    with WorkerPoolBackend(1, options=PoolOptions(seccomp=False)) as backend:
        assert backend.run_stdio("print(0)", "", LIMITS).stdout == b"0\n"
        (worker,) = backend.worker_pids()
        baseline = len(descendants(worker))
        started = time.monotonic()
        outcome = backend.run_stdio(program, "", Limits(5.0, 512 << 20, 1 << 20))
        assert outcome.stdout == b"3\n" and time.monotonic() - started < 3
        assert len(descendants(worker)) == baseline
        assert backend.run_stdio("print(4)", "", LIMITS).stdout == b"4\n"


def test_missing_bubblewrap_degrades_with_one_warning(monkeypatch, caplog):
    from codefeedback_env.judge.pool import backend as pool_backend

    monkeypatch.setattr(pool_backend.namespaces, "find_bubblewrap", lambda: None)
    monkeypatch.setattr(pool_backend, "_warned", set())
    with caplog.at_level(logging.WARNING, logger=pool_backend.__name__):
        for _ in range(2):
            with WorkerPoolBackend(1) as backend:
                assert backend.run_stdio("print(input())", "ok\n", LIMITS).stdout == b"ok\n"
                assert backend.isolation_layers()["namespaces"] is False
                assert backend.run_stdio("import os\nos.fork()", "", LIMITS).exit_code == 1  # seccomp still on
    warnings = [record.getMessage() for record in caplog.records if "bubblewrap" in record.getMessage()]
    assert len(warnings) == 1 and "namespaces" in warnings[0]


def test_function_sessions_leave_no_fds():
    with WorkerPoolBackend(1) as backend:
        backend.start()
        fds_before = open_fds()
        for program in ("def add(a, b):\n    return a + b\n", "import os\ndef add(a, b):\n    os._exit(1)\n", "1/0"):
            session = backend.open_function_session(program, LIMITS)
            try:
                session.call("add", [1, 2], {})
            except BaseException:  # noqa: B036 - RemoteCrash/RemoteError are the point here
                pass
            session.close()
        assert open_fds() == fds_before


def test_degraded_pool_removes_its_temporary_folder():
    backend = WorkerPoolBackend(1, options=PoolOptions(namespaces=False))
    assert backend.run_stdio("open('x', 'w').write('1')\nprint(1)", "", LIMITS).stdout == b"1\n"
    root = backend._temp_root
    assert root is not None and os.path.isdir(root)
    backend.close()
    assert not os.path.exists(root)


@pytest.mark.parametrize("how", ["exit_without_close", "sigterm", "sigkill"])
def test_workers_go_away_with_their_parent(how):
    import subprocess
    import sys

    script = (
        "import os, signal, sys, time\n"
        "from codefeedback_env.judge.pool import WorkerPoolBackend\n"
        "from codefeedback_env.judge.backend import Limits\n"
        "b = WorkerPoolBackend(2)\nb.start()\n"
        "print(' '.join(map(str, b.worker_pids())), flush=True)\n"
        f"if {how!r} == 'exit_without_close':\n    sys.exit(0)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    assert process.stdout is not None
    workers = [int(pid) for pid in process.stdout.readline().split()]
    assert len(workers) == 2
    worker_trees = [pid for w in workers for pid in [w, *descendants(w)]]
    if how != "exit_without_close":
        process.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in worker_trees):
        time.sleep(0.05)
    assert not any(alive(pid) for pid in worker_trees)


def _parity_cases(problems: list[Problem]) -> list[tuple[Problem, str]]:
    cases = []
    for problem in problems:
        for solution in problem.solutions[:1]:
            cases.append((problem, solution))
            if problem.kind is ProblemKind.FUNCTION:
                wrong = f"{solution}\n\ndef {problem.entry_point}(*args, **kwargs):\n    return None\n"
            else:
                wrong = f"{solution}\nprint(0)\n"
            cases.append((problem, wrong))
    return cases


def _assert_same_verdicts(pool_judge: Judge, plain_judge: Judge, cases: list[tuple[Problem, str]]) -> None:
    """Every verdict must agree, except where either side hit the time limit: a program running close
    to its limit may finish on one backend and not the other when other jobs load the machine."""
    mismatches = []
    for problem, program in cases:
        a = [r.verdict for r in pool_judge.judge(problem, program, "all").results]
        b = [r.verdict for r in plain_judge.judge(problem, program, "all").results]
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            if x is not y and Verdict.TIME_LIMIT not in (x, y):
                mismatches.append((problem.id, index, x.value, y.value, program[:80]))
    assert mismatches == []


def _codecontests(count: int | None) -> list[Problem]:
    from codefeedback_env.problems import load_problems
    from tests.conftest import shared_file

    return load_problems(str(shared_file("codecontests_train_sample.jsonl")))[:count]


def _humaneval(count: int | None) -> list[Problem]:
    from codefeedback_env.problems import load_problems

    try:
        return load_problems("humaneval")[:count]
    except Exception as error:  # the dataset package is missing on this machine
        pytest.skip(f"HumanEval is unavailable: {error}")


def test_same_verdicts_as_subprocess_backend_on_real_problems(pool_judge, plain_judge):
    """A sample here; the whole CodeContests sample and HumanEval run in the slow test below."""
    _assert_same_verdicts(pool_judge, plain_judge, _parity_cases(_codecontests(2) + _humaneval(4)))


@pytest.mark.slow
def test_same_verdicts_as_subprocess_backend_on_all_codecontests_and_humaneval(pool_judge, plain_judge):
    _assert_same_verdicts(pool_judge, plain_judge, _parity_cases(_codecontests(None) + _humaneval(None)))
