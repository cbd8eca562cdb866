"""OpenAICompatibleAgent against a real `transformers serve` process (tiny random model) on 127.0.0.1.

Retry, concurrency and timeout behaviour is observed through a small HTTP proxy (see conftest.py)
that sits between the agent and the server, injects HTTP 503 answers and delays, and counts
requests in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from agents.llm.openai_agent import (
    MAX_BACKOFF,
    UNREPORTED,
    OpenAICompatibleAgent,
    ServerRequestError,
    ServerUnreachableError,
    backoff_delay,
    is_retryable,
    program_after_stop,
)
from agents.llm.sampling import PROGRAM_END_STOP, SamplingConfig
from agents.protocol import Agent

from .conftest import FENCE_ANSWER, FENCE_PROGRAM, FENCE_PROMPT, FlakyProxy, Server, free_port, serve

FAST = SamplingConfig(temperature=0.0, max_new_tokens=8)


def _batch(count: int) -> tuple[list[dict], list[dict]]:
    infos = [{"messages": [{"role": "user", "content": f"Print the number {i}."}]} for i in range(count)]
    return [{"problem": "", "feedback": "", "turn": 0}] * count, infos


def _agent(base_url: str, model: str, **kwargs: object) -> OpenAICompatibleAgent:
    agent = OpenAICompatibleAgent(base_url, model, **{"sampling": FAST, "backoff": 0.01, **kwargs})  # type: ignore[arg-type]
    agent.sleeps = []  # type: ignore[attr-defined]
    agent.sleep = agent.sleeps.append  # type: ignore[attr-defined]  # record backoff waits instead of waiting
    return agent


def test_responses_come_back_from_a_real_server(transformers_server: Server) -> None:
    with _agent(transformers_server.base_url, transformers_server.model) as agent:
        assert isinstance(agent, Agent)
        responses = agent.act(*_batch(3))
        assert len(responses) == 3 and all(isinstance(r, str) for r in responses)
        assert isinstance(agent.complete([{"role": "user", "content": "hi"}]), str)
        assert agent.act([], []) == []


def test_concurrency_limit_is_respected(transformers_server: Server, flaky_proxy: Callable[..., FlakyProxy]) -> None:
    proxy = flaky_proxy(delay=0.3)  # keeps requests in flight long enough to overlap
    with _agent(proxy.base_url, transformers_server.model, max_concurrency=2) as agent:
        assert len(agent.act(*_batch(6))) == 6
    assert proxy.posts == 6
    assert proxy.max_in_flight == 2


def test_503_answers_are_retried_with_exponential_backoff(
    transformers_server: Server, flaky_proxy: Callable[..., FlakyProxy]
) -> None:
    proxy = flaky_proxy(fail_first=2, fail_status=503)
    with _agent(proxy.base_url, transformers_server.model, max_concurrency=1, max_retries=3) as agent:
        [response] = agent.act(*_batch(1))
    assert isinstance(response, str)
    assert proxy.posts == 3
    assert agent.sleeps == [0.01, 0.02]  # type: ignore[attr-defined]


def test_retries_give_up_with_the_status_and_url(
    transformers_server: Server, flaky_proxy: Callable[..., FlakyProxy]
) -> None:
    proxy = flaky_proxy(fail_first=100, fail_status=429)
    with _agent(proxy.base_url, transformers_server.model, max_retries=2) as agent:
        with pytest.raises(ServerRequestError, match=r"HTTP 429 .* after 3 attempts") as caught:
            agent.act(*_batch(1))
    assert proxy.base_url in str(caught.value) and caught.value.status_code == 429
    assert proxy.posts == 3


def test_client_errors_are_not_retried(transformers_server: Server, flaky_proxy: Callable[..., FlakyProxy]) -> None:
    proxy = flaky_proxy()
    with _agent(proxy.base_url, "no-such-model", max_retries=3) as agent:  # the server is pinned to one model
        with pytest.raises(ServerRequestError, match=r"HTTP 400 for model 'no-such-model' after 1 attempt") as caught:
            agent.act(*_batch(1))
    assert caught.value.status_code == 400 and proxy.posts == 1


def test_a_failed_request_cancels_the_queued_ones_with_a_progress_callback(
    transformers_server: Server, flaky_proxy: Callable[..., FlakyProxy]
) -> None:
    proxy = flaky_proxy()
    with _agent(proxy.base_url, "no-such-model", max_concurrency=1) as agent:
        calls: list[tuple[int, int, int]] = []
        agent.progress_callback = lambda *args: calls.append(args)
        with pytest.raises(ServerRequestError, match="HTTP 400"):
            agent.act(*_batch(4))
    # as without a callback: the one worker may have taken the next request before the cancel, no more
    assert proxy.posts <= 2 and calls == []


def test_a_slow_server_times_out_with_a_clear_error(
    transformers_server: Server, flaky_proxy: Callable[..., FlakyProxy]
) -> None:
    proxy = flaky_proxy(delay=2.0)
    with _agent(proxy.base_url, transformers_server.model, timeout=0.3, max_retries=1) as agent:
        with pytest.raises(ServerUnreachableError, match=r"did not answer within 0.3 s after 2 attempts"):
            agent.act(*_batch(1))


def test_seeded_requests_are_reproducible(transformers_server: Server) -> None:
    runs = []
    for seed in (5, 5, 6):
        sampling = SamplingConfig(temperature=1.0, max_new_tokens=8, seed=seed)
        with _agent(transformers_server.base_url, transformers_server.model, sampling=sampling, max_concurrency=1) as a:
            runs.append(a.act(*_batch(2)))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]  # the server does sample, and the seed matters


def test_an_unreachable_port_is_a_clear_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with _agent(url, "m", max_retries=2) as agent:
        with pytest.raises(ServerUnreachableError, match=r"could not reach .* after 3 attempts") as caught:
            agent.act(*_batch(2))
    assert url in str(caught.value)
    assert isinstance(caught.value, ConnectionError)


def test_retry_policy() -> None:
    import openai

    try:  # openai >= 3 is built on httpx2, earlier releases on httpx
        import httpx2 as httpx
    except ImportError:
        import httpx

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")

    def status_error(code: int) -> openai.APIStatusError:
        return openai.APIStatusError("x", response=httpx.Response(code, request=request), body=None)

    assert all(is_retryable(status_error(code)) for code in (408, 409, 429, 500, 502, 503))
    assert not any(is_retryable(status_error(code)) for code in (400, 401, 404, 422))
    assert is_retryable(openai.APITimeoutError(request=request))
    assert is_retryable(openai.APIConnectionError(request=request))
    assert not is_retryable(ValueError("x"))
    assert [backoff_delay(a, 0.5) for a in range(3)] == [0.5, 1.0, 2.0]
    assert backoff_delay(30, 0.5) == MAX_BACKOFF


@pytest.mark.parametrize("kwargs", [{"max_concurrency": 0}, {"max_retries": -1}, {"timeout": 0}, {"backoff": -1.0}])
def test_constructor_rejects_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        OpenAICompatibleAgent("http://127.0.0.1:1/v1", "m", **kwargs)


# --- stopping at the end of the program ------------------------------------------------------------

STOP = "\n```\n"


@pytest.mark.parametrize(
    ("text", "finish_reason", "stop_reason", "expected"),
    [
        ("Here:\n```python\nprint(1)", "stop", "\n```\n", "Here:\n```python\nprint(1)\n```\n"),  # cut off: put back
        ("Here:\n```python\nprint(1)", "stop", UNREPORTED, "Here:\n```python\nprint(1)\n```\n"),
        ("Here:\n```python\nprint(1)\n```\n", "stop", UNREPORTED, "Here:\n```python\nprint(1)\n```\n"),  # kept
        ("Here:\n```python\nprint(1)\n```", "stop", None, "Here:\n```python\nprint(1)\n```"),  # end-of-sequence
        ("No code today.", "stop", None, "No code today."),  # end-of-sequence, reported
        ("No code today.", "stop", UNREPORTED, None),  # unknown: maybe cut at a bare fence, ask again
        ("Input:", "stop", "\n```\n", None),  # stopped at a bare opening fence
        ("Input:\n```\n3\n```\n", "stop", UNREPORTED, None),  # kept stop string after a ```text-like block
        ("Here:\n```python\nprint(1", "length", UNREPORTED, "Here:\n```python\nprint(1"),  # token budget
    ],
)
def test_program_after_stop(text: str, finish_reason: str, stop_reason: object, expected: str | None) -> None:
    assert STOP == PROGRAM_END_STOP
    assert program_after_stop(text, finish_reason, stop_reason) == expected


@pytest.fixture(scope="module")
def fence_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`transformers serve` of the model taught to answer FENCE_PROMPT with a program and then prose."""
    yield from serve(tmp_path_factory, "build_fence_model")


def test_server_stops_after_the_program_and_keeps_the_closing_fence(fence_server: Server) -> None:
    calls: list[tuple[int, int, int]] = []
    responses = {}
    for stop in (False, True):
        sampling = SamplingConfig(temperature=0.0, max_new_tokens=60, stop_at_program_end=stop)
        with _agent(fence_server.base_url, fence_server.model, sampling=sampling) as agent:
            agent.progress_callback = lambda *args: calls.append(args)
            responses[stop] = agent.act([{}], [{"messages": FENCE_PROMPT}])[0]
            [report] = agent.last_generation
            assert report["stop_reason"] == ("program_end" if stop else "stop") and report["generated_tokens"] > 0
    assert responses[False] == FENCE_ANSWER
    # the program and its closing fence, verbatim (`transformers serve` strips the trailing newline of the stop)
    assert responses[True] in (FENCE_PROGRAM, FENCE_PROGRAM + "\n")
    assert [(done, total) for done, total, _ in calls] == [(1, 1), (1, 1)]
    assert calls[1][2] < calls[0][2]  # fewer tokens generated
