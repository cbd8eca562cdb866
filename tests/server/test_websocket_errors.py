"""A /ws message the server fails on: the error names the failure's kind, never its text, which may carry what the
wire allow-list keeps from the client (a hidden test's input, as the HTTP endpoints' plain 500 never sends)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from codefeedback_env import load_problems
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.server.app import create_app


def failing_env(kind: type[Exception]) -> type[CodeFeedbackEnv]:
    class Failing(CodeFeedbackEnv):
        def step(self, response):
            hidden = self.problem.hidden_tests[0]
            raise kind(f"failed on hidden test {hidden!r}")

    return Failing


@pytest.mark.parametrize("kind", [RuntimeError, KeyError, ValueError, OSError])
def test_a_failed_step_does_not_echo_the_failures_text(kind):
    env_class = failing_env(kind)
    app = create_app(lambda: env_class(load_problems("demo")))
    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        socket.send_json({"type": "reset", "data": {"options": {"problem_id": "demo/sum-two"}}})
        assert socket.receive_json()["type"] == "observation"
        socket.send_json({"type": "step", "data": {"response": "print(1)"}})
        answer = socket.receive_json()
        assert answer["type"] == "error"
        assert (answer["data"]["code"], answer["data"]["reason"]) == ("EXECUTION_ERROR", "internal_error")
        assert kind.__name__ in answer["data"]["message"]
        assert "hidden test" not in answer["data"]["message"]
        socket.send_json({"type": "state"})  # the session goes on
        assert socket.receive_json()["data"]["problem_id"] == "demo/sum-two"
