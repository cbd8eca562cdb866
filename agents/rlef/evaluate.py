"""Evaluate a policy being trained with the project's evaluation runner (episodes.jsonl, results.json, plots)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.llm import SamplingConfig, TransformersAgent
from agents.llm.local_model import load_causal_lm
from codefeedback_env.evaluation.runner import EvalConfig, run_evaluation
from codefeedback_env.problems import Problem
from codefeedback_env.problems.overlap import PROBLEM_LIST_NAME, ProblemList, leave_out, write_problem_list
from codefeedback_env.problems.store import problem_ids, problem_store

from .pretrained import POLICY_DTYPES
from .rollout import generation_mode
from .server_agent import ServerAgent


def split_problems(
    dataset: Sequence[Problem],
    max_problems: int | None,
    eval_dataset: Sequence[Problem] | None,
    eval_max_problems: int | None,
    eval_split: float,
) -> tuple[Sequence[Problem], Sequence[Problem]]:
    """(training problems, evaluation problems), disjoint by id; views of `dataset` and `eval_dataset` when
    those are `ProblemStore`s.

    Training takes the first `max_problems` of `dataset` (None: all of them, except, when no `eval_dataset` is
    given, its last `eval_split` fraction, held out for evaluation). Evaluation takes the first
    `eval_max_problems` (None: all) of `eval_dataset`, else of `dataset`, that are not training problems.
    """
    if not 0.0 <= eval_split < 1.0:
        raise ValueError(f"eval_split={eval_split!r} is invalid: use a fraction in [0, 1), e.g. 0.2.")
    for name, value in (("max_problems", max_problems), ("eval_max_problems", eval_max_problems)):
        if value is not None and value < 0:
            raise ValueError(f"{name}={value} is invalid: use a number of problems >= 0, or leave it unset for all.")
    if max_problems is None:
        held = round(len(dataset) * eval_split) if eval_dataset is None else 0
        max_problems = len(dataset) - held
    training = dataset[:max_problems]
    candidates = dataset if eval_dataset is None else eval_dataset
    limit = len(candidates) if eval_max_problems is None else eval_max_problems
    return training, held_out_problems(training, candidates, limit)


def run_evaluation_folder(output_dir: str | os.PathLike[str]) -> Path:
    """A new folder for one run's evaluations: `output_dir/evaluations/<UTC time>-<pid>` (never an earlier run's,
    which the runner would resume instead of evaluating this run's policy)."""
    return Path(output_dir) / "evaluations" / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{os.getpid()}"


def load_trained_policy(folder: str | os.PathLike[str], device: Any, dtype: str = "float32") -> Any:
    """The policy a trainer saved in `folder` (`trainer.save_model`), on `device`, for evaluation.

    Loading the saved folder rather than using the trainer's model works under every distribution (a ZeRO-3
    model's weights are sharded over the ranks; the saved folder holds them whole).
    """
    model, _ = load_causal_lm(folder, dtype=dtype, device=str(device))
    return model


def held_out_problems(training: Sequence[Problem], candidates: Sequence[Problem], limit: int) -> Sequence[Problem]:
    """The first `limit` problems of `candidates` that are not among `training` (by id): evaluation on problems
    the policy did not train on."""
    seen = ProblemList("the training problems", frozenset(problem_ids(training)))
    held_out = leave_out(candidates, seen).kept[:limit]
    if limit > 0 and not held_out:
        raise ValueError(
            f"no evaluation problems left: all {len(candidates)} candidates are training problems; pass an "
            "--eval_dataset with other problems or lower --max_problems."
        )
    return held_out


def evaluation_sampling(max_new_tokens: int = 512) -> SamplingConfig:
    """The paper's 1@3 sampling: temperature 0.2, top-p 0.95, `max_new_tokens` per response."""
    return SamplingConfig(temperature=0.2, top_p=0.95, max_new_tokens=max_new_tokens, seed=0)


def evaluate_agent(
    agent: Any, problems: Sequence[Problem], output_dir: str | Path, rollouts: int, max_turns: int
) -> list[float]:
    """Per-turn cumulative solve rates of `agent` over `rollouts` episodes of each problem, recorded (and
    resumable) in `output_dir` by `run_evaluation` like any `codefeedback eval` run."""
    result = run_evaluation(agent, problems, output_dir, EvalConfig(rollouts=rollouts, max_turns=max_turns))
    return [row["value"] for row in result.summary["solve_rate_by_turn"]]


