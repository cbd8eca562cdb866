"""One loop that keeps a batch of episodes moving: one action per active episode per turn, steps judged in threads.

Both the evaluation runner and the RL rollouts play their episodes through `EpisodeDriver`; they differ only in
what they do around it (the runner writes records and retries unjudged episodes, the rollout keeps token-exact
trajectories). The caller gives

- `envs`: the environments to play in (anything with Gymnasium's `reset`/`step`); each plays one episode at a
  time, so their number is the batch size. Each step runs in a worker thread: the judge behind the environments
  is shared and thread-safe, so the programs of one turn are judged side by side.
- `act(episodes) -> actions`: one action per episode, in order, for every episode that is waiting for one.
- `on_step(episode, action, result)` (optional): called in the caller's thread after each step, before the
  episode is asked for its next action (pipelined: in the order the steps were submitted; lock-step: as they
  complete; `act` still gets the running episodes in submission order, whatever the timing).

Episodes are queued with `submit` and played by iterating `run()`, which yields each episode as it ends. Two
modes:

- pipelined (default, the evaluation runner's): an episode that ends is replaced from the queue at once, and a
  step known to be its episode's last (the `max_turns`-th) is judged in the background while `act` answers the
  next batch; every other step is awaited before the next `act` call, since its episode needs the result.
- lock-step (`lock_step=True`, for RL rollouts): every `run()` makes exactly `max_turns` `act` calls, with an
  empty list once every episode has ended, so processes that share a generation engine (one collective call per
  turn) stay aligned. All submitted episodes play at once (no more episodes than environments); episodes still
  running after `max_turns` turns are yielded at the end with `ended` False.

`step_concurrently` is the lock-step round on its own, for callers that hold the loop themselves: the vector
environment (`codefeedback_env.envs.vector`, Gymnasium's `step(actions)` API) steps its copies with it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Episode", "EpisodeDriver", "StepEnv", "StepResult", "step_concurrently"]

StepResult = tuple[Any, float, bool, bool, dict[str, Any]]
"""What `env.step` returns: observation, reward, terminated, truncated, info."""


class StepEnv(Protocol):
    """The part of the Gymnasium API the driver uses."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]: ...

    def step(self, action: Any) -> StepResult: ...


def step_concurrently(threads: Executor, steps: Sequence[tuple[StepEnv, Any]]) -> Iterator[tuple[int, StepResult]]:
    """`env.step(action)` for every `(env, action)` of `steps`, each in one of `threads`; yields `(position in
    steps, result)` as each finishes, so the caller's work on one result overlaps the others' judging.

    A step that raised raises when its turn comes. Whenever the iteration stops (exhausted, an exception, the
    caller leaving early), it first waits for every step still running: no step of this round is left running
    behind the caller's back, on an environment the caller may step again."""
    futures = {threads.submit(env.step, action): i for i, (env, action) in enumerate(steps)}
    try:
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        wait(futures)


@dataclass
class Episode:
    """One episode in play: its environment, latest observation and info, and the caller's own data."""

    data: Any
    """What the caller passed to `submit` (e.g. a record being built, or a token trajectory)."""
    env: StepEnv
    seed: int | None
    observation: Any
    info: dict[str, Any]
    turns: int = 0
    """Steps taken so far."""
    total_reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def ended(self) -> bool:
        """The environment ended the episode (terminated or truncated)."""
        return self.terminated or self.truncated


@dataclass
class _Start:
    data: Any
    seed: int | None
    options: dict[str, Any] | None


