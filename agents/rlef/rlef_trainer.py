"""RLEF's PPO (Gehring et al. 2024) on TRL's GRPOTrainer machinery.

GRPOTrainer keeps generation (transformers or vLLM server/colocate), accelerate distribution, logging
(`report_to`) and checkpointing. RLEF adds, in three overrides:
  * `__init__`: a frozen copy of the initial policy (KL reference) and a turn-level value network,
    registered as a submodule of the policy so one optimizer / DDP / DeepSpeed engine covers both;
  * `_generate_and_score_completions`: after TRL's multi-turn rollout scoring, per-turn rewards
    (environment + per-response KL penalty), returns, V(c_t) and whitened turn advantages per token;
  * `_compute_loss`: clipped PPO surrogate with the paper's importance-corrected ratio plus the clipped
    value loss. By default a rollout batch feeds several optimizer steps (`updates_per_generation`).
Checkpoints hold the policy as a plain model folder (loadable by `from_pretrained` and inference servers)
and the value network in its own `rlef_value/` sub-folder, which a resume loads back.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import torch
from transformers.trainer import OPTIMIZER_NAME, SCHEDULER_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint
from trl import GRPOTrainer
from trl.models import prepare_deepspeed, prepare_fsdp
from trl.trainer.utils import add_fused_lm_head, create_model_from_path

from .advantages import response_kl, returns_to_go, token_advantages, turn_advantages, turn_rewards
from .logprobs import completion_logps
from .losses import (
    behaviour_factor,
    explained_variance,
    importance_weights,
    masked_mean,
    policy_loss,
    value_loss,
)
from .rlef_config import RLEFConfig
from .rollout import ChatEnv, episode_return_reward, make_rollout_func
from .value_model import (
    VALUE_ATTRIBUTE,
    attach_value_model,
    build_value_model,
    get_value_model,
    load_value_state,
    save_value_state,
    split_value_state,
)

logger = logging.getLogger(__name__)

RUN_SETTINGS_NAME = "rlef_run.json"
ROLLOUT_BUFFER_NAME = "rlef_rollouts_rank{rank}.pt"
SETTINGS_OLDER_CHECKPOINTS_HAD = {"run.dtype": "float32"}
"""Settings recorded only since a later version, with the value every run had before (the policy was float32)."""
# Settings a resumed run must share with the checkpoint: the objective, the batch geometry, sampling, optimiser.
RESUME_KEYS = (
    "max_turns",
    "feedback",
    "final_tests",
    "kl_coef",
    "cliprange",
    "cliprange_value",
    "vf_coef",
    "whiten_advantages",
    "value_model_mode",
    "importance_ratio",
    "importance_cap",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "steps_per_generation",
    "num_iterations",
    "num_generations",
    "world_size",
    "seed",
    "temperature",
    "top_p",
    "top_k",
    "max_completion_length",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
)


class ResumeError(ValueError):
    """A checkpoint cannot be resumed: missing, or saved with settings that differ from this run's."""


