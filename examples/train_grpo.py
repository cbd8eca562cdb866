"""Train a policy with TRL's GRPO on the same multi-turn execution-feedback rollouts as RLEF.

CPU default (offline SmolLM2-135M-Instruct GGUF, bundled demo set, a handful of steps):

    python examples/train_grpo.py
    python examples/train_grpo.py --config run.yaml      # options as `name: value`; flags override them

GPU recipe (vLLM server on GPU 7, DeepSpeed ZeRO-3 on GPUs 0-6; vLLM is GPU-only):

    CUDA_VISIBLE_DEVICES=7 trl vllm-serve --model Qwen/Qwen2.5-Coder-7B-Instruct --logprobs-mode processed_logprobs
    CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6 accelerate launch --num_processes 7 \\
        --config_file examples/accelerate_configs/zero3.yaml examples/train_grpo.py \\
        --model Qwen/Qwen2.5-Coder-7B-Instruct --dataset codecontests --bf16 true \\
        --use_vllm true --vllm_mode server --learning_rate 2e-7 --warmup_steps 50 \\
        --per_device_train_batch_size 8 --num_generations 8 --max_completion_length 1024 --max_steps 2000 \\
        --eval_dataset code_contests_valid.jsonl --ddp_timeout 7200

Problems, policy dtype, evaluation and episode options as in `examples/train_rlef.py` (problems memory-mapped
once per node, evaluation on the main process only, per-run folders under OUTPUT_DIR/evaluations/, every problem
by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
from accelerate import PartialState
from datasets import Dataset
from trl import GRPOConfig, TrlParser

import codefeedback_env  # noqa: F401  (registers the environments)
from agents.grpo import make_grpo_trainer
from agents.rlef.episode_arguments import EpisodeArguments
from agents.rlef.evaluate import BeforeAndAfter, ProblemArguments
from agents.rlef.pretrained import is_vllm_available, load_policy, policy_dtype
from codefeedback_env.problems.store import problem_ids


@dataclass
class ScriptArguments(ProblemArguments):
    """The policy, the problems trained on and the problems evaluated on."""


CPU_DEFAULTS = dict(
    output_dir="runs/grpo-smollm2",
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
    parser = TrlParser((ScriptArguments, EpisodeArguments, GRPOConfig), usage="%(prog)s [--config YAML] [--option ...]")
    parser.set_defaults(**CPU_DEFAULTS)
    script, episode, config = parser.parse_args_and_config()  # `--config run.yaml` (TRL's); flags override it
    if config.use_vllm and not is_vllm_available():
        raise SystemExit("--use_vllm needs vLLM, which is GPU-only (pip install vllm==0.31.0 on a CUDA machine).")
    state = PartialState()
    problems, eval_problems = script.problems(config.output_dir, state)
    make_env = lambda: gym.make("CodeFeedback/CodeFeedback-v0", dataset=problems, **episode.env_kwargs())  # noqa: E731
    make_env().close()  # an environment that cannot be built fails here, before the model loads
    dtype = policy_dtype(script.dtype, config)
    model, tokenizer = load_policy(script.model, dtype)
    evaluation = BeforeAndAfter(
        script, eval_problems, config.output_dir, state, episode.max_turns, config.max_completion_length, dtype,
        through_server=config.use_vllm and config.vllm_mode == "server",
    )  # fmt: skip
    evaluation.before(model, tokenizer, resuming=bool(config.resume_from_checkpoint))
    state.wait_for_everyone()
    trainer = make_grpo_trainer(
        model, make_env, config, Dataset.from_dict({"prompt": problem_ids(problems)}), tokenizer, episode.max_turns
    )
    evaluation.before_on_server(trainer, tokenizer, resuming=bool(config.resume_from_checkpoint))  # vLLM server
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)  # a path; TRL's own checkpoint format
    trainer.save_model(config.output_dir)
    evaluation.after(tokenizer, trainer)


if __name__ == "__main__":
    main()
