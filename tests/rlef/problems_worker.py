"""Worker for the two-process problem-loading test: `torchrun --nproc_per_node 2 tests/rlef/problems_worker.py OUT`.

Each rank parses the training example's options (a CodeContests folder of split files, `--split train`, evaluated
on `--eval_dataset_split valid`), loads the problems as `examples/train_rlef.py` does, builds the training env on
them and writes OUT/rank{r}.json: the problems it holds (ids and content digests), the store files it maps and
the env's view of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
from accelerate import PartialState

import codefeedback_env  # noqa: F401  (registers the environments)
from agents.rlef.evaluate import ProblemArguments
from agents.rlef.parser import parse_rlef_args
from codefeedback_env.evaluation.identity import problem_sha256
from codefeedback_env.problems.store import ProblemStore


def main(out: Path) -> None:
    data = out / "codecontests"
    args = ["--dataset", str(data), "--split", "train", "--eval_dataset", str(data), "--eval_dataset_split", "valid"]
    args += ["--output_dir", str(out / "run"), "--use_cpu", "true", "--report_to", "none"]
    script, config = parse_rlef_args(ProblemArguments, args)
    state = PartialState()
    training, evaluation = script.problems(config.output_dir, state)
    env = gym.make("CodeFeedback/CodeFeedback-v0", dataset=training, **config.env_kwargs()).unwrapped
    env.reset(options={"problem_id": training.ids[-1]})
    result = {
        "world_size": state.num_processes,
        "types": [type(training).__name__, type(evaluation).__name__],
        "stores": sorted({str(training.path), str(evaluation.path)}),
        "env_holds_the_store": isinstance(env.problems, ProblemStore) and env.problems.path == training.path,
        "env_problem": problem_sha256(env.problem),
        "training": [[p.id, problem_sha256(p)] for p in training],
        "evaluation": [[p.id, problem_sha256(p)] for p in evaluation],
    }
    (out / f"rank{state.process_index}.json").write_text(json.dumps(result))
    state.wait_for_everyone()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
