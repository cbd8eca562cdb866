"""The `codefeedback` command: judge a program, list problems, play an episode, evaluate an agent.

    codefeedback judge DATASET --problem ID --code PROGRAM.py [--tests public|hidden|all]
    codefeedback problems DATASET [--show ID]
    codefeedback play DATASET --problem ID [--max-turns 3]
    codefeedback eval [--dataset demo] [--agent transformers] [--turns 3] [--rollouts 2] [--output runs/eval]
    codefeedback prepare mbpp+ MBPP_PLUS.jsonl [--cache-dir DIR] [--backend pool|subprocess] [--workers N]

Heavy imports (the judge, torch, the agents) happen inside the subcommands.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

USAGE_ERROR = 2
AGENTS = ("transformers", "openai", "vllm", "reference", "replay", "random")


class CliError(Exception):
    """A user error: printed without a traceback, exit code 2."""


def _load(dataset: str) -> list[Any]:
    from codefeedback_env.problems import DatasetError, load_problems

    try:
        return load_problems(dataset)
    except (DatasetError, FileNotFoundError) as error:
        raise CliError(str(error)) from error


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
    problems = _load(args.dataset)
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


def _read_program(stream: Any) -> str | None:
    """Lines until one that is only `EOF`, two blank lines in a row, or end of input; None at end of input."""
    lines: list[str] = []
    blank = 0
    while True:
        line = stream.readline()
        if line == "":
            return "".join(lines) if lines else None
        if line.strip() == "EOF":
            return "".join(lines)
        blank = blank + 1 if not line.strip() else 0
        if blank >= 2:
            return "".join(lines).rstrip("\n") + "\n"
        lines.append(line)


def cmd_play(args: argparse.Namespace) -> int:
    problems = _load(args.dataset)
    problem = _find(problems, args.problem)
    from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv

    env = CodeFeedbackEnv(problems, max_turns=args.max_turns)
    _, info = env.reset(seed=0, options={"problem_id": problem.id})
    print(info["messages"][-1]["content"])
    while True:
        print(f"\n--- turn {info['turn'] + 1} of {args.max_turns}: type your program, end with a line 'EOF' ---")
        sys.stdout.flush()
        program = _read_program(sys.stdin)
        if program is None:
            print("\n(end of input: episode abandoned)")
            return 1
        _, reward, terminated, truncated, info = env.step(f"```python\n{program.rstrip()}\n```")
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
    if args.agent == "reference":
        from agents.baselines import ReferenceAgent

        return ReferenceAgent(problems)
    if args.agent == "random":
        from agents.baselines import RandomAgent

        return RandomAgent(problems, seed=args.seed)
    if args.agent == "replay":
        if not args.replay_file:
            raise CliError("--agent replay needs --replay-file FILE (JSONL of recorded responses)")
        if not Path(args.replay_file).is_file():
            raise CliError(f"replay file {args.replay_file!r} does not exist")
        from agents.baselines import ReplayAgent

        return ReplayAgent(args.replay_file, missing_response="")
    from agents.llm.sampling import SamplingConfig

    sampling = SamplingConfig(
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed
    )
    if args.agent == "transformers":
        from agents.llm.transformers_agent import TransformersAgent

        return TransformersAgent(args.model, sampling=sampling, batch_size=args.batch_size, dtype=args.dtype)
    if args.agent == "openai":
        if not args.base_url:
            raise CliError("--agent openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        from agents.llm.openai_agent import OpenAICompatibleAgent

        return OpenAICompatibleAgent(args.base_url, args.model, sampling=sampling)
    from agents.llm.vllm_agent import VLLMAgent

    return VLLMAgent(args.model, sampling=sampling)


def cmd_eval(args: argparse.Namespace) -> int:
    problems = _load(args.dataset)
    if args.limit is not None:
        problems = problems[: args.limit]
    from codefeedback_env.evaluation import EvalConfig, evaluate_with_baseline, format_summary

    try:
        agent = _make_agent(args, problems)
    except (ImportError, FileNotFoundError) as error:  # e.g. the offline model or an extra is not installed
        raise CliError(str(error)) from error
    config = EvalConfig(
        rollouts=args.rollouts, max_turns=args.turns, feedback=args.feedback, seed=args.seed, progress=not args.quiet
    )
    try:
        runs = evaluate_with_baseline(agent, problems, args.output, config, independent=not args.no_independent)
    except ValueError as error:
        raise CliError(str(error)) from error
    titles = {"multi_turn": "multi-turn (execution feedback)", "independent": "independent sampling (baseline)"}
    for mode, run in runs.items():
        print(f"\n{format_summary(run.summary, titles[mode])}")
    print(f"\nresults and plots in {args.output}")
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


# -- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codefeedback", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    judge = sub.add_parser("judge", help="judge a program on a problem's tests; prints one JSON object")
    judge.add_argument("dataset", help="a dataset name (demo, ...) or file the loaders accept")
    judge.add_argument("--problem", required=True, help="problem id, id suffix, or index")
    judge.add_argument("--code", required=True, help="the program file")
    judge.add_argument("--tests", choices=("public", "hidden", "all"), default="public")
    judge.set_defaults(func=cmd_judge)

    problems = sub.add_parser("problems", help="list a dataset's problems or show one")
    problems.add_argument("dataset", help="a dataset name (demo, ...) or file the loaders accept")
    problems.add_argument("--show", metavar="ID", help="show one problem's statement and public tests")
    problems.set_defaults(func=cmd_problems)

    play = sub.add_parser("play", help="play an episode in the terminal")
    play.add_argument("dataset", help="a dataset name (demo, ...) or file the loaders accept")
    play.add_argument("--problem", required=True, help="problem id, id suffix, or index")
    play.add_argument("--max-turns", type=int, default=3, help="attempts before the episode ends")
    play.set_defaults(func=cmd_play)

    ev = sub.add_parser("eval", help="evaluate an agent (multi-turn and independent sampling); resumable")
    ev.add_argument("--dataset", default="demo", help="dataset name or file (default: the bundled demo set)")
    ev.add_argument("--agent", choices=AGENTS, default="transformers", help="who writes the programs")
    ev.add_argument("--model", default="smollm2", help="model path, hub id, .gguf file, or 'smollm2'")
    ev.add_argument("--base-url", help="OpenAI-compatible API root (--agent openai)")
    ev.add_argument("--turns", type=int, default=3, help="attempts per episode (paper: 3)")
    ev.add_argument("--rollouts", type=int, default=2, help="episodes per problem")
    ev.add_argument("--temperature", type=float, default=0.2, help="sampling temperature (paper, 1@3: 0.2)")
    ev.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (paper: 0.95)")
    ev.add_argument("--max-new-tokens", type=int, default=256, help="response length cap")
    ev.add_argument("--batch-size", type=int, default=8, help="prompts generated together (transformers)")
    ev.add_argument(
        "--dtype",
        choices=("auto", "bfloat16", "float32"),
        default="bfloat16",
        help="transformers weights dtype; bfloat16 is about 2x faster than float32 on CPUs with AVX512-BF16",
    )
    ev.add_argument(
        "--feedback",
        choices=("execution", "none", "random"),
        default="execution",
        help="what the model sees after a failed turn (none / random: the paper's ablations)",
    )
    ev.add_argument("--seed", type=int, default=0, help="seed of sampling and environments")
    ev.add_argument("--output", default="runs/eval", help="folder for episodes.jsonl, results.json, plots (resumable)")
    ev.add_argument("--replay-file", help="JSONL of recorded responses (--agent replay)")
    ev.add_argument("--limit", type=int, help="evaluate only the first N problems")
    ev.add_argument("--no-independent", action="store_true", help="skip the independent-sampling baseline")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=cmd_eval)

    prepare = sub.add_parser("prepare", help="compute what a dataset needs before loading (MBPP+'s expected outputs)")
    prepare.add_argument("dataset", choices=PREPARABLE, help="the dataset to prepare")
    prepare.add_argument("path", help="the dataset file (e.g. MbppPlus-v0.1.0.jsonl)")
    prepare.add_argument(
        "--cache-dir", help="where to write (default: $XDG_CACHE_HOME/codefeedback or ~/.cache/codefeedback)"
    )
    prepare.add_argument(
        "--backend",
        choices=("pool", "subprocess"),
        default="subprocess",
        help="the judge backend that runs the references",
    )
    prepare.add_argument("--workers", type=int, help="problems prepared at a time (default: the number of cores)")
    prepare.set_defaults(func=cmd_prepare)
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
        print(f"codefeedback {args.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted; finished episodes are kept (re-run to continue)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
