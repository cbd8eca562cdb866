"""The episode driver: batches, refills, lock-step rounds, concurrent steps, last steps judged during `act`."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from codefeedback_env.driver import Episode, EpisodeDriver, step_concurrently
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.problems import load_problems


class CountingEnv:
    """Ends after `options["length"]` steps; each step can wait on a barrier or an event first."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.barrier = barrier
        self.length = 0
        self.steps = 0
        self.before_step: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self.length, self.steps = (options or {})["length"], 0
        self.before_step = (options or {}).get("before_step")
        return {"steps": 0}, {"seed": seed}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self.barrier is not None:
            self.barrier.wait(timeout=30)  # breaks (raises) unless every step of the round runs at once
        info: dict[str, Any] = {}
        if self.before_step is not None:
            info = self.before_step(self.steps)
        self.steps += 1
        return {"steps": self.steps}, 1.0, self.steps >= self.length, False, info


def test_pipelined_refills_the_batch_and_yields_episodes_as_they_end() -> None:
    batches: list[list[str]] = []

    def act(episodes: list[Episode]) -> list[str]:
        batches.append([e.data for e in episodes])
        return [f"{e.data}@{e.turns}" for e in episodes]

    steps: list[tuple[str, str]] = []
    driver = EpisodeDriver(
        [CountingEnv(), CountingEnv()], act, max_turns=3, on_step=lambda e, a, r: steps.append((e.data, a))
    )
    for name, length in (("a", 1), ("b", 3), ("c", 2)):
        driver.submit(name, seed=7, options={"length": length})
    ended = [(e.data, e.turns, e.total_reward, e.terminated) for e in driver.run()]
    assert batches[:3] == [["a", "b"], ["b", "c"], ["b", "c"]]  # a's environment goes to c at once
    assert sorted(ended) == [("a", 1, 1.0, True), ("b", 3, 3.0, True), ("c", 2, 2.0, True)]
    assert ended[0][0] == "a"
    assert ("b", "b@2") in steps and ("c", "c@1") in steps


def test_an_episode_submitted_during_the_run_is_played() -> None:
    driver = EpisodeDriver([CountingEnv()], lambda eps: ["x"] * len(eps), max_turns=2)
    driver.submit(0, options={"length": 2})
    seen = []
    for episode in driver.run():
        seen.append(episode.data)
        if episode.data < 2:
            driver.submit(episode.data + 1, options={"length": 1})
    assert seen == [0, 1, 2] and driver.queued == 0


def test_lock_step_makes_exactly_max_turns_act_calls() -> None:
    sizes: list[int] = []

    def act(episodes: list[Episode]) -> list[str]:
        sizes.append(len(episodes))
        return ["x"] * len(episodes)

    driver = EpisodeDriver([CountingEnv() for _ in range(3)], act, max_turns=4, lock_step=True)
    for length in (1, 2, 9):
        driver.submit(length, options={"length": length})
    ended = {e.data: e.ended for e in driver.run()}
    assert sizes == [3, 2, 1, 1]
    assert ended == {1: True, 2: True, 9: False}  # still running after max_turns: yielded at the end
    empty: list[int] = []

    def record_size(episodes: list[Episode]) -> list[str]:
        empty.append(len(episodes))
        return ["x"] * len(episodes)

    driver = EpisodeDriver([CountingEnv()], record_size, max_turns=3, lock_step=True)
    driver.submit(1, options={"length": 1})
    assert [e.data for e in driver.run()] == [1]
    assert empty == [1, 0, 0]  # a collective call every round, even when every episode ended


def test_lock_step_refuses_more_episodes_than_environments() -> None:
    driver = EpisodeDriver([CountingEnv()], lambda eps: ["x"] * len(eps), max_turns=1, lock_step=True)
    driver.submit(1, options={"length": 1})
    driver.submit(2, options={"length": 1})
    with pytest.raises(ValueError, match="one environment per episode: got 1 for 2"):
        list(driver.run())


@pytest.mark.parametrize("lock_step", [False, True])
def test_the_steps_of_a_round_run_at_the_same_time(lock_step: bool) -> None:
    barrier = threading.Barrier(4)  # each step waits for the other three: a serial loop would break it
    envs = [CountingEnv(barrier) for _ in range(4)]
    driver = EpisodeDriver(envs, lambda eps: ["x"] * len(eps), max_turns=2, lock_step=lock_step)
    for k in range(4):
        driver.submit(k, options={"length": 2})
    assert sorted(e.data for e in driver.run()) == [0, 1, 2, 3]
    assert not barrier.broken