def evaluate_policy(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Problem],
    output_dir: str | Path,
    *,
    rollouts: int = 2,
    max_turns: int = 3,
    max_new_tokens: int = 512,
    sampling: SamplingConfig | None = None,
    batch_size: int = 8,
) -> list[float]:
    """Per-turn cumulative solve rates of `model` (in memory) over `rollouts` episodes of each problem.

    Runs `evaluate_agent` with a `TransformersAgent` around the model. Sampling defaults to
    `evaluation_sampling(max_new_tokens)`; a `sampling` given is used as is. The model runs in `generation_mode`
    (eval mode, no gradient checkpointing).
    """
    sampling = sampling or evaluation_sampling(max_new_tokens)
    with generation_mode(model):
        agent = TransformersAgent(model, sampling=sampling, batch_size=batch_size, tokenizer=tokenizer)
        return evaluate_agent(agent, problems, output_dir, rollouts, max_turns)


def evaluate_through_server(
    trainer: Any,
    tokenizer: Any,
    problems: Sequence[Problem],
    output_dir: str | Path,
    rollouts: int,
    max_turns: int,
    sampling: SamplingConfig,
) -> list[float] | None:
    """Per-turn solve rates of the trainer's current policy, generated by its vLLM server (TRL server mode).

    Every process must call it: the trainer's weights are first synced to the server (a collective under
    ZeRO-3), then the main process evaluates with a `ServerAgent` on the trainer's client and returns the
    rates; the other processes wait for it and return None.
    """
    trainer.vllm_generation.sync_weights()
    rates = None
    if trainer.accelerator.is_main_process:
        agent = ServerAgent(trainer.vllm_generation.vllm_client, tokenizer, sampling)
        rates = evaluate_agent(agent, problems, output_dir, rollouts, max_turns)
    trainer.accelerator.wait_for_everyone()
    return rates


@dataclass
class ProblemArguments:
    """The options of the example training scripts (`examples/train_*.py`): the policy, the problems trained on
    and the problems the policy is evaluated on, before and after training."""

    model: str | None = field(default=None, metadata={"help": "Hub id or folder; default: SmolLM2-135M GGUF."})
    dtype: str | None = field(
        default=None,
        metadata={"help": "Dtype of the policy's weights on every process (value network, KL reference and "
                  "evaluation copies follow): float32, bfloat16 or auto (the checkpoint's). Default: float32 (TRL's), "
                  "bfloat16 under DeepSpeed with --bf16 true on a GPU with bfloat16. Saved with the run: a resume "
                  "with another dtype is refused.",
                  "choices": list(POLICY_DTYPES)},
    )  # fmt: skip
    dataset: str = field(default="demo", metadata={"help": "demo, codecontests, humaneval, mbpp or a .jsonl path."})
    max_problems: int | None = field(
        default=None,
        metadata={"help": "Problems trained on, the dataset's first ones (default: all but the --eval_split)."},
    )
    split: str | None = field(
        default=None,
        metadata={"help": "CodeContests split of --dataset (train, valid, test): the hub's, or a local folder's "
                  "(train-*.parquet, valid.jsonl, a saved DatasetDict). Default: the hub's train split, a file whole."},
    )  # fmt: skip
    eval_dataset: str | None = field(
        default=None, metadata={"help": "Problems to evaluate on (default: --dataset); training problems are removed."}
    )
    eval_dataset_split: str | None = field(
        default=None, metadata={"help": "CodeContests split of --eval_dataset (e.g. valid), as --split."}
    )
    eval_split: float = field(
        default=0.2,
        metadata={"help": "Without --max_problems and --eval_dataset: the fraction of --dataset (its last problems) "
                  "held out of training for evaluation."},
    )  # fmt: skip
    eval_max_problems: int | None = field(
        default=None, metadata={"help": "Problems evaluated on, before and after (default: all held-out ones)."}
    )
    problem_cache: str | None = field(
        default=None,
        metadata={"help": "Folder of the problems converted to Arrow files, memory-mapped by every process (held "
                  "once per node, not once per process); reused while the dataset is unchanged. Default: "
                  "OUTPUT_DIR/problem_cache."},
    )  # fmt: skip
    eval_rollouts: int = field(
        default=2, metadata={"help": "Evaluation episodes per problem, before and after (runner); 0 skips them."}
    )

    def problems(self, output_dir: str | os.PathLike[str], state: Any) -> tuple[Sequence[Problem], Sequence[Problem]]:
        """(training problems, evaluation problems) by `split_problems`, as views of `ProblemStore`s: each node's
        main process (`state`, accelerate's) converts the datasets once into the `problem_cache` folder while
        the node's other processes wait, then every process memory-maps them. The main process writes the
        training problems' ids to `output_dir` (for `codefeedback eval --exclude-problems`)."""
        folder = Path(self.problem_cache or Path(output_dir) / "problem_cache")
        with state.local_main_process_first():
            build = state.is_local_main_process
            dataset = problem_store(self.dataset, folder, build=build, **_split_option(self.split))
            eval_candidates = (
                problem_store(self.eval_dataset, folder, build=build, **_split_option(self.eval_dataset_split))
                if self.eval_dataset
                else None
            )
        training, evaluation = split_problems(
            dataset, self.max_problems, eval_candidates, self.eval_max_problems, self.eval_split
        )
        if state.is_main_process:
            write_problem_list(Path(output_dir) / PROBLEM_LIST_NAME, training)
        return training, evaluation