class EpisodeDriver:
    """Plays queued episodes in `envs`, asking `act` for one action per waiting episode per turn (see the module)."""

    def __init__(
        self,
        envs: Sequence[StepEnv],
        act: Callable[[list[Episode]], Sequence[Any]],
        *,
        max_turns: int,
        on_step: Callable[[Episode, Any, StepResult], None] | None = None,
        lock_step: bool = False,
    ) -> None:
        if not envs:
            raise ValueError("EpisodeDriver needs at least one environment")
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {max_turns}")
        self.envs = list(envs)
        self.act = act
        self.max_turns = max_turns
        self.on_step = on_step
        self.lock_step = lock_step
        self._queue: deque[_Start] = deque()

    def submit(self, data: Any, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Queue an episode: `env.reset(seed=seed, options=options)` starts it; `data` comes back on its `Episode`.

        May be called while `run()` is being iterated (e.g. to play an episode again)."""
        self._queue.append(_Start(data, seed, options))

    @property
    def queued(self) -> int:
        """Episodes submitted and not started yet."""
        return len(self._queue)

    def run(self) -> Iterator[Episode]:
        """Play every queued episode; yield each one as it ends (see the module for the two modes)."""
        with ThreadPoolExecutor(len(self.envs), thread_name_prefix="codefeedback-driver") as threads:
            if self.lock_step:
                yield from self._lock_step(threads)
            else:
                yield from self._pipelined(threads)

    def _start(self, env: StepEnv) -> Episode:
        start = self._queue.popleft()
        observation, info = env.reset(seed=start.seed, options=start.options)
        return Episode(start.data, env, start.seed, observation, info)

    def _actions(self, episodes: list[Episode]) -> list[Any]:
        actions = list(self.act(episodes))
        if len(actions) != len(episodes):
            raise ValueError(f"act returned {len(actions)} actions for {len(episodes)} episodes")
        return actions

    def _conclude(self, episode: Episode, action: Any, result: StepResult) -> bool:
        """Apply a finished step to its episode; True when the episode ended."""
        observation, reward, terminated, truncated, info = result
        episode.observation, episode.info = observation, info
        episode.turns += 1
        episode.total_reward += float(reward)
        episode.terminated, episode.truncated = bool(terminated), bool(truncated)
        if self.on_step is not None:
            self.on_step(episode, action, result)
        return episode.ended

    def _lock_step(self, threads: ThreadPoolExecutor) -> Iterator[Episode]:
        if len(self._queue) > len(self.envs):
            raise ValueError(
                f"lock-step play needs one environment per episode: got {len(self.envs)} for {len(self._queue)}"
            )
        episodes = [self._start(env) for env in self.envs[: len(self._queue)]]
        for _ in range(self.max_turns):
            active = [e for e in episodes if not e.ended]
            actions = self._actions(active)  # called even when empty: every round is one collective call
            steps = [(e.env, a) for e, a in zip(active, actions, strict=True)]
            for i, result in step_concurrently(threads, steps):  # on_step's work overlaps the others' judging
                if self._conclude(active[i], actions[i], result):
                    yield active[i]
        yield from (e for e in episodes if not e.ended)

    def _pipelined(self, threads: ThreadPoolExecutor) -> Iterator[Episode]:
        free = list(self.envs)
        active: list[Episode] = []
        background: dict[Future[StepResult], tuple[Episode, Any]] = {}
        while self._queue or active or background:
            for future in [f for f in background if f.done()]:
                episode, action = background.pop(future)
                if self._conclude(episode, action, future.result()):
                    free.append(episode.env)
                    yield episode
                else:  # the environment allows more turns than `max_turns`
                    active.append(episode)
            while self._queue and free:
                active.append(self._start(free.pop()))
            if not active:
                wait(list(background), return_when=FIRST_COMPLETED)
                continue
            actions = self._actions(active)
            awaited: list[tuple[Episode, Any, Future[StepResult]]] = []
            for episode, action in zip(active, actions, strict=True):
                future = threads.submit(episode.env.step, action)
                if episode.turns + 1 >= self.max_turns:
                    background[future] = (episode, action)
                else:
                    awaited.append((episode, action, future))
            active = []
            for episode, action, future in awaited:
                if self._conclude(episode, action, future.result()):
                    free.append(episode.env)
                    yield episode
                else:
                    active.append(episode)
