"""The paper's analyses on episode records built by hand, with known verdicts and programs."""

from __future__ import annotations

import statistics
import subprocess
import sys
from typing import Any

import pytest

from codefeedback_env.evaluation import analyses
from codefeedback_env.evaluation.analyses import (
    VERDICTS,
    analyze,
    fixes_by_verdict,
    format_analyses,
    program_changes,
    turn_verdict,
    verdicts_by_turn,
)


def turn(code: str | None, verdicts: tuple[str, ...] = (), passed: bool = False) -> dict[str, Any]:
    results = [{"index": i, "verdict": v, "time": 0.0} for i, v in enumerate(verdicts)]
    return {"code": code, "public_passed": passed, "public_results": results}


def episode(pid: str, turns: list[dict], solved: bool | None, **extra: Any) -> dict[str, Any]:
    return {"problem_id": pid, "rollout": 0, "max_turns": 3, "turns": turns, "solved": solved} | extra


A, A_PADDED, B = "print(1)\n", "\nprint(1)\n\n", "print(int(input()) * 2)\n"
C, D, E, F = "print(", "print(42)\n", "while True:\n    pass\n", "import sys\nprint(sys.stdin.read())\n"
G, H = "x = [0] * 10**10\n", "print(input())\n"

RECORDS = [
    # wrong answer (after an accepted test), runtime error with the same program, then passed and solved
    episode(
        "p1",
        [
            turn(A, ("accepted", "wrong_answer", "skipped")),
            turn(A_PADDED, ("runtime_error",)),
            turn(B, ("accepted",), True),
        ],
        True,
    ),
    # no code, a syntax error, the same syntax error again: unsolved
    episode("p1", [turn(None), turn(C, ("syntax_error", "syntax_error")), turn(C, ("syntax_error",))], False),
    # passed at once, solved
    episode("p2", [turn(D, ("accepted",), True)], True),
    # time limit, then passed the public tests but not the hidden ones
    episode("p2", [turn(E, ("time_limit",)), turn(F, ("accepted",), True)], False),
    # memory limit, then the judge could not judge the next program (an unjudged episode)
    episode("p3", [turn(G, ("memory_limit",)), turn(H, ("judge_error",))], None, judge_error="worker lost twice"),
]


def test_turn_verdict_is_the_first_failing_public_verdict() -> None:
    assert [turn_verdict(t) for t in RECORDS[0]["turns"]] == ["wrong_answer", "runtime_error", "passed_public"]
    assert turn_verdict(turn(None, ("wrong_answer",))) == "no_code"
    assert turn_verdict(turn("x", ("accepted", "skipped"))) == "other"  # failed without a failing verdict
    assert turn_verdict(turn("x", ("judge_error", "time_limit"))) == "time_limit"  # a lost test hides nothing
    assert turn_verdict(turn("x", ("accepted", "judge_error"))) == "judge_error"


def test_verdicts_by_turn_counts_every_response() -> None:
    rows = verdicts_by_turn(RECORDS, 3)
    assert [r["responses"] for r in rows] == [5, 4, 2]
    nonzero = [{v: n for v, n in r["counts"].items() if n} for r in rows]
    assert nonzero == [
        {"passed_public": 1, "wrong_answer": 1, "time_limit": 1, "memory_limit": 1, "no_code": 1},
        {"passed_public": 1, "runtime_error": 1, "syntax_error": 1, "judge_error": 1},
        {"passed_public": 1, "syntax_error": 1},
    ]
    assert all(list(r["counts"]) == list(VERDICTS) for r in rows)


