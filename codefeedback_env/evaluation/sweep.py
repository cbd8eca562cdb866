"""Solve rate against the turn limit, with execution feedback against the paper's ablations, as one run.

For every feedback mode and turn limit `T`, a multi-turn evaluation with `max_turns=T` runs in
`<output_dir>/<feedback>/turns_<T>/` (and, when asked, the independent-sampling baseline in
`<output_dir>/independent/turns_<T>/`, with execution feedback's early stop). Each is an ordinary, resumable
run folder (`codefeedback_env.evaluation.runner`). `sweep.json` holds one row per (setting, limit): the
fraction of episodes solved within the limit, averaged over problems, with its bootstrap 95% interval over
problems; `sweep.png` plots it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from codefeedback_env.evaluation.runner import EvalConfig, RunResult, check_run_folder, run_evaluation
from codefeedback_env.judge import Judge
from codefeedback_env.problems import Problem

logger = logging.getLogger(__name__)

SWEEP_FILE = "sweep.json"
FEEDBACK_MODES = ("execution", "random", "none")
INDEPENDENT = "independent"


def _settings(
    config: EvalConfig, turn_limits: Sequence[int], feedbacks: Sequence[str], independent: bool
) -> list[tuple[str, int, EvalConfig]]:
    if not turn_limits:
        raise ValueError("turn_limits is empty; give at least one turn limit (e.g. 1, 3, 5)")
    if any(t < 1 for t in turn_limits):
        raise ValueError(f"turn limits must be at least 1, got {list(turn_limits)}")
    unknown = [f for f in feedbacks if f not in FEEDBACK_MODES]
    if unknown:
        raise ValueError(f"unknown feedback mode {unknown[0]!r}; choose from {', '.join(FEEDBACK_MODES)}")
    if not feedbacks and not independent:
        raise ValueError("nothing to sweep: give a feedback mode or ask for the independent baseline")
    limits = sorted(dict.fromkeys(turn_limits))
    settings = [
        (feedback, t, replace(config, max_turns=t, feedback=feedback, independent=False))
        for feedback in dict.fromkeys(feedbacks)
        for t in limits
    ]
    if independent:
        settings += [
            (INDEPENDENT, t, replace(config, max_turns=t, feedback="execution", independent=True)) for t in limits
        ]
    return settings


_LABELS = {"execution": "execution feedback", "random": "random feedback", "none": "no feedback"}


def _label(setting: str) -> str:
    return "independent sampling" if setting == INDEPENDENT else _LABELS[setting]


def _folders(output_dir: Path, settings: Sequence[tuple[str, int, EvalConfig]]) -> dict[tuple[str, int], Path]:
    return {(setting, t): output_dir / setting / f"turns_{t}" for setting, t, _ in settings}


def check_sweep_folders(
    output_dir: str | Path,
    agent: Any | None,
    problems: Sequence[Problem],
    config: EvalConfig,
    *,
    turn_limits: Sequence[int],
    feedbacks: Sequence[str],
    independent: bool,
    identity: Mapping[str, Any] | None = None,
) -> None:
    """Raise `RunIdentityError` if a folder of the sweep holds a run of another setup, ValueError for a bad
    sweep; with `agent` None only `identity` and `config` are compared (a check before an agent is loaded)."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"output folder {str(output_dir)!r} is a file; give a folder (it is created if absent)")
    settings = _settings(config, turn_limits, feedbacks, independent)
    folders = _folders(output_dir, settings)
    for setting, t, setting_config in settings:
        check_run_folder(folders[setting, t], agent, problems, setting_config, identity)


def run_sweep(
    agent: Any,
    problems: Sequence[Problem],
    output_dir: str | Path,
    config: EvalConfig | None = None,
    *,
    turn_limits: Sequence[int] = (1, 3, 5),
    feedbacks: Sequence[str] = FEEDBACK_MODES,
    independent: bool = False,
    judge: Judge | None = None,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every (feedback mode, turn limit) of the sweep with `agent` (see the module docstring); returns and
    writes the sweep's summary (`rows`, `plots`). Every folder's identity is checked before any run starts."""
    config = config or EvalConfig()
    output_dir = Path(output_dir)
    options = {"turn_limits": turn_limits, "feedbacks": feedbacks, "independent": independent}
    check_sweep_folders(output_dir, agent, problems, config, identity=identity, **options)
    settings = _settings(config, turn_limits, feedbacks, independent)
    folders = _folders(output_dir, settings)
    runs: dict[tuple[str, int], RunResult] = {}
    for setting, t, setting_config in settings:
        logger.info("sweep: %s, turn limit %d", _label(setting), t)
        runs[setting, t] = run_evaluation(
            agent, problems, folders[setting, t], setting_config, judge=judge, identity=identity
        )
    rows = []
    for (setting, t), run in runs.items():
        by_turn = run.summary.get("solve_rate_by_turn") or []
        rows.append(
            {
                "setting": _label(setting),
                "feedback": "execution" if setting == INDEPENDENT else setting,
                "independent": setting == INDEPENDENT,
                "turns": t,
                "solve_rate": {k: by_turn[-1][k] for k in ("value", "low", "high")} if by_turn else None,
                "problems": run.summary.get("problems", 0),
                "episodes": run.summary.get("episodes", 0),
                "folder": str(folders[setting, t].relative_to(output_dir)),
            }
        )
    first = next(iter(runs.values())).summary
    sweep: dict[str, Any] = {
        "turn_limits": sorted(dict.fromkeys(turn_limits)),
        "settings": list(dict.fromkeys(row["setting"] for row in rows)),
        "rows": rows,
        "run": {k: v for k, v in (first.get("run") or {}).items() if k not in ("max_turns", "feedback", "independent")},
    }
    from codefeedback_env.evaluation.plots import SWEEP, caption, plot_sweep

    varying = {  # describe_run then says "1/3/5 turns, feedback execution/random"
        "max_turns": "/".join(map(str, sweep["turn_limits"])),
        "feedback": "/".join(dict.fromkeys(row["feedback"] for row in rows)),
    }
    text = caption(first | {"run": (first.get("run") or {}) | varying})
    plot_sweep([row for row in rows if row["solve_rate"]], output_dir / SWEEP, caption_text=text)
    sweep["plots"] = [SWEEP]
    (output_dir / SWEEP_FILE).write_text(json.dumps(sweep, indent=2) + "\n")
    return sweep


def format_sweep(sweep: Mapping[str, Any]) -> str:
    """A plain-text table of a sweep: solve rate within each turn limit, per setting."""
    limits = sweep["turn_limits"]
    lines = ["solved within the turn limit (95% interval over problems):"]
    lines.append(f"{'setting':>22}  " + "  ".join(f"{f'T={t}':>21}" for t in limits))
    for setting in sweep["settings"]:
        cells = []
        for t in limits:
            row = next((r for r in sweep["rows"] if r["setting"] == setting and r["turns"] == t), None)
            rate = row and row["solve_rate"]
            cells.append(f"{rate['value']:.3f} [{rate['low']:.3f}, {rate['high']:.3f}]" if rate else f"{'-':>21}")
        lines.append(f"{setting:>22}  " + "  ".join(f"{c:>21}" for c in cells))
    if sweep.get("plots"):
        lines.append("plots: " + ", ".join(sweep["plots"]))
    return "\n".join(lines)
