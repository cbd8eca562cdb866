"""`Judge("ray", address=...)` connecting to a cluster started apart with `ray start --head`, as on a real
cluster: the head runs in its own process session on free ports, the judge in a fresh interpreter (the other Ray
tests' in-process `ray.init` is never shared). Ray's `ray start` turns token authentication on; the test gives
head and client a token of their own (`RAY_AUTH_MODE=token`, `RAY_AUTH_TOKEN_PATH`) instead of `~/.ray`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the Ray judge backend needs the `ray` extra")
RAY = shutil.which("ray")
pytestmark = [
    pytest.mark.xdist_group("ray"),
    pytest.mark.skipif(RAY is None, reason="the `ray` command is not on PATH"),
]

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0

CLIENT = """
import json, os, sys
import ray
from codefeedback_env.judge import Judge
from codefeedback_env.problems.records import Problem, TestCase

problem = Problem("echo", "", (TestCase("1\\n", "1\\n"), TestCase("2\\n", "2\\n")), ())
report = {}
with Judge("ray", address=sys.argv[1], actors=1) as judge:
    report["backend"] = type(judge.backend).__name__
    report["right"] = [r.verdict.value for r in judge.judge(problem, "print(input())", "public").results]
    report["wrong"] = [r.verdict.value for r in judge.judge(problem, "print(3)", "public").results]
    report["gcs"] = ray.get_runtime_context().gcs_address
    report["cpus"] = ray.cluster_resources().get("CPU")
report["connected_after_close"] = ray.is_initialized()
os.environ["CODEFEEDBACK_RAY_ADDRESS"] = sys.argv[1]
with Judge("ray", actors=1) as judge:  # the address from the environment variable
    report["by_env"] = [r.verdict.value for r in judge.judge(problem, "print(input())", "public").results]
    report["gcs_by_env"] = ray.get_runtime_context().gcs_address
print(json.dumps(report))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, head: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if head.poll() is not None:
            pytest.fail(f"`ray start --head` exited with {head.returncode}:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the Ray head did not listen on port {port} within {START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


def stop(head: subprocess.Popen) -> None:
    """SIGTERM to `ray start --block` (it drains and stops the processes it started); then anything left in
    its process session is killed."""
    if head.poll() is None:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    head.wait()


def session_processes(session: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True).stdout
    return [int(pid) for pid, sid in (line.split() for line in out.splitlines()) if int(sid) == session]


@pytest.fixture(scope="module")
def ray_head() -> Iterator[tuple[str, dict[str, str]]]:
    """A 2-CPU Ray head started by `ray start --head --block` on free ports, with its own token and temp dir;
    yields its address and the environment a client needs."""
    from ray._private.authentication.authentication_token_generator import generate_new_authentication_token

    folder = Path(tempfile.mkdtemp(prefix="cf-ray-", dir="/tmp"))  # short: Ray's socket paths live under it
    token = folder / "token"
    token.write_text(generate_new_authentication_token())
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token), RAY_USAGE_STATS_ENABLED="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    port = free_port()
    ports = {
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--metrics-export-port": free_port(),
    }
    command = [
        RAY,
        "start",
        "--head",
        "--block",
        f"--port={port}",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={folder}",
        f"--object-store-memory={100 << 20}",
        *(f"{flag}={value}" for flag, value in ports.items()),
    ]
    log = folder / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_for_port(port, head, log)
        yield f"127.0.0.1:{port}", env
    finally:
        stop(head)
        leftover = session_processes(head.pid)
        shutil.rmtree(folder, ignore_errors=True)
        assert not leftover, f"processes of the Ray head left running: {leftover}"


def test_judge_connects_to_a_ray_start_cluster_by_address(ray_head):
    address, env = ray_head
    port = address.rsplit(":", 1)[1]
    client = subprocess.run(
        [sys.executable, "-c", CLIENT, address], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT
    )
    assert client.returncode == 0, client.stderr[-3000:]
    report = json.loads(client.stdout.strip().splitlines()[-1])
    assert report["backend"] == "RayBackend"
    assert report["right"] == ["accepted", "accepted"]
    assert report["wrong"] == ["wrong_answer", "wrong_answer"]
    assert report["gcs"].endswith(f":{port}")  # the cluster started above, not a new local one
    assert report["cpus"] == 2.0
    assert report["connected_after_close"] is False  # the judge made the connection, so it closed it
    assert report["by_env"] == ["accepted", "accepted"]
    assert report["gcs_by_env"].endswith(f":{port}")
