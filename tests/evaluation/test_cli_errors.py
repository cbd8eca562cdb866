"""Every user error of `codefeedback` is one line on stderr and exit code 2 (run in-process via `main`)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from agents import factories
from codefeedback_env import __version__, cli

CODECONTESTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "codecontests_train_sample.jsonl"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exit_:  # argparse: --version, --help and parse errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, _, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if not line.startswith("WARNING ")]
    assert code == cli.USAGE_ERROR, err
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err, err
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("--rollouts", "0"), "--rollouts: must be at least 1, got 0"),
        (("--turns", "0"), "--turns: must be at least 1, got 0"),
        (("--limit", "-2"), "--limit: must be at least 1, got -2"),
        (("--sample", "0"), "--sample: must be at least 1"),
        (("--rollouts", "two"), "expected a whole number, got 'two'"),
        (("--temperature", "-1"), "temperature must be >= 0"),
        (("--top-p", "0"), "top_p must be in (0, 1]"),
        (("--problems", "sum-tow"), "did you mean 'sum-two'"),
        (("--sample", "9"), "--sample 9 is more than the 8 problems"),
    ],
)
def test_bad_eval_settings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: tuple[str, ...], expected: str
) -> None:
    line = one_line_error(capsys, "eval", "--agent", "reference", "--output", str(tmp_path / "o"), "--quiet", *argv)
    assert expected in line
    assert not (tmp_path / "o").exists()


def test_replay_file_of_the_wrong_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    replay = tmp_path / "replay.jsonl"
    replay.write_text(json.dumps({"problem": "demo/sum-two", "text": "print(1)"}) + "\n")
    line = one_line_error(
        capsys, "eval", "--agent", "replay", "--replay-file", str(replay), "--output", str(tmp_path / "o"), "--quiet"
    )
    assert "line 1: expected {'problem_id', 'rollout', 'turn', 'response'}" in line
    code, _, err = run(
        capsys, "-v", "eval", "--agent", "replay", "--replay-file", str(replay), "--output", str(tmp_path)
    )
    assert code == cli.USAGE_ERROR and "Traceback" in err and "read_replay_file" in err  # -v: where it came from


def test_output_pointing_at_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "results.txt"
    target.write_text("not a folder\n")
    line = one_line_error(capsys, "eval", "--agent", "reference", "--output", str(target), "--quiet")
    assert "is a file; give a folder" in line and target.read_text() == "not a folder\n"


def test_dead_openai_server(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("openai")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    line = one_line_error(
        capsys, "eval", "--agent", "openai", "--base-url", url, "--model", "m", "--output", str(tmp_path / "o")
    )
    assert f"nothing answers at --base-url {url}" in line
    assert not (tmp_path / "o").exists()


def test_unknown_model_when_the_hub_cannot_be_reached(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(factories, "HUB_HOST", ("127.0.0.1", closed_port()))
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    line = one_line_error(capsys, "eval", "--model", "nobody-here/no-such-model-4f2a", "--output", str(tmp_path / "o"))
    assert "'nobody-here/no-such-model-4f2a' is neither a local folder" in line and "cannot be reached" in line


@pytest.mark.skipif(not CODECONTESTS.exists(), reason="../shared/data/codecontests_train_sample.jsonl is absent")
def test_a_file_whose_only_row_has_no_hidden_tests(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    row = json.loads(CODECONTESTS.read_text().splitlines()[0])
    row["private_tests"] = row["generated_tests"] = {"input": [], "output": []}
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps(row) + "\n")
    out = str(tmp_path / "o")
    line = one_line_error(capsys, "eval", "--agent", "reference", "--dataset", str(data), "--output", out)
    assert "has no problem to evaluate" in line


def test_version_and_help_show_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"codefeedback {__version__}"
    code, out, _ = run(capsys, "eval", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "(default: 3)" in text and "(default: execution)" in text and "(default: 60.0)" in text
    assert "--api-key" in text and "--concurrency" in text and "--timeout" in text


def test_unknown_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "evaluate")
    assert code == cli.USAGE_ERROR and len(err.strip().splitlines()) == 1 and "invalid choice" in err


def test_problem_selection(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def selected(*argv: str) -> list[str]:
        out = tmp_path / str(len(list(tmp_path.iterdir())))
        common = ("eval", "--agent", "reference", "--rollouts", "1", "--turns", "1", "--no-independent", "--quiet")
        code, _, err = run(capsys, *common, "--output", str(out), *argv)
        assert code == 0, err
        return [json.loads(line)["problem_id"] for line in (out / "multi_turn" / "episodes.jsonl").open()]

    assert sorted(selected("--problems", "sum-two,demo/hello-world,sum-two")) == ["demo/hello-world", "demo/sum-two"]
    first = selected("--sample", "3", "--selection-seed", "7")
    assert len(set(first)) == 3 and sorted(selected("--sample", "3", "--selection-seed", "7")) == sorted(first)
    assert sorted(selected("--sample", "3", "--selection-seed", "8")) != sorted(first)
    assert len(selected("--shuffle", "--limit", "2")) == 2


def test_play_takes_a_fenced_answer_and_keeps_blank_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    program = "a, b = map(int, input().split())\n\n\nprint(a + b)\n"  # blank lines inside the program
    fenced = f"Here is my solution:\n```python\n{program}```\n"  # as a model writes it; no EOF line needed
    monkeypatch.setattr("sys.stdin", io.StringIO(fenced))
    code, out, err = run(capsys, "play", "demo", "--problem", "sum-two", "--max-turns", "1")
    assert code == 0, err
    assert "6/6 passed -> SOLVED" in out
    monkeypatch.setattr("sys.stdin", io.StringIO(program + "EOF\n"))
    code, out, err = run(capsys, "play", "demo", "--problem", "sum-two", "--max-turns", "1")
    assert code == 0 and "6/6 passed -> SOLVED" in out, err


def test_validate_reports_failing_references(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "validate", "demo")
    assert code == 0, err
    assert out.strip().splitlines()[-1] == "35 problems checked: 0 errors, 0 warnings"
    rows = [
        {"id": "x/add", "statement": "add", "public_tests": [{"input": "1 2\n", "output": "3\n"}],
         "hidden_tests": [{"input": "2 2\n", "output": "4\n"}], "solutions": ["print(sum(map(int, input().split())))"]},
        {"id": "x/broken", "statement": "add", "public_tests": [{"input": "1 2\n", "output": "3\n"}],
         "hidden_tests": [{"input": "2 2\n", "output": "5\n"}], "solutions": ["print(sum(map(int, input().split())))"]},
    ]  # fmt: skip
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = run(capsys, "validate", str(data))
    assert code == 1, err
    assert "error: x/broken: solution 0 fails 1 of 2 tests, first test 1 (wrong_answer)" in out
    assert "x/add" not in out and "2 problems checked: 1 errors, 0 warnings" in out
    data.write_text(json.dumps({"id": "x/bad", "statement": 3}) + "\n")
    assert f"{data}, row 1: unknown dataset format" in one_line_error(capsys, "validate", str(data))


@pytest.mark.parametrize(("flag", "expected"), [((), "default"), (("--model-cache", "none"), None)])
def test_the_converted_model_is_cached_by_default(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flag: tuple[str, ...],
    expected: str | None,
) -> None:
    transformers_agent = pytest.importorskip("agents.llm.transformers_agent")
    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    def record(model: str, **kwargs: object) -> None:
        seen.update(kwargs, model=model)
        raise Stop

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(transformers_agent, "TransformersAgent", record)
    with pytest.raises(Stop):
        cli.main(["eval", "--output", str(tmp_path / "o"), *flag])
    default = str(tmp_path / "cache" / "codefeedback" / "models")
    assert seen["model"] == "smollm2" and seen["cache_dir"] == (default if expected == "default" else None)
