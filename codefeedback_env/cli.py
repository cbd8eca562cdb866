"""The `codefeedback` command: judge a program, list problems, play an episode, evaluate an agent.

    codefeedback judge DATASET --problem ID --code PROGRAM.py [--tests public|hidden|all]
    codefeedback problems DATASET [--show ID]
    codefeedback play DATASET --problem ID [--max-turns 3]
    codefeedback eval [--dataset demo] [--agent transformers] [--turns 3] [--rollouts 2] [--output runs/eval]
    codefeedback prepare mbpp+ MBPP_PLUS.jsonl [--cache-dir DIR] [--backend pool|subprocess] [--workers N]
    codefeedback validate DATASET [--solutions 1]
    codefeedback sweep [eval's options] [--turns 1,3,5] [--feedback execution,random,none] [--output runs/sweep]
    codefeedback compare RUN_A RUN_B [--mode multi_turn|independent] [--resamples 200] [--json FILE]
    codefeedback serve [DATASET] [--host 127.0.0.1] [--port 8000] [--max-sessions 256] [--idle-timeout 600]

Every user error is one line on stderr and exit code 2. Heavy imports (torch, the agents) happen inside
the subcommands; the evaluation runner is imported up front, since `--help` shows its config's defaults.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import logging
import random
import sys
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, NoReturn

from codefeedback_env import __version__
from codefeedback_env.evaluation.metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_UNITS
from codefeedback_env.evaluation.runner import EvalConfig
from codefeedback_env.feedback import FeedbackMode
from codefeedback_env.server import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SESSIONS

USAGE_ERROR = 2
LLM_AGENTS = ("transformers", "openai", "vllm")

# Defaults of `codefeedback eval` that differ from the library's dataclasses: sized for a CPU.
EVAL_DATASET = "demo-quick"
EVAL_ROLLOUTS = 2
EVAL_TEMPERATURE = 0.2  # the paper's 1@3 setting
EVAL_TOP_P = 0.95  # the paper's setting
EVAL_MAX_NEW_TOKENS = 256
QUICK_MAX_NEW_TOKENS = 128  # demo-quick's programs are a few lines: a smaller cap bounds a response that never closes
EVAL_BATCH_SIZE = 32  # a turn of the default run (16 episodes: 8 problems x 2 rollouts) in one batch: one decode loop


class CliError(Exception):
    """A user error: printed without a traceback, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see --help)\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default in --help (none for flags and options without one)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _default(cls: type, name: str) -> Any:
    """A dataclass field's default, so that --help shows the library's value instead of a copy."""
    return next(f.default for f in fields(cls) if f.name == name)


