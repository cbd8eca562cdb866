"""Train a policy with TRL's GRPO on the same multi-turn execution-feedback rollouts as RLEF.

CPU default (offline SmolLM2-135M-Instruct GGUF, bundled demo set, a handful of steps):

    python examples/train_grpo.py

GPU recipe (vLLM server on GPU 7, DeepSpeed ZeRO-3 on GPUs 0-6; vLLM is GPU-only):

    CUDA_VISIBLE_DEVICES=7 trl vllm-serve --model Qwen/Qwen2.5-Coder-7B-Instruct --logprobs-mode processed_logprobs
    CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6 accelerate launch --num_processes 7 \\
        --config_file examples/accelerate_configs/zero3.yaml examples/train_grpo.py \\
        --model Qwen/Qwen2.5-Coder-7B-Instruct --dataset codecontests --bf16 true \\
        --use_vllm true --vllm_mode server --learning_rate 2e-7 --warmup_steps 50 \\
        --per_device_train_batch_size 8 --num_generations 8 --max_completion_length 1024 --max_steps 2000
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
from datasets import Dataset
from transformers import HfArgumentParser
from trl import GRPOConfig

import codefeedback_env  # noqa: F401  (registers the environments)
from agents.grpo import make_grpo_trainer
from agents.rlef.evaluate import evaluate_policy, held_out_problems
from agents.rlef.pretrained import is_vllm_available, load_policy
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
    max_turns: int = field(default=3, metadata={"help": "Turns per episode (paper: 3)."})
    eval_rollouts: int = field(
        default=2, metadata={"help": "Evaluation episodes per problem, before and after (runner)."}
    )


CPU_DEFAULTS = dict(
    output_dir="runs/grpo-smollm2",
    use_cpu=True,
    bf16=False,
    max_steps=4,
    per_device_train_batch_size=4,
    num_generations=2,
    max_completion_length=96,
    learning_rate=1e-5,
    weight_decay=0.1,
    warmup_steps=0,
    temperature=1.0,
    beta=0.0,
    logging_steps=1,
    save_steps=4,
    report_to="none",
)


def main() -> None:
    parser = HfArgumentParser((ScriptArguments, GRPOConfig))
    parser.set_defaults(**CPU_DEFAULTS)
    script, config = parser.parse_args_into_dataclasses()
    if config.use_vllm and not is_vllm_available():
        raise SystemExit("--use_vllm needs vLLM, which is GPU-only (pip install vllm==0.31.0 on a CUDA machine).")
    dataset = load_problems(script.dataset)
    problems = dataset[: script.max_problems]
    ids = [p.id for p in problems]
    write_problem_list(Path(config.output_dir) / PROBLEM_LIST_NAME, problems)  # codefeedback eval --exclude-problems
    candidates = load_problems(script.eval_dataset) if script.eval_dataset else dataset
    eval_problems = held_out_problems(problems, candidates, script.eval_max_problems)
    model, tokenizer = load_policy(script.model)
    make_env = lambda: gym.make("CodeFeedback/CodeFeedback-v0", dataset=problems, max_turns=script.max_turns)  # noqa: E731
    evaluation = dict(
        rollouts=script.eval_rollouts, max_turns=script.max_turns, max_new_tokens=config.max_completion_length
    )
    before = evaluate_policy(model, tokenizer, eval_problems, f"{config.output_dir}/eval-before", **evaluation)
    trainer = make_grpo_trainer(
        model, make_env, config, Dataset.from_dict({"prompt": ids}), tokenizer, script.max_turns
    )
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)  # a path; TRL's own checkpoint format
    after = evaluate_policy(trainer.model, tokenizer, eval_problems, f"{config.output_dir}/eval-after", **evaluation)
    print(f"solve rate by turn  before: {[round(x, 3) for x in before]}  after: {[round(x, 3) for x in after]}")


if __name__ == "__main__":
    main()
