"""Class 6 (crashing what reads the judge's results): the text a result carries is valid Unicode.

A function program's traceback, load error and the checker's messages cross from the sandbox as plain data,
which carries lone surrogates (`'\\ud800'`) as they are. Such a string cannot be encoded as UTF-8: in a result's
detail it reached the feedback, and from there the tokenizer (a fast tokenizer raises on it), the evaluation
runner's UTF-8 record file and the server's JSON answer, each of which raised, stopping the run or the episode.
Every text field of a `TestResult` is therefore valid Unicode, whatever the program wrote.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.judge import TestResult, Verdict
from codefeedback_env.server.app import create_app
from tests.judge.function_judges import assert_still_serving, function_problem

LONE = "\\ud800"
"""A lone surrogate, as it is written inside the programs below."""

PROGRAMS = {
    "exception_message": (f"def f(x):\n    raise ValueError('{LONE} bad')\n", Verdict.RUNTIME_ERROR),
    "exception_type_name": (
        f"def f(x):\n    raise type('E{LONE}', (Exception,), {{}})('bad')\n",
        Verdict.RUNTIME_ERROR,
    ),
    "load_error": (f"raise RuntimeError('{LONE}')\ndef f(x):\n    return x\n", Verdict.RUNTIME_ERROR),
    "returned_into_assert_message": (f"def f(x):\n    return '{LONE}'\n", Verdict.WRONG_ANSWER),
    "returned_into_checker_error": (f"def f(x):\n    return {{'{LONE}': 1}}\n", Verdict.WRONG_ANSWER),
}
TESTS = [
    "assert f(1) == 1, f(1)\n",
    "assert f(2)['k'] == 2\n",  # a KeyError naming the program's key, when it returns a dict
]


def _encodable(result: TestResult) -> bool:
    return all(_utf8(text) for text in (result.stdout, result.stderr, result.detail))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_a_result_holds_no_lone_surrogate(judge_and_processes, name: str) -> None:
    judge, processes = judge_and_processes
    program, verdict = PROGRAMS[name]
    result = judge.judge(function_problem(TESTS), program, "hidden")
    assert result.results[0].verdict is verdict, result.results[0]
    assert all(_encodable(r) for r in result.results), [r.detail for r in result.results]
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")  # what a results file holds
    assert_still_serving(judge, processes)


def test_test_result_replaces_lone_surrogates() -> None:
    result = TestResult(0, Verdict.RUNTIME_ERROR, "out \ud800", "err \udfff", "detail \ud83d\ude00 é")
    assert (result.stdout, result.stderr, result.detail) == ("out \ufffd", "err \ufffd", "detail \ufffd\ufffd é")
    kept = TestResult(0, Verdict.ACCEPTED, "plain é ✓ 😀", "", "")
    assert kept.stdout == "plain é ✓ 😀"


RESPONSE = f"```python\ndef f(x):\n    raise ValueError('{LONE}')\n```"


def _problem():
    problem = function_problem(["assert f(1) == 1\n"])
    return type(problem)(**{**problem.__dict__, "statement": "f(x) returns x"})


def test_the_environment_and_the_server_carry_the_feedback() -> None:
    env = CodeFeedbackEnv([_problem()], max_turns=2)
    env.reset(options={"problem_index": 0})
    observation, _, _, _, info = env.step(RESPONSE)
    assert "ValueError" in observation["feedback"]
    assert _utf8(observation["feedback"]) and all(_utf8(m["content"]) for m in info["messages"])
    env.close()

    app = create_app(lambda: CodeFeedbackEnv([_problem()], max_turns=2))
    with TestClient(app) as client:
        episode = client.post("/reset", json={"options": {"problem_index": 0}}).json()["episode_id"]
        answer = client.post("/step", json={"episode_id": episode, "action": {"response": RESPONSE}})
        assert answer.status_code == 200, answer.text
        assert "ValueError" in answer.json()["observation"]["feedback"]
        with client.websocket_connect("/ws") as socket:
            socket.send_json({"type": "reset", "data": {"options": {"problem_index": 0}}})
            socket.receive_json()
            socket.send_json({"type": "step", "data": {"response": RESPONSE}})
            assert "ValueError" in socket.receive_json()["data"]["observation"]["feedback"]
