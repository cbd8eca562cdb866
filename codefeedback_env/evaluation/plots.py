"""PNG plots of evaluation summaries (matplotlib, Agg backend: no display needed; imported when first used).

Every figure has a title, labelled axes and a caption naming what produced the run (agent, model, dataset,
sampling, turns, feedback, problems and episodes). `write_run_plots` and `write_comparison_plots` write a
run folder's figures and return their file names, which the runner lists under `plots` in `results.json`.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_LABELS = {"multi_turn": "multi-turn (execution feedback)", "independent": "independent sampling"}
_VERDICT_COLORS = {
    "passed_public": "#2ca02c",
    "wrong_answer": "#d62728",
    "runtime_error": "#ff7f0e",
    "time_limit": "#9467bd",
    "memory_limit": "#8c564b",
    "output_limit": "#e377c2",
    "syntax_error": "#bcbd22",
    "no_code": "#7f7f7f",
    "judge_error": "#17becf",
    "other": "#000000",
}
SOLVE_RATE_BY_TURN = "solve_rate_by_turn.png"
SOLVE_RATE_BY_SAMPLES = "solve_rate_by_samples.png"
VERDICT_MIX = "verdict_mix.png"
FIXES_AND_CHANGES = "fixes_and_changes.png"
SWEEP = "sweep.png"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(mode: str, summary: Mapping[str, Any]) -> str:
    """A line's legend: the mode, and the feedback when it is not execution feedback."""
    feedback = (summary.get("run") or {}).get("feedback") or (summary.get("config") or {}).get("feedback")
    if mode == "multi_turn" and feedback and feedback != "execution":
        return f"multi-turn ({feedback} feedback)"
    return _LABELS.get(mode, mode)


def caption(summary: Mapping[str, Any], *, intervals: bool = True) -> str:
    """What produced a run, in one paragraph: its recorded identity and its size (and, with `intervals`,
    what the figure's bands are)."""
    from codefeedback_env.evaluation.runner import describe_run

    run = summary.get("run") or {}
    size = (
        f"{summary.get('problems', 0)} problems x {summary.get('rollouts_per_problem', '?')} rollouts "
        f"({summary.get('episodes', 0)} episodes)"
    )
    unit = (summary.get("bootstrap") or {}).get("unit", "problems")
    bands = f"; bands: 95% bootstrap intervals, {unit} resampled" if intervals else ""
    return (describe_run(run) + "; " if run else "") + size + bands


def plot_solve_rate_by_turn(
    summaries: Mapping[str, Mapping[str, Any]], path: str | Path, *, caption_text: str | None = None
) -> Path:
    """Cumulative solve rate versus turn, one line (with its 95% band) per summary."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    for mode, summary in summaries.items():
        rows = summary.get("solve_rate_by_turn", [])
        if not rows:
            continue
        turns = [r["turn"] for r in rows]
        _line_with_band(axes, turns, rows, _label(mode, summary), alpha=0.2)
        axes.set_xticks(turns)
    _rate_axes(axes, "Solve rate by turn", "turn", "solved within the turn (hidden tests)")
    return _save(figure, plt, path, caption_text)


def plot_solve_rate_by_samples(
    summaries: Mapping[str, Mapping[str, Any]], path: str | Path, *, caption_text: str | None = None
) -> Path:
    """Solve rate versus samples (every turn is a sample), e.g. multi-turn versus independent sampling."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    for mode, summary in summaries.items():
        points = summary.get("samples_curve", [])
        if points:
            axes.plot(
                [p["samples"] for p in points],
                [p["solve_rate"] for p in points],
                marker="o",
                label=_label(mode, summary),
            )
    _rate_axes(axes, "Solve rate by samples drawn", "samples (turns)", "solve rate (hidden tests)")
    return _save(figure, plt, path, caption_text)


