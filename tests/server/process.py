"""A server in a subprocess on a free port (`--port 0`), its URL read from what it prints, up once it answers
/health. Shared by the server tests and `benchmarks/server_throughput.py`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # seconds: the host may be loaded


class Server:
    """A server subprocess and its base URL."""

    def __init__(self, command: Sequence[str], start_timeout: float = START_TIMEOUT) -> None:
        # A file, not a pipe (a server that logs much would block on a full pipe), appended to by the server only.
        handle, self.log = tempfile.mkstemp(prefix="codefeedback-server-", suffix=".log")
        env = os.environ | {"PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        with os.fdopen(handle, "a") as log:
            self.process = subprocess.Popen(
                [*command, "--port", "0"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.url = ""
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.output()}")
            if not self.url:  # the server prints its URL once it listens (on a free port: --port 0)
                found = re.search(r" at (http://\S+)", self.output())
                self.url = found.group(1) if found else ""
            try:
                if self.url:
                    with urllib.request.urlopen(f"{self.url}/health", timeout=5) as answer:
                        if answer.status == 200:
                            return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer /health within {start_timeout} s:\n{self.output()}")

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/health", timeout=30) as answer:
            return json.load(answer)

    def output(self) -> str:
        """What the server printed so far."""
        return Path(self.log).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        Path(self.log).unlink(missing_ok=True)


CLI = (sys.executable, "-m", "codefeedback_env.cli", "serve")
