"""The session store (bound, expiry, one request at a time) and the wire allow-list, without a server."""

from __future__ import annotations

import logging

import pytest

from codefeedback_env.server.sessions import (
    CapacityError,
    SessionBusyError,
    SessionStore,
    UnknownSessionError,
)
from codefeedback_env.server.wire import wire_info, wire_observation


class FakeEnv:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store(max_sessions: int = 2, idle_timeout: float = 10.0) -> tuple[SessionStore, Clock]:
    clock = Clock()
    return SessionStore(FakeEnv, max_sessions=max_sessions, idle_timeout=idle_timeout, clock=clock), clock


def test_sessions_get_distinct_unguessable_ids_and_their_own_environment():
    sessions, _ = store()
    a, b = sessions.open(), sessions.open()
    assert a.id != b.id and len(a.id) >= 20 and a.env is not b.env


def test_the_bound_refuses_a_session_until_one_closes_or_expires():
    sessions, clock = store(max_sessions=2, idle_timeout=10.0)
    a, _ = sessions.open(), sessions.open()
    clock.now = 4.0
    with pytest.raises(CapacityError, match="maximum of 2 sessions") as refused:
        sessions.open()
    assert refused.value.retry_after == pytest.approx(6.0), "until the idlest session expires"
    sessions.close(a.id)
    assert a.env.closed
    sessions.open()
    clock.now = 100.0
    sessions.open()  # both idle ones expired
    assert len(sessions) == 1


def test_an_idle_session_expires_and_says_so():
    sessions, clock = store(idle_timeout=10.0)
    session = sessions.open()
    clock.now = 9.0
    with sessions.use(session.id):
        pass  # a request: the idle time starts again
    clock.now = 18.0
    with sessions.use(session.id):
        pass
    clock.now = 28.5
    with pytest.raises(UnknownSessionError, match=r"expired after 10 s without a request; POST /reset without"):
        with sessions.use(session.id):
            pass
    assert session.env.closed
    with pytest.raises(UnknownSessionError, match="no session has the id 'nope'"):
        with sessions.use("nope"):
            pass


def test_a_session_in_use_neither_expires_nor_serves_a_second_request():
    sessions, clock = store(idle_timeout=10.0)
    session = sessions.open()
    with sessions.use(session.id):
        with pytest.raises(SessionBusyError, match="one request at a time"):
            with sessions.use(session.id):
                pass
        clock.now = 50.0  # a long step
        sessions.open()  # sweeps idle sessions
        assert not session.env.closed
    with sessions.use(session.id):
        pass


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="max_sessions"):
        SessionStore(FakeEnv, max_sessions=0, idle_timeout=1.0)
    with pytest.raises(ValueError, match="idle_timeout"):
        SessionStore(FakeEnv, max_sessions=1, idle_timeout=0)


def test_the_wire_sends_only_allow_listed_fields(caplog):
    info = {
        "problem_id": "p",
        "turn": 1,
        "messages": [{"role": "user", "content": "hi", "secret": "x"}],
        "code": None,
        "valid_response": False,
        "public_passed": False,
        "public_results": [{"index": 0, "verdict": "wrong_answer", "time": 0.5, "expected": "SECRET"}],
        "hidden": {"passed": 1, "failed": 2, "skipped": 0, "total": 3, "all_passed": False, "cases": ["SECRET"]},
        "hidden_tests": ["SECRET"],
    }
    with caplog.at_level(logging.WARNING):
        sent = wire_info(info)
    assert "SECRET" not in repr(sent) and "secret" not in repr(sent)
    assert sent["hidden"] == {"passed": 1, "failed": 2, "skipped": 0, "total": 3, "all_passed": False}
    assert sent["public_results"] == [{"index": 0, "verdict": "wrong_answer", "time": 0.5}]
    assert "hidden_tests" in caplog.text
    observation = {"problem": "s", "feedback": "", "turn": 0, "hidden": "SECRET"}
    assert wire_observation(observation) == {"problem": "s", "feedback": "", "turn": 0}


def test_the_wire_sends_where_random_feedback_came_from(judge, caplog):
    """`feedback="random"` adds `info["random_feedback"]`: it crosses the wire as the in-process env has it."""
    from codefeedback_env import load_problems
    from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv

    env = CodeFeedbackEnv(load_problems("demo"), feedback="random", judge=judge)
    env.reset(seed=0, options={"problem_id": "demo/sum-two"})
    info = env.step("```python\nprint('WRONG ANSWER 918273')\n```")[-1]
    assert set(info["random_feedback"]) == {"source", "problem_id", "solution_index"}
    with caplog.at_level(logging.WARNING):
        sent = wire_info(info)
    assert sent["random_feedback"] == info["random_feedback"]
    assert "random_feedback" not in caplog.text


def test_every_info_key_the_environment_returns_is_on_the_wire():
    """Episodes of every feedback mode, ending solved, failed and unjudged: the allow-list holds each info key the
    environment returns, so a key added to the environment without the wire fails here, not silently on a server."""
    from codefeedback_env import load_problems
    from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
    from codefeedback_env.server.wire import INFO_KEYS
    from tests.server.tight_server import LOSE_MARK, failing_judge

    problems = load_problems("demo")
    solution = next(p for p in problems if p.id == "demo/sum-two").solutions[0]
    wrong = "```python\nprint('WRONG ANSWER 918273')\n```"
    episodes = [
        ["no code", wrong, f"```python\n{solution}\n```"],
        [wrong] * 3,
        [f"```python\n# {LOSE_MARK}\n{solution}\n```"],
    ]
    keys: set[str] = set()
    with failing_judge() as judge:
        for mode in ("execution", "none", "random"):
            env = CodeFeedbackEnv(problems, feedback=mode, judge=judge)
            for responses in episodes:
                keys |= set(env.reset(seed=0, options={"problem_id": "demo/sum-two"})[1])
                for response in responses:
                    *_, terminated, truncated, info = env.step(response)
                    keys |= set(info)
                    if terminated or truncated:
                        break
    assert {"hidden", "judge_error", "random_feedback", "public_results"} <= keys
    assert sorted(keys - set(INFO_KEYS)) == []
