"""`codefeedback serve` in a real subprocess, driven through its Gymnasium client, threads and plain HTTP."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import warnings
from typing import Any

import gymnasium as gym
import httpx
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

from codefeedback_env import REMOTE_ENV_ID, load_problems
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.errors import (
    InvalidActionError,
    InvalidOptionsError,
    RemoteEnvError,
    ServerBusyError,
    SessionExpiredError,
    UnknownProblemError,
)
from tests.conftest import shared_file
from tests.failing_backend import LOST_REASON
from tests.server.process import CLI, Server
from tests.server.tight_server import IDLE_TIMEOUT, LOSE_MARK, MAX_SESSIONS, failing_judge

pytestmark = pytest.mark.xdist_group("server")

DEMO_IDS = ("demo/sum-two", "demo/fizzbuzz", "demo/count-primes")
CODECONTESTS_IDS = ("1141_A. Game 23", "1143_C. Queen", "1228_E. Another Filling the Grid", "1263_D. Secret Passwords")
WRONG = "```python\nprint('WRONG ANSWER 918273')\n```"


def fenced(code: str) -> str:
    return f"```python\n{code}\n```"


def script(problem) -> list[str]:
    """Three turns: no code, a wrong program, the reference solution."""
    return ["I am not sure yet.", WRONG, fenced(problem.solutions[0])]


def comparable(info: dict[str, Any]) -> dict[str, Any]:
    """Info without what differs between two runs of the same episode (run times, the server session)."""
    out = {k: v for k, v in info.items() if k != "episode_id"}
    if "public_results" in out:
        out["public_results"] = [{k: v for k, v in r.items() if k != "time"} for r in out["public_results"]]
    return out


def play(env, problem_id: str, responses: list[str], seed: int = 0) -> list[tuple]:
    """The reset and every step of one episode, comparable across environments."""
    observation, info = env.reset(seed=seed, options={"problem_id": problem_id})
    record = [(observation, comparable(info))]
    for response in responses:
        observation, reward, terminated, truncated, info = env.step(response)
        record.append((observation, reward, terminated, truncated, comparable(info)))
        if terminated or truncated:
            break
    return record


def remote(server) -> gym.Env:
    return gym.make(REMOTE_ENV_ID, base_url=server.url)


@pytest.fixture(scope="module")
def demo_problems():
    return {p.id: p for p in load_problems("demo")}


@pytest.fixture(scope="module")
def codecontests_problems():
    return {p.id: p for p in load_problems(shared_file("codecontests_train_sample.jsonl"))}


# -- parity with the in-process environment ---------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["demo", "codecontests"])
def test_episodes_match_the_in_process_environment(dataset, request, judge):
    server = request.getfixturevalue(f"{dataset}_server")
    problems = request.getfixturevalue(f"{dataset}_problems")
    ids = DEMO_IDS if dataset == "demo" else CODECONTESTS_IDS
    local = CodeFeedbackEnv(list(problems.values()), judge=judge)
    env = remote(server)
    try:
        for problem_id in ids:
            expected = play(local, problem_id, script(problems[problem_id]))
            got = play(env, problem_id, script(problems[problem_id]))
            assert got == expected, problem_id
            assert expected[-1][1] == 1.0 and expected[-1][-1]["hidden"]["all_passed"], "the episode ends solved"
            assert len(expected) == 4, "three turns: no code, wrong, right"
    finally:
        env.close()


def test_a_seeded_reset_draws_the_same_problem_as_in_process(demo_server, demo_problems, judge):
    local = CodeFeedbackEnv(list(demo_problems.values()), judge=judge)
    env = remote(demo_server)
    try:
        for seed in (0, 1, 7):
            assert comparable(env.reset(seed=seed)[1]) == comparable(local.reset(seed=seed)[1])
    finally:
        env.close()


def test_a_judge_error_crosses_the_wire_as_in_process(tight_server, demo_problems):
    problem = demo_problems["demo/sum-two"]
    lost = ["no code", fenced(f"# {LOSE_MARK}\n{problem.solutions[0]}")]
    with failing_judge() as judge:
        expected = play(CodeFeedbackEnv(list(demo_problems.values()), judge=judge), problem.id, lost)
    env = remote(tight_server)
    try:
        got = play(env, problem.id, lost)
        with pytest.raises(ResetNeeded):
            env.step(WRONG)
    finally:
        env.close()
    assert got == expected
    observation, reward, terminated, truncated, info = got[-1]
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert LOST_REASON in info["judge_error"] and "hidden" not in info


# -- hidden tests never leave the server ------------------------------------------------------------------------


def strings(value: Any) -> list[str]:
    """Every string in a decoded JSON value (keys too)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def http_episode(client: httpx.Client, problem_id: str, responses: list[str]) -> list[Any]:
    """The decoded bodies of every answer of one episode, played over plain HTTP."""
    bodies = [client.post("/reset", json={"seed": 0, "options": {"problem_id": problem_id}}).json()]
    episode_id = bodies[0]["episode_id"]
    for response in responses:
        bodies.append(client.post("/step", json={"episode_id": episode_id, "action": {"response": response}}).json())
        if bodies[-1]["done"]:
            break
    bodies.append(client.post("/step", json={"episode_id": episode_id, "action": {"response": WRONG}}).json())
    bodies.append(client.post("/close", json={"episode_id": episode_id}).json())
    return bodies


