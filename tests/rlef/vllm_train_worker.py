"""Worker: `torchrun --nproc_per_node 2 tests/rlef/vllm_train_worker.py OUT_DIR`, whole training runs on TRL's
vLLM path (server mode, and colocate with tensor parallelism 2; the engine replaced by tests/rlef/fake_vllm.py),
for RLEF and for GRPO.

Episodes run 1 turn on rank 0 and 3 turns on rank 1 (the rank whose slice comes second), so the ranks send
different numbers of contexts after the first turn. Each rank records whether every rollout holds its own
completions, its losses, and every weight sync its engine received (in server mode only rank 0 has one): the
parameter names pushed and the tensors.
Each rank writes OUT_DIR/{mode}_{trainer}_rank{r}.json.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import torch
import torch.distributed as dist
import trl.trainer.grpo_trainer
from datasets import Dataset
from transformers import TrainerCallback
from trl.generation import vllm_generation

from agents.grpo import make_grpo_config, make_grpo_trainer
from agents.rlef import RLEFConfig, RLEFTrainer
from agents.rlef.evaluate import BeforeAndAfter, ProblemArguments
from agents.rlef.toy import SECRET_STATEMENT, SECRET_WORDS, build_policy, cpu_run_settings
from codefeedback_env.problems import load_problems
from tests.rlef.fake_vllm import TOKENIZER, InProcessVLLMGeneration, check_rollout, engine_output


class RankStopEnv:
    """Episodes end at turn 1 on rank 0 and at turn 3 on rank 1, whatever the response."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        self.problem, self.turn = options["problem_id"], 0
        self.stop = 3 if dist.get_rank() == 1 else 1
        return {}, {"messages": [{"role": "user", "content": self.problem}]}

    def step(self, action: str) -> tuple[dict, float, bool, bool, dict]:
        self.turn += 1
        reward = 1.0 if self.problem in ("apple", "river") else 0.0
        info = {"messages": [{"role": "user", "content": SECRET_STATEMENT}], "hidden": {"all_passed": bool(reward)}}
        return {}, reward, self.turn >= self.stop, False, info


class WeightsAfterStep(TrainerCallback):
    """The policy's weights after each optimizer step (what the next weight sync must push)."""

    def __init__(self) -> None:
        self.after: list[dict[str, torch.Tensor]] = []

    def on_step_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, D102
        self.after.append({n: p.detach().clone() for n, p in model.named_parameters()})


def build(kind: str, mode: str, out: str, weights: WeightsAfterStep) -> Any:
    policy = build_policy(TOKENIZER, hidden=32, layers=1, seed=0)
    dataset = Dataset.from_dict({"prompt": list(SECRET_WORDS) * 4})
    settings = cpu_run_settings(out, max_steps=2, per_device_train_batch_size=2, seed=0, ddp_backend="gloo")
    # use_vllm is set after the config's checks, which refuse it when the vllm package is absent.
    if kind == "rlef":
        config = RLEFConfig(**settings, updates_per_generation=1)
    else:
        config = make_grpo_config(**settings)
    config.use_vllm, config.vllm_mode, config.vllm_tensor_parallel_size = True, mode, 2 if mode == "colocate" else 1
    if kind == "rlef":
        return RLEFTrainer(policy, RankStopEnv, config, dataset, processing_class=TOKENIZER, callbacks=[weights])
    return make_grpo_trainer(policy, RankStopEnv, config, dataset, processing_class=TOKENIZER, callbacks=[weights])


def run(kind: str, mode: str, out: str) -> dict[str, Any]:
    weights = WeightsAfterStep()
    trainer = build(kind, mode, os.path.join(out, f"{mode}_{kind}"), weights)
    checks: list[dict[str, Any]] = []
    rollout_func = trainer.rollout_func

    def checked_rollout(prompts: list, trainer_: Any) -> dict[str, Any]:
        rollout = rollout_func(prompts, trainer_)
        checks.append(check_rollout(rollout))
        return rollout

    trainer.rollout_func = checked_rollout
    initial = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    result: dict[str, Any] = {
        "steps": trainer.state.global_step,
        "rollouts": checks,
        "losses_finite": len(losses) == 2 and all(math.isfinite(x) for x in losses),
    }
    engine = trainer.vllm_generation.engine
    training_calls = list(engine.calls) if engine is not None else None
    if mode == "server":  # then the example scripts' evaluation after training, through the server
        result["evaluation"] = evaluate_after_training(trainer)
    if engine is not None:  # compare each sync with the weights it should carry
        policy_names = {n for n, _ in build_policy(TOKENIZER, hidden=32, layers=1).named_parameters()}
        expected = [initial, *weights.after]
        result["syncs"] = [
            {
                "names_are_the_policy's": set(pushed) == policy_names,
                "equal_to_weights_before_generation": all(
                    torch.equal(tensor, expected[i][name]) for name, tensor in pushed.items()
                ),
            }
            for i, pushed in enumerate(engine.syncs)
        ]
        result["generate_calls"] = training_calls
    return result


def evaluate_after_training(trainer: Any) -> dict[str, Any]:
    """`BeforeAndAfter.after` through the server on every rank: whether this rank wrote an evaluation and whether
    each recorded response is the server's completion of that turn's transcript."""
    problems = load_problems("demo")[:2]
    state = trainer.accelerator.state
    output_dir = trainer.args.output_dir
    evaluation = BeforeAndAfter(
        ProblemArguments(eval_rollouts=1), problems, output_dir, state, 2, 8, through_server=True
    )
    evaluation.after(TOKENIZER, trainer)
    folder = evaluation.folder / "after"
    if not folder.exists():
        return {"evaluated": False}
    turns = [t for line in (folder / "episodes.jsonl").read_text().splitlines() for t in json.loads(line)["turns"]]
    wrong = 0
    for turn in turns:
        prompt = TOKENIZER.apply_chat_template(turn["messages"], add_generation_prompt=True, return_dict=False)
        wrong += turn["response"] != TOKENIZER.decode(engine_output(list(prompt))[0], skip_special_tokens=True)
    episodes = json.loads((folder / "results.json").read_text())["episodes"]
    return {"evaluated": True, "episodes": episodes, "turns": len(turns), "wrong_responses": wrong}


def main(out: str) -> None:
    torch.set_num_threads(1)
    trl.trainer.grpo_trainer.VLLMGeneration = InProcessVLLMGeneration
    vllm_generation.SamplingParams = lambda **kwargs: kwargs  # vllm is not installed; the stand-in LLM ignores it
    for mode in ("server", "colocate"):
        for kind in ("rlef", "grpo"):
            result = run(kind, mode, out)
            with open(os.path.join(out, f"{mode}_{kind}_rank{dist.get_rank()}.json"), "w") as f:
                json.dump(result, f)
            dist.barrier()


if __name__ == "__main__":
    main(sys.argv[1])
