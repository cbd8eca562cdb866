"""Configuration of the RLEF PPO trainer (Gehring et al. 2024), a `GRPOConfig` with RLEF's fields."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from trl import GRPOConfig

from .episode_arguments import EpisodeArguments

VALUE_MODES = ("separate", "shared")
IMPORTANCE_RATIOS = ("paper", "truncated", "none")


@dataclass
class RLEFConfig(GRPOConfig, EpisodeArguments):
    """Settings of `RLEFTrainer`.

    Inherits every generation, distribution, logging and checkpoint option of TRL's `GRPOConfig`
    (`use_vllm`, `vllm_mode`, `report_to`, `save_steps`, ...) and the episode options of `EpisodeArguments`
    (`max_turns`, `feedback`, `final_tests`, `env_kwargs()`). The defaults below are the paper's
    (AdamW lr 2e-7, weight decay 0.1, 50 warm-up steps, temperature 1.0) with batch sizes scaled down
    from 1024 rollouts / 4 x 256 updates to something a single machine can run.

    GRPO's own `beta` (a per-token KL term in the loss) is forced to 0: RLEF puts its KL penalty into
    the per-turn reward instead (`kl_coef`).
    """

    # --- optimisation (paper values) ---
    learning_rate: float = field(default=2e-7, metadata={"help": "AdamW learning rate (paper: 2e-7)."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (paper: 0.1)."})
    warmup_steps: float = field(default=50, metadata={"help": "Linear warm-up steps (paper: 50)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (paper: 1.0)."})
    # --- batch sizes (scaled down; the paper uses 1024 rollouts, 4 updates of 256) ---
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Episodes per device per micro-step."})
    num_generations: int | None = field(
        default=2,
        metadata={"help": "Episodes sampled per problem in a batch (grouping only; RLEF whitens over the batch)."},
    )
    bf16: bool | None = field(default=False, metadata={"help": "bfloat16 mixed precision (off by default: CPU-safe)."})
    # --- RLEF PPO ---
    kl_coef: float = field(
        default=0.05,
        metadata={"help": "Per-response KL penalty to the initial policy, added to the reward (paper: 0.05)."},
    )
    cliprange: float = field(default=0.2, metadata={"help": "PPO surrogate clip epsilon (paper: 0.2)."})
    cliprange_value: float = field(default=0.2, metadata={"help": "Value-loss clip range (paper: 0.2)."})
    vf_coef: float = field(default=1.0, metadata={"help": "Weight of the value loss in the total loss."})
    whiten_advantages: bool = field(default=True, metadata={"help": "Normalise advantages over the global batch."})
    value_model_mode: str = field(
        default="separate",
        metadata={
            "help": "'separate': a copy of the policy weights plus a fresh linear head (paper); 'shared': a linear "
            "head on the policy's own last hidden state (half the memory, couples the two losses)."
        },
    )
    importance_ratio: str = field(
        default="paper",
        metadata={
            "help": "'paper': ratio pi_theta/pi_old * stop_grad(min(pi_theta/pi_sampler, 1)), clipped as a whole "
            "(corrects for the sampling engine, vLLM or an older copy, not being the trained policy); 'truncated': "
            "the clipped objective times min(pi_old/pi_sampler, importance_cap); 'none': plain PPO ratio."
        },
    )
    importance_cap: float = field(default=2.0, metadata={"help": "Truncation of the 'truncated' importance weight."})
    updates_per_generation: int = field(
        default=4,
        metadata={
            "help": "Optimizer steps per rollout batch when steps_per_generation and generation_batch_size are unset: "
            "steps_per_generation = this x gradient_accumulation_steps (paper: 1024 rollouts, 4 updates of 256). "
            "With more than 1 the policy moves between updates of a batch, so the clip acts."
        },
    )

    def __post_init__(self) -> None:
        if self.beta != 0.0:
            raise ValueError(
                f"beta={self.beta}: RLEF adds its KL penalty to the reward, not the loss. Set beta=0.0 and use "
                f"kl_coef (now {self.kl_coef}) instead."
            )
        if self.use_vllm and importlib.util.find_spec("vllm") is None:
            raise ImportError(
                "use_vllm=True needs vLLM, which is GPU-only: on a CUDA machine `pip install vllm==0.31.0`; "
                "on CPU set use_vllm=False (generation then uses transformers)."
            )
        if self.updates_per_generation < 1:
            raise ValueError(
                f"updates_per_generation={self.updates_per_generation} is invalid: use at least 1 (paper: 4)."
            )
        if self.steps_per_generation is None and self.generation_batch_size is None:
            self.steps_per_generation = self.updates_per_generation * self.gradient_accumulation_steps
        super().__post_init__()
        checks = [
            ("kl_coef", self.kl_coef >= 0.0, "use a non-negative penalty (paper: 0.05)"),
            ("cliprange", 0.0 < self.cliprange < 1.0, "use a value in (0, 1) (paper: 0.2)"),
            ("cliprange_value", self.cliprange_value > 0.0, "use a positive value (paper: 0.2)"),
            ("vf_coef", self.vf_coef >= 0.0, "use a non-negative weight"),
            ("importance_cap", self.importance_cap >= 1.0, "use a cap of at least 1.0 (e.g. 2.0)"),
            ("temperature", self.temperature > 0.0, "use a positive temperature (paper: 1.0)"),
        ]
        EpisodeArguments.__post_init__(self)  # not reached through TRL's __post_init__
        for name, ok, fix in checks:
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid: {fix}.")
        if self.importance_ratio not in IMPORTANCE_RATIOS:
            raise ValueError(
                f"importance_ratio={self.importance_ratio!r} is invalid: use one of {', '.join(IMPORTANCE_RATIOS)}."
            )
        if self.value_model_mode not in VALUE_MODES:
            raise ValueError(
                f"value_model_mode={self.value_model_mode!r} is invalid: use one of {', '.join(VALUE_MODES)}."
            )
        if self.loss_type not in ("grpo", "dapo", "bnpo", "dr_grpo"):
            raise ValueError(
                f"loss_type={self.loss_type!r} is ignored by RLEF's clipped PPO loss; leave it at its default."
            )
