"""The paper's analyses of a run's episodes: the verdict mix per turn, which verdicts a later turn fixed, and
how much a program changed after feedback (chrF between successive programs, as in RLEF, Gehring et al. 2024).

A turn's verdict is its response's outcome on the public tests: `passed_public`, `no_code` (no program
extracted), or else the verdict of its first failing public test (`wrong_answer`, `runtime_error`,
`time_limit`, `memory_limit`, `output_limit`, `syntax_error`; `judge_error` only when the judge lost a test
and no test failed). Every recorded episode counts, unjudged ones included (their last turn is usually
`judge_error`), so the mix shows what the judge could not judge as well.

chrF is sacrebleu's (`CHRF()` with its defaults: character 6-grams, beta 2, whitespace ignored), the turn's
program as hypothesis and the previous turn's as reference, on a 0-100 scale. sacrebleu is imported when
first needed; without it the chrF fields are None and the reason is logged once.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

logger = logging.getLogger(__name__)

VERDICTS = (
    "passed_public",
    "wrong_answer",
    "runtime_error",
    "time_limit",
    "memory_limit",
    "output_limit",
    "syntax_error",
    "no_code",
    "judge_error",
    "other",
)
"""Turn verdicts in display order. `other`: a failed turn without a failing public verdict (not expected)."""

_NOT_FAILURES = frozenset({"accepted", "skipped"})
SACREBLEU_HINT = "pip install 'codefeedback[analysis]' (sacrebleu)"


def turn_verdict(turn: Mapping[str, Any]) -> str:
    """The verdict of one turn record of `episodes.jsonl` (see the module docstring)."""
    if turn.get("code") is None:
        return "no_code"
    if turn.get("public_passed"):
        return "passed_public"
    results = sorted(turn.get("public_results") or (), key=lambda r: r.get("index", 0))
    failures = [str(r.get("verdict")) for r in results if r.get("verdict") not in _NOT_FAILURES]
    real = [v for v in failures if v != "judge_error"]  # a test the judge lost does not hide a real failure
    if real:
        return real[0] if real[0] in VERDICTS else "other"
    return "judge_error" if failures else "other"


def verdicts_by_turn(records: Sequence[Mapping[str, Any]], max_turns: int) -> list[dict[str, Any]]:
    """Per turn 1..max_turns: responses taken at that turn and their count per verdict (every verdict listed)."""
    rows = [{"turn": t, "responses": 0, "counts": dict.fromkeys(VERDICTS, 0)} for t in range(1, max_turns + 1)]
    for record in records:
        for index, turn in enumerate(record["turns"][:max_turns]):
            rows[index]["responses"] += 1
            rows[index]["counts"][turn_verdict(turn)] += 1
    return rows


def fixes_by_verdict(records: Sequence[Mapping[str, Any]], max_turns: int) -> list[dict[str, Any]]:
    """For each turn t = 2..max_turns, what became of the responses of turn t-1 that were followed by a turn t,
    by their verdict: `followed` (responses), `passed_public` (turn t passed the public tests) and `solved`
    (the episode ended at turn t with every hidden test passed). Hidden tests judge only an episode's last
    program, so `solved` counts a fix only where the episode stopped there."""
    rows = []
    for to_turn in range(2, max_turns + 1):
        counts: dict[str, dict[str, int]] = {}
        for record in records:
            turns = record["turns"]
            if len(turns) < to_turn:
                continue
            entry = counts.setdefault(
                turn_verdict(turns[to_turn - 2]), {"followed": 0, "passed_public": 0, "solved": 0}
            )
            entry["followed"] += 1
            entry["passed_public"] += bool(turns[to_turn - 1].get("public_passed"))
            entry["solved"] += len(turns) == to_turn and record.get("solved") is True
        ordered = {v: counts[v] for v in VERDICTS if v in counts}
        rows.append({"from_turn": to_turn - 1, "to_turn": to_turn, "by_verdict": ordered})
    return rows


@cache
def _chrf() -> Any | None:
    try:
        from sacrebleu.metrics import CHRF
    except ImportError:
        logger.warning("no chrF between successive programs: %s", SACREBLEU_HINT)
        return None
    metric = CHRF()
    metric.sentence_score("", [""])  # sacrebleu gives a signature only once the reference count is known
    return metric


def chrf(hypothesis: str, reference: str) -> float | None:
    """sacrebleu's sentence chrF (0-100) of `hypothesis` against `reference`; None without sacrebleu."""
    metric = _chrf()
    return None if metric is None else float(metric.sentence_score(hypothesis, [reference]).score)


