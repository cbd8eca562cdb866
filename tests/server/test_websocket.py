"""OpenEnv's WebSocket session (`/ws`) of `codefeedback serve`, in a real subprocess, driven by a WebSocket client
of another process: the same episodes as in process, OpenEnv's message and error shapes, session bound and expiry."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time

import pytest

from codefeedback_env import load_problems
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from tests.server.test_server import DEMO_IDS, WRONG, comparable, fenced, script
from tests.server.tight_server import IDLE_TIMEOUT, MAX_SESSIONS

websockets_client = pytest.importorskip("websockets.sync.client", reason="/ws needs the `serve` extra's websockets")
ConnectionClosed = pytest.importorskip("websockets.exceptions").ConnectionClosed

pytestmark = pytest.mark.xdist_group("server")


def connect(server):
    return websockets_client.connect(server.url.replace("http://", "ws://", 1) + "/ws", open_timeout=60)


def ask(socket, message: dict) -> dict:
    socket.send(json.dumps(message))
    return json.loads(socket.recv(timeout=600))


def play(socket, problem_id: str, responses: list[str], seed: int = 0) -> list[tuple]:
    """An episode over the socket, as `tests.server.test_server.play` records one in process."""
    first = ask(socket, {"type": "reset", "data": {"seed": seed, "options": {"problem_id": problem_id}}})
    assert first["type"] == "observation", first
    answer = first["data"]
    assert (answer["reward"], answer["done"]) == (None, False)
    record = [(answer["observation"], comparable(answer["info"]))]
    for response in responses:
        reply = ask(socket, {"type": "step", "data": {"response": response}})
        assert reply["type"] == "observation", reply
        answer = reply["data"]
        assert answer["done"] == (answer["terminated"] or answer["truncated"])
        record.append(
            (
                answer["observation"],
                answer["reward"],
                answer["terminated"],
                answer["truncated"],
                comparable(answer["info"]),
            )
        )
        if answer["done"]:
            break
    return record


def local_play(env: CodeFeedbackEnv, problem_id: str, responses: list[str], seed: int = 0) -> list[tuple]:
    observation, info = env.reset(seed=seed, options={"problem_id": problem_id})
    record = [(dict(observation), comparable(info))]
    for response in responses:
        observation, reward, terminated, truncated, info = env.step(response)
        record.append((dict(observation), reward, terminated, truncated, comparable(info)))
        if terminated or truncated:
            break
    return record


def test_episodes_over_the_socket_match_the_in_process_environment(demo_server, judge):
    problems = {p.id: p for p in load_problems("demo")}
    local = CodeFeedbackEnv(list(problems.values()), judge=judge)
    sessions_before = demo_server.health()["sessions"]
    with connect(demo_server) as socket:
        for problem_id in DEMO_IDS:  # one session, several episodes
            got = play(socket, problem_id, script(problems[problem_id]))
            assert got == local_play(local, problem_id, script(problems[problem_id])), problem_id
            assert got[-1][1] == 1.0 and got[-1][-1]["hidden"]["all_passed"]
        state = ask(socket, {"type": "state"})
        assert state["type"] == "state" and state["data"]["step_count"] == 3 and state["data"]["done"] is True
        assert state["data"]["problem_id"] == DEMO_IDS[-1]
        assert demo_server.health()["sessions"] == sessions_before + 1
        socket.send(json.dumps({"type": "close"}))
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=60)
    assert demo_server.health()["sessions"] == sessions_before  # the session ended with the connection


@pytest.mark.parametrize(
    ("message", "code", "reason", "words"),
    [
        ("{not json", "INVALID_JSON", "invalid_request", "not valid JSON"),
        ({"type": "jump"}, "UNKNOWN_TYPE", "invalid_request", "unknown message type 'jump'"),
        ({"type": "step", "data": {"response": None}}, "VALIDATION_ERROR", "invalid_request", "response"),
        ({"type": "step", "data": {"text": "x"}}, "VALIDATION_ERROR", "invalid_request", '"response"'),
        ({"type": "reset", "data": {"options": {"problem_id": "demo/sum-tw"}}}, "VALIDATION_ERROR", "unknown_problem",
         "did you mean 'demo/sum-two'"),
        ({"type": "reset", "data": {"options": {"level": 3}}}, "VALIDATION_ERROR", "invalid_options",
         "unknown reset option"),
        ({"type": "reset", "data": {"episode_id": "someone-else"}}, "VALIDATION_ERROR", "invalid_request",
         "leave episode_id out"),
        ({"type": "step", "data": {"response": WRONG}}, "EXECUTION_ERROR", "episode_over", '{"type": "reset"}'),
        ({"type": "step", "data": {"response": "x" * 3_000_000}}, "VALIDATION_ERROR", "body_too_large",
         "send a shorter response"),
    ],
)  # fmt: skip
def test_a_bad_message_gets_openenvs_error_and_the_session_goes_on(demo_server, message, code, reason, words):
    with connect(demo_server) as socket:
        solved = fenced("print(sum(map(int, input().split())))")
        ask(socket, {"type": "reset", "data": {"options": {"problem_id": "demo/sum-two"}}})
        assert ask(socket, {"type": "step", "data": {"response": solved}})["data"]["done"] is True
        socket.send(message if isinstance(message, str) else json.dumps(message))
        error = json.loads(socket.recv(timeout=600))
        assert error["type"] == "error" and (error["data"]["code"], error["data"]["reason"]) == (code, reason)
        assert words in error["data"]["message"], error
        again = ask(socket, {"type": "reset", "data": {"options": {"problem_id": "demo/sum-two"}}})
        assert again["type"] == "observation" and again["data"]["observation"]["turn"] == 0


def test_the_session_bound_and_idle_expiry_close_the_connection(tight_server):
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(connect(tight_server)) for _ in range(MAX_SESSIONS)]
        for socket in sockets:  # each connection holds one of the server's sessions
            assert ask(socket, {"type": "reset"})["type"] == "observation"
        with connect(tight_server) as refused:
            error = json.loads(refused.recv(timeout=60))
            assert (
                error["data"]["code"] == "CAPACITY_REACHED" and f"maximum of {MAX_SESSIONS}" in error["data"]["message"]
            )
            with pytest.raises(ConnectionClosed):
                refused.recv(timeout=60)
        time.sleep(IDLE_TIMEOUT + 2)
        error = ask(sockets[0], {"type": "step", "data": {"response": WRONG}})
        assert error["data"]["code"] == "SESSION_ERROR" and "expired after" in error["data"]["message"]
        assert "connect again" in error["data"]["message"]
        with pytest.raises(ConnectionClosed):
            sockets[0].recv(timeout=60)


WEBSOCKET_CLIENT = r"""
import json, sys
from websockets.sync.client import connect

with connect(sys.argv[1]) as socket:
    def ask(message):
        socket.send(json.dumps(message))
        return json.loads(socket.recv())
    first = ask({"type": "reset", "data": {"seed": 3, "options": {"problem_id": "demo/sum-two"}}})
    last = ask({"type": "step", "data": {"response": "```python\nprint(sum(map(int, input().split())))\n```"}})
    socket.send(json.dumps({"type": "close"}))
print(json.dumps({"first": first, "last": last}))
"""


def test_a_websocket_client_in_another_process_plays_an_episode(demo_server):
    url = demo_server.url.replace("http://", "ws://", 1) + "/ws"
    run = subprocess.run([sys.executable, "-c", WEBSOCKET_CLIENT, url], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["first"]["type"] == "observation" and out["first"]["data"]["info"]["problem_id"] == "demo/sum-two"
    last = out["last"]["data"]
    assert (last["reward"], last["done"], last["terminated"], last["truncated"]) == (1.0, True, True, False)
    assert last["info"]["hidden"]["all_passed"] is True