def test_no_answer_carries_a_hidden_test(codecontests_server, codecontests_problems):
    """Every answer of episodes that end on the hidden tests (solved, failed, no code) is searched for every
    hidden input and output that the agent could not have seen otherwise (statement, public tests, its own text)."""
    checked = found = 0
    with httpx.Client(base_url=codecontests_server.url, timeout=600) as client:
        for problem_id in CODECONTESTS_IDS:
            problem = codecontests_problems[problem_id]
            for responses in (script(problem), [WRONG] * 3, ["no code"] * 3):
                text = "\x00".join(strings(http_episode(client, problem_id, responses)))
                seen = "\x00".join(
                    [problem.statement, *responses, *(s for t in problem.public_tests for s in (t.input, t.output))]
                )
                for case in problem.hidden_tests:
                    for secret in (case.input.strip(), case.output.strip()):
                        if secret and secret not in seen:
                            checked += 1
                            found += secret in text
                public = problem.public_tests[0].input.strip()
                assert public in text, "the search sees what the answers carry (a public input is shown in feedback)"
    assert checked >= 40, f"only {checked} hidden inputs/outputs were distinctive enough to search for"
    assert found == 0, f"{found} of {checked} hidden inputs/outputs appeared in the server's answers"


# -- sessions ---------------------------------------------------------------------------------------------------


def test_many_concurrent_sessions_play_independent_episodes(demo_server, demo_problems, judge):
    ids = [DEMO_IDS[i % len(DEMO_IDS)] for i in range(16)]
    local = CodeFeedbackEnv(list(demo_problems.values()), judge=judge)
    expected = {pid: play(local, pid, script(demo_problems[pid])) for pid in DEMO_IDS}
    envs = [remote(demo_server) for _ in ids]
    results: dict[int, Any] = {}
    start = threading.Barrier(len(ids))

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = play(envs[i], ids[i], script(demo_problems[ids[i]]))
        except Exception as error:  # reported below
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(ids))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    try:
        assert len({env.unwrapped.episode_id for env in envs}) == len(ids), "one session per environment"
        assert demo_server.health()["sessions"] >= len(ids)
        for i, pid in enumerate(ids):
            assert results[i] == expected[pid], (i, pid)
    finally:
        for env in envs:
            env.close()


def test_a_session_idle_past_the_timeout_expires(tight_server):
    env = remote(tight_server)
    try:
        env.reset(options={"problem_id": "demo/sum-two"})
        time.sleep(IDLE_TIMEOUT + 2)
        with pytest.raises(SessionExpiredError, match="expired after"):
            env.step(WRONG)
        observation, info = env.reset(options={"problem_id": "demo/sum-two"})  # a new session replaces it
        assert observation["turn"] == 0 and env.step(WRONG)[1] == 0.0
    finally:
        env.close()


def test_the_session_bound_answers_503_with_retry_after(tight_server):
    with httpx.Client(base_url=tight_server.url, timeout=60) as client:
        opened, refused = [], None
        for _ in range(MAX_SESSIONS + 1):
            answer = client.post("/reset", json={})
            if answer.status_code != 200:
                refused = answer
                break
            opened.append(answer.json()["episode_id"])
        try:
            assert refused is not None and refused.status_code == 503, "the bound was not reached"
            assert len(opened) <= MAX_SESSIONS
            body = refused.json()
            assert body["code"] == "capacity" and f"maximum of {MAX_SESSIONS} sessions" in body["detail"]
            assert "--max-sessions" in body["detail"] and float(refused.headers["Retry-After"]) >= 1
            busy = remote(tight_server)
            with pytest.raises(ServerBusyError, match="maximum of"):
                busy.reset()
            busy.close()
            client.post("/close", json={"episode_id": opened.pop()})
            again = client.post("/reset", json={})
            assert again.status_code == 200, "a closed session frees its place"
            opened.append(again.json()["episode_id"])
        finally:
            for episode_id in opened:
                client.post("/close", json={"episode_id": episode_id})


# -- bad requests -----------------------------------------------------------------------------------------------


