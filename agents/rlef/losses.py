"""RLEF's PPO losses: clipped policy surrogate with an importance correction, clipped value loss.

The paper's ratio (`behaviour_factor`) is pi_theta/pi_old * stop_grad(min(pi_theta/pi_behaviour, 1)), clipped as a
whole: pi_old is the policy when the batch was scored, pi_behaviour the engine that sampled it (vLLM, an older
copy). The older variant (`importance_weights`) multiplies the clipped objective by min(pi_old/pi_behaviour, cap).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PolicyLossOutput:
    """Policy loss (scalar) and detached statistics over the model tokens."""

    loss: torch.Tensor
    clip_fraction: torch.Tensor
    approx_kl: torch.Tensor


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over the entries where `mask` is 1."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def importance_weights(old_logps: torch.Tensor, sampling_logps: torch.Tensor | None, cap: float) -> torch.Tensor | None:
    """Truncated importance weight min(pi_old / pi_sampler, cap) per token; None without sampler log-probs.

    Corrects for the sampling engine (vLLM, an asynchronous copy) not being exactly the trained policy.
    Tokens whose sampler log-prob is NaN get weight 1.
    """
    if sampling_logps is None:
        return None
    weights = torch.exp(old_logps - sampling_logps).clamp(max=cap)
    return torch.nan_to_num(weights, nan=1.0).detach()


def behaviour_factor(logps: torch.Tensor, behaviour_logps: torch.Tensor | None) -> torch.Tensor | None:
    """stop_grad(min(pi_theta / pi_behaviour, 1)) per token, the paper's factor of the ratio; None without
    behaviour log-probs. Tokens whose behaviour log-prob is NaN get factor 1."""
    if behaviour_logps is None:
        return None
    factor = torch.exp(logps.detach() - behaviour_logps).clamp(max=1.0)
    return torch.nan_to_num(factor, nan=1.0)


def policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float,
    weights: torch.Tensor | None = None,
    ratio_factor: torch.Tensor | None = None,
) -> PolicyLossOutput:
    """PPO clipped surrogate -min(r A, clip(r, 1-eps, 1+eps) A), averaged over masked tokens. All (B, C).

    r = exp(logps - old_logps), times `ratio_factor` (detached; the paper's `behaviour_factor`) before the
    clip; `weights` (detached) multiply the clipped objective after it. `mask` is 1 exactly on tokens the
    model produced: feedback and prompt tokens never get gradient.
    """
    ratio = torch.exp(logps - old_logps)
    if ratio_factor is not None:
        ratio = ratio * ratio_factor.detach()
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    per_token = torch.maximum(unclipped, clipped)
    if weights is not None:
        per_token = per_token * weights
    loss = masked_mean(per_token, mask)
    with torch.no_grad():
        clip_fraction = masked_mean((clipped > unclipped).float(), mask)
        approx_kl = masked_mean(0.5 * (logps - old_logps) ** 2, mask)
    return PolicyLossOutput(loss=loss, clip_fraction=clip_fraction, approx_kl=approx_kl)


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, cliprange_value: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss 0.5 * max((V - G)^2, (V_clip - G)^2) over real turns, and the clipped fraction. (B, T)."""
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    loss_unclipped = (values - returns) ** 2
    loss_clipped = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(loss_unclipped, loss_clipped), mask)
    with torch.no_grad():
        clip_fraction = masked_mean((loss_clipped > loss_unclipped).float(), mask)
    return loss, clip_fraction


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(G - V) / Var(G) over real turns (nan when the returns are constant)."""
    m = mask.bool()
    v, g = values[m].float(), returns[m].float()
    if g.numel() < 2:
        return float("nan")
    var_g = g.var(unbiased=False)
    if var_g.item() == 0.0:
        return float("nan")
    return float(1.0 - (g - v).var(unbiased=False) / var_g)