def _split_option(split: str | None) -> dict[str, str]:
    return {} if split is None else {"split": split}


class BeforeAndAfter:
    """An example script's evaluation of its policy before and after training: on the main process only (none
    with `eval_rollouts` 0), into this run's own folder (`run_evaluation_folder`), printed as per-turn solve
    rates. Generated on the main process's training device in the training dtype, or, with `through_server`
    (TRL's vLLM server mode), by the run's vLLM server after a weight sync (`evaluate_through_server`)."""

    def __init__(
        self,
        script: ProblemArguments,
        problems: Sequence[Problem],
        output_dir: str | os.PathLike[str],
        state: Any,
        max_turns: int,
        max_new_tokens: int,
        dtype: str = "float32",
        through_server: bool = False,
    ) -> None:
        self.wanted = script.eval_rollouts > 0
        self.enabled = self.wanted and state.is_main_process
        self.dtype, self.through_server = dtype, through_server
        self.problems, self.output_dir, self.device = problems, output_dir, state.device
        self.folder = run_evaluation_folder(output_dir)
        self.options = dict(rollouts=script.eval_rollouts, max_turns=max_turns, max_new_tokens=max_new_tokens)

    def before(self, model: Any, tokenizer: Any, resuming: bool) -> None:
        """The initial policy (moved to the training device); skipped when resuming a run, and left to
        `before_on_server` when evaluating through the server."""
        if self.enabled and not resuming and not self.through_server:
            model.to(self.device)
            self._evaluate("before", model, tokenizer)

    def before_on_server(self, trainer: Any, tokenizer: Any, resuming: bool) -> None:
        """Through the server, the trainer's initial policy (every process calls it); skipped when resuming."""
        if self.wanted and not resuming and self.through_server:
            self._through_server("before", trainer, tokenizer)

    def after(self, tokenizer: Any, trainer: Any = None) -> None:
        """Through the server, the trained policy (every process calls it); otherwise the policy the trainer saved
        in `output_dir`, loaded whole on the main process whatever the distribution."""
        if self.wanted and self.through_server:
            self._through_server("after", trainer, tokenizer)
        elif self.enabled:
            self._evaluate("after", load_trained_policy(self.output_dir, self.device, self.dtype), tokenizer)

    def _through_server(self, stage: str, trainer: Any, tokenizer: Any) -> None:
        rollouts, max_turns, max_new_tokens = (self.options[k] for k in ("rollouts", "max_turns", "max_new_tokens"))
        sampling = evaluation_sampling(max_new_tokens)
        rates = evaluate_through_server(
            trainer, tokenizer, self.problems, self.folder / stage, rollouts, max_turns, sampling
        )
        if rates is not None:
            self._print(stage, rates)

    def _evaluate(self, stage: str, model: Any, tokenizer: Any) -> None:
        self._print(stage, evaluate_policy(model, tokenizer, self.problems, self.folder / stage, **self.options))

    def _print(self, stage: str, rates: list[float]) -> None:
        print(f"solve rate by turn  {stage}: {[round(x, 3) for x in rates]}  ({self.folder / stage})")