def test_fixes_by_verdict_counts_transitions_to_the_next_turn() -> None:
    first, second = fixes_by_verdict(RECORDS, 3)
    assert (first["from_turn"], first["to_turn"], second["from_turn"], second["to_turn"]) == (1, 2, 2, 3)
    assert first["by_verdict"] == {
        "wrong_answer": {"followed": 1, "passed_public": 0, "solved": 0},
        "time_limit": {"followed": 1, "passed_public": 1, "solved": 0},  # passed public, failed hidden
        "memory_limit": {"followed": 1, "passed_public": 0, "solved": 0},
        "no_code": {"followed": 1, "passed_public": 0, "solved": 0},
    }
    assert list(first["by_verdict"]) == ["wrong_answer", "time_limit", "memory_limit", "no_code"]  # VERDICTS order
    assert second["by_verdict"] == {
        "runtime_error": {"followed": 1, "passed_public": 1, "solved": 1},
        "syntax_error": {"followed": 1, "passed_public": 0, "solved": 0},
    }


def test_program_changes_and_chrf_match_sacrebleu() -> None:
    sacrebleu = pytest.importorskip("sacrebleu")

    def direct(hypothesis: str, reference: str) -> float:
        return sacrebleu.metrics.CHRF().sentence_score(hypothesis, [reference]).score

    changes = program_changes(RECORDS, 3)
    second, third = changes["by_turn"]
    # Turn 2: A -> A padded (outer whitespace only: unchanged), None -> C, E -> F, G -> H.
    assert (second["turn"], second["responses"], second["changed"], second["chrf_pairs"]) == (2, 4, 3, 3)
    assert second["changed_fraction"] == 0.75
    turn2 = [direct(A_PADDED, A), direct(F, E), direct(H, G)]
    assert second["chrf_mean"] == pytest.approx(statistics.fmean(turn2), abs=1e-12)
    assert second["chrf_median"] == pytest.approx(statistics.median(turn2), abs=1e-12)
    # Turn 3: A padded -> B (changed), C -> C (unchanged, chrF 100).
    assert (third["turn"], third["responses"], third["changed"], third["chrf_pairs"]) == (3, 2, 1, 2)
    assert direct(C, C) == 100.0
    assert third["chrf_mean"] == pytest.approx(statistics.fmean([direct(B, A_PADDED), 100.0]), abs=1e-12)
    every = changes["all"]
    assert (every["responses"], every["changed"], every["chrf_pairs"]) == (6, 4, 5)
    assert every["chrf_mean"] == pytest.approx(statistics.fmean([*turn2, direct(B, A_PADDED), 100.0]), abs=1e-12)
    assert f"version:{sacrebleu.__version__}" in changes["chrf_signature"]


def test_analyze_and_its_text() -> None:
    result = analyze(RECORDS, 3)
    assert set(result) == {"verdicts_by_turn", "fixes_by_verdict", "program_changes"}
    text = format_analyses(result)
    assert "turn 1 -> 2, passed the public tests: wrong 0/1 (0 solved), time 1/1 (0 solved)" in text
    assert "turn 2: 3/4 programs changed (0.75)" in text
    assert "output" not in text.splitlines()[1]  # columns only for verdicts that occur


def test_without_sacrebleu_chrf_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    monkeypatch.setitem(sys.modules, "sacrebleu.metrics", None)
    analyses._chrf.cache_clear()
    try:
        changes = program_changes(RECORDS, 3)
    finally:
        analyses._chrf.cache_clear()
    assert changes["all"]["changed"] == 4 and changes["all"]["chrf_pairs"] == 0
    assert changes["all"]["chrf_mean"] is None and changes["chrf_signature"] is None


def test_a_run_shorter_than_the_limit_and_no_records() -> None:
    assert [r["responses"] for r in verdicts_by_turn([], 2)] == [0, 0]
    empty = program_changes([], 2)
    assert empty["all"]["changed_fraction"] is None and empty["chrf_signature"] is None
    assert fixes_by_verdict([], 1) == []


def test_importing_the_evaluation_package_stays_light() -> None:
    code = (
        "import sys, codefeedback_env, codefeedback_env.evaluation, codefeedback_env.evaluation.compare, "
        "codefeedback_env.evaluation.sweep; print(sorted(m for m in ('sacrebleu', 'matplotlib', 'torch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