def chrf_signature() -> str | None:
    """sacrebleu's signature of the chrF settings used (version included); None without sacrebleu."""
    metric = _chrf()
    return None if metric is None else str(metric.get_signature())


def _changes(pairs: Sequence[tuple[str | None, str | None]], scored: dict[tuple[str, str], float | None]) -> dict:
    changed = sum((previous or "").strip() != (current or "").strip() for previous, current in pairs)
    scores = []
    for previous, current in pairs:
        if previous is not None and current is not None:
            if (current, previous) not in scored:  # repeated pairs (an unchanged program, a replay) cost once
                scored[current, previous] = chrf(current, previous)
            scores.append(scored[current, previous])
    known = [s for s in scores if s is not None]
    return {
        "responses": len(pairs),
        "changed": changed,
        "changed_fraction": changed / len(pairs) if pairs else None,
        "chrf_pairs": len(known),
        "chrf_mean": statistics.fmean(known) if known else None,
        "chrf_median": statistics.median(known) if known else None,
    }


def program_changes(records: Sequence[Mapping[str, Any]], max_turns: int) -> dict[str, Any]:
    """How turn t's program (t >= 2) relates to turn t-1's: per turn and over all such turns, the responses,
    how many changed the program (text compared without leading/trailing whitespace; a program where there
    was none counts as a change, no program twice as none), and chrF over the pairs where both have one."""
    by_turn: dict[int, list[tuple[str | None, str | None]]] = {t: [] for t in range(2, max_turns + 1)}
    for record in records:
        turns = record["turns"][:max_turns]
        for index in range(1, len(turns)):
            by_turn[index + 1].append((turns[index - 1].get("code"), turns[index].get("code")))
    every = [pair for pairs in by_turn.values() for pair in pairs]
    scored: dict[tuple[str, str], float | None] = {}
    return {
        "by_turn": [{"turn": turn} | _changes(pairs, scored) for turn, pairs in by_turn.items()],
        "all": _changes(every, scored),
        "chrf_signature": chrf_signature() if every else None,
    }


def analyze(records: Sequence[Mapping[str, Any]], max_turns: int) -> dict[str, Any]:
    """All analyses of a run's episode records, as plain data (the `analyses` entry of `results.json`)."""
    return {
        "verdicts_by_turn": verdicts_by_turn(records, max_turns),
        "fixes_by_verdict": fixes_by_verdict(records, max_turns),
        "program_changes": program_changes(records, max_turns),
    }


_SHORT = {
    "passed_public": "passed",
    "wrong_answer": "wrong",
    "runtime_error": "runtime",
    "time_limit": "time",
    "memory_limit": "memory",
    "output_limit": "output",
    "syntax_error": "syntax",
    "no_code": "no code",
    "judge_error": "judge err",
    "other": "other",
}


def format_analyses(analyses: Mapping[str, Any]) -> str:
    """The analyses as plain text for the printed summary (verdict shares, fixes, program changes)."""
    rows = analyses.get("verdicts_by_turn") or []
    shown = [v for v in VERDICTS if any(row["counts"].get(v) for row in rows)]
    lines = ["verdicts on the public tests (share of each turn's responses):"]
    lines.append(f"{'turn':>6}  {'responses':>9}  " + "  ".join(f"{_SHORT[v]:>9}" for v in shown))
    for row in rows:
        n = row["responses"]
        cells = "  ".join(f"{row['counts'][v] / n if n else 0.0:>9.2f}" for v in shown)
        lines.append(f"{row['turn']:>6}  {n:>9}  {cells}")
    for row in analyses.get("fixes_by_verdict") or []:
        parts = [
            f"{_SHORT.get(v, v)} {c['passed_public']}/{c['followed']} ({c['solved']} solved)"
            for v, c in row["by_verdict"].items()
        ]
        if parts:
            lines.append(f"turn {row['from_turn']} -> {row['to_turn']}, passed the public tests: " + ", ".join(parts))
    changes = analyses.get("program_changes") or {}
    for row in changes.get("by_turn") or []:
        if not row["responses"]:
            continue
        chrf_text = f", chrF to the previous program {row['chrf_mean']:.1f}" if row["chrf_mean"] is not None else ""
        lines.append(
            f"turn {row['turn']}: {row['changed']}/{row['responses']} programs changed ({row['changed_fraction']:.2f})"
            + chrf_text
            + (f" over {row['chrf_pairs']} pairs" if row["chrf_mean"] is not None else "")
        )
    return "\n".join(lines)