def plot_verdict_mix(
    summaries: Mapping[str, Mapping[str, Any]], path: str | Path, *, caption_text: str | None = None
) -> Path:
    """Stacked bars of each turn's responses by verdict on the public tests, one panel per summary."""
    from codefeedback_env.evaluation.analyses import VERDICTS

    plt = _pyplot()
    panels = {m: s for m, s in summaries.items() if (s.get("analyses") or {}).get("verdicts_by_turn")}
    figure, axes_list = plt.subplots(1, max(len(panels), 1), figsize=(5 * max(len(panels), 1) + 1.5, 4), squeeze=False)
    shown = [
        v
        for v in VERDICTS
        if any(row["counts"].get(v) for s in panels.values() for row in s["analyses"]["verdicts_by_turn"])
    ]
    for axes, (mode, summary) in zip(axes_list[0], panels.items(), strict=False):
        rows = summary["analyses"]["verdicts_by_turn"]
        turns = [row["turn"] for row in rows]
        bottom = [0.0] * len(rows)
        for verdict in shown:
            shares = [row["counts"].get(verdict, 0) / row["responses"] if row["responses"] else 0.0 for row in rows]
            axes.bar(turns, shares, bottom=bottom, color=_VERDICT_COLORS[verdict], label=verdict.replace("_", " "))
            bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
        for turn, row in zip(turns, rows, strict=True):
            axes.annotate(f"n={row['responses']}", (turn, 1.0), ha="center", va="bottom", fontsize=7)
        axes.set_xticks(turns)
        axes.set_ylim(0, 1.08)
        axes.set_title(_label(mode, summary), fontsize=9)
        axes.set_xlabel("turn")
        axes.set_ylabel("share of the turn's responses")
    figure.suptitle("Verdicts on the public tests by turn")
    if shown:
        handles, labels = axes_list[0][0].get_legend_handles_labels()
        axes_list[0][-1].legend(handles[::-1], labels[::-1], fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(figure, plt, path, caption_text)


def plot_fixes_and_changes(
    summaries: Mapping[str, Mapping[str, Any]], path: str | Path, *, caption_text: str | None = None
) -> Path:
    """Per summary (one row of panels each): the share of each verdict that passed the public tests at the
    next turn, per turn pair; and per turn, the share of programs changed and their mean chrF to the last."""
    plt = _pyplot()
    panels = {m: s for m, s in summaries.items() if (s.get("analyses") or {}).get("fixes_by_verdict")}
    rows = max(len(panels), 1)
    figure, grid = plt.subplots(rows, 2, figsize=(11, 3.6 * rows), squeeze=False)
    for (left, right), (mode, summary) in zip(grid, panels.items(), strict=False):
        fixes = summary["analyses"]["fixes_by_verdict"]
        verdicts = list(dict.fromkeys(v for pair in fixes for v in pair["by_verdict"]))
        width = 0.8 / len(fixes)
        for offset, pair in enumerate(fixes):
            xs = [i + (offset - (len(fixes) - 1) / 2) * width for i in range(len(verdicts))]
            counts = [pair["by_verdict"].get(v, {"followed": 0, "passed_public": 0}) for v in verdicts]
            shares = [c["passed_public"] / c["followed"] if c["followed"] else 0.0 for c in counts]
            left.bar(xs, shares, width, label=f"turn {pair['from_turn']} -> {pair['to_turn']}")
            for x, share, c in zip(xs, shares, counts, strict=True):
                if c["followed"]:
                    left.annotate(
                        f"{c['passed_public']}/{c['followed']}", (x, share), ha="center", va="bottom", fontsize=6
                    )
        left.set_xticks(range(len(verdicts)), [v.replace("_", " ") for v in verdicts], rotation=20, fontsize=7)
        left.set_ylim(0, 1.1)
        left.set_ylabel("passed the public tests next turn")
        left.set_title(f"{_label(mode, summary)}: fixed at the next turn, by verdict", fontsize=9)
        if fixes:
            left.legend(fontsize=7)
        changes = [r for r in summary["analyses"]["program_changes"]["by_turn"] if r["responses"]]
        turns = [r["turn"] for r in changes]
        right.bar([t - 0.2 for t in turns], [r["changed_fraction"] for r in changes], 0.4, label="program changed")
        right.bar(
            [t + 0.2 for t in turns],
            [(r["chrf_mean"] or 0.0) / 100 for r in changes],
            0.4,
            label="mean chrF to the previous program / 100",
        )
        right.set_xticks(turns)
        right.set_ylim(0, 1.1)
        right.set_xlabel("turn")
        right.set_ylabel("share / similarity")
        right.set_title(f"{_label(mode, summary)}: each program against the previous turn's", fontsize=9)
        right.legend(fontsize=7)
    figure.suptitle("Which verdicts get fixed, and how much programs change")
    return _save(figure, plt, path, caption_text)


def plot_sweep(rows: Sequence[Mapping[str, Any]], path: str | Path, *, caption_text: str | None = None) -> Path:
    """Solve rate against the turn limit, one line (with its 95% band) per setting of a sweep's `rows`
    (`{"setting", "turns", "solve_rate": {"value", "low", "high"}}`)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    settings: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        settings.setdefault(row["setting"], []).append(row)
    for setting, points in settings.items():
        points = sorted(points, key=lambda r: r["turns"])
        _line_with_band(axes, [p["turns"] for p in points], [p["solve_rate"] for p in points], setting, alpha=0.15)
    axes.set_xticks(sorted({row["turns"] for row in rows}))
    _rate_axes(axes, "Solve rate against the turn limit", "turn limit", "solved within the limit (hidden tests)")
    return _save(figure, plt, path, caption_text)


def write_run_plots(summary: Mapping[str, Any], output_dir: str | Path) -> list[str]:
    """A run folder's figures (solve rate by turn, verdict mix); returns their file names."""
    mode = str((summary.get("config") or {}).get("mode") or "run")
    plot_solve_rate_by_turn({mode: summary}, Path(output_dir) / SOLVE_RATE_BY_TURN, caption_text=caption(summary))
    plain = caption(summary, intervals=False)
    plot_verdict_mix({mode: summary}, Path(output_dir) / VERDICT_MIX, caption_text=plain)
    names = [SOLVE_RATE_BY_TURN, VERDICT_MIX]
    if int(summary.get("max_turns") or 1) > 1:  # a 1-turn run has no next turn to fix or change
        plot_fixes_and_changes({mode: summary}, Path(output_dir) / FIXES_AND_CHANGES, caption_text=plain)
        names.append(FIXES_AND_CHANGES)
    return names


def write_comparison_plots(summaries: Mapping[str, Mapping[str, Any]], output_dir: str | Path) -> list[str]:
    """The figures comparing modes of one evaluation (solve rate by turn and by samples, verdict mix) in
    `output_dir`; returns their file names. The caption is the first summary's (modes share their setup)."""
    first = next(iter(summaries.values()), {})
    text, plain = caption(first), caption(first, intervals=False)
    plot_solve_rate_by_turn(summaries, Path(output_dir) / SOLVE_RATE_BY_TURN, caption_text=text)
    plot_solve_rate_by_samples(summaries, Path(output_dir) / SOLVE_RATE_BY_SAMPLES, caption_text=plain)
    plot_verdict_mix(summaries, Path(output_dir) / VERDICT_MIX, caption_text=plain)
    names = [SOLVE_RATE_BY_TURN, SOLVE_RATE_BY_SAMPLES, VERDICT_MIX]
    if int(first.get("max_turns") or 1) > 1:
        plot_fixes_and_changes(summaries, Path(output_dir) / FIXES_AND_CHANGES, caption_text=plain)
        names.append(FIXES_AND_CHANGES)
    return names


def _line_with_band(
    axes: Any, xs: Sequence[float], estimates: Sequence[Mapping[str, float]], label: str, *, alpha: float
) -> None:
    """A line of `estimates`' values with their 95% interval (`low`..`high`) as a band."""
    axes.plot(xs, [e["value"] for e in estimates], marker="o", label=label)
    axes.fill_between(xs, [e["low"] for e in estimates], [e["high"] for e in estimates], alpha=alpha)


def _rate_axes(axes: Any, title: str, xlabel: str, ylabel: str) -> None:
    """Title, labels, a 0..1 y axis, grid and legend of a solve-rate line plot."""
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_ylim(-0.02, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)


def _save(figure: Any, plt: Any, path: str | Path, caption_text: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bottom = 0.0
    if caption_text:
        width = max(int(figure.get_figwidth() * 14), 40)  # characters per line at 7 pt
        lines = textwrap.wrap(caption_text, width)
        figure.text(0.01, 0.01, "\n".join(lines), fontsize=7, ha="left", va="bottom", color="#333333")
        bottom = min(0.05 + 0.11 * len(lines) / figure.get_figheight(), 0.4)
    figure.tight_layout(rect=(0, bottom, 1, 1))
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    logger.info("wrote %s", path)
    return path
