"""`codefeedback sweep` and `codefeedback compare` end to end on recorded responses (replay agent), and the
analyses and plots a real run writes, judged by the real judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codefeedback_env.problems import Problem
from tests.evaluation.test_cli import cli

FIRST, SECOND = "demo/hello-world", "demo/seven-times-six"


def fenced(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


@pytest.fixture
def replay_file(tmp_path: Path, demo: list[Problem]) -> Path:
    """FIRST: wrong, then right twice. SECOND: right, then a syntax error, then a runtime error."""
    solution = {p.id: p.solutions[0] for p in demo if p.id in (FIRST, SECOND)}
    responses = {
        FIRST: ['print("nope")', solution[FIRST], solution[FIRST]],
        SECOND: [solution[SECOND], "print(", "1/0"],
    }
    path = tmp_path / "replay.jsonl"
    path.write_text(
        "".join(
            json.dumps({"problem_id": pid, "rollout": 0, "turn": t, "response": fenced(code)}) + "\n"
            for pid, codes in responses.items()
            for t, code in enumerate(codes, start=1)
        )
    )
    return path


def is_png(path: Path) -> bool:
    return path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_then_compare(tmp_path: Path, replay_file: Path) -> None:
    out = tmp_path / "sweep"
    done = cli(
        "sweep", "--agent", "replay", "--replay-file", str(replay_file), "--problems", f"{FIRST},{SECOND}",
        "--rollouts", "1", "--turns", "3,1", "--feedback", "execution,none", "--output", str(out), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    rates = {(row["setting"], row["turns"]): row["solve_rate"]["value"] for row in sweep["rows"]}
    # Execution feedback stops SECOND at its right first turn; without feedback its third (wrong) program counts.
    assert rates == {
        ("execution feedback", 1): 0.5,
        ("execution feedback", 3): 1.0,
        ("no feedback", 1): 0.5,
        ("no feedback", 3): 0.5,
        ("independent sampling", 1): 0.5,
        ("independent sampling", 3): 1.0,
    }
    one_turn = json.loads((out / "execution" / "turns_1" / "results.json").read_text())
    assert one_turn["plots"] == ["solve_rate_by_turn.png", "verdict_mix.png"]  # nothing to fix in one turn
    assert sweep["turn_limits"] == [1, 3] and sweep["plots"] == ["sweep.png"] and is_png(out / "sweep.png")
    assert "no feedback" in done.stdout and "sweep.png" in done.stdout
    # Another agent into the same sweep is refused before anything runs, in one line naming the difference.
    other = cli("sweep", "--agent", "reference", "--turns", "1,3", "--feedback", "execution,none", "--output", str(out))
    assert (
        other.returncode == 2
        and len(other.stderr.strip().splitlines()) == 1
        and "holds a run with agent=" in other.stderr
    )

    none = json.loads((out / "none" / "turns_3" / "results.json").read_text())
    verdicts = [{v: n for v, n in row["counts"].items() if n} for row in none["analyses"]["verdicts_by_turn"]]
    assert verdicts == [
        {"passed_public": 1, "wrong_answer": 1},
        {"passed_public": 1, "syntax_error": 1},
        {"passed_public": 1, "runtime_error": 1},
    ]
    first, second = none["analyses"]["fixes_by_verdict"]
    assert first["by_verdict"] == {  # without feedback nothing ends before turn 3, so nothing is solved at 2
        "passed_public": {"followed": 1, "passed_public": 0, "solved": 0},
        "wrong_answer": {"followed": 1, "passed_public": 1, "solved": 0},
    }
    assert second["by_verdict"]["passed_public"] == {"followed": 1, "passed_public": 1, "solved": 1}
    changes = none["analyses"]["program_changes"]["by_turn"]
    assert [(row["responses"], row["changed"]) for row in changes] == [(2, 2), (2, 1)]
    assert none["plots"] == ["solve_rate_by_turn.png", "verdict_mix.png", "fixes_and_changes.png"]
    assert all(is_png(out / "none" / "turns_3" / name) for name in none["plots"])

    comparison = tmp_path / "comparison.json"
    done = cli("compare", str(out / "execution" / "turns_3"), str(out / "none" / "turns_3"), "--json", str(comparison))
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(comparison.read_text())
    final = next(row for row in result["rows"] if row["metric"] == "solved (any turn)")
    assert (final["a"]["value"], final["b"]["value"], final["difference"]["value"]) == (1.0, 0.5, -0.5)
    assert "paired bootstrap" in done.stdout and "-0.500" in done.stdout

    again = cli("compare", str(out / "execution" / "turns_3"), str(tmp_path))
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "no episodes.jsonl" in again.stderr


def test_eval_writes_the_analyses_and_lists_its_plots(tmp_path: Path, replay_file: Path) -> None:
    out = tmp_path / "eval"
    done = cli(
        "eval", "--agent", "replay", "--replay-file", str(replay_file), "--problems", f"{FIRST},{SECOND}",
        "--rollouts", "1", "--turns", "3", "--output", str(out), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    multi = results["multi_turn"]
    assert multi["analyses"]["fixes_by_verdict"][0]["by_verdict"] == {
        "wrong_answer": {"followed": 1, "passed_public": 1, "solved": 1}
    }
    assert multi["plots"] == [
        "solve_rate_by_turn.png",
        "solve_rate_by_samples.png",
        "verdict_mix.png",
        "fixes_and_changes.png",
        "multi_turn/solve_rate_by_turn.png",
        "multi_turn/verdict_mix.png",
        "multi_turn/fixes_and_changes.png",
    ]
    assert all(is_png(out / name) for mode in results.values() for name in mode["plots"])
    assert "verdicts on the public tests" in done.stdout and "verdict_mix.png" in done.stdout
    # The two modes of one eval folder compare mode by mode with themselves: no difference.
    done = cli("compare", str(out), str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("paired bootstrap") == 2 and "+0.000" in done.stdout