def test_a_last_step_is_judged_while_the_next_batch_is_answered() -> None:
    answering = threading.Event()

    def last_step_of_b(steps: int) -> dict[str, Any]:
        return {"overlapped": answering.wait(timeout=30)} if steps == 1 else {}

    calls = []

    def act(episodes: list[Episode]) -> list[str]:
        calls.append([e.data for e in episodes])
        if calls[-1] == ["c"]:  # b's last step is still running: it waits for this call
            answering.set()
        return ["x"] * len(episodes)

    driver = EpisodeDriver([CountingEnv(), CountingEnv()], act, max_turns=2)
    driver.submit("a", options={"length": 1})
    driver.submit("b", options={"length": 2, "before_step": last_step_of_b})
    driver.submit("c", options={"length": 2})
    infos = {e.data: e.info for e in driver.run()}
    assert calls == [["a", "b"], ["b", "c"], ["c"]]
    assert infos["b"] == {"overlapped": True}


class BlockedEnv:
    """A step that raises (`error`) or waits for `release` and then records that it finished."""

    def __init__(self, release: threading.Event | None = None, error: Exception | None = None) -> None:
        self.release, self.error, self.finished = release, error, False

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self.error is not None:
            raise self.error
        assert self.release is None or self.release.wait(timeout=30)
        self.finished = True
        return action, 0.0, False, False, {}


def test_a_round_yields_each_step_as_it_finishes() -> None:
    release = threading.Event()
    with ThreadPoolExecutor(2) as threads:
        round_ = step_concurrently(threads, [(BlockedEnv(release), "slow"), (BlockedEnv(), "fast")])
        assert next(round_)[0] == 1  # the second step first: the first one waits for the caller
        release.set()
        assert next(round_) == (0, ("slow", 0.0, False, False, {}))


@pytest.mark.parametrize("leave", ["error", "break"])
def test_a_round_never_leaves_a_step_running_behind_the_caller(leave: str) -> None:
    release = threading.Event()
    slow = BlockedEnv(release)
    other = BlockedEnv(error=RuntimeError("boom")) if leave == "error" else BlockedEnv()
    timer = threading.Timer(0.3, release.set)  # the slow step ends only after the other one is reported
    timer.start()
    with ThreadPoolExecutor(2) as threads:
        round_ = step_concurrently(threads, [(slow, "a"), (other, "b")])
        if leave == "error":
            with pytest.raises(RuntimeError, match="boom"):
                list(round_)
        else:
            assert next(round_)[0] == 1
            round_.close()  # the caller stops iterating
        assert slow.finished  # before the error reached the caller, or before close returned
    timer.join()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one environment"):
        EpisodeDriver([], lambda eps: [], max_turns=1)
    with pytest.raises(ValueError, match="max_turns must be at least 1"):
        EpisodeDriver([CountingEnv()], lambda eps: [], max_turns=0)
    driver = EpisodeDriver([CountingEnv()], lambda eps: [], max_turns=1)
    driver.submit(1, options={"length": 1})
    with pytest.raises(ValueError, match="act returned 0 actions for 1 episodes"):
        list(driver.run())


def test_real_environments_sharing_a_judge(judge) -> None:
    """Reference programs through real environments: every episode solved at turn 1."""
    demo = load_problems("demo")
    by_id = {p.id: p for p in demo}
    envs = [CodeFeedbackEnv(demo, judge=judge, max_turns=2) for _ in range(3)]

    def act(episodes: list[Episode]) -> list[str]:
        return [f"```python\n{by_id[e.data].solutions[0]}\n```" for e in episodes]

    driver = EpisodeDriver(envs, act, max_turns=2, lock_step=True)
    for problem in demo[:3]:
        driver.submit(problem.id, seed=0, options={"problem_id": problem.id})
    ended = list(driver.run())
    assert sorted(e.data for e in ended) == sorted(p.id for p in demo[:3])
    assert all(e.terminated and e.turns == 1 and e.info["hidden"]["all_passed"] for e in ended)