class RLEFTrainer(GRPOTrainer):
    """PPO with a turn-level critic over multi-turn execution-feedback episodes.

    `train_dataset` has a `prompt` column of problem ids; `env_factory()` returns a fresh environment
    (gymnasium CodeFeedback API). `run_info` (e.g. model and dataset names) is saved with every checkpoint
    beside the settings in `RESUME_KEYS`; resuming with any of them changed is refused. Every other
    argument is GRPOTrainer's.
    """

    _tag_names = ["trl", "rlef"]
    _name = "RLEF"

    def __init__(
        self,
        model: Any,
        env_factory: Callable[[], ChatEnv],
        args: RLEFConfig,
        train_dataset: Any,
        processing_class: Any = None,
        reward_funcs: Any = None,
        callbacks: list | None = None,
        optimizers: tuple = (None, None),
        run_info: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(args, RLEFConfig):
            raise TypeError(f"args must be an RLEFConfig, got {type(args).__name__}.")
        check_env_settings(env_factory, args)
        if isinstance(model, str):
            model = create_model_from_path(model, **dict(args.model_init_kwargs or {}))
        # KL reference: the initial policy, frozen. Copied before GRPOTrainer patches the policy's forward
        # (its fused LM head closes over the original module, so a later copy would still run the policy).
        ref = copy.deepcopy(model).eval().requires_grad_(False) if args.kl_coef > 0.0 else None
        super().__init__(
            model=model,
            reward_funcs=reward_funcs if reward_funcs is not None else [episode_return_reward],
            args=args,
            train_dataset=train_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            rollout_func=make_rollout_func(env_factory, args.max_turns),
        )
        self.ref_model = None
        if ref is not None:
            add_fused_lm_head(ref, temperature=self.temperature, cast_lm_head_to_fp32=args.cast_lm_head_to_fp32)
            if self.is_deepspeed_enabled:
                ref = prepare_deepspeed(ref, self.accelerator)
            elif self.is_fsdp_enabled:
                ref = prepare_fsdp(ref, self.accelerator)
            else:
                ref = self.accelerator.prepare_model(ref, evaluation_mode=True)
            self.ref_model = ref
        self.run_info = dict(run_info or {})
        value = build_value_model(self.model, share_backbone=args.value_model_mode == "shared")
        attach_value_model(self.model, value)
        if self.use_vllm:  # the value network's weights are not the engine's
            iterate = self.vllm_generation._iter_named_params
            self.vllm_generation._iter_named_params = lambda: (
                (name, p) for name, p in iterate() if VALUE_ATTRIBUTE not in name
            )

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        # transformers maps the optimizer state to `args.device`, which is "cpu:<rank>" for multi-process CPU
        # runs and cannot be restored to; load it on "cpu" there.
        cpu_ddp = self.args.world_size > 1 and self.args.device.type == "cpu"
        if checkpoint is None or not cpu_ddp or self.is_deepspeed_enabled or self.is_fsdp_enabled:
            super()._load_optimizer_and_scheduler(checkpoint)
            return
        self.optimizer.load_state_dict(
            torch.load(os.path.join(checkpoint, OPTIMIZER_NAME), map_location="cpu", weights_only=True)
        )
        self.lr_scheduler.load_state_dict(torch.load(os.path.join(checkpoint, SCHEDULER_NAME), weights_only=True))

    # ----- checkpoints: the policy as a plain model folder, the value network beside it -------------
    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if state_dict is None:
            state_dict = self.accelerator.unwrap_model(self.model, keep_torch_compile=False).state_dict()
        policy_state, value_state = split_value_state(state_dict)
        super()._save(output_dir, state_dict=policy_state)
        if value_state:  # empty when DeepSpeed saves a dummy state dict beside its own engine files
            save_value_state(value_state, output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_value_state(get_value_model(model if model is not None else self.model), resume_from_checkpoint)

    def _issue_warnings_after_load(self, load_result: Any) -> None:
        # The policy's weights file has no value weights by design; they are loaded from their own folder.
        missing = [k for k in load_result.missing_keys if not k.startswith(VALUE_ATTRIBUTE + ".")]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))

    # ----- resume: same settings, and the rest of a rollout batch a checkpoint was taken in ------------
    def run_settings(self) -> dict[str, Any]:
        """The settings a resumed run must share with its checkpoint (JSON-serialisable)."""
        settings = {key: getattr(self.args, key) for key in RESUME_KEYS}
        settings |= {f"run.{key}": value for key, value in self.run_info.items()}
        return json.loads(json.dumps(settings, default=str))

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any) -> Any:
        """TRL's training loop; a resume checks the settings and restores the checkpoint's pending rollouts."""
        checkpoint = self.resume_checkpoint(resume_from_checkpoint)
        if checkpoint is not None:
            self._restore_rollouts(checkpoint)
        return super().train(checkpoint, *args, **kwargs)

    def resume_checkpoint(self, resume_from_checkpoint: str | bool | None) -> str | None:
        """The checkpoint folder to resume from (`True` or "true": the newest in `output_dir`), or None.

        Raises `ResumeError` when there is none, or when its settings differ from this run's.
        """
        if not resume_from_checkpoint or str(resume_from_checkpoint).lower() == "false":
            return None
        checkpoint = str(resume_from_checkpoint)
        if resume_from_checkpoint is True or checkpoint.lower() == "true":
            checkpoint = get_last_checkpoint(self.args.output_dir) if os.path.isdir(self.args.output_dir) else None
            if checkpoint is None:
                raise ResumeError(f"no checkpoint to resume from in {self.args.output_dir}")
        if not os.path.isdir(checkpoint):
            raise ResumeError(f"cannot resume from {checkpoint}: no such folder")
        path = os.path.join(checkpoint, RUN_SETTINGS_NAME)
        if not os.path.isfile(path):
            raise ResumeError(f"cannot resume from {checkpoint}: no {RUN_SETTINGS_NAME} (not saved by RLEFTrainer)")
        now = self.run_settings()
        saved = saved_run_settings(path, now)
        keys = sorted(set(saved) | set(now))
        changed = [f"{k} {saved.get(k)!r} -> {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)]
        if changed:
            raise ResumeError(
                f"cannot resume from {checkpoint}: settings differ ({'; '.join(changed)}); use the checkpoint's "
                "settings or start a new run"
            )
        return checkpoint

    def _restore_rollouts(self, checkpoint: str) -> None:
        path = os.path.join(checkpoint, ROLLOUT_BUFFER_NAME.format(rank=self.args.process_index))
        if os.path.isfile(path):
            saved = torch.load(
                path, map_location="cpu", weights_only=True
            )  # multi-process CPU devices are "cpu:<rank>"
            self._buffered_inputs = _to_device(saved["buffer"], self.accelerator.device)
            self._step = saved["step"]

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        folder = os.path.join(self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
        os.makedirs(folder, exist_ok=True)
        if self.args.should_save:
            with open(os.path.join(folder, RUN_SETTINGS_NAME), "w") as f:
                json.dump(self.run_settings(), f, indent=1)
        # Taken inside a rollout batch: keep its remaining slices, so the resumed run trains on them as this one would.
        if self._buffered_inputs is not None and self._step % (self.args.steps_per_generation * self.num_iterations):
            rollouts = {"step": self._step, "buffer": _to_device(self._buffered_inputs, "cpu")}
            torch.save(rollouts, os.path.join(folder, ROLLOUT_BUFFER_NAME.format(rank=self.args.process_index)))

    # ----- forward helpers -------------------------------------------------------------------
    def _policy_and_values(
        self, model: Any, inputs: dict[str, torch.Tensor], with_policy: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Token log-probs of the completion (B, C) and V(c_t) at the turn positions (B, T).

        The log-probs come from TRL's fused LM head (`logprobs.completion_logps`): the logits of the whole episode
        over the full vocabulary are never materialised. With `with_policy=False` and a separate value network,
        the policy forward is skipped (None).
        """
        input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        width = inputs["completion_ids"].shape[1]
        value_model = get_value_model(model)
        shared = value_model.shares_backbone
        if not with_policy and not shared:
            return None, value_model(input_ids, attention_mask, positions=inputs["value_positions"])
        backbone = None
        if shared:
            policy = self.accelerator.unwrap_model(model)
            backbone = getattr(policy, policy.base_model_prefix)
        logps, hidden = completion_logps(model, input_ids, attention_mask, width, backbone)
        if shared:
            values = value_model(hidden_states=hidden, positions=inputs["value_positions"])
        else:
            values = value_model(input_ids, attention_mask, positions=inputs["value_positions"])
        return logps, values

    def _reference_logps(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        return completion_logps(self.ref_model, input_ids, attention_mask, inputs["completion_ids"].shape[1])[0]

    # ----- rollout scoring ---------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)  # also merges rollout fields into `inputs`
        device = self.accelerator.device
        batch, width = output["completion_ids"].shape
        prompt_width = output["prompt_ids"].shape[1]
        turns = self.args.max_turns
        token_turn = torch.full((batch, width), -1, dtype=torch.long)
        turn_mask = torch.zeros(batch, turns, dtype=torch.bool)
        env_rewards = torch.zeros(batch, turns)
        positions = torch.zeros(batch, turns, dtype=torch.long)
        for b, example in enumerate(inputs):
            if example.get("judge_error"):  # not judged: no turn of it enters the value loss or the advantages
                continue
            for t, ((start, end), reward) in enumerate(
                zip(example["turn_spans"], example["turn_rewards"], strict=True)
            ):
                token_turn[b, start:end] = t
                turn_mask[b, t] = True
                env_rewards[b, t] = reward
                positions[b, t] = prompt_width + start - 1  # last token of the context c_t
        token_turn, turn_mask = token_turn.to(device), turn_mask.to(device)
        env_rewards, positions = env_rewards.to(device), positions.to(device)
        loss_mask = output["completion_mask"] * output.get("tool_mask", torch.ones_like(output["completion_mask"]))
        token_turn = torch.where(loss_mask.bool(), token_turn, torch.full_like(token_turn, -1))
        output["value_positions"] = positions

        with torch.no_grad():
            behaviour = output.get("old_per_token_logps")
            if behaviour is None:
                behaviour = output.get("sampling_per_token_logps")
            policy_logps, old_values = self._policy_and_values(self.model, output, with_policy=behaviour is None)
            behaviour = policy_logps if behaviour is None else behaviour
            if self.ref_model is not None:
                kl = response_kl(behaviour, self._reference_logps(output), token_turn, turns)
            else:
                kl = torch.zeros(batch, turns, device=device)
            rewards = turn_rewards(env_rewards, kl, self.args.kl_coef, turn_mask)
            returns = returns_to_go(rewards)
            advantages = turn_advantages(returns, old_values.float(), turn_mask)
            if self.args.whiten_advantages:
                all_adv = self.accelerator.gather(advantages)
                all_mask = self.accelerator.gather(turn_mask)
                selected = all_adv[all_mask]
                mean = selected.mean()
                std = selected.std(unbiased=False) if selected.numel() > 1 else torch.ones((), device=device)
                advantages = torch.where(turn_mask, (advantages - mean) / (std + 1e-8), torch.zeros_like(advantages))
        output["advantages"] = token_advantages(advantages, token_turn)
        output.update(turn_mask=turn_mask, old_values=old_values.float(), returns=returns)
        self._log_rollout_metrics(inputs, kl, turn_mask, old_values.float(), returns)
        return output

    def _log_rollout_metrics(
        self,
        inputs: list[dict[str, Any]],
        kl: torch.Tensor,
        turn_mask: torch.Tensor,
        values: torch.Tensor,
        returns: torch.Tensor,
    ) -> None:
        mode = "train" if self.model.training else "eval"
        device = self.accelerator.device
        solved = torch.tensor([bool(x["solved"]) for x in inputs], device=device)
        num_turns = torch.tensor([int(x["num_turns"]) for x in inputs], device=device)
        invalid = torch.tensor([int(x["invalid_turns"]) for x in inputs], device=device)
        unjudged = torch.tensor([bool(x.get("judge_error")) for x in inputs], device=device)
        solved, num_turns, invalid, unjudged = (
            self.accelerator.gather(v) for v in (solved, num_turns, invalid, unjudged)
        )
        metrics = self._metrics[mode]
        judged = max((~unjudged).sum().item(), 1)  # solve rates count judged episodes only
        for t in range(1, self.args.max_turns + 1):
            metrics[f"rollout/solve_rate_turn_{t}"].append((solved & (num_turns <= t)).sum().item() / judged)
        metrics["rollout/invalid_turn_rate"].append(invalid.sum().item() / max(num_turns.sum().item(), 1))
        metrics["rollout/mean_turns"].append(num_turns.float().mean().item())
        metrics["rollout/judge_error_rate"].append(unjudged.float().mean().item())
        all_kl, all_mask = self.accelerator.gather(kl), self.accelerator.gather(turn_mask)
        metrics["rlef/kl"].append(all_kl[all_mask].mean().item() if all_mask.any() else 0.0)
        all_values, all_returns = self.accelerator.gather(values), self.accelerator.gather(returns)
        metrics["value/explained_variance"].append(explained_variance(all_values, all_returns, all_mask))
        metrics["value/mean"].append(all_values[all_mask].mean().item() if all_mask.any() else 0.0)

    # ----- loss -----------------------------------------------------------------------------------
    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        mode = "train" if self.model.training else "eval"
        logps, values = self._policy_and_values(model, inputs)
        mask = inputs["completion_mask"] * inputs.get("tool_mask", torch.ones_like(inputs["completion_mask"]))
        old = inputs.get("old_per_token_logps")
        old = logps.detach() if old is None else old
        behaviour, weights, factor = inputs.get("sampling_per_token_logps"), None, None
        if self.args.importance_ratio == "paper":
            factor = behaviour_factor(logps, behaviour)
        elif self.args.importance_ratio == "truncated":
            weights = importance_weights(old, behaviour, self.args.importance_cap)
        pol = policy_loss(logps, old, inputs["advantages"], mask, self.args.cliprange, weights, factor)
        v_loss, v_clip = value_loss(
            values.float(), inputs["old_values"], inputs["returns"], inputs["turn_mask"], self.args.cliprange_value
        )
        loss = pol.loss + self.args.vf_coef * v_loss
        if mode == "train":
            loss = loss / getattr(self, "current_gradient_accumulation_steps", self.args.gradient_accumulation_steps)
        metrics = self._metrics[mode]
        reduce = lambda x: self.accelerator.gather(x.detach().reshape(1)).mean().item()  # noqa: E731
        metrics["losses/policy"].append(reduce(pol.loss))
        metrics["losses/value"].append(reduce(v_loss))
        metrics["policy/clip_fraction"].append(reduce(pol.clip_fraction))
        metrics["policy/approx_kl"].append(reduce(pol.approx_kl))
        metrics["value/clip_fraction"].append(reduce(v_clip))
        if weights is not None or factor is not None:
            metrics["policy/importance_weight"].append(
                reduce(masked_mean(factor if weights is None else weights, mask))
            )
        return loss


def saved_run_settings(path: str, now: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's settings; a setting this run records that the checkpoint predates gets the value it had."""
    with open(path) as f:
        saved = json.load(f)
    older = {key: value for key, value in SETTINGS_OLDER_CHECKPOINTS_HAD.items() if key in now and key not in saved}
    return older | saved


def check_env_settings(env_factory: Callable[[], Any], args: RLEFConfig) -> None:
    """Raise ValueError when `env_factory`'s environment runs episodes other than `args` describes.

    Checked where the environment exposes the setting (`CodeFeedbackEnv` does: `max_turns`, `feedback_mode`,
    `final_tests`), since the config's values are recorded with checkpoints and a resume compares them.
    """
    env = env_factory()
    inner = getattr(env, "unwrapped", env)
    wanted = {"max_turns": args.max_turns, "feedback_mode": args.feedback, "final_tests": tuple(args.final_tests)}
    actual = {name: getattr(inner, name) for name in wanted if hasattr(inner, name)}
    actual = {name: str(value) if isinstance(value, str) else value for name, value in actual.items()}  # enums
    differ = [f"{name}={value!r} (config: {wanted[name]!r})" for name, value in actual.items() if value != wanted[name]]
    close = getattr(env, "close", None)
    if close is not None:
        close()
    if differ:
        raise ValueError(
            f"env_factory's environment has {', '.join(differ)}; build it from the config, e.g. "
            "gym.make('CodeFeedback/CodeFeedback-v0', dataset=problems, **config.env_kwargs())."
        )


def _to_device(data: Any, device: Any) -> Any:
    """`data` (tensors in nested lists and dicts) with every tensor moved to `device`."""
    if isinstance(data, torch.Tensor):
        return data.to(device)
    if isinstance(data, dict):
        return {key: _to_device(value, device) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(_to_device(value, device) for value in data)
    return data