def test_bad_requests_get_4xx_json_naming_the_problem_and_the_fix(demo_server):
    with httpx.Client(base_url=demo_server.url, timeout=60) as client:
        episode_id = client.post("/reset", json={"options": {"problem_id": "demo/sum-two"}}).json()["episode_id"]
        try:
            cases = [
                ("/step", {"episode_id": "no-such-session", "action": {"response": WRONG}}, 404, "unknown_session"),
                ("/step", {"episode_id": episode_id, "action": {"response": 42}}, 422, "invalid_request"),
                ("/step", {"episode_id": episode_id, "action": WRONG}, 422, "invalid_request"),
                ("/step", {"action": {"response": WRONG}}, 422, "invalid_request"),
                ("/reset", {"options": {"problem_id": "demo/sum-tow"}}, 404, "unknown_problem"),
                ("/reset", {"options": {"problem": "demo/sum-two"}}, 422, "invalid_options"),
                ("/reset", {"seed": "zero"}, 422, "invalid_request"),
            ]
            for path, body, status, code in cases:
                answer = client.post(path, json=body)
                assert (answer.status_code, answer.json()["code"]) == (status, code), (path, body, answer.text)
                assert answer.json()["detail"], (path, body)
            detail = [client.post(path, json=body).json()["detail"] for path, body, _, _ in cases]
            assert "POST /reset without an episode_id" in detail[0]
            assert "action.response: Input should be a valid string (got int)" in detail[1]
            assert all('"action": {"response": ' in d for d in detail[1:4]), "the fix: the body to send"
            assert "episode_id: Field required" in detail[3]
            assert "did you mean 'demo/sum-two'" in detail[4] and "GET /metadata" in detail[4]
            assert "unknown reset option 'problem'; did you mean 'problem_id'?" in detail[5]
            for _ in range(3):
                client.post("/step", json={"episode_id": episode_id, "action": {"response": WRONG}})
            over = client.post("/step", json={"episode_id": episode_id, "action": {"response": WRONG}})
            assert over.status_code == 409 and over.json()["code"] == "episode_over"
            assert "POST /reset with this episode_id" in over.json()["detail"]
            huge = "x" * (12 * 200_000 + 70_000)
            too_long = client.post("/step", json={"episode_id": episode_id, "action": {"response": huge}})
            assert too_long.status_code == 413 and "at most 200000 characters" in too_long.json()["detail"]
            start = f'{{"episode_id": "{episode_id}", "action": {{"response": "'.encode()
            chunks = [start, *[b"x" * (1 << 20)] * 3, b'"}}']  # sent chunked: no Content-Length to refuse by
            streamed = client.post("/step", content=iter(chunks), headers={"content-type": "application/json"})
            assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large", streamed.text
            broken = client.post("/reset", content=b"{not json", headers={"content-type": "application/json"})
            assert broken.status_code == 422 and "not valid JSON" in broken.json()["detail"]
        finally:
            client.post("/close", json={"episode_id": episode_id})


def test_the_client_raises_the_in_process_errors(demo_server):
    env = remote(demo_server).unwrapped  # gymnasium's passive checker cannot follow a first reset that raised
    try:
        with pytest.raises(UnknownProblemError, match="did you mean 'demo/sum-two'"):
            env.reset(options={"problem_id": "demo/sum-tow"})
        with pytest.raises(InvalidOptionsError):
            env.reset(options={"problem": "demo/sum-two"})
        env.reset(options={"problem_id": "demo/sum-two"})
        with pytest.raises(InvalidActionError):
            env.step(42)
        for _ in range(3):
            env.step(WRONG)
        with pytest.raises(ResetNeeded):
            env.step(WRONG)
    finally:
        env.close()


# -- clients ----------------------------------------------------------------------------------------------------


def test_the_client_is_a_gymnasium_env_made_by_id(demo_server):
    env = remote(demo_server)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env.unwrapped, skip_render_check=False)
        assert env.unwrapped.max_turns == 3 and "demo/sum-two" in env.unwrapped.problem_ids
    finally:
        env.close()


def test_the_ansi_render_is_the_in_process_one(demo_server, demo_problems, judge):
    local = CodeFeedbackEnv(list(demo_problems.values()), judge=judge, render_mode="ansi")
    env = gym.make(REMOTE_ENV_ID, base_url=demo_server.url, render_mode="ansi")
    try:
        for each in (local, env):
            each.reset(options={"problem_id": "demo/sum-two"})
            each.step(WRONG)
        assert env.render() == local.render() and "[assistant]\n" + WRONG in local.render()
    finally:
        env.close()


