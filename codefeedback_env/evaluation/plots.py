"""PNG plots of evaluation summaries (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_LABELS = {"multi_turn": "multi-turn (execution feedback)", "independent": "independent sampling"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_solve_rate_by_turn(summaries: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Cumulative solve rate versus turn, one line (with its 95% band) per summary."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 3.5))
    for mode, summary in summaries.items():
        rows = summary.get("solve_rate_by_turn", [])
        if not rows:
            continue
        turns = [r["turn"] for r in rows]
        axes.plot(turns, [r["value"] for r in rows], marker="o", label=_LABELS.get(mode, mode))
        axes.fill_between(turns, [r["low"] for r in rows], [r["high"] for r in rows], alpha=0.2)
        axes.set_xticks(turns)
    axes.set_xlabel("turn")
    axes.set_ylabel("solve rate (hidden tests)")
    axes.set_ylim(-0.02, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, plt, path)


def plot_solve_rate_by_samples(summaries: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Solve rate versus samples (every turn is a sample), e.g. multi-turn versus independent sampling."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 3.5))
    for mode, summary in summaries.items():
        points = summary.get("samples_curve", [])
        if points:
            axes.plot(
                [p["samples"] for p in points],
                [p["solve_rate"] for p in points],
                marker="o",
                label=_LABELS.get(mode, mode),
            )
    axes.set_xlabel("samples (turns)")
    axes.set_ylabel("solve rate (hidden tests)")
    axes.set_ylim(-0.02, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, plt, path)


def _save(figure: Any, plt: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    logger.info("wrote %s", path)
    return path
