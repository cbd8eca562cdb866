"""An agent that queries any OpenAI-compatible chat completions server.

Works with ``vllm serve``, SGLang, TGI, ``transformers serve`` and hosted APIs. Requests run in a
thread pool of ``max_concurrency`` workers; connection errors, timeouts, HTTP 408/409/429 and 5xx
answers are retried with exponential backoff (``backoff * 2**attempt`` seconds, capped at
``MAX_BACKOFF``); other errors fail at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

from agents.llm.sampling import PROGRAM_END_STOP, SamplingConfig, SeedStream
from agents.protocol import conversations_from_infos
from codefeedback_env.agent import AgentError
from codefeedback_env.extraction import program_end

if TYPE_CHECKING:
    import openai

__all__ = [
    "MAX_BACKOFF",
    "OpenAIAgentError",
    "OpenAICompatibleAgent",
    "ServerRequestError",
    "ServerUnreachableError",
    "backoff_delay",
    "is_retryable",
    "UNREPORTED",
    "program_after_stop",
]

logger = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
"""Longest wait between two attempts, in seconds."""
_RETRYABLE_STATUS = frozenset({408, 409, 429})


class OpenAIAgentError(AgentError):
    """A chat completion request to an OpenAI-compatible server failed."""


class ServerUnreachableError(OpenAIAgentError, ConnectionError):
    """The server could not be reached, or did not answer in time, after every retry."""


class ServerRequestError(OpenAIAgentError):
    """The server answered with an HTTP error (after retries when the status is retryable)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def is_retryable(error: BaseException) -> bool:
    """Whether a failed request may succeed when sent again (connection, timeout, 408/409/429/5xx)."""
    import openai

    if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in _RETRYABLE_STATUS or error.status_code >= 500
    return False


UNREPORTED = object()
"""``stop_reason`` of a server that does not report which stop ended a response."""


def program_after_stop(text: str, finish_reason: str | None, stop_reason: object = UNREPORTED) -> str | None:
    """The response of a request sent with ``stop=[PROGRAM_END_STOP]``, or None when it must be sent again.

    Servers either keep the matched stop string (``transformers serve``) or cut it off (vLLM, OpenAI); when
    it was cut off after a program, exactly that string is put back, so the transcript of later turns holds
    the closing fence the model wrote. A stop on a fence that closed no program (a bare opening fence, or a
    ```text block before the program) cut the response short: None asks for the full response. Whether the
    stop string matched is read from ``stop_reason`` (vLLM and SGLang report it: the string, or None / a
    token id for end-of-sequence) or from a kept stop string; when neither says, a response without a
    program is taken as cut short (asked again rather than risk a truncated one).
    """
    if finish_reason != "stop" or program_end(text) is not None:
        return text
    if text.endswith(PROGRAM_END_STOP):
        return None  # the kept stop string closed no program
    if stop_reason is not UNREPORTED and stop_reason != PROGRAM_END_STOP:
        return text  # the model ended its turn (end-of-sequence) without a complete program
    if program_end(text + PROGRAM_END_STOP) is not None:
        return text + PROGRAM_END_STOP
    return None


