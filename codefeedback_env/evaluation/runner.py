"""Run N rollouts per problem with any agent, batching every active episode into one `act` call per turn.

Episodes are played by `codefeedback_env.driver.EpisodeDriver` in its pipelined mode: each turn, the
environments of all active episodes are stepped in threads and their tests queue on one shared judge (as many
workers as cores); an episode's last step is judged while the agent answers the next batch, and finished
episodes are refilled from the queue, so the batch stays full while problems end at different turns.

Every finished episode is appended (and flushed) to `<output_dir>/episodes.jsonl` as one JSON line:

    {"problem_id": str, "rollout": int (from 0), "mode": "multi_turn" | "independent", "seed": int,
     "max_turns": int, "feedback": "execution" | "none" | "random",
     "turns": [{"turn": int (from 1), "messages": [...the transcript the agent answered...],
                "response": str, "code": str | null, "valid_response": bool, "public_passed": bool,
                "public_results": [{"index", "verdict", "time"}], "feedback": str, "reward": float}],
     "hidden": {"passed", "failed", "skipped", "total", "all_passed"}, "solved": bool,
     "num_turns": int, "return": float, "elapsed": float, "problem_sha256": str}

A turn also has `"generated_tokens": int` and `"stop_reason": str` when the agent reports them: after each
`act` call the runner reads the agent's optional `last_generation` attribute (one mapping per response with
those keys; an `IndependentSampling` wrapper's inner agent is read too).

An episode the judge could not judge (the environment truncated it with `info["judge_error"]`: a worker lost
twice) is run again from its first turn, up to `EvalConfig.judge_error_retries` times. If it still cannot be
judged, its record has `"judge_error": str`, `"hidden": {}` and `"solved": null`; it is left out of every
metric, and `results.json` counts it under `"unjudged_episodes"` and lists it under `"unjudged"`.

Re-running with the same output folder skips finished (problem_id, rollout) pairs; an interrupted or unjudged
episode is run again. The folder's `config.json` records what produced the run (agent, model, sampling, turns,
feedback, seed, problems' content hash, package version, git commit); resuming with another setup is refused
(see `codefeedback_env.evaluation.identity`). `results.json` (metrics, the run's identity, wall time, generation
totals, per-problem and per-difficulty tables, the analyses of `codefeedback_env.evaluation.analyses`) and the
plots of `codefeedback_env.evaluation.plots` (listed under `plots`) are written at the end.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codefeedback_env.agent import IndependentSampling
from codefeedback_env.driver import Episode, EpisodeDriver
from codefeedback_env.envs.code_feedback_env import EVALUATION_FINAL_TESTS, CodeFeedbackEnv, checked_final_tests
from codefeedback_env.evaluation.analyses import analyze, format_analyses
from codefeedback_env.evaluation.identity import (
    RunIdentityError,
    agent_identity,
    check_identity,
    git_commit,
    problem_sha256,
    problems_sha256,
    setting_value,
)
from codefeedback_env.evaluation.metrics import RolloutOutcome, summarize
from codefeedback_env.evaluation.progress import RunProgress
from codefeedback_env.evaluation.tables import generation_totals, per_difficulty, per_problem
from codefeedback_env.judge import Judge
from codefeedback_env.problems import Problem
from codefeedback_env.rewards import RewardConfig

logger = logging.getLogger(__name__)

EPISODES_FILE = "episodes.jsonl"
RESULTS_FILE = "results.json"
CONFIG_FILE = "config.json"


@dataclass
class EvalConfig:
    """Settings of one evaluation run."""

    rollouts: int = 4
    """Episodes per problem (the paper estimates from 200)."""
    max_turns: int = 3
    """Turns per episode."""
    feedback: str = "execution"
    """Environment feedback mode: "execution", "none" or "random" (the random-feedback ablation)."""
    independent: bool = False
    """Wrap the agent in `IndependentSampling` (every turn is a fresh turn-1 sample)."""
    seed: int = 0
    """Base seed of the environments and the bootstrap."""
    bootstrap: str = "problems"
    """What the bootstrap intervals resample: "problems", or "rollouts" within each problem (the paper's)."""
    max_active: int = 64
    """Episodes in flight at once: the batch size of each `act` call."""
    progress: bool = True
    """Show a tqdm progress bar."""
    n_at_k: list[tuple[int, int]] | None = None
    """(n, k) pairs to report; default: 1@T and larger ones the rollouts allow."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra `CodeFeedbackEnv` keyword arguments (e.g. `feedback_max_chars`)."""
    judge_error_retries: int = 2
    """Times an episode the judge could not judge is run again (from its first turn) before it is recorded
    as unjudged."""

    def __post_init__(self) -> None:
        if self.rollouts < 1:
            raise ValueError(f"rollouts must be at least 1, got {self.rollouts}")
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")
        if self.max_active < 1:
            raise ValueError(f"max_active must be at least 1, got {self.max_active}")
        if self.judge_error_retries < 0:
            raise ValueError(f"judge_error_retries must be at least 0, got {self.judge_error_retries}")

    @property
    def mode(self) -> str:
        """ "independent" or "multi_turn" (derived)."""
        return "independent" if self.independent else "multi_turn"


@dataclass
class RunResult:
    """What a run produced."""

    output_dir: Path
    records: list[dict[str, Any]]
    """Episode records of this run's problems and rollouts (resumed ones included, unjudged ones too)."""
    summary: dict[str, Any]
    """The metrics written to `results.json`."""
    new_episodes: int
    """Episodes run by this call (the rest were read back from a previous call)."""

    @property
    def outcomes(self) -> list[RolloutOutcome]:
        """Outcomes of the judged episodes."""
        return [RolloutOutcome.from_record(r) for r in self.records if not r.get("judge_error")]

    @property
    def unjudged(self) -> list[dict[str, Any]]:
        """Records of the episodes the judge could not judge, even after retries."""
        return [r for r in self.records if r.get("judge_error")]


def read_episodes(path: str | Path) -> list[dict[str, Any]]:
    """Episode records of an `episodes.jsonl`; a torn last line (interrupted write) is dropped from the file."""
    path = Path(path)
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    good_bytes = 0
    with open(path, "rb") as stream:
        for raw in stream:
            try:
                record = json.loads(raw)
                if not raw.endswith(b"\n"):
                    raise ValueError("unterminated line")
            except ValueError:
                logger.warning("%s: dropping an unreadable line after %d episodes", path, len(records))
                break
            records.append(record)
            good_bytes += len(raw)
    if good_bytes < path.stat().st_size:
        with open(path, "r+b") as stream:
            stream.truncate(good_bytes)
    return records


@dataclass
class _Run:
    """The runner's data on one episode in play (the driver's `Episode.data`)."""

    problem: Problem
    index: int
    rollout: int
    attempt: int = 0
    """Earlier runs of this episode that ended in a judge error."""
    turns: list[dict[str, Any]] = field(default_factory=list)
    report: Mapping[str, Any] = field(default_factory=dict)
    """What the agent reported about its latest response (generated tokens, stop reason)."""
    messages: list[dict[str, str]] = field(default_factory=list)
    """The transcript the agent answered in its latest response."""


def _read_config(output_dir: Path) -> dict[str, Any] | None:
    path = output_dir / CONFIG_FILE
    if not path.exists():
        return None
    try:
        recorded = json.loads(path.read_text())
    except ValueError as error:
        raise RunIdentityError(f"{path} is not valid JSON ({error}); use another output folder") from error
    return recorded if isinstance(recorded, dict) else None


def _wanted_identity(agent: Any, config: EvalConfig, identity: Mapping[str, Any] | None) -> dict[str, Any]:
    return (
        (agent_identity(agent) if agent is not None else {})
        | dict(identity or {})
        | {"max_turns": config.max_turns, "feedback": config.feedback, "independent": config.independent}
        | {"final_tests": _final_tests(config), "seed": config.seed, "env": _env_settings(config)}
    )


_NOT_ENV_SETTINGS = frozenset(
    {"dataset", "dataset_options", "max_turns", "feedback", "final_tests", "judge", "render_mode"}
)
"""`CodeFeedbackEnv` arguments that are not recorded under "env": the run's problems and judge, and the settings
the identity records on their own."""


def _env_settings(config: EvalConfig) -> dict[str, Any]:
    """Every other environment argument, as the episodes get it (`env_kwargs`, else the environment's default):
    what the agent sees (feedback length, templates, response limit) and how episodes are scored."""
    parameters = inspect.signature(CodeFeedbackEnv.__init__).parameters
    settings = {
        name: config.env_kwargs.get(name, parameter.default)
        for name, parameter in parameters.items()
        if name not in _NOT_ENV_SETTINGS and parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    settings["rewards"] = settings.get("rewards") or RewardConfig()
    return {name: setting_value(value) for name, value in settings.items()}


def _final_tests(config: EvalConfig) -> list[str]:
    """The test sets that decide the run's episodes (`env_kwargs["final_tests"]`, else the env's default)."""
    return list(checked_final_tests(config.env_kwargs.get("final_tests", EVALUATION_FINAL_TESTS)))


def check_run_folder(
    output_dir: str | Path,
    agent: Any | None,
    problems: Sequence[Problem],
    config: EvalConfig,
    identity: Mapping[str, Any] | None = None,
) -> None:
    """Raise `RunIdentityError` if `output_dir` holds a run of another setup (see `run_evaluation`).

    With `agent` None only `identity` and `config` are compared: a check before an agent is loaded."""
    output_dir = Path(output_dir)
    digests = {p.id: problem_sha256(p) for p in problems}
    finished = read_episodes(output_dir / EPISODES_FILE)
    check_identity(output_dir, _read_config(output_dir), _wanted_identity(agent, config, identity), finished, digests)


def _record_identity(
    output_dir: Path,
    wanted: dict[str, Any],
    config: EvalConfig,
    digests: Mapping[str, str],
    finished: int,
    recorded: Mapping[str, Any],
) -> dict[str, Any]:
    """Write the run's `config.json` (`recorded` is the one the folder held, or empty)."""
    from codefeedback_env import __version__

    payload = wanted | {
        "rollouts": config.rollouts,
        "problems": len(digests),
        "problems_sha256": problems_sha256(digests.values()),
        "codefeedback_version": __version__,
        "git_commit": git_commit(),
    }
    if "episodes_before_identity" in recorded:
        payload["episodes_before_identity"] = recorded["episodes_before_identity"]
    elif finished and "agent_class" not in recorded:  # a folder written before identities were recorded
        payload["episodes_before_identity"] = finished
    (output_dir / CONFIG_FILE).write_text(json.dumps(payload, indent=2) + "\n")
    return payload


def _episode_seed(seed: int, problem_index: int, rollout: int) -> int:
    return (seed * 1_000_003 + problem_index * 10_007 + rollout) % (2**31)


def run_evaluation(
    agent: Any,
    problems: Sequence[Problem],
    output_dir: str | Path,
    config: EvalConfig | None = None,
    *,
    judge: Judge | None = None,
    identity: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run `config.rollouts` episodes of every problem with `agent`, resuming from `output_dir`.

    `agent` follows `codefeedback_env.agent.Agent`; its `reset()` (if any) is called once at the start. The info
    dicts it receives carry an extra `"rollout"` key (the episode's rollout index). `identity` adds what
    the agent object cannot tell (e.g. `{"agent": "openai", "model": ..., "dataset": ...}`) to the run's
    recorded identity; resuming a folder whose identity differs raises `RunIdentityError`.
    """
    started = time.monotonic()
    config = config or EvalConfig()
    problems = list(problems)
    if not problems:
        raise ValueError("no problems to evaluate")
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"output folder {str(output_dir)!r} is a file; give a folder (it is created if absent)")
    wanted = _wanted_identity(agent, config, identity)
    if config.independent:
        agent = IndependentSampling(agent)
    output_dir.mkdir(parents=True, exist_ok=True)
    episodes_path = output_dir / EPISODES_FILE
    digests = {p.id: problem_sha256(p) for p in problems}
    previous = read_episodes(episodes_path)
    recorded = _read_config(output_dir)
    check_identity(output_dir, recorded, wanted, previous, digests)
    run_identity = _record_identity(output_dir, wanted, config, digests, len(previous), recorded or {})
    done = {(r["problem_id"], r["rollout"]) for r in previous if not r.get("judge_error")}
    pending = [
        (index, problem, rollout, 0)
        for rollout in range(config.rollouts)
        for index, problem in enumerate(problems)
        if (problem.id, rollout) not in done
    ]
    logger.info("%s: %d episodes to run, %d already finished", output_dir, len(pending), len(done))
    written = _run_pending(agent, problems, pending, episodes_path, config, judge, digests) if pending else []

    ids = {p.id for p in problems}
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for record in previous + written:  # the file's records, in order: a later record of an episode wins
        if record["problem_id"] in ids and record["rollout"] < config.rollouts:
            latest[(record["problem_id"], record["rollout"])] = record
    records = list(latest.values())
    unjudged = [r for r in records if r.get("judge_error")]
    outcomes = [RolloutOutcome.from_record(r) for r in records if not r.get("judge_error")]
    summary = summarize(outcomes, config.max_turns, n_at_k=config.n_at_k, seed=config.seed, bootstrap=config.bootstrap)
    summary["unjudged_episodes"] = len(unjudged)
    summary["unjudged"] = [{k: r[k] for k in ("problem_id", "rollout", "judge_error")} for r in unjudged]
    if unjudged:
        logger.warning(
            "%s: %d episodes could not be judged after %d retries; they are left out of every metric "
            "(listed under 'unjudged' in %s)",
            output_dir, len(unjudged), config.judge_error_retries, RESULTS_FILE,
        )  # fmt: skip
    summary["config"] = {k: v for k, v in asdict(config).items() if k != "env_kwargs"} | {"mode": config.mode}
    summary["run"] = run_identity
    summary["wall_seconds"] = round(time.monotonic() - started, 3)
    summary["episode_seconds"] = round(sum(float(r.get("elapsed", 0.0)) for r in records), 3)
    summary |= generation_totals(records)
    summary["per_problem"] = per_problem(outcomes, problems, config.max_turns)
    summary["per_difficulty"] = per_difficulty(outcomes, problems, config.max_turns)
    summary["analyses"] = analyze(records, config.max_turns)
    try:
        from codefeedback_env.evaluation.plots import write_run_plots

        summary["plots"] = write_run_plots(summary, output_dir)
    except ImportError as error:  # matplotlib is a dependency, but keep a run's data if it is broken
        logger.warning("no plot: %s", error)
    (output_dir / RESULTS_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return RunResult(output_dir, records, summary, len(written))


def _run_pending(
    agent: Any,
    problems: list[Problem],
    pending: list[tuple[int, Problem, int, int]],
    episodes_path: Path,
    config: EvalConfig,
    judge: Judge | None,
    digests: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Play the pending episodes through an `EpisodeDriver` (pipelined), append each record to
    `episodes_path` as it ends, and return the records written."""
    from tqdm.auto import tqdm

    env_kwargs = dict(config.env_kwargs) | {"max_turns": config.max_turns, "feedback": config.feedback}
    if judge is not None:
        env_kwargs["judge"] = judge
    slots = min(config.max_active, len(pending))
    envs = [CodeFeedbackEnv(problems, **env_kwargs) for _ in range(slots)]
    written: list[dict[str, Any]] = []
    reset = getattr(agent, "reset", None)
    if callable(reset):
        reset()
    bar = tqdm(total=len(pending), desc=f"eval ({config.mode})", unit="episode", disable=not config.progress)
    progress = RunProgress(bar)
    # Agents that generate in batches report each one (the bar moves during a long `act` call).
    reporter = getattr(agent, "agent", agent)  # through IndependentSampling
    hooked = config.progress and hasattr(reporter, "progress_callback")
    if hooked:
        reporter.progress_callback = progress.batch
    judging = [0, 0]  # steps of the current batch awaited before the next `act` call: judged, total

    def act(episodes: list[Episode]) -> list[str]:
        later = driver.queued * config.max_turns + sum(config.max_turns - e.turns - 1 for e in episodes)
        progress.turn(len(episodes), later)
        infos = [e.info | {"rollout": e.data.rollout} for e in episodes]
        responses = agent.act([e.observation for e in episodes], infos)
        if len(responses) != len(episodes):
            raise ValueError(f"agent.act returned {len(responses)} responses for {len(episodes)} observations")
        progress.answered_turn(len(responses))
        for episode, report in zip(episodes, _generation_report(agent, len(responses)), strict=True):
            episode.data.report = report
            episode.data.messages = episode.info["messages"]
        judging[:] = [0, sum(e.turns + 1 < config.max_turns for e in episodes)]
        return responses

    def on_step(episode: Episode, response: str, result: tuple) -> None:
        obs, reward, _, _, info = result
        episode.data.turns.append(_turn_record(episode.data, response, obs, reward, info))
        if episode.turns < config.max_turns:
            judging[0] += 1
            progress.judging(*judging)

    driver = EpisodeDriver(envs, act, max_turns=config.max_turns, on_step=on_step)
    for index, problem, rollout, attempt in pending:
        seed = _episode_seed(config.seed, index, rollout)
        driver.submit(_Run(problem, index, rollout, attempt), seed=seed, options={"problem_id": problem.id})
    try:
        with open(episodes_path, "a", encoding="utf-8") as out:
            for episode in driver.run():
                run = episode.data
                if episode.info.get("judge_error") and run.attempt < config.judge_error_retries:
                    logger.warning(
                        "%s rollout %d could not be judged (%s); running it again",
                        run.problem.id, run.rollout, episode.info["judge_error"],
                    )  # fmt: skip
                    retry = _Run(run.problem, run.index, run.rollout, run.attempt + 1)
                    driver.submit(retry, seed=episode.seed, options={"problem_id": run.problem.id})
                    continue
                line = json.dumps(_record(episode, config, digests[run.problem.id]), ensure_ascii=False)
                out.write(line + "\n")
                out.flush()
                os.fsync(out.fileno())
                written.append(json.loads(line))  # the record as a later read of the file gives it
                bar.update(1)
    finally:
        if hooked:
            reporter.progress_callback = None
        bar.close()
    return written


def _turn_record(run: _Run, response: str, obs: dict[str, Any], reward: float, info: dict[str, Any]) -> dict:
    return {
        "turn": info["turn"],
        "messages": run.messages,
        "response": response,
        "code": info.get("code"),
        "valid_response": info.get("valid_response", False),
        "public_passed": info.get("public_passed", False),
        "public_results": info.get("public_results", []),
        "feedback": obs["feedback"],
        "reward": float(reward),
        **{k: run.report[k] for k in ("generated_tokens", "stop_reason") if run.report.get(k) is not None},
    }


def _generation_report(agent: Any, count: int) -> list[Mapping[str, Any]]:
    """The agent's `last_generation` (one mapping per response), or empty mappings when it reports none."""
    for source in (agent, getattr(agent, "agent", None)):
        report = getattr(source, "last_generation", None)
        if isinstance(report, Sequence) and len(report) == count:
            return [r if isinstance(r, Mapping) else {} for r in report]
    return [{}] * count


def _record(episode: Episode, config: EvalConfig, digest: str) -> dict[str, Any]:
    run: _Run = episode.data
    hidden = dict(episode.info.get("hidden") or {})
    judge_error = episode.info.get("judge_error")
    return {
        "problem_id": run.problem.id,
        "rollout": run.rollout,
        "mode": config.mode,
        "seed": episode.seed,
        "max_turns": config.max_turns,
        "feedback": config.feedback,
        "turns": run.turns,
        "hidden": hidden,
        "solved": None if judge_error else bool(hidden.get("all_passed", False)),
        **({"judge_error": str(judge_error)} if judge_error else {}),
        "num_turns": len(run.turns),
        "return": episode.total_reward,
        "elapsed": round(time.monotonic() - episode.started, 4),
        "problem_sha256": digest,
    }


def evaluate_with_baseline(
    agent: Any,
    problems: Sequence[Problem],
    output_dir: str | Path,
    config: EvalConfig | None = None,
    *,
    independent: bool = True,
    judge: Judge | None = None,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, RunResult]:
    """Run the multi-turn evaluation in `output_dir/multi_turn` and, when `independent`, the
    independent-sampling baseline in `output_dir/independent`; write the combined `results.json`
    and the comparison plots into `output_dir`. Returns the runs by mode.

    Both folders' identities are checked before either run starts (see `run_evaluation`).
    """
    from dataclasses import replace

    config = config or EvalConfig()
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"output folder {str(output_dir)!r} is a file; give a folder (it is created if absent)")
    configs = {"multi_turn": replace(config, independent=False)}
    if independent:
        configs["independent"] = replace(config, independent=True)
    for mode, mode_config in configs.items():
        check_run_folder(output_dir / mode, agent, problems, mode_config, identity)
    runs = {
        mode: run_evaluation(agent, problems, output_dir / mode, mode_config, judge=judge, identity=identity)
        for mode, mode_config in configs.items()
    }
    from codefeedback_env.evaluation.plots import write_comparison_plots

    combined = write_comparison_plots({mode: run.summary for mode, run in runs.items()}, output_dir)
    for mode, run in runs.items():  # plot paths relative to `output_dir`, where the combined results.json is
        run.summary["plots"] = combined + [f"{mode}/{name}" for name in run.summary.get("plots", [])]
    summaries = {mode: run.summary for mode, run in runs.items()}
    (output_dir / RESULTS_FILE).write_text(json.dumps(summaries, indent=2) + "\n")
    return runs


def format_summary(summary: Mapping[str, Any], title: str = "") -> str:
    """A plain-text table of per-turn solve rates, n@k and pass@k with their 95% intervals, headed by
    what produced the run (agent, model, dataset, sampling) when `summary["run"]` records it."""
    lines = [title] if title else []
    run = summary.get("run") or {}
    if run:
        lines.append(describe_run(run))
    lines.append(f"{summary.get('problems', 0)} problems, {summary.get('episodes', 0)} episodes")
    if summary.get("wall_seconds") is not None:
        tokens = summary.get("generated_tokens")
        lines.append(
            f"wall time {summary['wall_seconds']:.1f} s"
            + (f", {tokens} generated tokens" if tokens is not None else "")
            + (f", stop reasons {summary['stop_reasons']}" if summary.get("stop_reasons") else "")
        )
    if summary.get("unjudged_episodes"):
        lines.append(f"{summary['unjudged_episodes']} episodes could not be judged (left out of every metric)")
    unit = (summary.get("bootstrap") or {}).get("unit")
    lines.append(f"{'turn':>6}  {'solve rate':>10}  {'95% CI':>17}" + (f"  (bootstrap over {unit})" if unit else ""))
    for row in summary.get("solve_rate_by_turn", []):
        lines.append(f"{row['turn']:>6}  {row['value']:>10.3f}  [{row['low']:.3f}, {row['high']:.3f}]")
    for group in ("n_at_k", "pass_at_k"):
        for name, est in summary.get(group, {}).items():
            lines.append(f"{name:>10}  {est['value']:.3f}  [{est['low']:.3f}, {est['high']:.3f}]")
    if summary.get("analyses"):
        lines.append(format_analyses(summary["analyses"]))
    if summary.get("plots"):
        lines.append("plots: " + ", ".join(summary["plots"]))
    return "\n".join(lines)


def describe_run(run: Mapping[str, Any]) -> str:
    """One line naming a run's agent, model, dataset and sampling settings (from its recorded identity)."""
    parts = [f"agent {run.get('agent') or str(run.get('agent_class', '?')).rsplit('.', 1)[-1]}"]
    if run.get("model"):
        parts.append(f"model {run['model']}")
    if run.get("dataset"):
        parts.append(f"dataset {run['dataset']} ({run.get('problems', '?')} problems)")
    sampling = run.get("sampling")
    if sampling:
        parts.append("sampling " + ", ".join(f"{k}={v}" for k, v in sampling.items()))
    parts.append(f"{run.get('max_turns', '?')} turns, feedback {run.get('feedback', '?')}, seed {run.get('seed', '?')}")
    return "; ".join(parts)
