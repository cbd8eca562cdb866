"""Turn-level rewards, returns and advantages of RLEF (gamma = 1).

Shapes: `B` episodes, `T` turn slots (padded to the longest episode), `C` completion tokens.
A turn slot `t` is real where `turn_mask[b, t]` is true.
"""

from __future__ import annotations

import torch


def response_kl(logps: torch.Tensor, ref_logps: torch.Tensor, token_turn: torch.Tensor, num_turns: int) -> torch.Tensor:
    """Mean token log-ratio log pi(y)/pi_ref(y) of every response: (B, C) x2, (B, C) -> (B, T).

    `token_turn[b, j]` is the turn index of completion token j, or -1 for tokens the model did not
    produce (feedback, padding). The mean over a response's tokens is the log-ratio of the geometric
    mean of its token probabilities, so the penalty does not grow with length. Empty turns get 0.
    """
    log_ratio = (logps - ref_logps).float()
    kl = torch.zeros(logps.shape[0], num_turns, dtype=torch.float32, device=logps.device)
    for t in range(num_turns):
        in_turn = (token_turn == t).float()
        kl[:, t] = (log_ratio * in_turn).sum(-1) / in_turn.sum(-1).clamp(min=1.0)
    return kl


def turn_rewards(env_rewards: torch.Tensor, kl: torch.Tensor, kl_coef: float, turn_mask: torch.Tensor) -> torch.Tensor:
    """R_t = environment reward of turn t - kl_coef * KL of response t; zero on padded slots. (B, T)."""
    return (env_rewards - kl_coef * kl) * turn_mask.float()


def returns_to_go(rewards: torch.Tensor) -> torch.Tensor:
    """G_t = sum_{i >= t} R_i (undiscounted), (B, T) -> (B, T)."""
    return rewards.flip(-1).cumsum(-1).flip(-1)


def whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise `values` to mean 0 / std 1 over the entries where `mask` is true; others become 0."""
    m = mask.bool()
    selected = values[m]
    if selected.numel() < 2:
        return torch.where(m, values - selected.mean() if selected.numel() else values, torch.zeros_like(values))
    mean, std = selected.mean(), selected.std(unbiased=False)
    return torch.where(m, (values - mean) / (std + eps), torch.zeros_like(values))


def turn_advantages(returns: torch.Tensor, values: torch.Tensor, turn_mask: torch.Tensor) -> torch.Tensor:
    """A_t = -V(c_t) + sum_{i >= t} R_i on real turns, 0 on padded slots. (B, T)."""
    return (returns - values) * turn_mask.float()


def token_advantages(advantages: torch.Tensor, token_turn: torch.Tensor) -> torch.Tensor:
    """Broadcast each turn's advantage to every token of its response: (B, T), (B, C) -> (B, C)."""
    index = token_turn.clamp(min=0)
    per_token = advantages.gather(1, index)
    return torch.where(token_turn >= 0, per_token, torch.zeros_like(per_token))