def _int_at_least(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _load(dataset: str, args: argparse.Namespace | None = None) -> list[Any]:
    """The dataset's problems; `args` may carry `--split` and `--without-public` (CodeContests)."""
    from codefeedback_env.problems import DatasetError, load_problems

    options = _dataset_options(dataset, args)
    try:
        return load_problems(dataset, **options)
    except (DatasetError, FileNotFoundError) as error:
        raise CliError(str(error)) from error


def _dataset_options(dataset: str, args: argparse.Namespace | None) -> dict[str, Any]:
    split, without_public = getattr(args, "split", None), getattr(args, "without_public", None)
    if split is None and without_public is None:
        return {}
    from codefeedback_env.problems import DatasetError
    from codefeedback_env.problems.registry import detect_format

    try:
        kind = detect_format(dataset, split) if Path(dataset).exists() else dataset
    except (DatasetError, FileNotFoundError) as error:
        raise CliError(str(error)) from error
    if kind != "codecontests":
        raise CliError(f"--split and --without-public apply to CodeContests data; {dataset!r} is {kind!r}")
    options: dict[str, Any] = {"split": split}
    if without_public is not None:
        options["drop_without_public"] = without_public == "drop"
    return options


def _add_dataset_options(parser: argparse.ArgumentParser) -> None:
    from codefeedback_env.problems.codecontests import SPLITS

    group = parser.add_argument_group("CodeContests data")
    group.add_argument(
        "--split",
        choices=SPLITS,
        help="the hub's split, or a local folder's (train-*.parquet, valid.jsonl, a saved DatasetDict); default "
        "train for the hub",
    )
    group.add_argument(
        "--without-public",
        choices=("keep", "drop"),
        help="problems without public tests (default: dropped from the train split as in the paper, else kept)",
    )


def _find(problems: Sequence[Any], name: str) -> Any:
    """A problem by id, by the id's last part (e.g. `sum-two` for `demo/sum-two`), or by index."""
    for problem in problems:
        if problem.id == name:
            return problem
    short = [p for p in problems if p.id.rsplit("/", 1)[-1] == name]
    if len(short) == 1:
        return short[0]
    if name.lstrip("-").isdigit():
        index = int(name)
        if 0 <= index < len(problems):
            return problems[index]
        raise CliError(f"problem index {index} is out of range [0, {len(problems)})")
    ids = [p.id for p in problems]
    close = difflib.get_close_matches(name, ids + [i.rsplit("/", 1)[-1] for i in ids], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise CliError(f"no problem {name!r} in this dataset ({len(problems)} problems){hint}")


# -- judge ---------------------------------------------------------------------------------------


def cmd_judge(args: argparse.Namespace) -> int:
    problem = _find(_load(args.dataset), args.problem)
    code_path = Path(args.code)
    if not code_path.is_file():
        raise CliError(f"program file {str(code_path)!r} does not exist")
    from codefeedback_env.judge import Judge

    with Judge() as judge:
        result = judge.judge(problem, code_path.read_text(encoding="utf-8"), args.tests)
    print(json.dumps({"problem_id": problem.id, "test_set": args.tests} | result.to_dict(), indent=2))
    return 1 if result.judge_error else 0


# -- problems ------------------------------------------------------------------------------------


def cmd_problems(args: argparse.Namespace) -> int:
    problems = _load(args.dataset, args)
    if args.show is not None:
        problem = _find(problems, args.show)
        print(f"# {problem.id}  ({problem.difficulty or 'no difficulty'}, {problem.kind.value})\n")
        print(problem.statement.rstrip() + "\n")
        for i, test in enumerate(problem.public_tests):
            print(f"## public test {i}\ninput:\n{test.input.rstrip()}")
            if test.output:
                print(f"expected output:\n{test.output.rstrip()}")
            print()
        return 0
    width = max(len(p.id) for p in problems)
    print(f"{'id':<{width}}  {'difficulty':<12}  {'#public':>7}  {'#hidden':>7}")
    for p in problems:
        print(f"{p.id:<{width}}  {p.difficulty or '-':<12}  {len(p.public_tests):>7}  {len(p.hidden_tests):>7}")
    print(f"{len(problems)} problems")
    return 0


# -- play ----------------------------------------------------------------------------------------


def _read_answer(stream: Any) -> str | None:
    """One answer: lines until one that is only `EOF`, the end of input, or the closing fence of an answer
    that opened a fenced code block (as a model writes it); None at end of input with nothing read.
    Blank lines belong to the program."""
    lines: list[str] = []
    fences = 0
    while True:
        line = stream.readline()
        if line == "":
            return "".join(lines) if "".join(lines).strip() else None
        if line.strip() == "EOF":
            return "".join(lines)
        lines.append(line)
        if line.lstrip().startswith("```"):
            fences += 1
            if fences == 2:
                return "".join(lines)


def _as_response(answer: str) -> str:
    """The answer as the model's response: a fenced answer as written, bare code in a python fence."""
    return answer if "```" in answer else f"```python\n{answer.rstrip()}\n```"


def cmd_play(args: argparse.Namespace) -> int:
    problems = _load(args.dataset)
    problem = _find(problems, args.problem)
    from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv

    env = CodeFeedbackEnv(problems, max_turns=args.max_turns)
    _, info = env.reset(seed=0, options={"problem_id": problem.id})
    print(info["messages"][-1]["content"])
    while True:
        print(
            f"\n--- turn {info['turn'] + 1} of {args.max_turns}: type your program (or a fenced answer as a "
            "model would write it), end with a line 'EOF' ---"
        )
        sys.stdout.flush()
        answer = _read_answer(sys.stdin)
        if answer is None:
            print("\n(end of input: episode abandoned)")
            return 1
        _, reward, terminated, truncated, info = env.step(_as_response(answer))
        verdicts = ", ".join(r["verdict"] for r in info["public_results"]) or "no tests run"
        print(f"\npublic tests: {verdicts}; reward {reward:+.1f}")
        if "judge_error" in info:
            print(f"the judge could not judge this program (episode stopped, unscored): {info['judge_error']}")
            return 1
        if terminated or truncated:
            hidden = info["hidden"]
            outcome = "SOLVED" if hidden["all_passed"] else "NOT SOLVED"
            print(f"hidden tests: {hidden['passed']}/{hidden['total']} passed -> {outcome}")
            return 0
        print("\nfeedback:\n" + info["messages"][-1]["content"])


# -- eval ----------------------------------------------------------------------------------------


def _make_agent(args: argparse.Namespace, problems: list[Any]) -> Any:
    """The agent named by `--agent`: an installed plugin (see `codefeedback_env.agent_plugins`) or a
    `package.module:Factory` path, built with the command line's settings."""
    from codefeedback_env.agent_plugins import AgentNotFoundError, AgentSettings, find_agent

    try:
        factory = find_agent(args.agent)
    except AgentNotFoundError as error:
        raise CliError(str(error)) from error
    settings = AgentSettings(
        seed=args.seed,
        sampling=_sampling(args),
        model=args.model,
        batch_size=args.batch_size,
        dtype=args.dtype,
        model_cache=None if args.model_cache == "none" else args.model_cache,
        reprobe_dtype=args.reprobe_dtype,
        base_url=args.base_url,
        api_key=args.api_key,
        timeout=args.timeout,
        concurrency=args.concurrency,
        max_retries=args.max_retries,
        replay_file=args.replay_file,
    )
    return factory(problems, settings)


def _user_cache() -> Path:
    import os

    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codefeedback"


def _sampling(args: argparse.Namespace) -> Any:
    """The LLM agents' sampling settings, checked whichever agent runs (a bad value is an error anyway)."""
    from codefeedback_env.sampling import SamplingConfig

    try:
        return SamplingConfig(
            temperature=args.temperature,
            top_p=args.top_p,
            max_new_tokens=_max_new_tokens(args),
            seed=args.seed,
            stop_at_program_end=not args.full_responses,
        )
    except (TypeError, ValueError) as error:
        raise CliError(str(error)) from error


def _max_new_tokens(args: argparse.Namespace) -> int:
    """`--max-new-tokens`, or its default for the dataset (smaller on the default dataset, whose programs are short)."""
    if args.max_new_tokens is not None:
        return int(args.max_new_tokens)
    return QUICK_MAX_NEW_TOKENS if args.dataset == EVAL_DATASET else EVAL_MAX_NEW_TOKENS


def _select(problems: list[Any], args: argparse.Namespace) -> list[Any]:
    """The problems to evaluate: by id list, then a seeded shuffle or random sample, then the first N."""
    if args.problems:
        names = [name.strip() for name in args.problems.split(",") if name.strip()]
        problems = [_find(problems, name) for name in dict.fromkeys(names)]
    if args.shuffle or args.sample is not None:
        problems = list(problems)
        random.Random(args.selection_seed).shuffle(problems)
        if args.sample is not None:
            if args.sample > len(problems):
                raise CliError(f"--sample {args.sample} is more than the {len(problems)} problems selected")
            problems = problems[: args.sample]
    if args.limit is not None:
        problems = problems[: args.limit]
    return problems


def _held_out(problems: list[Any], excluded: str | None) -> list[Any]:
    """`problems` without those of the `--exclude-problems` list, saying what overlapped."""
    if excluded is None:
        return problems
    from codefeedback_env.problems import DatasetError
    from codefeedback_env.problems.overlap import leave_out, read_problem_list

    try:
        listed = read_problem_list(excluded)
    except (DatasetError, FileNotFoundError) as error:
        raise CliError(f"--exclude-problems: {error}") from error
    overlap = leave_out(problems, listed)
    print(overlap.report(listed.source))
    if not overlap.kept:
        raise CliError(f"every problem is in {listed.source}: nothing is left to evaluate")
    return overlap.kept


def _identity(args: argparse.Namespace) -> dict[str, Any]:
    """What the run is known to be before its agent is built: agent name, model, sampling, dataset."""
    identity: dict[str, Any] = {"agent": args.agent, "dataset": args.dataset}
    identity |= {key: getattr(args, key) for key in ("split", "exclude_problems") if getattr(args, key, None)}
    if args.agent in LLM_AGENTS:
        identity["model"] = args.model
        identity["sampling"] = asdict(_sampling(args))
    if args.agent == "openai":
        identity["base_url"] = args.base_url
    if args.agent == "replay" and args.replay_file:
        identity["replay_file"] = str(Path(args.replay_file).resolve())
    return identity


def _evaluation_inputs(args: argparse.Namespace) -> tuple[list[Any], Path]:
    """What `eval` and `sweep` check before anything slow: the problems (loaded, held out, selected), the
    sampling options, and the output folder."""
    args.max_new_tokens = _max_new_tokens(args)
    problems = _load(args.dataset, args)
    if not problems:
        raise CliError(f"{args.dataset} has no problem to evaluate (see the warnings above for skipped rows)")
    problems = _select(_held_out(problems, args.exclude_problems), args)
    _sampling(args)
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise CliError(f"--output {args.output!r} is a file; give a folder (it is created if absent)")
    return problems, output


def cmd_eval(args: argparse.Namespace) -> int:
    problems, output = _evaluation_inputs(args)
    from codefeedback_env.agent import AgentError
    from codefeedback_env.evaluation import evaluate_with_baseline, format_summary
    from codefeedback_env.evaluation.identity import RunIdentityError
    from codefeedback_env.evaluation.runner import check_run_folder

    config = EvalConfig(
        rollouts=args.rollouts,
        max_turns=args.turns,
        feedback=args.feedback,
        seed=args.seed,
        progress=not args.quiet,
        bootstrap=args.bootstrap,
    )
    identity = _identity(args)
    modes = {"multi_turn": False} | ({} if args.no_independent else {"independent": True})
    try:  # before a model is loaded or a server asked
        for mode, independent in modes.items():
            check_run_folder(output / mode, None, problems, replace(config, independent=independent), identity)
    except RunIdentityError as error:
        raise CliError(_one_line(error)) from error
    _print_plan(args, problems, list(modes))
    try:
        agent = _make_agent(args, problems)
    except (ImportError, OSError, ValueError, TypeError) as error:  # a missing extra or model, a bad setting
        raise CliError(_one_line(error)) from error
    dtype = _loaded_dtype(agent)
    if dtype is not None:
        identity["dtype"] = dtype
        print(f"model loaded with {dtype} weights (--dtype {args.dtype})", flush=True)
    probe = _dtype_probe(agent)
    if probe is not None:
        identity["dtype_probe"] = probe
        how = "stored decision for this CPU, torch, thread count and model" if probe["cached"] else "measured now"
        if not probe.get("agreed", True):
            how += "; its rounds disagreed (a busy machine?), so float32 and not stored"
        print(
            f"dtype probe ({how}): float32 {probe['float32_seconds']:.2f} s, "
            f"bfloat16 {probe['bfloat16_seconds']:.2f} s per probe batch -> {probe['dtype']}",
            flush=True,
        )
    if not args.quiet:
        _print_estimate(agent, problems, args, list(modes))
    try:
        runs = evaluate_with_baseline(
            agent, problems, output, config, independent=not args.no_independent, identity=identity
        )
    except (RunIdentityError, ValueError, AgentError) as error:
        raise CliError(_one_line(error)) from error
    titles = {"multi_turn": "multi-turn (execution feedback)", "independent": "independent sampling (baseline)"}
    for mode, run in runs.items():
        print(f"\n{format_summary(run.summary, titles[mode])}")
    print(f"\nresults and plots in {args.output}")
    return 0


def _print_plan(args: argparse.Namespace, problems: list[Any], modes: list[str]) -> None:
    """Say what will run before anything slow starts."""
    from codefeedback_env.evaluation.plan import describe_plan

    who = args.agent + (f" {args.model}" if args.agent in LLM_AGENTS else "")
    dataset = args.dataset + (f" [{args.split}]" if getattr(args, "split", None) else "")
    tokens = args.max_new_tokens if args.agent in LLM_AGENTS else None
    print(
        describe_plan(
            agent=who, dataset=dataset, problems=len(problems), rollouts=args.rollouts, max_turns=args.turns,
            modes=[mode.replace("_", "-") for mode in modes], max_new_tokens=tokens,
        ),
        flush=True,
    )  # fmt: skip


def _print_estimate(agent: Any, problems: list[Any], args: argparse.Namespace, modes: list[str]) -> None:
    """Time the agent's model briefly, where it can (`measure_speed`), and say how long the run's generation
    takes at that speed: typically, and at most."""
    from codefeedback_env.evaluation.plan import TYPICAL_PROGRAM_TOKENS, describe_estimate, estimate_generation_seconds
    from codefeedback_env.feedback import initial_prompt

    measure, count = getattr(agent, "measure_speed", None), getattr(agent, "prompt_tokens", None)
    batch_size = getattr(agent, "batch_size", None)
    if not callable(measure) or not callable(count) or not isinstance(batch_size, int):
        return
    prompts = count([[{"role": "user", "content": initial_prompt(problem)}] for problem in problems])
    speed = measure(min(batch_size, len(problems) * args.rollouts))
    typical = min(TYPICAL_PROGRAM_TOKENS, args.max_new_tokens) if not args.full_responses else args.max_new_tokens
    seconds = {
        tokens: estimate_generation_seconds(
            speed,
            prompts,
            rollouts=args.rollouts,
            max_turns=args.turns,
            batch_size=batch_size,
            modes=modes,
            response_tokens=tokens,
        )  # fmt: skip
        for tokens in (typical, args.max_new_tokens)
    }
    print(
        describe_estimate(seconds[typical], seconds[args.max_new_tokens], speed, typical, args.max_new_tokens),
        flush=True,
    )


def _dtype_probe(agent: Any) -> dict[str, Any] | None:
    """The timings behind `--dtype best`'s choice (an agent's local model loaded with it), as a record."""
    probe = getattr(getattr(agent, "model", None), "dtype_probe", None)
    record = getattr(probe, "as_record", None)
    return record() if callable(record) else None


def _loaded_dtype(agent: Any) -> str | None:
    """The weights dtype of an agent's local model ("float32", ...), if it has one."""
    dtype = getattr(getattr(agent, "model", None), "dtype", None)
    return None if dtype is None else str(dtype).removeprefix("torch.")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


# -- sweep and compare ---------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    parse = _int_at_least(1)
    values = [parse(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas (e.g. 1,3,5), got {text!r}")
    return values


def _feedback_list(text: str) -> list[str]:
    from codefeedback_env.evaluation.sweep import FEEDBACK_MODES

    values = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [v for v in values if v not in FEEDBACK_MODES]
    if unknown or not values:
        raise argparse.ArgumentTypeError(
            f"expected feedback modes from {','.join(FEEDBACK_MODES)} separated by commas, got {text!r}"
        )
    return values


def cmd_sweep(args: argparse.Namespace) -> int:
    problems, output = _evaluation_inputs(args)
    from codefeedback_env.agent import AgentError
    from codefeedback_env.evaluation.identity import RunIdentityError
    from codefeedback_env.evaluation.sweep import check_sweep_folders, format_sweep, run_sweep

    config = EvalConfig(rollouts=args.rollouts, seed=args.seed, progress=not args.quiet, bootstrap=args.bootstrap)
    identity = _identity(args)
    settings = {"turn_limits": args.turns, "feedbacks": args.feedback, "independent": not args.no_independent}
    try:  # before a model is loaded or a server asked: the agent is None, so only the identity is compared
        check_sweep_folders(output, None, problems, config, identity=identity, **settings)
        agent = _make_agent(args, problems)
    except (RunIdentityError, ImportError, OSError, ValueError, TypeError) as error:  # also a missing extra or model
        raise CliError(_one_line(error)) from error
    try:
        sweep = run_sweep(agent, problems, output, config, identity=identity, **settings)
    except (RunIdentityError, ValueError, AgentError) as error:
        raise CliError(_one_line(error)) from error
    print(f"\n{format_sweep(sweep)}")
    print(f"\nruns, sweep.json and plots in {args.output}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import json as json_module

    from codefeedback_env.evaluation.compare import CompareError, compare_runs, format_comparison, load_runs, pair_runs

    try:
        pairs = pair_runs(load_runs(args.run_a), load_runs(args.run_b), args.mode)
        comparisons = [compare_runs(a, b, resamples=args.resamples, seed=args.seed) for a, b in pairs]
    except CompareError as error:
        raise CliError(_one_line(error)) from error
    print("\n\n".join(format_comparison(c) for c in comparisons))
    if args.json:
        Path(args.json).write_text(json_module.dumps(comparisons, indent=2) + "\n")
        print(f"\ncomparison written to {args.json}")
    return 0


# -- prepare -------------------------------------------------------------------------------------

PREPARABLE = ("mbpp+",)


def cmd_prepare(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    if not path.is_file():
        raise CliError(f"dataset file {str(path)!r} does not exist")
    from codefeedback_env.judge import make_backend
    from codefeedback_env.preparation.mbpp_plus import prepare_mbpp_plus
    from codefeedback_env.problems import DatasetError

    backend = make_backend(args.backend)
    try:
        cache = prepare_mbpp_plus(path, cache_dir=args.cache_dir, backend=backend, workers=args.workers)
    except DatasetError as error:
        raise CliError(str(error)) from error
    finally:
        backend.close()
    print(f"prepared {path} -> {cache}")
    return 0


# -- validate ------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    problems = _load(args.dataset, args)
    if not problems:
        raise CliError(f"{args.dataset} has no problem (see the warnings above for skipped rows)")
    from codefeedback_env.judge import Judge
    from codefeedback_env.preparation.validation import validate_problems

    with Judge() as judge:
        findings = validate_problems(problems, judge, max_solutions=args.solutions, workers=args.workers)
    for finding in findings:
        print(f"{finding.severity}: {finding.problem_id}: {finding.message}")
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    print(f"{len(problems)} problems checked: {errors} errors, {warnings} warnings")
    return 1 if errors else 0


# -- serve ---------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    problems = _load(args.dataset)
    if not problems:
        raise CliError(f"{args.dataset} has no problem (see the warnings above for skipped rows)")
    try:
        from codefeedback_env.server.app import listen, serve
    except ImportError as error:
        raise CliError(f"the server needs the serve extra ({error}): pip install 'codefeedback[serve]'") from error
    from functools import partial

    from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
    from codefeedback_env.registration import REMOTE_ENV_ID

    try:
        sock = listen(args.host, args.port)
    except OSError as error:
        raise CliError(f"cannot listen on {args.host}:{args.port} ({error}); choose another --port/--host") from error
    host, port = sock.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    print(
        f"serving {len(problems)} problems of {args.dataset} at {url} (OpenEnv's HTTP reset/step with sessions); "
        f"connect with gym.make({REMOTE_ENV_ID!r}, base_url={url!r})",
        flush=True,
    )
    make_env = partial(CodeFeedbackEnv, problems, max_turns=args.max_turns, feedback=args.feedback)
    serve(
        make_env,
        sock,
        max_sessions=args.max_sessions,
        idle_timeout=args.idle_timeout,
        log_level="info" if args.verbose else "warning",
    )
    return 0


# -- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="codefeedback", description=__doc__.split("\n")[0], formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=_Formatter)

    dataset_help = "a dataset name (demo, ...) or file the loaders accept"
    judge = command("judge", "judge a program on a problem's tests; prints one JSON object")
    judge.add_argument("dataset", help=dataset_help)
    judge.add_argument("--problem", required=True, help="problem id, id suffix, or index")
    judge.add_argument("--code", required=True, help="the program file")
    judge.add_argument(
        "--tests", choices=("public", "hidden", "generated", "all"), default="public", help="which tests to run"
    )
    judge.set_defaults(func=cmd_judge)

    problems = command("problems", "list a dataset's problems or show one")
    problems.add_argument("dataset", help=dataset_help)
    problems.add_argument("--show", metavar="ID", help="show one problem's statement and public tests")
    _add_dataset_options(problems)
    problems.set_defaults(func=cmd_problems)

    play = command("play", "play an episode in the terminal")
    play.add_argument("dataset", help=dataset_help)
    play.add_argument("--problem", required=True, help="problem id, id suffix, or index")
    play.add_argument("--max-turns", type=_int_at_least(1), default=_default(EvalConfig, "max_turns"), help="attempts")
    play.set_defaults(func=cmd_play)

    ev = command("eval", "evaluate an agent (multi-turn and independent sampling); resumable")
    ev.add_argument(
        "--dataset",
        default=EVAL_DATASET,
        help="dataset name or file; the default is 10 demo problems sized for minutes on a CPU ('demo': all 30)",
    )
    ev.add_argument(
        "--agent",
        default="transformers",
        help="who writes the programs: an installed agent (built in: transformers, openai, vllm, reference, replay, "
        "random; plugins add theirs) or package.module:Factory",
    )
    ev.add_argument("--model", default="smollm2", help="model path, hub id, .gguf file, or 'smollm2'")
    ev.add_argument(
        "--turns", type=_int_at_least(1), default=_default(EvalConfig, "max_turns"), help="attempts per episode"
    )
    ev.add_argument("--rollouts", type=_int_at_least(1), default=EVAL_ROLLOUTS, help="episodes per problem")
    ev.add_argument(
        "--feedback",
        choices=[mode.value for mode in FeedbackMode],
        default=_default(EvalConfig, "feedback"),
        help="what the model sees after a failed turn (none / random: the paper's ablations)",
    )
    ev.add_argument("--seed", type=_int_at_least(0), default=_default(EvalConfig, "seed"), help="sampling and envs")
    ev.add_argument(
        "--bootstrap",
        choices=BOOTSTRAP_UNITS,
        default=_default(EvalConfig, "bootstrap"),
        help="what the 95%% intervals resample: problems, or each problem's rollouts (the paper's setting)",
    )
    ev.add_argument("--output", default="runs/eval", help="folder for episodes.jsonl, results.json, plots (resumable)")
    ev.add_argument("--no-independent", action="store_true", help="skip the independent-sampling baseline")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    pick = ev.add_argument_group("problem selection (applied in this order)")
    pick.add_argument(
        "--exclude-problems",
        metavar="FILE",
        help="leave out these problems (a file of ids, a training run's folder, or a dataset; also by statement) "
        "and report the overlap",
    )
    pick.add_argument("--problems", metavar="ID,ID,...", help="only these problems (ids, id suffixes or indices)")
    pick.add_argument("--shuffle", action="store_true", help="shuffle the problems (with --selection-seed)")
    pick.add_argument("--sample", type=_int_at_least(1), metavar="N", help="N problems drawn at random")
    pick.add_argument("--selection-seed", type=int, default=0, help="seed of --shuffle and --sample")
    pick.add_argument("--limit", type=_int_at_least(1), metavar="N", help="only the first N problems")
    llm = ev.add_argument_group("sampling (transformers, openai, vllm)")
    llm.add_argument("--temperature", type=float, default=EVAL_TEMPERATURE, help="0 decodes greedily")
    llm.add_argument("--top-p", type=float, default=EVAL_TOP_P, help="nucleus sampling mass")
    llm.add_argument(
        "--max-new-tokens",
        type=_int_at_least(1),
        help=f"response cap (default: {QUICK_MAX_NEW_TOKENS} on {EVAL_DATASET}, else {EVAL_MAX_NEW_TOKENS})",
    )
    llm.add_argument(
        "--full-responses",
        action="store_true",
        help="generate each response to its end (the paper) instead of stopping after its first ```python block",
    )
    local = ev.add_argument_group("transformers agent")
    local.add_argument(
        "--batch-size", type=_int_at_least(1), default=EVAL_BATCH_SIZE, help="prompts generated together"
    )
    local.add_argument(
        "--dtype",
        choices=("best", "auto", "bfloat16", "float32"),
        default="best",
        help="weights dtype; best: time the model in float32 and bfloat16 on this CPU and keep the faster "
        "(float32 unless bfloat16 is >10%% faster; the decision is kept in --model-cache)",
    )
    local.add_argument(
        "--model-cache",
        default=str(_user_cache() / "models"),
        metavar="DIR",
        help="where a .gguf model's converted copy and --dtype best's decision are kept for later runs "
        "('none': convert and time every time)",
    )
    local.add_argument(
        "--reprobe-dtype",
        action="store_true",
        help="with --dtype best: time float32 and bfloat16 again instead of using the decision kept in --model-cache",
    )
    remote = ev.add_argument_group("openai agent (an OpenAI-compatible server)")
    remote.add_argument("--base-url", help="API root, e.g. http://127.0.0.1:8000/v1")
    remote.add_argument("--api-key", help="API key (default: $OPENAI_API_KEY, else none)")
    remote.add_argument("--timeout", type=_positive_float, default=60.0, help="seconds per request")
    remote.add_argument("--concurrency", type=_int_at_least(1), default=8, help="requests in flight")
    remote.add_argument("--max-retries", type=_int_at_least(0), default=3, help="retries of a failed request")
    ev.add_argument("--replay-file", help="JSONL of recorded responses (--agent replay)")
    _add_dataset_options(ev)
    ev.set_defaults(func=cmd_eval)

    # `sweep` takes every option of `eval` (from a copy: "resolve" edits the actions it replaces), with --turns
    # and --feedback as lists and its own --output.
    sweep_help = "solve rate against the turn limit, execution feedback vs the ablations; resumable"
    sweep = sub.add_parser(
        "sweep", help=sweep_help, description=sweep_help, parents=[copy.deepcopy(ev)], add_help=False,
        conflict_handler="resolve", formatter_class=_Formatter,
    )  # fmt: skip
    sweep.add_argument("--turns", type=_int_list, default=[1, 3, 5], metavar="T,T,...", help="turn limits")
    sweep.add_argument(
        "--feedback",
        type=_feedback_list,
        default=["execution", "random", "none"],
        metavar="MODE,...",
        help="feedback modes: execution, random, none",
    )
    sweep.add_argument(
        "--no-independent", action="store_true", help="skip the independent-sampling baseline at each turn limit"
    )
    sweep.add_argument("--output", default="runs/sweep", help="folder of the sweep's runs, sweep.json and sweep.png")
    sweep.set_defaults(func=cmd_sweep)

    compare = command("compare", "compare two evaluation runs of the same problems (paired bootstrap over problems)")
    compare.add_argument("run_a", metavar="RUN_A", help="an --output folder of eval (or one of its mode folders)")
    compare.add_argument("run_b", metavar="RUN_B", help="the run compared with RUN_A (differences are B - A)")
    compare.add_argument("--mode", choices=("multi_turn", "independent"), help="compare only this mode")
    compare.add_argument("--resamples", type=_int_at_least(1), default=BOOTSTRAP_RESAMPLES, help="bootstrap resamples")
    compare.add_argument("--seed", type=_int_at_least(0), default=0, help="bootstrap seed")
    compare.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    compare.set_defaults(func=cmd_compare)

    prepare = command("prepare", "compute what a dataset needs before loading (MBPP+'s expected outputs)")
    prepare.add_argument("dataset", choices=PREPARABLE, help="the dataset to prepare")
    prepare.add_argument("path", help="the dataset file (e.g. MbppPlus-v0.1.0.jsonl)")
    prepare.add_argument(
        "--cache-dir", help="where to write (default: $XDG_CACHE_HOME/codefeedback or ~/.cache/codefeedback)"
    )
    prepare.add_argument(
        "--backend", choices=("pool", "subprocess"), default="subprocess", help="the judge backend that runs them"
    )
    prepare.add_argument(
        "--workers", type=_int_at_least(1), help="problems prepared at a time (default: the number of cores)"
    )
    prepare.set_defaults(func=cmd_prepare)

    validate = command("validate", "run each problem's reference solutions on all its tests; report what fails")
    validate.add_argument("dataset", help=dataset_help)
    validate.add_argument("--solutions", type=_int_at_least(1), default=1, help="reference solutions per problem")
    validate.add_argument("--workers", type=_int_at_least(1), default=2, help="problems checked at a time")
    _add_dataset_options(validate)
    validate.set_defaults(func=cmd_validate)

    serve = command("serve", "serve the environment over HTTP (reset/step sessions) to trainers in other processes")
    serve.add_argument("dataset", nargs="?", default="demo", help=dataset_help)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=_int_at_least(0), default=8000, help="TCP port (0: a free one, printed)")
    serve.add_argument("--max-turns", type=_int_at_least(1), default=_default(EvalConfig, "max_turns"), help="attempts")
    serve.add_argument(
        "--feedback",
        choices=[mode.value for mode in FeedbackMode],
        default=FeedbackMode.EXECUTION.value,
        help="what follows a failed turn",
    )
    serve.add_argument(
        "--max-sessions", type=_int_at_least(1), default=DEFAULT_MAX_SESSIONS, help="live sessions at most (then 503)"
    )
    serve.add_argument(
        "--idle-timeout",
        type=_positive_float,
        default=DEFAULT_IDLE_TIMEOUT,
        help="seconds without a request after which a session is closed",
    )
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `codefeedback` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except CliError as error:
        if args.verbose and error.__cause__ is not None:  # where the underlying error came from
            import traceback

            traceback.print_exception(error.__cause__, file=sys.stderr)
        print(f"codefeedback {args.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted; finished episodes are kept (re-run to continue)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