PLAIN_CLIENT = r"""
import json, sys, urllib.error, urllib.request

def post(path, body):
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(sys.argv[1] + path, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)

_, first = post("/reset", {"seed": 3, "options": {"problem_id": "demo/sum-two"}})
code = "```python\nprint(sum(map(int, input().split())))\n```"
_, last = post("/step", {"episode_id": first["episode_id"], "action": {"response": code}})
bad = post("/step", {"episode_id": first["episode_id"], "action": {"response": None}})
post("/close", {"episode_id": first["episode_id"]})
print(json.dumps({"first": first, "last": last, "bad": bad}))
"""


def test_a_plain_http_client_in_another_process_plays_an_episode(demo_server):
    run = subprocess.run([sys.executable, "-c", PLAIN_CLIENT, demo_server.url], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    first = out["first"]
    assert first["observation"]["turn"] == 0 and first["info"]["problem_id"] == "demo/sum-two"
    last = out["last"]
    assert (last["reward"], last["done"], last["terminated"], last["truncated"]) == (1.0, True, True, False)
    assert last["info"]["hidden"]["all_passed"] is True
    status, body = out["bad"]
    assert status == 422 and "action.response" in body["detail"]


def test_importing_the_package_imports_no_server_or_http_library():
    code = (
        "import sys, codefeedback_env, codefeedback_env.server; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_unreachable_server_is_a_clear_error():
    with pytest.raises(RemoteEnvError, match="cannot reach an environment server"):
        gym.make(REMOTE_ENV_ID, base_url="http://127.0.0.1:9", connect_retries=0)
    with pytest.raises(ValueError, match="base_url"):
        gym.make(REMOTE_ENV_ID, base_url="127.0.0.1:8000")


def test_another_http_server_is_a_clear_error():
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # an ordinary web page, not JSON
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>a web page</html>")

        def log_message(self, *args: Any) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page) as page:
        threading.Thread(target=page.serve_forever, daemon=True).start()
        try:
            with pytest.raises(RemoteEnvError, match="did not describe a codefeedback server"):
                gym.make(REMOTE_ENV_ID, base_url=f"http://127.0.0.1:{page.server_address[1]}")
        finally:
            page.shutdown()


def test_a_lost_server_mid_episode_truncates_the_step_unscored(demo_problems):
    server = Server([*CLI, "demo"])
    env = remote(server)
    try:
        env.reset(options={"problem_id": "demo/sum-two"})
        server.stop()
        observation, reward, terminated, truncated, info = env.step(WRONG)
        assert (reward, terminated, truncated) == (0.0, False, True)
        assert "did not answer the step" in info["judge_error"] and observation["feedback"] == ""
    finally:
        env.close()
        server.stop()


def test_health_metadata_and_schema_describe_the_server(demo_server):
    with httpx.Client(base_url=demo_server.url, timeout=60) as client:
        assert client.get("/health").json()["status"] == "healthy"
        metadata = client.get("/metadata").json()
        assert metadata["contract"] == "openenv-http" and metadata["name"] == "CodeFeedback"
        assert (metadata["max_turns"], len(metadata["problem_ids"])) == (3, 35)
        schema = client.get("/schema").json()
        assert schema["action"]["required"] == ["response"]
        assert set(schema["observation"]["properties"]) == {"problem", "feedback", "turn"}
        episode_id = client.post("/reset", json={"options": {"problem_id": "demo/sum-two"}}).json()["episode_id"]
        client.post("/step", json={"episode_id": episode_id, "action": {"response": WRONG}})
        state = client.get("/state", params={"episode_id": episode_id}).json()
        assert state == {"episode_id": episode_id, "step_count": 1, "problem_id": "demo/sum-two", "done": False}
        client.post("/close", json={"episode_id": episode_id})
        missing = client.get("/state").json()["detail"]
        assert "query.episode_id: Field required" in missing and "GET /state?episode_id=" in missing
        gone = client.get("/state", params={"episode_id": episode_id})
        assert gone.status_code == 404 and "was closed" in gone.json()["detail"]


def test_serve_on_a_taken_port_is_a_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "codefeedback_env.cli", "serve", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in run.stderr


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ("```python\n" + "#" * 250_000 + "\nprint(1)\n```", "longer than 200000 characters"),
        ("```python\nprint('\ud800')\n```", "not valid UTF-8"),
    ],
    ids=["overlong", "lone-surrogate"],
)
def test_an_unsendable_response_is_an_invalid_turn_as_in_process(demo_server, demo_problems, judge, response, reason):
    expected = play(CodeFeedbackEnv(list(demo_problems.values()), judge=judge), "demo/sum-two", [response])
    env = remote(demo_server)
    try:
        assert play(env, "demo/sum-two", [response]) == expected
    finally:
        env.close()
    assert expected[-1][1] == -0.2 and reason in expected[-1][0]["feedback"]
