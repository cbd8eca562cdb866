"""The Ray judge backend on a real local Ray cluster, started once for these tests (one xdist worker runs them,
and stops the cluster when they are done, so that no other test shares a process with Ray's threads)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from codefeedback_env.judge import Judge, Verdict, make_backend
from codefeedback_env.judge.pool import WorkerPoolBackend
from codefeedback_env.problems.records import Problem, TestCase
from tests.judge.test_pool_backend import _assert_same_verdicts, _codecontests, _humaneval, _parity_cases
from tests.process_table import alive

ray = pytest.importorskip("ray", reason="the Ray judge backend needs the `ray` extra")
from codefeedback_env.judge.distributed import RayBackend  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")

CLUSTER_CPUS = 4
"""Logical CPUs of the test cluster (Ray's accounting, not cores): room for the shared judge and one more."""


@pytest.fixture(scope="module")
def ray_cluster():
    """A new local Ray cluster for this module (`address="local"`: never one left running on the machine,
    which a bare `ray.init()` would join; on loopback only); the judge backends below connect to it."""
    ray.init(
        address="local",
        _node_ip_address="127.0.0.1",
        num_cpus=CLUSTER_CPUS,
        include_dashboard=False,
        object_store_memory=100 << 20,
        configure_logging=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_judge(ray_cluster):
    """A judge over two actors of one CPU (two sandboxed workers) each."""
    with Judge(RayBackend(actors=2, cpus_per_actor=1, max_in_flight=2)) as made:
        yield made


@pytest.fixture(scope="module")
def local_judge():
    with Judge(WorkerPoolBackend(2)) as made:
        yield made


def slow_echo_problem(tests: int) -> Problem:
    cases = tuple(TestCase(f"{i}\n", f"{i}\n") for i in range(tests))
    return Problem("slow-echo", "", cases, (), time_limit=10.0)


def slow_echo(variant: int, seconds: float = 1.0) -> str:
    return f"import time\ntime.sleep({seconds})\nprint(input())  # {variant}\n"


def test_import_stays_light():
    code = "import sys, codefeedback_env, codefeedback_env.judge; print('ray' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"


def test_same_verdicts_as_local_pool_on_real_problems(ray_judge, local_judge):
    """CodeContests (stdio) and HumanEval (function problems, whose checker runs on the actor)."""
    _assert_same_verdicts(ray_judge, local_judge, _parity_cases(_codecontests(3) + _humaneval(4)))


def test_stop_on_failure_and_syntax_errors_as_locally(ray_judge, local_judge):
    problem = slow_echo_problem(3)
    for program in ("print(0)", "print(input()", "x = input()\nprint(x if x != '1\\n' else 9)"):
        remote = ray_judge.judge(problem, program, "public", stop_on_failure=True)
        local = local_judge.judge(problem, program, "public", stop_on_failure=True)
        assert [r.verdict for r in remote.results] == [r.verdict for r in local.results]


def test_all_tests_of_a_program_go_to_one_actor(ray_judge):
    backend = ray_judge.backend
    routes = {backend.route(slow_echo(i)) for i in range(16)}
    assert routes == {0, 1}  # programs spread over both actors
    assert all(backend.route(slow_echo(i)) == backend.route(slow_echo(i)) for i in range(16))


def test_an_actor_killed_mid_batch_loses_no_verdict(ray_judge, caplog):
    backend = ray_judge.backend
    problem = slow_echo_problem(2)
    programs = [slow_echo(i) for i in range(6)]
    victim = backend.route(programs[0])
    handle = backend.actor_handles()[victim]
    caplog.set_level(logging.WARNING, logger="codefeedback_env.judge.judge")
    with ThreadPoolExecutor(len(programs)) as threads:
        futures = [threads.submit(ray_judge.judge, problem, program, "public") for program in programs]
        time.sleep(1.5)  # every program is being judged: each takes at least two seconds
        ray.kill(handle, no_restart=False)
        results = [future.result() for future in futures]
    assert [r.counts() for r in results] == [{"accepted": 2}] * len(programs)  # retried on the other actor
    assert any("were lost" in record.getMessage() for record in caplog.records)
    assert backend.route(programs[0]) != victim  # avoided while Ray restarts it
    backend.wait_ready(victim)  # restarted by Ray, with a fresh pool
    assert backend.route(programs[0]) == victim  # and routed to again


def test_with_one_actor_a_lost_program_waits_for_its_restart(ray_cluster):
    with Judge("ray", actors=1) as judge:
        (handle,) = judge.backend.actor_handles()
        with ThreadPoolExecutor(1) as threads:
            future = threads.submit(judge.judge, slow_echo_problem(2), slow_echo(0), "public")
            time.sleep(1.0)
            ray.kill(handle, no_restart=False)
            assert future.result().counts() == {"accepted": 2}


def test_a_run_lost_twice_is_a_judge_error_not_an_exception(ray_cluster, monkeypatch):
    monkeypatch.setenv("CODEFEEDBACK_JUDGE_BACKEND", "ray")
    with Judge(actors=1, max_restarts=0) as judge:
        assert isinstance(judge.backend, RayBackend)
        (handle,) = judge.backend.actor_handles()
        with ThreadPoolExecutor(1) as threads:
            future = threads.submit(judge.judge, slow_echo_problem(2), slow_echo(0, seconds=3), "public")
            time.sleep(1.0)
            ray.kill(handle, no_restart=True)
            result = future.result()
    assert [r.verdict for r in result.results] == [Verdict.JUDGE_ERROR] * 2
    assert "judge actor 0 was lost" in result.judge_error


def test_close_leaves_no_actor_or_worker_process(ray_cluster):
    backend = make_backend("ray", actors=2)
    with Judge(backend) as judge:
        assert judge.judge(slow_echo_problem(2), slow_echo(0, seconds=0), "public").passed
        pids = backend.processes()
    assert len(pids) >= 4  # two actors, each with its workers
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in pids if alive(pid)] == []
    assert ray.is_initialized()  # a connection the backend did not make is left open


def test_a_forked_or_closed_backend_refuses_with_a_clear_error(ray_judge):
    backend = ray_judge.backend
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        try:
            backend.judge_tests(slow_echo_problem(1), "print(1)", (), False)
        except RuntimeError as error:
            os._exit(0 if "forked child" in str(error) else 1)
        os._exit(2)
    assert os.waitpid(child, 0)[1] == 0
    closed = RayBackend(actors=1)
    closed.close()
    with pytest.raises(RuntimeError, match="closed"):
        closed.judge_tests(slow_echo_problem(1), "print(1)", (), False)
