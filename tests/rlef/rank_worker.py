"""Worker for the two-process rank-safety test: `torchrun --nproc_per_node 2 tests/rlef/rank_worker.py OUT_DIR`.

Multi-turn rollouts go through TRL's own vLLM generation code (`GRPOTrainer._generate_single_turn` and
`VLLMGeneration.generate`: the gather of every rank's prompts and the per-rank slice of the results), in
server mode and in colocate mode with tensor parallelism 2, with the engine replaced by the in-process
stand-in of tests/rlef/fake_vllm.py, so every rank can check it got the completions of its own contexts.

Each rank writes OUT_DIR/rank{r}.json.
"""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace
from typing import Any

import torch
import torch.distributed as dist
from accelerate import Accelerator
from transformers import TrainerState
from trl import GRPOTrainer
from trl.generation import vllm_generation

from agents.rlef import RLEFTrainer
from agents.rlef.rollout import (
    TurnTokenizer,
    make_rollout_func,
    run_episodes,
    trainer_generator,
    trajectories_to_rollout,
)
from agents.rlef.toy import SECRET_STATEMENT, build_policy
from tests.rlef.fake_vllm import EOS, TOKENIZER, InProcessVLLMGeneration, check_rollout, engine_output

MAX_TURNS = 3
# The turn each problem's episode stops at. Rank 0 plays RANK_PROMPTS[0] and rank 1 RANK_PROMPTS[1] ("a"),
# or the other way round ("b"): running episodes per turn are 3, 2, 2 on one rank and 3, 1, 1 on the other.
STOP_TURN = {"apple": 3, "river": 3, "stone": 1, "cloud": 1, "tiger": 1, "apple river": 3}
RANK_PROMPTS = (["apple", "river", "stone"], ["cloud", "tiger", "apple river"])


class StopAtTurnEnv:
    """An episode of problem P ends at turn STOP_TURN[P] whatever the response."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        self.problem, self.turn = options["problem_id"], 0
        return {}, {"messages": [{"role": "user", "content": self.problem}]}

    def step(self, action: str) -> tuple[dict, float, bool, bool, dict]:
        self.turn += 1
        done = self.turn >= STOP_TURN[self.problem]
        info = {"messages": [{"role": "user", "content": SECRET_STATEMENT}], "hidden": {"all_passed": False}}
        return {}, 0.0, done, False, info


def bare_trainer(cls: type, accelerator: Accelerator, mode: str) -> Any:
    """A trainer object carrying what TRL's `_generate_single_turn` and the rollout read (no training state)."""
    trainer = cls.__new__(cls)
    trainer.accelerator = accelerator
    trainer.use_vllm = True
    trainer.vllm_generation = InProcessVLLMGeneration(
        model=build_policy(TOKENIZER, hidden=32, layers=1),
        accelerator=accelerator,
        processing_class=TOKENIZER,
        mode=mode,
        tensor_parallel_size=2 if mode == "colocate" else 1,
        max_completion_length=16,
    )
    trainer.state = TrainerState()
    trainer._last_loaded_step = trainer.state.global_step  # weight sync is not under test
    trainer.args = SimpleNamespace(report_to=[])
    trainer._tokenizer = TOKENIZER
    trainer.eos_token_ids = [EOS]
    trainer.chat_template = None
    return trainer


def scenario_prompts(rank: int, scenario: str) -> list[str]:
    return RANK_PROMPTS[rank if scenario == "a" else 1 - rank]


def engine_calls(trainer: Any) -> list[int] | None:
    """Batch size of every engine call so far (None on a rank without an engine: server mode, rank > 0)."""
    engine = trainer.vllm_generation.engine
    return list(engine.calls) if engine is not None else None


def run_mode(accelerator: Accelerator, mode: str) -> dict[str, Any]:
    """Rollouts through the rank-safe generator for both trainers, its edge cases, and the unpadded control."""
    rank = accelerator.process_index
    result: dict[str, Any] = {}
    for name, cls in (("grpo", GRPOTrainer), ("rlef", RLEFTrainer)):
        trainer = bare_trainer(cls, accelerator, mode)
        rollout_func = make_rollout_func(StopAtTurnEnv, MAX_TURNS)
        for scenario in ("a", "b"):
            rollout = rollout_func(scenario_prompts(rank, scenario), trainer)
            result[f"{name}_{scenario}"] = check_rollout(rollout)
        result[f"{name}_engine_calls"] = engine_calls(trainer)

    # Edge cases, straight through the generator: a rank with no context, then no rank with one.
    trainer = bare_trainer(GRPOTrainer, accelerator, mode)
    generate = trainer_generator(trainer)
    turn_tokenizer = TurnTokenizer(TOKENIZER, stop_token_ids=[EOS])
    contexts = [] if rank == 0 else [turn_tokenizer.prompt_ids([{"role": "user", "content": "cloud"}])] * 2
    ids, _ = generate(contexts)
    result["empty_rank"] = {
        "got": len(ids),
        "own": all(engine_output(c)[0] == i for c, i in zip(contexts, ids, strict=False)),
    }
    result["all_empty"] = {"out": list(generate([]))}
    result["edge_engine_calls"] = engine_calls(trainer)

    # Negative control: the generator before this fix (TRL's `_generate_single_turn` called unpadded).
    trainer = bare_trainer(GRPOTrainer, accelerator, mode)

    def unpadded(c: list[list[int]]) -> tuple:
        return trainer._generate_single_turn(c, None, {}, 1)

    envs = [StopAtTurnEnv() for _ in range(3)]
    trajectories = run_episodes(envs, scenario_prompts(rank, "a"), unpadded, turn_tokenizer, MAX_TURNS)
    result["unpadded_a"] = check_rollout(trajectories_to_rollout(trajectories))
    # Scenario "b" at turn 2: rank 0 sends 1 context, rank 1 sends 2 (run_episodes would then index past the end
    # of rank 1's result: IndexError).
    own = [turn_tokenizer.prompt_ids([{"role": "user", "content": p}]) for p in scenario_prompts(rank, "b")]
    sent = own[: rank + 1]
    ids, _ = unpadded(sent)
    result["unpadded_b"] = {"sent": len(sent), "got": len(ids), "own": engine_output(sent[0])[0] == ids[0]}
    result["unpadded_engine_calls"] = engine_calls(trainer)
    return result


def main(out: str) -> None:
    torch.set_num_threads(1)
    vllm_generation.SamplingParams = lambda **kwargs: kwargs  # vllm is not installed; the stand-in LLM ignores it
    accelerator = Accelerator(cpu=True)
    rank = accelerator.process_index
    results = {"world_size": accelerator.num_processes}
    for mode in ("server", "colocate"):
        results[mode] = run_mode(accelerator, mode)
        dist.barrier()
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1])