def backoff_delay(attempt: int, backoff: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
    return min(backoff * 2.0**attempt, MAX_BACKOFF)


class OpenAICompatibleAgent:
    """Answers each ``info["messages"]`` chat through an OpenAI-compatible ``/chat/completions``.

    Args:
        base_url: the API root, including ``/v1`` (e.g. ``http://127.0.0.1:8000/v1``).
        model: model name the server expects (for ``transformers serve FOLDER``: ``FOLDER``).
        api_key: API key; defaults to ``$OPENAI_API_KEY``, else a placeholder (local servers
            usually ignore it).
        sampling: sampling settings (default ``SamplingConfig()``); ``max_new_tokens`` is sent as ``max_tokens``. With
            ``sampling.seed`` set, every request carries its own seed drawn from a stream started
            there (servers that honour ``seed`` then answer reproducibly). With
            ``sampling.stop_at_program_end``, requests carry ``stop=[PROGRAM_END_STOP]`` and the answer is
            checked with :func:`program_after_stop` (a stop that did not end a program is asked again in full).
        max_concurrency: most requests in flight at once.
        timeout: seconds allowed for one request.
        max_retries: extra attempts for a request that failed in a retryable way.
        backoff: seconds to wait before the first retry; doubled for each further retry.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        sampling: SamplingConfig | None = None,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        for name, value, minimum in (("max_concurrency", max_concurrency, 1), ("max_retries", max_retries, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        if not backoff >= 0:
            raise ValueError(f"backoff must be >= 0 seconds, got {backoff!r}")
        try:
            import openai
        except ImportError as error:
            raise ImportError("OpenAICompatibleAgent needs the openai package: `pip install openai`") from error

        self.base_url = base_url
        self.model = model
        self.sampling = sampling = sampling or SamplingConfig()
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep: Callable[[float], None] = time.sleep
        """Called to wait between attempts; replaceable in tests."""
        self._seeds = SeedStream(sampling.seed)
        self.last_generation: list[dict[str, Any]] = []
        """Per response of the latest `act` call: generated tokens (0 when the server does not report usage)
        and stop reason (read by the evaluation runner)."""
        self.progress_callback: Callable[[int, int, int], None] | None = None
        """Called as each response arrives with (responses done, responses asked for, its tokens, or 0 when
        the server does not report usage)."""
        # The client's own retries are off: the loop in `_complete` retries, logs and reports.
        self.client: openai.OpenAI = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            timeout=timeout,
            max_retries=0,
        )

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """Return the assistant response to each ``info["messages"]``, in order."""
        conversations = conversations_from_infos(observations, infos)
        seeds = self._seeds.take(len(conversations))
        if not conversations:
            self.last_generation = []
            return []
        workers = min(self.max_concurrency, len(conversations))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-agent") as pool:
            futures = [pool.submit(self._complete, conv, seed) for conv, seed in zip(conversations, seeds, strict=True)]
            try:
                if self.progress_callback is not None:
                    for done, future in enumerate(as_completed(futures), start=1):
                        if future.exception() is not None:
                            break  # raised below, and the requests not sent yet are cancelled
                        self.progress_callback(done, len(futures), future.result()[1])
                results = [future.result() for future in futures]
                self.last_generation = [{"generated_tokens": tokens, "stop_reason": why} for _, tokens, why in results]
                return [text for text, _, _ in results]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def complete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Return the assistant response to one chat transcript."""
        return self._complete(list(messages), self._seeds.next())[0]

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    def __enter__(self) -> OpenAICompatibleAgent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request_kwargs(self, messages: Sequence[Mapping[str, str]], seed: int | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": float(self.sampling.temperature),
            "top_p": float(self.sampling.top_p),
            "max_tokens": self.sampling.max_new_tokens,
        }
        if seed is not None:
            kwargs["seed"] = seed
        if self.sampling.stop_at_program_end:
            kwargs["stop"] = [PROGRAM_END_STOP]
        return kwargs

    def _complete(self, messages: Sequence[Mapping[str, str]], seed: int | None) -> tuple[str, int, str | None]:
        """The response text, the tokens generated for it (0 when the server does not say), and why it ended
        (the server's finish reason, or ``"program_end"`` when it ends with its first program's fence line)."""
        kwargs = self._request_kwargs(messages, seed)
        text, finish_reason, stop_reason, tokens = self._request(kwargs)
        if "stop" not in kwargs:
            return text, tokens, finish_reason
        program = program_after_stop(text, finish_reason, stop_reason)
        if program is not None:
            end = program_end(program)
            ended = finish_reason == "stop" and end is not None and not program[end:].strip()
            return program, tokens, "program_end" if ended else finish_reason
        logger.debug("stopped at a fence that ended no program; asking for the full response")
        del kwargs["stop"]
        text, finish_reason, _, more = self._request(kwargs)
        return text, tokens + more, finish_reason

    def _request(self, kwargs: dict[str, Any]) -> tuple[str, str | None, object, int]:
        """One request with retries: text, finish reason, the server's stop reason (if any), tokens."""
        import openai

        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                response = self.client.chat.completions.create(**kwargs)
            except openai.APIError as error:
                if not is_retryable(error):
                    raise self._failure(error, attempt + 1) from error
                if attempt + 1 == attempts:
                    raise self._failure(error, attempts) from error
                delay = backoff_delay(attempt, self.backoff)
                logger.warning(
                    "request to %s failed (%s); retry %d of %d in %.2f s",
                    self.base_url,
                    _describe(error),
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                self.sleep(delay)
                continue
            if not response.choices:
                raise ServerRequestError(f"the server at {self.base_url} returned no choices for model {self.model!r}")
            choice = response.choices[0]
            if choice.finish_reason not in (None, "stop", "length"):
                logger.debug("response finished with reason %r", choice.finish_reason)
            tokens = response.usage.completion_tokens if response.usage is not None else 0
            extra = choice.model_extra or {}
            stop_reason = extra.get("stop_reason", UNREPORTED)  # vLLM's and SGLang's extra field
            return choice.message.content or "", choice.finish_reason, stop_reason, int(tokens or 0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _failure(self, error: openai.APIError, attempts: int) -> OpenAIAgentError:
        import openai

        tried = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
        if isinstance(error, openai.APITimeoutError):
            return ServerUnreachableError(
                f"the OpenAI-compatible server at {self.base_url} did not answer within {self.timeout} s "
                f"{tried}; raise timeout= or lower max_new_tokens"
            )
        if isinstance(error, openai.APIConnectionError):
            return ServerUnreachableError(
                f"could not reach the OpenAI-compatible server at {self.base_url} {tried} "
                f"({_describe(error)}); check that it is running and that the URL, including /v1, is right"
            )
        if isinstance(error, openai.APIStatusError):
            return ServerRequestError(
                f"the server at {self.base_url} answered HTTP {error.status_code} for model "
                f"{self.model!r} {tried}: {_describe(error)}",
                status_code=error.status_code,
            )
        return OpenAIAgentError(f"request to {self.base_url} failed {tried}: {_describe(error)}")


def _describe(error: BaseException) -> str:
    cause = error.__cause__ or error.__context__
    text = f"{type(error).__name__}: {error}"
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" (caused by {type(cause).__name__}: {cause})"
    return text[:500]
