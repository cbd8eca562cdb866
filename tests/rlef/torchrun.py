"""Launch a test worker as two CPU processes with torchrun (gloo), the repository on PYTHONPATH."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_two_processes(worker: str, out: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run tests/rlef/`worker` OUT on two local processes; returns the finished process (output captured)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRL_EXPERIMENTAL_SILENCE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        port,
        str(ROOT / "tests" / "rlef" / worker),
        str(out),
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
