"""`RayBackend`: judging spread over the CPU nodes of a Ray cluster.

Each judge actor (`JudgeActor`) holds a local `WorkerPoolBackend` with every isolation layer and judges whole
programs with the same `Judge` code as local judging. The local `Judge` hands this backend a program with its
tests (it is a `ProgramBackend`):
- locality: all the tests of one program go to one actor, chosen by rendezvous hashing of the program's text,
  so a program's tests share that actor's warm workers and a lost actor only moves its own programs;
- backpressure: at most `max_in_flight` programs (default: one per worker of its pool) are sent to an actor at
  once; more callers wait here;
- failures: an actor that dies is restarted by Ray (`max_restarts`); the programs it was judging raise
  `BackendFailure`, which the local judge retries once (this backend sends the retry to another actor, since
  the lost one is avoided for `AVOID_SECONDS`; with no other actor, it waits for the restart), then reports
  as `judge_error`, exactly like a lost local run.

Needs the `ray` extra (`pip install 'codefeedback[ray]'`) and, on every node, this package installed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codefeedback_env.judge import forksafe
from codefeedback_env.judge.backend import BackendFailure
from codefeedback_env.judge.pool.backend import WORKERS_PER_CORE, PoolOptions
from codefeedback_env.judge.results import TestResult
from codefeedback_env.problems.records import Problem, TestCase

logger = logging.getLogger(__name__)

ADDRESS_ENV_VAR = "CODEFEEDBACK_RAY_ADDRESS"
AVOID_SECONDS = 30.0
"""How long an actor that lost a program gets no new programs (Ray restarts it meanwhile)."""
RESTART_POLL_SECONDS = 0.5
"""How often to ask a restarting actor whether it is back."""
READY_TIMEOUT = 300.0
"""Seconds the actors may take to be placed and start their pools."""
CLOSE_TIMEOUT = 30.0
"""Seconds an actor may take to stop its pool before it is killed."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError("the Ray judge backend needs the `ray` package: pip install 'codefeedback[ray]'") from error
    return ray


@dataclass
class _Actor:
    handle: Any
    in_flight: threading.BoundedSemaphore
    max_in_flight: int
    avoid_until: float = 0.0


