"""RLEFTrainer on the in-process secret-word environment: masking, metrics, config checks, exact resume."""

from __future__ import annotations

import os

import pytest
import torch
from datasets import Dataset

from agents.rlef import ResumeError, RLEFConfig, RLEFTrainer
from agents.rlef.toy import SECRET_WORDS, SecretWordEnv, build_policy, cpu_run_settings
from agents.rlef.value_model import get_value_model


def make_trainer(tokenizer, out: str, seed: int = 0, **overrides) -> RLEFTrainer:
    torch.manual_seed(seed)
    policy = build_policy(tokenizer, hidden=32, layers=1, seed=seed)
    kwargs = cpu_run_settings(out, seed=seed, data_seed=seed, **overrides)
    dataset = Dataset.from_dict({"prompt": [f"secret/{w}" for w in SECRET_WORDS] * 4})
    return RLEFTrainer(policy, lambda: SecretWordEnv(3), RLEFConfig(**kwargs), dataset, processing_class=tokenizer)


def test_config_checks_name_field_value_and_fix(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"cliprange=1.5 is invalid: use a value in \(0, 1\)"):
        RLEFConfig(output_dir=str(tmp_path), use_cpu=True, cliprange=1.5)
    with pytest.raises(ValueError, match=r"value_model_mode='tied'"):
        RLEFConfig(output_dir=str(tmp_path), use_cpu=True, value_model_mode="tied")
    with pytest.raises(ValueError, match=r"beta=0.1: .* kl_coef"):
        RLEFConfig(output_dir=str(tmp_path), use_cpu=True, beta=0.1)
    config = RLEFConfig(output_dir=str(tmp_path), use_cpu=True)
    assert (config.learning_rate, config.weight_decay, config.warmup_steps, config.temperature) == (2e-7, 0.1, 50, 1.0)
    assert (config.kl_coef, config.cliprange, config.cliprange_value, config.max_turns) == (0.05, 0.2, 0.2, 3)


@pytest.mark.parametrize("mode", ["separate", "shared"])
def test_feedback_and_prompt_tokens_get_no_gradient(tokenizer, tmp_path, mode) -> None:
    trainer = make_trainer(tokenizer, str(tmp_path), value_model_mode=mode)
    trainer.model.train()
    rows = [{"prompt": f"secret/{w}"} for w in ("apple", "apple", "river", "river")]
    batch = trainer._generate_and_score_completions(rows)
    assert (batch["tool_mask"] == 0).any(), "the batch should contain feedback tokens"
    grads: list[torch.Tensor] = []

    def keep_grad(module, args, out) -> None:  # the LM head's input: the policy backbone's last hidden state
        out.last_hidden_state.register_hook(lambda g: grads.append(g.detach().clone()))

    handle = trainer.model.model.register_forward_hook(keep_grad)
    try:
        loss = trainer._compute_loss(trainer.model, batch)
        loss.backward()
    finally:
        handle.remove()
    (grad,) = grads  # (B, P + C, H): row j predicts token j + 1 (and, shared, holds V at value positions)
    prompt_width = batch["prompt_ids"].shape[1]
    model_tokens = (batch["completion_mask"] * batch["tool_mask"]).bool()
    predicting = grad[:, prompt_width - 1 : -1].abs().sum(-1)  # rows predicting completion tokens
    assert torch.all(predicting[~model_tokens] == 0)
    assert torch.all(grad[:, : prompt_width - 1].abs().sum(-1) == 0)  # prompt tokens
    pushed = model_tokens & (batch["advantages"] != 0)
    assert pushed.any() and torch.all(predicting[pushed] > 0)
    value = get_value_model(trainer.model)
    assert value.shares_backbone == (mode == "shared")
    assert value.head.summary.weight.grad is not None


def test_advantage_is_shared_by_all_tokens_of_a_turn_and_metrics_logged(tokenizer, tmp_path) -> None:
    trainer = make_trainer(tokenizer, str(tmp_path))
    trainer.model.train()
    batch = trainer._generate_and_score_completions([{"prompt": "secret/apple"}] * 4)
    model_tokens = (batch["completion_mask"] * batch["tool_mask"]).bool()
    for b in range(4):
        turns = batch["turn_mask"][b].sum().item()
        values = batch["advantages"][b][model_tokens[b]].unique()
        assert len(values) <= turns
    assert torch.all(batch["advantages"][~model_tokens] == 0)
    metrics = trainer._metrics["train"]
    for key in (
        "rollout/solve_rate_turn_1",
        "rollout/solve_rate_turn_3",
        "rollout/invalid_turn_rate",
        "rlef/kl",
        "value/explained_variance",
    ):
        assert key in metrics


