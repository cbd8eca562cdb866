"""Evaluation before and after training through the run's vLLM server (TRL server mode), on CPU.

A real RLEFTrainer in server mode, with TRL's `VLLMGeneration` whose engine is the in-process stand-in of
tests/rlef/fake_vllm.py: the example scripts' `BeforeAndAfter` syncs the policy to the server and evaluates with
the evaluation runner, the server answering every turn.
"""

from __future__ import annotations

import json

import torch
import trl.trainer.grpo_trainer
from datasets import Dataset
from trl.generation import vllm_generation

from agents.rlef import RLEFConfig, RLEFTrainer
from agents.rlef.evaluate import BeforeAndAfter, ProblemArguments
from agents.rlef.toy import SECRET_WORDS, SecretWordEnv, build_policy, cpu_run_settings
from agents.rlef.value_model import VALUE_ATTRIBUTE
from codefeedback_env.problems import load_problems
from tests.rlef.fake_vllm import TOKENIZER, InProcessVLLMGeneration, engine_output


def policy_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if VALUE_ATTRIBUTE not in n}


def test_before_and_after_go_through_the_server_with_the_current_weights(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(trl.trainer.grpo_trainer, "VLLMGeneration", InProcessVLLMGeneration)
    monkeypatch.setattr(vllm_generation, "SamplingParams", lambda **kwargs: kwargs, raising=False)
    settings = cpu_run_settings(str(tmp_path / "run"), max_steps=1, per_device_train_batch_size=2, seed=0)
    config = RLEFConfig(**settings, updates_per_generation=1)
    config.use_vllm, config.vllm_mode = True, "server"  # set after the config's check that vllm is installed
    policy = build_policy(TOKENIZER, hidden=32, layers=1, seed=0)
    dataset = Dataset.from_dict({"prompt": [f"secret/{word}" for word in SECRET_WORDS]})
    trainer = RLEFTrainer(policy, SecretWordEnv, config, dataset, processing_class=TOKENIZER)
    problems = load_problems("demo")[:2]
    script = ProblemArguments(eval_rollouts=1)
    state = trainer.accelerator.state
    evaluation = BeforeAndAfter(script, problems, config.output_dir, state, 2, 16, through_server=True)
    client = trainer.vllm_generation.vllm_client

    initial = policy_weights(trainer.model)
    evaluation.before(trainer.model, TOKENIZER, resuming=False)  # left to the server
    assert client.calls == [] and client.syncs == []
    evaluation.before_on_server(trainer, TOKENIZER, resuming=False)
    trainer.train()
    evaluation.after(TOKENIZER, trainer)
    trained = policy_weights(trainer.model)
    assert any(not torch.equal(initial[name], trained[name]) for name in initial)

    # The sync before each evaluation pushed the policy's weights of that moment (no value weights).
    before_sync, after_sync = client.syncs[0], client.syncs[-1]
    assert set(before_sync) == set(initial) == set(after_sync)
    assert all(torch.equal(before_sync[n], initial[n]) for n in initial)
    assert all(torch.equal(after_sync[n], trained[n]) for n in trained)
    evaluations = [s for s in client.sampling if s.get("temperature") == 0.2]
    assert evaluations and all(s["top_p"] == 0.95 and s["max_tokens"] == 16 for s in evaluations)
    # Every evaluated turn's response is the server's completion of that turn's transcript.
    for stage in ("before", "after"):
        folder = evaluation.folder / stage
        results = json.loads((folder / "results.json").read_text())
        assert results["episodes"] == 2
        turns = [t for line in (folder / "episodes.jsonl").read_text().splitlines() for t in json.loads(line)["turns"]]
        assert turns
        for turn in turns:
            prompt = TOKENIZER.apply_chat_template(
                turn["messages"], add_generation_prompt=True, tokenize=True, return_dict=False
            )
            assert turn["response"] == TOKENIZER.decode(engine_output(list(prompt))[0], skip_special_tokens=True)
