"""The `codefeedback` command, run as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CODECONTESTS = REPO.parent / "shared" / "data" / "codecontests_train_sample.jsonl"


def cli(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codefeedback_env.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )


def test_judge_prints_one_json_object(tmp_path: Path) -> None:
    program = tmp_path / "sum.py"
    program.write_text("a, b = map(int, input().split())\nprint(a + b)\n")
    done = cli("judge", "demo", "--problem", "demo/sum-two", "--code", str(program), "--tests", "all")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["passed"] is True and result["num_tests"] == 8
    assert {t["verdict"] for t in result["tests"]} == {"accepted"}


@pytest.mark.skipif(not CODECONTESTS.exists(), reason="../shared/data/codecontests_train_sample.jsonl is absent")
def test_judge_reads_a_codecontests_file(tmp_path: Path) -> None:
    program = tmp_path / "wrong.py"
    program.write_text("print(0)\n")
    done = cli("judge", str(CODECONTESTS), "--problem", "0", "--code", str(program))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["passed"] is False and result["tests"][0]["verdict"] == "wrong_answer"


def test_clear_errors_exit_with_code_two(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("print(1)\n")
    unknown = cli("judge", "demo", "--problem", "sum-tow", "--code", str(program))
    assert unknown.returncode == 2 and "did you mean 'sum-two'" in unknown.stderr
    missing_code = cli("judge", "demo", "--problem", "sum-two", "--code", str(tmp_path / "absent.py"))
    assert missing_code.returncode == 2 and "does not exist" in missing_code.stderr
    missing_data = cli("problems", str(tmp_path / "absent.jsonl"))
    assert missing_data.returncode == 2 and "neither a dataset name nor an existing file" in missing_data.stderr
    no_replay = cli("eval", "--agent", "replay", "--output", str(tmp_path / "r"))
    assert no_replay.returncode == 2 and "--replay-file" in no_replay.stderr


def test_problems_lists_and_shows_public_tests_only() -> None:
    listing = cli("problems", "demo")
    assert listing.returncode == 0 and "demo/sum-two" in listing.stdout and "35 problems" in listing.stdout
    shown = cli("problems", "demo", "--show", "sum-two")
    assert shown.returncode == 0 and "public test 1" in shown.stdout and "hidden" not in shown.stdout.lower()


def test_play_reads_programs_from_stdin() -> None:
    stdin = "a, b = map(int, input().split())\nprint(a - b)\nEOF\na, b = map(int, input().split())\nprint(a + b)\nEOF\n"
    done = cli("play", "demo", "--problem", "sum-two", stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert "Provide a Python solution" in done.stdout  # the prompt the model sees
    assert "Expected output `3\n` but got `-1\n`" in done.stdout  # turn-1 feedback
    assert "6/6 passed -> SOLVED" in done.stdout
    blank_lines = cli("play", "demo", "--problem", "hello-world", "--max-turns", "1", stdin="print('hi')\n\n\n")
    assert blank_lines.returncode == 0 and "NOT SOLVED" in blank_lines.stdout
    abandoned = cli("play", "demo", "--problem", "hello-world", stdin="")
    assert abandoned.returncode == 1
