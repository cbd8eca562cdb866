"""A test server: the demo set, a judge that loses every run of a program containing `LOSE_MARK` (as a pool
whose workers keep dying would), `IDLE_TIMEOUT` seconds of expiry and at most `MAX_SESSIONS` sessions.

    python -m tests.server.tight_server --port PORT
"""

from __future__ import annotations

import argparse
from functools import partial

from codefeedback_env import Judge, load_problems
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.server.app import listen, serve
from tests.failing_backend import FailingBackend

LOSE_MARK = "LOSE_THIS_RUN"
IDLE_TIMEOUT = 6.0  # long enough that a loaded host does not expire a session between two requests of a test
MAX_SESSIONS = 3


def failing_judge() -> Judge:
    return Judge(FailingBackend(lambda program, stdin: LOSE_MARK in program), max_workers=2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    make_env = partial(CodeFeedbackEnv, load_problems("demo"), judge=failing_judge())
    sock = listen(port=args.port)
    print(f"serving the test server at http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    serve(make_env, sock, max_sessions=MAX_SESSIONS, idle_timeout=IDLE_TIMEOUT)


if __name__ == "__main__":
    main()
