"""Throughput of the RL rollout path: episodes/s of `run_episodes` before and after the episode driver.

A replay generator plays CodeContests sample problems for 3 turns through the token-exact rollout (turns 1-2:
another problem's solution, turn 3: the problem's own reference solution), each problem `--group` times in
a batch (as GRPO/RLEF groups do), in batches of `--batch` episodes. Measured in the same run, on the same
problems and responses:

- serial: a faithful copy of the rollout loop before the driver (every `env.step` one after another);
- driver: today's `run_episodes` (the `EpisodeDriver` in lock-step: each round's programs judged in threads);
- runner: the evaluation runner (`run_evaluation`, driver pipelined, a replay agent, `max_active=--batch`);
- driver with the verdict cache on (the rest run without it), and driver on the Ray judge backend (a local
  Ray cluster on this machine; `--no-ray` skips it).

Serial, driver and runner run `--repeats` times each, in rotating order; each keeps its best run (a loaded host
only ever slows a run down).

Each path's CPU is accounted too, so the table says where the time goes and how much concurrency can give: CPU
seconds of this process (`parent`: the rollout's bookkeeping and tokenisation, `env.step`, the judge's client
side, all threads) and of its process tree (`judge`: the pool's workers and the programs they run, exited ones
included), per episode, and the share of the machine's cores they kept busy (`busy`). Judge calls and tests
are counted (the same on every path: the same programs on the same tests). `ceiling_vs_serial` is the rate at
which every core would be busy at the lowest CPU cost per episode measured, over the serial path's rate: no path
that does the same work can beat it on this machine. It is meaningful on a quiet host (on a loaded one, other
jobs take cores this run does not account for).

Because a loaded host hides how busy the serial loop would keep an idle one, the serial path is also modelled
from CPU times alone, which load barely changes (`model`): each test's program CPU as the backend measured it,
plus the rest of the judging CPU spread evenly over the tests, scheduled on the cores call by call (a call's tests
run side by side, the next call waits for the last one), plus this thread's own work (tokenisation, env logic)
between them. The modelled wall time gives the share of the cores the serial loop keeps busy on an idle machine,
and so the most any concurrent path doing the same work could gain over it (`model.ceiling_vs_serial`).

The tokenizer is the offline SmolLM2 one (its chat template and end-of-turn token), so the rollout pays its
real per-turn tokenisation cost. Prints a table; the last line is one JSON object with the ratios.

    PYTHONPATH=. python benchmarks/rollout_throughput.py [--limit 24] [--group 2] [--batch 16] [--repeats 2]
                                                         [--no-ray]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the /proc helper lives in tests/, and the package comes from this checkout

from agents.baselines import ReplayAgent, fenced  # noqa: E402
from agents.rlef.rollout import (  # noqa: E402
    ChatEnv,
    Generator,
    Trajectory,
    TurnTokenizer,
    append_response,
    append_step_result,
    run_episodes,
)
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv  # noqa: E402
from codefeedback_env.evaluation import EvalConfig, run_evaluation  # noqa: E402
from codefeedback_env.judge import Judge  # noqa: E402
from codefeedback_env.judge.cache import VerdictCache  # noqa: E402
from codefeedback_env.problems import Problem, load_problems  # noqa: E402
from tests.process_table import ProcessTable  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "codecontests_train_sample.jsonl"
TURNS = 3
RunEpisodes = Callable[..., list[Trajectory]]


def serial_run_episodes(
    envs: Sequence[ChatEnv],
    problem_ids: Sequence[str],
    generate: Generator,
    turn_tokenizer: TurnTokenizer,
    max_turns: int,
) -> list[Trajectory]:
    """The rollout loop as it was before the episode driver: generation batched, every step run in turn. The
    per-turn bookkeeping is the rollout's own (`append_response`, `append_step_result`: the old loop did the
    same), so the two paths differ only in how the steps are run."""
    trajectories: list[Trajectory] = []
    for i, problem_id in enumerate(problem_ids):
        _, info = envs[i].reset(seed=None, options={"problem_id": problem_id})
        trajectories.append(Trajectory(problem_id, turn_tokenizer.prompt_ids(info["messages"])))
    for _ in range(max_turns):
        active = [i for i, traj in enumerate(trajectories) if not traj.done]
        contexts = [trajectories[i].context_ids() for i in active] or [trajectories[0].prompt_ids]
        sampled, logprobs = generate(contexts)
        for k, i in enumerate(active):
            lps = logprobs[k] if logprobs is not None else None
            text = append_response(trajectories[i], sampled[k], lps, turn_tokenizer)
            append_step_result(trajectories[i], envs[i].step(text), turn_tokenizer)
    return trajectories


def replay_texts(problems: list[Problem], seed: int = 0) -> dict[tuple[str, int], str]:
    """(problem id, turn) -> response: two wrong turns (other problems' solutions), then the reference."""
    rng = random.Random(seed)
    texts = {}
    for problem in problems:
        others = [p for p in problems if p.id != problem.id and p.solutions]
        for turn in (1, 2):
            texts[(problem.id, turn)] = fenced(rng.choice(others).solutions[0])
        texts[(problem.id, 3)] = fenced(problem.solutions[0])
    return texts


class ReplayGenerator:
    """`generate(contexts)` replaying `texts` as token ids: the problem is found from the context's prompt and
    the turn from the round (every rollout call makes exactly `TURNS` generation rounds)."""

    def __init__(self, texts: dict[tuple[str, int], str], prompts: dict[str, list[int]], tt: TurnTokenizer) -> None:
        self.turn_tokenizer = tt
        tokenizer = tt.tokenizer
        self.ids = {
            key: [*tokenizer(text, add_special_tokens=False)["input_ids"], tt.end_of_turn_id]
            for key, text in texts.items()
        }
        self.by_prompt = {tuple(ids): pid for pid, ids in prompts.items()}
        self.lengths = sorted({len(ids) for ids in prompts.values()})
        self.calls = 0

    def _problem(self, context: list[int]) -> str:
        for length in self.lengths:
            pid = self.by_prompt.get(tuple(context[:length]))
            if pid is not None:
                return pid
        raise KeyError("a context that starts with no known prompt")

    def __call__(self, contexts: list[list[int]]) -> tuple[list[list[int]], list[list[float]]]:
        turn = self.calls % TURNS + 1
        self.calls += 1
        sampled = [list(self.ids[(self._problem(c), turn)]) for c in contexts]
        return sampled, [[-0.5] * len(ids) for ids in sampled]


def descendants_cpu_seconds() -> float:
    """CPU seconds of this process's descendants, running or not reaped yet, each with its own reaped children."""
    table = ProcessTable.read()
    return table.cpu_seconds(table.descendants(zombies=True))


def cpu_seconds() -> tuple[float, float]:
    """(this process, all threads; its process tree: descendants alive now and every exited one reaped)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, reaped.ru_utime + reaped.ru_stime + descendants_cpu_seconds()


class JudgeCounter:
    """Counts the judge calls and tests of `judge` from now on (its `judge` method wrapped on the instance,
    until `close`)."""

    def __init__(self, judge: Judge) -> None:
        self.calls = self.tests = 0
        self.small = 0  # calls of at most 3 tests: in the serial loop, a 4-worker pool idles through them
        self.program_cpu: list[list[float]] = []
        """CPU seconds of each program run, grouped by the call that started last (by call only when calls do not
        overlap, as in the serial loop)."""
        inner = judge.judge
        run_stdio = getattr(judge.backend, "run_stdio", None)  # a backend judging whole programs (Ray) has none

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.program_cpu.append([])
            result = inner(*args, **kwargs)
            self.calls += 1
            self.tests += len(result.results)
            self.small += len(result.results) <= 3
            return result

        def timed(*args: Any, **kwargs: Any) -> Any:
            outcome = run_stdio(*args, **kwargs)
            self.program_cpu[-1].append(outcome.cpu_time)
            return outcome

        judge.judge = counted  # type: ignore[method-assign]
        if run_stdio is not None:
            judge.backend.run_stdio = timed  # type: ignore[attr-defined]

        def close() -> None:  # the classes' methods again
            delattr(judge, "judge")
            if run_stdio is not None:
                delattr(judge.backend, "run_stdio")

        self.close = close


@contextmanager
def accounted(row: dict[str, Any], episodes: int, judge: Judge) -> Iterator[Callable[[], None]]:
    """Adds to `row` the CPU per episode of the process and of its tree while the block ran (or until it called
    the callable it got), and the calls and tests it made to `judge`. The block sets `row["wall_s"]`."""
    counter = JudgeCounter(judge)
    before, after = cpu_seconds(), []
    thread_before = time.thread_time()

    def stop() -> None:
        if not after:
            after.append(cpu_seconds())
            row["thread_cpu_ms"] = round(1000 * (time.thread_time() - thread_before) / episodes, 1)

    try:
        yield stop
    finally:
        counter.close()
    stop()
    parent, judge = (a - b for a, b in zip(after[0], before, strict=True))
    row["parent_cpu_ms"] = round(1000 * parent / episodes, 1)
    row["judge_cpu_ms"] = round(1000 * judge / episodes, 1)
    row["busy"] = round((parent + judge) / (row["wall_s"] * (os.cpu_count() or 1)), 3)
    row["judge_calls"] = counter.calls
    row["tests"] = counter.tests
    row["small_calls"] = counter.small
    row["program_cpu_ms"] = round(1000 * sum(map(sum, counter.program_cpu)) / episodes, 1)
    row["_program_cpu"] = counter.program_cpu  # per call, for the model (not printed)


def smollm2_turn_tokenizer() -> TurnTokenizer:
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    from agents.llm.local_model import align_tokenizer_eos, find_smollm2_gguf

    path = find_smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
    align_tokenizer_eos(tokenizer, GenerationConfig.from_model_config(config))
    return TurnTokenizer(tokenizer)


def measure_rollout(
    run: RunEpisodes, judge: Judge, problems: list[Problem], episode_ids: list[str], batch: int, replay: ReplayGenerator
) -> dict[str, Any]:
    envs = [CodeFeedbackEnv(problems, judge=judge, max_turns=TURNS) for _ in range(min(batch, len(episode_ids)))]
    replay.calls = 0
    trajectories: list[Trajectory] = []
    row: dict[str, Any] = {}
    with accounted(row, len(episode_ids), judge):
        started = time.monotonic()
        for lo in range(0, len(episode_ids), batch):
            trajectories += run(envs, episode_ids[lo : lo + batch], replay, replay.turn_tokenizer, TURNS)
        wall = time.monotonic() - started
        row["wall_s"] = round(wall, 3)
    return {
        "episodes_per_s": round(len(trajectories) / wall, 4),
        "solved": sum(t.solved for t in trajectories),
        "turns": sum(t.num_turns for t in trajectories),
        "unjudged": sum(t.judge_error is not None for t in trajectories),
    } | row


def measure_runner(
    judge: Judge, problems: list[Problem], texts: dict[tuple[str, int], str], group: int, batch: int
) -> dict[str, Any]:
    records = {(pid, rollout, turn): text for (pid, turn), text in texts.items() for rollout in range(group)}
    config = EvalConfig(rollouts=group, max_turns=TURNS, max_active=batch, progress=False)
    row: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder, accounted(row, len(records) // TURNS, judge) as stop:
        with plots_after(stop):
            run = run_evaluation(ReplayAgent(records), problems, folder, config, judge=judge)
        wall = run.summary["wall_seconds"]  # the run itself, not the plots written after it
        row["wall_s"] = round(wall, 3)
    return {
        "episodes_per_s": round(len(run.records) / wall, 4),
        "solved": sum(bool(r["solved"]) for r in run.records),
        "turns": sum(r["num_turns"] for r in run.records),
        "unjudged": len(run.unjudged),
    } | row


@contextmanager
def plots_after(stop: Callable[[], None]) -> Iterator[None]:
    """Calls `stop` when the runner starts writing its plots (after the run its wall time covers)."""
    from codefeedback_env.evaluation import plots

    write = plots.write_run_plots

    def stopped_first(*args: Any, **kwargs: Any) -> Any:
        stop()
        return write(*args, **kwargs)

    plots.write_run_plots = stopped_first
    try:
        yield
    finally:
        plots.write_run_plots = write


def cpu_ceiling(rows: dict[str, dict[str, Any]], serial_rate: float) -> dict[str, float]:
    """The rate with every core busy at the lowest CPU cost per episode among `rows`, and its ratio to the
    serial path's rate: the most any path doing the same work can reach on this machine."""
    cpu_ms = min(row["parent_cpu_ms"] + row["judge_cpu_ms"] for row in rows.values())
    rate = (os.cpu_count() or 1) * 1000 / cpu_ms
    return {
        "cpu_ms_per_episode": round(cpu_ms, 1),
        "rate": round(rate, 3),
        "ceiling_vs_serial": round(rate / serial_rate, 3),
    }


def modelled_serial(row: dict[str, Any], episodes: int, cores: int) -> dict[str, float]:
    """The serial loop on an idle machine with `cores` cores, from its CPU times only (see the module): its wall
    time per episode, the share of the cores it keeps busy, and the most a path doing the same work can gain."""
    calls: list[list[float]] = row["_program_cpu"]
    tests = sum(map(len, calls))
    own = row["thread_cpu_ms"] / 1000 * episodes  # this thread's work, which no test overlaps in the serial loop
    total = (row["parent_cpu_ms"] + row["judge_cpu_ms"]) / 1000 * episodes
    programs = sum(map(sum, calls))
    overhead = max(0.0, (total - own - programs) / max(tests, 1))  # the pool's and the client's share
    wall = own + sum(makespan([cpu + overhead for cpu in call], cores) for call in calls)
    bare = own + sum(makespan(call, cores) for call in calls)  # as if judging cost nothing beyond the programs
    return {
        "wall_ms_per_episode": round(1000 * wall / episodes, 1),
        "overhead_ms_per_test": round(1000 * overhead, 2),
        "busy": round(total / (cores * wall), 3),
        "ceiling_vs_serial": round(cores * wall / total, 3),
        "busy_without_overhead": round((own + programs) / (cores * bare), 3),
        "ceiling_vs_serial_without_overhead": round(cores * bare / (own + programs), 3),
    }


def makespan(costs: list[float], cores: int) -> float:
    """When the last of `costs` ends, each started in order on the first free core."""
    free = [0.0] * cores
    for cost in costs:
        heapq.heappush(free, heapq.heappop(free) + cost)
    return max(free)


def warm(judge: Judge, problem: Problem) -> None:
    """Start the judge's workers before timing (the pool's first run pays for its start-up)."""
    env = CodeFeedbackEnv([problem], judge=judge, max_turns=1)
    env.reset(options={"problem_id": problem.id})
    env.step(fenced("print(1)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=24, help="problems of the sample (default 24)")
    parser.add_argument("--group", type=int, default=2, help="episodes per problem in a batch (GRPO's group)")
    parser.add_argument("--batch", type=int, default=16, help="episodes per rollout call")
    parser.add_argument("--repeats", type=int, default=2, help="runs of serial, driver and runner; the best is kept")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray judge backend")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is absent; this benchmark needs ../shared/data (see its README)")
    problems = [p for p in load_problems(DATA) if p.solutions][: args.limit]
    if len(problems) < 2:
        raise SystemExit("need at least 2 problems with solutions (--limit)")
    texts = replay_texts(problems)
    tt = smollm2_turn_tokenizer()
    episode_ids = [problem.id for problem in problems for _ in range(args.group)]
    print(
        f"{len(problems)} CodeContests problems x {args.group} episodes x {TURNS} turns, batches of {args.batch}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (ratios measured in this run)"
    )

    rows: dict[str, dict[str, Any]] = {}
    with Judge() as judge:
        prompts = {}
        for problem in problems:
            _, info = CodeFeedbackEnv([problem], judge=judge, max_turns=TURNS).reset(options={"problem_id": problem.id})
            prompts[problem.id] = tt.prompt_ids(info["messages"])
        replay = ReplayGenerator(texts, prompts, tt)
        warm(judge, problems[0])
        batch = args.batch
        paths: dict[str, Callable[[], dict[str, Any]]] = {
            "serial (before)": lambda: measure_rollout(
                serial_run_episodes, judge, problems, episode_ids, batch, replay
            ),
            "driver": lambda: measure_rollout(run_episodes, judge, problems, episode_ids, batch, replay),
            "runner": lambda: measure_runner(judge, problems, texts, args.group, batch),
        }
        names = list(paths)
        for repeat in range(args.repeats):  # the order rotates, so no path always runs first on a drifting host
            for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
                row = paths[name]()
                if name not in rows or row["episodes_per_s"] > rows[name]["episodes_per_s"]:
                    rows[name] = row
    with Judge(cache=VerdictCache()) as judge:
        warm(judge, problems[0])
        rows["driver, cache on"] = measure_rollout(run_episodes, judge, problems, episode_ids, args.batch, replay)
    if not args.no_ray:
        import ray

        ray.init(  # a new local cluster, never one left running on the machine; loopback only
            address="local",
            _node_ip_address="127.0.0.1",
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            object_store_memory=100 << 20,
            configure_logging=False,
        )
        try:
            with Judge("ray") as judge:
                warm(judge, problems[0])
                rows["driver, ray"] = measure_rollout(run_episodes, judge, problems, episode_ids, args.batch, replay)
        finally:
            ray.shutdown()

    print(
        f"\n{'path':<18} {'episodes/s':>10} {'wall s':>8} {'solved':>7} {'turns':>6} {'unjudged':>8} "
        f"{'parent ms/ep':>12} {'judge ms/ep':>11} {'busy':>5} {'calls':>6} {'tests':>6}"
    )
    for name, row in rows.items():
        print(
            f"{name:<18} {row['episodes_per_s']:>10.3f} {row['wall_s']:>8.2f} {row['solved']:>7} {row['turns']:>6} "
            f"{row['unjudged']:>8} {row['parent_cpu_ms']:>12.1f} {row['judge_cpu_ms']:>11.1f} {row['busy']:>5.0%} "
            f"{row['judge_calls']:>6} {row['tests']:>6}"
        )
    rate = {name: row["episodes_per_s"] for name, row in rows.items()}
    ratios = {
        "driver_vs_serial": round(rate["driver"] / rate["serial (before)"], 3),
        "driver_vs_runner": round(rate["driver"] / rate["runner"], 3),
        "cache_on_vs_off": round(rate["driver, cache on"] / rate["driver"], 3),
    }
    if "driver, ray" in rate:
        ratios["ray_vs_local"] = round(rate["driver, ray"] / rate["driver"], 3)
    ceiling = cpu_ceiling({name: rows[name] for name in paths}, rate["serial (before)"])
    ratios["ceiling_vs_serial"] = ceiling["ceiling_vs_serial"]
    model = modelled_serial(rows["serial (before)"], len(episode_ids), os.cpu_count() or 1)
    ratios["model_ceiling_vs_serial"] = model["ceiling_vs_serial"]
    for row in rows.values():
        del row["_program_cpu"]
    print("\n" + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    serial = rows["serial (before)"]
    print(
        f"judge calls per episode {serial['judge_calls'] / len(episode_ids):.1f}, tests per call "
        f"{serial['tests'] / max(serial['judge_calls'], 1):.1f} ({serial['small_calls']} of {serial['judge_calls']} "
        f"calls have at most 3 tests); serial path kept {serial['busy']:.0%} of {os.cpu_count()} cores busy; all "
        f"cores busy at {ceiling['cpu_ms_per_episode']:.0f} ms CPU per episode (lowest measured) would be "
        f"{ceiling['rate']:.2f} episodes/s = {ceiling['ceiling_vs_serial']:.2f}x the serial path (the ceiling, on a "
        "quiet host)"
    )
    print(
        f"model (CPU times only, an idle machine): the serial loop's programs take {serial['program_cpu_ms']:.0f} ms "
        f"CPU per episode, the rest of judging {model['overhead_ms_per_test']:.1f} ms per test, this thread "
        f"{serial['thread_cpu_ms']:.0f} ms per episode; it would keep {model['busy']:.0%} of {os.cpu_count()} cores "
        f"busy, so no path doing the same work gains more than {model['ceiling_vs_serial']:.2f}x over it (with no "
        f"judging cost beyond the programs: {model['busy_without_overhead']:.0%} busy, at most "
        f"{model['ceiling_vs_serial_without_overhead']:.2f}x)"
    )
    print(
        "targets: driver_vs_serial >= 1.8 "
        f"({'met' if ratios['driver_vs_serial'] >= 1.8 else 'NOT met'}), driver_vs_runner >= 0.9 "
        f"({'met' if ratios['driver_vs_runner'] >= 0.9 else 'NOT met'})"
    )
    summary = {
        "benchmark": "rollout_throughput",
        "problems": len(problems),
        "group": args.group,
        "batch": args.batch,
        "turns": TURNS,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "paths": rows,
        "ratios": ratios,
        "ceiling": ceiling,
        "model": model,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