def test_defaults_make_several_updates_per_rollout_batch_and_the_clip_acts(tokenizer, tmp_path) -> None:
    trainer = make_trainer(tokenizer, str(tmp_path), max_steps=4, learning_rate=1e-2)
    assert trainer.args.importance_ratio == "paper"
    assert trainer.args.steps_per_generation == 4 * trainer.args.gradient_accumulation_steps
    rollouts = []
    rollout_func = trainer.rollout_func
    trainer.rollout_func = lambda prompts, t: rollouts.append(len(prompts)) or rollout_func(prompts, t)
    trainer.train()
    assert rollouts == [4 * trainer.args.per_device_train_batch_size]  # one rollout batch, 4 optimizer steps
    logs = [h for h in trainer.state.log_history if "policy/clip_fraction" in h]
    clip = [h["policy/clip_fraction"] for h in logs]
    assert len(clip) == 4 and clip[0] == 0.0 and min(clip[1:]) > 0.0  # the first update is at pi_theta = pi_old
    assert logs[0]["policy/importance_weight"] == pytest.approx(1.0, abs=1e-4)  # sampler = policy before updates


def _state(trainer: RLEFTrainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def test_checkpoint_resume_is_exact(tokenizer, tmp_path) -> None:
    straight = make_trainer(tokenizer, str(tmp_path / "a"), max_steps=2)
    straight.train()
    first = make_trainer(tokenizer, str(tmp_path / "b"), max_steps=2, save_strategy="steps", save_steps=1)
    first.train()
    checkpoint = tmp_path / "b" / "checkpoint-1"
    assert (checkpoint / "optimizer.pt").exists() and any(f.startswith("rng_state") for f in os.listdir(checkpoint))
    assert (checkpoint / "rlef_rollouts_rank0.pt").exists()  # taken inside a rollout batch (4 updates each)
    resumed = make_trainer(tokenizer, str(tmp_path / "c"), max_steps=2)
    rollouts = []
    rollout_func = resumed.rollout_func
    resumed.rollout_func = lambda prompts, t: rollouts.append(len(prompts)) or rollout_func(prompts, t)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 2
    assert rollouts == []  # step 2 trained on the checkpoint's pending rollout batch (a fresh run would generate)
    expected, got = _state(straight), _state(resumed)
    assert any(k.startswith("rlef_value.") for k in got)  # the value network is part of the checkpoint
    for key in expected:
        assert torch.allclose(expected[key], got[key], atol=1e-6), key
    losses = [[h["loss"] for h in t.state.log_history if "loss" in h] for t in (straight, resumed)]
    assert len(losses[0]) == 2 and losses[1] == pytest.approx(losses[0], abs=1e-6)  # step 1 restored, step 2 recomputed
    # `resume_checkpoint` (the example scripts' `--resume_from_checkpoint`): `true` is the newest checkpoint.
    assert first.resume_checkpoint("true") == str(tmp_path / "b" / "checkpoint-2")
    assert first.resume_checkpoint(None) is None and first.resume_checkpoint("false") is None
    with pytest.raises(ResumeError, match=r"no checkpoint to resume from in .*/a$"):
        straight.resume_checkpoint(True)
    with pytest.raises(ResumeError, match=r"cannot resume from .*/nowhere: no such folder"):
        straight.resume_checkpoint(str(tmp_path / "nowhere"))
    changed = make_trainer(tokenizer, str(tmp_path / "d"), max_steps=2, kl_coef=0.1)
    with pytest.raises(ValueError, match=r"cannot resume from .*checkpoint-1: settings differ \(kl_coef 0.05 -> 0.1\)"):
        changed.train(resume_from_checkpoint=str(checkpoint))


def test_checkpoint_is_a_plain_policy_with_the_value_network_beside_it(tokenizer, tmp_path) -> None:
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    from agents.rlef.value_model import VALUE_FOLDER, build_value_model, load_value_state

    trainer = make_trainer(tokenizer, str(tmp_path / "run"), save_strategy="steps", save_steps=1)
    trainer.train()
    trainer.save_model(str(tmp_path / "final"))
    state = _state(trainer)
    for folder in (tmp_path / "run" / "checkpoint-1", tmp_path / "final"):
        with safe_open(str(folder / "model.safetensors"), "pt") as weights:
            assert weights.keys() and not [k for k in weights.keys() if "rlef_value" in k]
        policy, info = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True)
        assert info == {"missing_keys": set(), "unexpected_keys": set(), "mismatched_keys": set(), "error_msgs": []}
        for key, tensor in policy.state_dict().items():
            assert torch.equal(tensor, state[key]), key
        value = build_value_model(policy)
        load_value_state(value, folder)  # strict
        assert (folder / VALUE_FOLDER / "model.safetensors").is_file()
        for key, tensor in value.state_dict().items():
            assert torch.equal(tensor, state[f"rlef_value.{key}"]), key
    with pytest.raises(FileNotFoundError, match="holds no RLEF value network"):
        load_value_state(value, tmp_path)


def test_reference_model_stays_the_initial_policy(tokenizer, tmp_path) -> None:
    trainer = make_trainer(tokenizer, str(tmp_path), max_steps=2, learning_rate=1e-2)
    ids = torch.tensor(
        [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": "Print the secret word."}],
                add_generation_prompt=True,
                tokenize=True,
                return_dict=False,
            )
        ]
    )
    with torch.no_grad():
        ref_before = trainer.ref_model(ids).logits.clone()
        assert torch.allclose(ref_before, trainer.model(ids).logits)
    trainer.train()
    with torch.no_grad():
        assert torch.equal(trainer.ref_model(ids).logits, ref_before)
        assert not torch.allclose(trainer.model(ids).logits, ref_before)
    assert "rlef/kl" in trainer.state.log_history[0]
