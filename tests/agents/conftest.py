"""Shared fixtures for the agent tests: a tiny random chat model built in code, a real
``transformers serve`` process serving it on 127.0.0.1, and a flaky proxy for retry tests."""

from __future__ import annotations

import http.client
import http.server
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CORPUS = [
    "Write a program that reads two integers from standard input and prints their sum.",
    "```python\nimport sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\n```",
    "def add(a, b):\n    return a + b\n",
    "Your code failed the public tests. Fix it and answer with the whole program.",
    "print('Hello, World!')\n",
]


def build_tiny_chat_model(folder: Path) -> Path:
    """Save a tiny random Qwen2 model with a byte-level BPE tokenizer trained here, offline."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = CHATML_TEMPLATE
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        initializer_range=0.5,  # large random weights: varied outputs instead of one repeated token
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.do_sample = True  # `transformers serve` samples only when this is set
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


FENCE_PROMPT = [{"role": "user", "content": "Write a program that prints 1."}]
FENCE_PROGRAM = "Here:\n```python\nprint(1)\n```"
FENCE_ANSWER = FENCE_PROGRAM + "\nIt prints one and then more words follow here."
"""What the taught model answers to FENCE_PROMPT (greedy): a program, then prose after its closing fence."""


def build_fence_model(folder: Path) -> Path:
    """The tiny chat model, trained here (a few dozen steps) to answer FENCE_PROMPT with FENCE_ANSWER."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    build_tiny_chat_model(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    prompt = tokenizer.apply_chat_template(FENCE_PROMPT, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(prompt + FENCE_ANSWER + tokenizer.eos_token, return_tensors="pt", add_special_tokens=False)
    labels = ids.input_ids.clone()
    labels[:, : len(tokenizer(prompt, add_special_tokens=False).input_ids)] = -100  # learn the answer only
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        loss = model(input_ids=ids.input_ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.01:
            break
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def fence_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fence_model(tmp_path_factory.mktemp("fence-chat-model"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat-model"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str, timeout: float = 2.0) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


@dataclass(frozen=True)
class Server:
    """A running OpenAI-compatible server."""

    port: int
    model: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


# Runs in the server process: builds the tiny model there, so the test process never imports torch for
# the server tests (each import costs seconds on 2 cores), then runs `transformers serve`. A watchdog
# thread ends the server once no test process listed in the state file is alive (or the file is gone),
# so pytest-xdist workers can share one server and a crashed run leaves no server behind.
_BUILD_AND_SERVE = """
import json, os, sys, threading, time
from pathlib import Path

tests_dir, state_path, builder, model_dir, *serve_args = sys.argv[1:]

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True

def watch():
    while True:
        time.sleep(0.5)
        try:
            users = json.loads(Path(state_path).read_text())["users"]
        except FileNotFoundError:
            os._exit(0)
        if not any(alive(pid) for pid in users):
            os._exit(0)

threading.Thread(target=watch, daemon=True).start()
sys.path.insert(0, tests_dir)
import conftest
getattr(conftest, builder)(Path(model_dir))
sys.argv = ["transformers", "serve", model_dir, *serve_args]
from transformers.cli.transformers import main
main()
"""


def _healthy(port: int) -> bool:
    try:
        return _get(port, "/health") == 200
    except OSError:
        return False


def _write_state(path: Path, state: dict) -> None:
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps(state))
    os.replace(partial, path)  # atomic: the watchdog never reads half a file


def _start_server(folder: Path, state_path: Path, builder: str) -> tuple[subprocess.Popen, Server]:
    """Start the server (the caller holds the lock) and wait until it answers /health."""
    port = free_port()
    server = Server(port=port, model=str(folder / "model"))
    _write_state(state_path, {"port": port, "model": server.model, "users": [os.getpid()]})
    cache = folder / "empty-hf-cache"
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_UPDATE_CHECK="1",  # the CLI otherwise asks PyPI for a newer transformers
        HF_HUB_CACHE=str(cache),  # GET /v1/models answers 500 unless the cache folder exists
        TOKENIZERS_PARALLELISM="false",
    )
    log_path = folder / "serve.log"
    command = [
        sys.executable, "-c", _BUILD_AND_SERVE, str(Path(__file__).parent), str(state_path), builder, server.model,
        "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 180.0  # imports alone take 10-30 s on a busy 2-core machine
    while True:
        problem = None
        if process.poll() is not None:
            problem = f"exited with {process.returncode}"
        elif time.monotonic() > deadline:
            problem = "did not start in time"
        if problem is not None:
            state_path.unlink(missing_ok=True)
            _stop(process)
            pytest.fail(f"transformers serve {problem}:\n{log_path.read_text()[-3000:]}")
        if _healthy(port):
            return process, server
        time.sleep(0.25)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def transformers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``transformers serve`` of a tiny random model on 127.0.0.1, offline, shared by xdist workers."""
    yield from serve(tmp_path_factory, "build_tiny_chat_model")


def serve(tmp_path_factory: pytest.TempPathFactory, builder: str) -> Iterator[Server]:
    """``transformers serve`` of the model that ``builder`` (a function of this module) saves, shared by
    xdist workers."""
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"`transformers serve` needs {missing}: pip install 'transformers[serving]'")
    from filelock import FileLock  # a dependency of transformers and huggingface_hub

    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None:  # no xdist: a private server
        shared = tmp_path_factory.mktemp(f"openai-server-{builder}")
    else:  # the parent of a worker's basetemp is common to all workers of this run
        shared = tmp_path_factory.getbasetemp().parent / f"openai-server-{builder}-{run_id}"
        shared.mkdir(exist_ok=True)
    state_path = shared / "state.json"
    lock = FileLock(str(shared / "lock"))
    process: subprocess.Popen | None = None
    with lock:
        state = json.loads(state_path.read_text()) if state_path.exists() else None
        if state is not None and _healthy(state["port"]):
            state["users"].append(os.getpid())
            _write_state(state_path, state)
            server = Server(port=state["port"], model=state["model"])
        else:  # first user, or the server of a crashed worker is gone
            process, server = _start_server(shared / f"server-{os.getpid()}", state_path, builder)
    try:
        yield server
    finally:
        with lock:
            state = json.loads(state_path.read_text())
            state["users"].remove(os.getpid())
            if state["users"]:
                _write_state(state_path, state)
            else:
                state_path.unlink()
        if process is not None and not state["users"]:
            _stop(process)  # the watchdog would end it within a second; this is quicker and reaps it


class FlakyProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream_port`` that can fail and delay requests.

    It answers HTTP ``fail_status`` to the first ``fail_first`` POST requests, waits ``delay``
    seconds before forwarding each request, and records how many requests it saw and the most that
    were in flight at once.
    """

    def __init__(self, upstream_port: int, *, fail_first: int = 0, fail_status: int = 503, delay: float = 0.0):
        self.upstream_port = upstream_port
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay = delay
        self.posts = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy._lock:
                    proxy.posts += 1
                    failing = proxy.posts <= proxy.fail_first
                    proxy.in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                try:
                    time.sleep(proxy.delay)
                    if failing:
                        self._answer(proxy.fail_status, b'{"error": {"message": "injected failure"}}')
                        return
                    upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                    try:
                        upstream.request("POST", self.path, body, {"Content-Type": "application/json"})
                        response = upstream.getresponse()
                        self._answer(response.status, response.read())
                    finally:
                        upstream.close()
                finally:
                    with proxy._lock:
                        proxy.in_flight -= 1

            def _answer(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

        return Handler


@pytest.fixture
def flaky_proxy(transformers_server: Server) -> Iterator[Callable[..., FlakyProxy]]:
    """Factory of started :class:`FlakyProxy` objects in front of the test server."""
    proxies: list[FlakyProxy] = []

    def make(**kwargs: object) -> FlakyProxy:
        proxy = FlakyProxy(transformers_server.port, **kwargs)  # type: ignore[arg-type]
        proxies.append(proxy.__enter__())
        return proxy

    yield make
    for proxy in proxies:
        proxy.__exit__(None, None, None)