class RayBackend:
    """Judges programs on judge actors spread over a Ray cluster (see the module docstring).

    address: the cluster to connect to ("host:port", "auto", or "ray://..." for Ray Client); default
        `$CODEFEEDBACK_RAY_ADDRESS`, else Ray's own default (`$RAY_ADDRESS`, else a new local cluster).
        If this process is already connected (`ray.init` was called), that connection is used as it is.
    actors: how many judge actors; default one per alive node, each reserving all of its node's CPUs.
    cpus_per_actor: CPUs each actor reserves when `actors` is given (its pool has `WORKERS_PER_CORE` workers
        per CPU).
    max_in_flight: programs sent to one actor at once (backpressure); default one per worker of its pool.
    max_restarts: how often Ray restarts a judge actor that died.
    pool_options: the isolation options of every actor's pool (default: every layer).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        actors: int | None = None,
        cpus_per_actor: int = 1,
        max_in_flight: int | None = None,
        max_restarts: int = 3,
        pool_options: PoolOptions | None = None,
    ) -> None:
        if actors is not None and actors < 1:
            raise ValueError(f"actors must be at least 1, got {actors}")
        if cpus_per_actor < 1 or (max_in_flight is not None and max_in_flight < 1) or max_restarts < 0:
            raise ValueError(
                "cpus_per_actor and max_in_flight must be at least 1 and max_restarts at least 0, got "
                f"{cpus_per_actor}, {max_in_flight} and {max_restarts}"
            )
        ray = _import_ray()
        self._ray = ray
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            address = address or os.environ.get(ADDRESS_ENV_VAR) or None
            ray.init(address=address, include_dashboard=False, configure_logging=False)
        self._closed = False
        self._forked = False
        self._lock = threading.Lock()
        self._actors: list[_Actor] = []
        try:
            started = self._start_actors(actors, cpus_per_actor, max_in_flight, max_restarts, pool_options)
            self._actors = [_Actor(handle, threading.BoundedSemaphore(limit), limit) for handle, limit in started]
            self.actor_info = ray.get([a.handle.ready.remote() for a in self._actors], timeout=READY_TIMEOUT)
        except BaseException:
            self.close()
            raise
        forksafe.register(self)

    def _start_actors(
        self,
        actors: int | None,
        cpus_per_actor: int,
        max_in_flight: int | None,
        max_restarts: int,
        pool_options: PoolOptions | None,
    ) -> list[tuple[Any, int]]:
        """Judge actors and how many programs each takes at once."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from codefeedback_env.judge.distributed.actor import JudgeActor

        remote = self._ray.remote(JudgeActor)

        def start(cpus: int, strategy: Any) -> tuple[Any, int]:
            workers = WORKERS_PER_CORE * cpus
            limit = max_in_flight or workers
            options = {"max_restarts": max_restarts, "max_task_retries": 0, "max_concurrency": limit + 1}
            handle = remote.options(**options, num_cpus=cpus, scheduling_strategy=strategy)
            return handle.remote(workers, pool_options), limit

        if actors is not None:
            return [start(cpus_per_actor, "SPREAD") for _ in range(actors)]
        nodes = [n for n in self._ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1]
        if not nodes:
            raise RuntimeError("the Ray cluster has no alive node with a CPU to run judge actors on")
        # soft: a restarted actor may go to another node if its own is gone.
        return [
            start(int(node["Resources"]["CPU"]), NodeAffinitySchedulingStrategy(node["NodeID"], soft=True))
            for node in nodes
        ]

    @property
    def concurrency(self) -> int:
        """Programs judged at once over the whole cluster."""
        return sum(a.max_in_flight for a in self._actors)

    def actor_handles(self) -> list[Any]:
        """The judge actors' Ray handles, in routing order."""
        return [a.handle for a in self._actors]

    def route(self, program: str) -> int:
        """The index of the actor that judges `program`: the highest rendezvous hash among actors not avoided
        (among all actors if every one is avoided)."""
        digest = hashlib.sha256(program.encode("utf-8", "surrogatepass")).digest()
        now = time.monotonic()
        with self._lock:
            usable = [i for i, a in enumerate(self._actors) if a.avoid_until <= now] or range(len(self._actors))
        return max(usable, key=lambda i: hashlib.blake2b(digest + i.to_bytes(4, "big"), digest_size=8).digest())

    def wait_ready(self, index: int, timeout: float = READY_TIMEOUT) -> None:
        """Wait until actor `index` answers again (Ray refuses calls while it restarts); raises `BackendFailure`
        if it is gone for good or still restarting after `timeout` seconds."""
        exceptions = self._ray.exceptions
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._ray.get(self._actors[index].handle.ready.remote(), timeout=max(deadline - time.monotonic(), 0))
            except (exceptions.ActorUnavailableError, exceptions.GetTimeoutError) as error:
                if time.monotonic() >= deadline:
                    raise BackendFailure(f"judge actor {index} did not come back: {type(error).__name__}") from error
                time.sleep(RESTART_POLL_SECONDS)
            except exceptions.RayActorError as error:  # died for good (no restarts left, or killed for good)
                raise BackendFailure(f"judge actor {index} was lost: {type(error).__name__}") from error
            else:
                with self._lock:
                    self._actors[index].avoid_until = 0.0
                return

    def judge_tests(
        self, problem: Problem, program: str, cases: Sequence[TestCase], stop_on_failure: bool
    ) -> list[TestResult]:
        """Judge `program` on `cases` on its actor; raises `BackendFailure` if the actor was lost meanwhile.

        When every actor was lost recently (one actor, restarting), this waits for the routed one to be back."""
        if self._forked:
            raise RuntimeError(
                "a Ray judge backend cannot be used in a forked child (its connection belongs to the parent): "
                'make the judge in the child, or use the "spawn" multiprocessing context'
            )
        if self._closed:
            raise RuntimeError("the Ray judge backend is closed")
        index = self.route(program)
        actor = self._actors[index]
        if actor.avoid_until > time.monotonic():
            self.wait_ready(index)
        exceptions = self._ray.exceptions
        lost = (exceptions.RayActorError, exceptions.WorkerCrashedError, exceptions.ObjectLostError)
        with actor.in_flight:
            try:
                return self._ray.get(actor.handle.judge_tests.remote(problem, program, tuple(cases), stop_on_failure))
            except lost as error:
                with self._lock:
                    actor.avoid_until = time.monotonic() + AVOID_SECONDS
                raise BackendFailure(f"judge actor {index} was lost: {type(error).__name__}") from error

    def processes(self) -> list[int]:
        """The process ids of the reachable actors and of their pools' workers (to check a shutdown)."""
        replies = [a.handle.processes.remote() for a in self._actors]
        pids = []
        for reply in replies:
            try:
                pids += self._ray.get(reply, timeout=CLOSE_TIMEOUT)
            except self._ray.exceptions.RayError:
                continue
        return pids

    def close(self) -> None:
        """Stop every actor's pool, kill the actors, and disconnect if this backend connected. Idempotent."""
        if self._closed:
            return
        self._closed = True
        forksafe.unregister(self)
        if self._forked:
            return  # the connection and the actors belong to the parent
        ray = self._ray
        stops = [a.handle.close.remote() for a in self._actors]
        try:
            ray.wait(stops, num_returns=len(stops), timeout=CLOSE_TIMEOUT)
        finally:
            for actor in self._actors:
                ray.kill(actor.handle, no_restart=True)
            if self._owns_connection:
                ray.shutdown()

    def _after_fork_in_child(self) -> None:
        self._forked = True

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
