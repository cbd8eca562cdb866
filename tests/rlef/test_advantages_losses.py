"""Advantages, KL and losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from agents.rlef.advantages import (
    response_kl,
    returns_to_go,
    token_advantages,
    turn_advantages,
    turn_rewards,
    whiten,
)
from agents.rlef.losses import behaviour_factor, explained_variance, importance_weights, policy_loss, value_loss


def test_response_kl_is_mean_token_log_ratio_per_turn() -> None:
    logps = torch.tensor([[-1.0, -2.0, 0.0, -0.5, -0.5, 0.0]])
    ref = torch.tensor([[-1.5, -1.0, -9.0, -1.5, -0.5, -9.0]])
    token_turn = torch.tensor([[0, 0, -1, 1, 1, -1]])  # -1: feedback / padding
    kl = response_kl(logps, ref, token_turn, num_turns=3)
    # turn 0: ((-1+1.5) + (-2+1)) / 2 = -0.25 ; turn 1: (1 + 0) / 2 = 0.5 ; turn 2 absent: 0
    assert torch.allclose(kl, torch.tensor([[-0.25, 0.5, 0.0]]))


def test_rewards_returns_advantages_by_hand() -> None:
    env = torch.tensor([[-0.2, 0.0, 1.0], [-1.0, 0.0, 0.0]])
    kl = torch.tensor([[0.4, 0.2, 0.0], [1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    rewards = turn_rewards(env, kl, kl_coef=0.05, turn_mask=mask)
    assert torch.allclose(rewards, torch.tensor([[-0.22, -0.01, 1.0], [-1.05, 0.0, 0.0]]))
    returns = returns_to_go(rewards)
    assert torch.allclose(returns, torch.tensor([[0.77, 0.99, 1.0], [-1.05, 0.0, 0.0]]))
    values = torch.tensor([[0.5, 0.5, 0.5], [-0.5, 9.0, 9.0]])
    adv = turn_advantages(returns, values, mask)  # A_t = -V(c_t) + sum_{i>=t} R_i
    assert torch.allclose(adv, torch.tensor([[0.27, 0.49, 0.5], [-0.55, 0.0, 0.0]]))


def test_whiten_over_real_turns_only() -> None:
    values = torch.tensor([[1.0, 3.0], [5.0, 100.0]])
    mask = torch.tensor([[True, True], [True, False]])
    out = whiten(values, mask)
    std = math.sqrt(((1 - 3) ** 2 + 0 + (5 - 3) ** 2) / 3)
    assert torch.allclose(out, torch.tensor([[-2 / std, 0.0], [2 / std, 0.0]]), atol=1e-6)


def test_token_advantages_shared_by_every_token_of_a_response() -> None:
    adv = torch.tensor([[0.3, -0.7, 0.0]])
    token_turn = torch.tensor([[0, 0, -1, -1, 1, 1, 1, -1]])
    out = token_advantages(adv, token_turn)
    assert torch.allclose(out, torch.tensor([[0.3, 0.3, 0, 0, -0.7, -0.7, -0.7, 0]]))


def test_policy_loss_clips_by_hand() -> None:
    old = torch.zeros(1, 4)
    logps = torch.log(torch.tensor([[1.5, 0.5, 1.1, 2.0]]))  # ratios 1.5, 0.5, 1.1, 2.0
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    out = policy_loss(logps, old, adv, mask, cliprange=0.2)
    # per token: -min(1.5, 1.2) = -1.2 ; -min(0.5, 0.8) = -0.5 ; -min(-1.1, -1.1) = 1.1 ; masked
    assert out.loss.item() == pytest.approx((-1.2 - 0.5 + 1.1) / 3, abs=1e-6)
    assert out.clip_fraction.item() == pytest.approx(1 / 3)


def test_paper_ratio_by_hand() -> None:
    """r = pi/pi_old * stop_grad(min(pi/pi_behaviour, 1)), clipped as a whole (cliprange 0.2)."""
    to_old = torch.tensor([[1.1, 1.5, 0.9, 1.0]])  # pi_theta / pi_old
    to_behaviour = torch.tensor([[0.5, 2.0, 0.8, 1.0]])  # pi_theta / pi_behaviour
    logps = torch.log(to_old).requires_grad_(True)
    old = torch.zeros(1, 4)
    behaviour = logps.detach() - torch.log(to_behaviour)
    adv = torch.tensor([[1.0, 1.0, -1.0, 2.0]])
    factor = behaviour_factor(logps, behaviour)
    assert torch.allclose(factor, torch.tensor([[0.5, 1.0, 0.8, 1.0]]))
    out = policy_loss(logps, old, adv, torch.ones(1, 4), 0.2, ratio_factor=factor)
    # ratios 0.55, 1.5, 0.72, 1.0 -> per token -min(rA, clip(r)A): -0.55 ; -1.2 (clipped) ; 0.8 (clipped) ; -2.0
    assert out.loss.item() == pytest.approx((-0.55 - 1.2 + 0.8 - 2.0) / 4)
    assert out.clip_fraction.item() == pytest.approx(0.5)
    out.loss.backward()
    # d/dlogp of -r A / 4 is -r A / 4 where unclipped (the factor is a constant), 0 where clipped
    assert torch.allclose(logps.grad, torch.tensor([[-0.55 / 4, 0.0, 0.0, -2.0 / 4]]))
    # The older variant weights the clipped objective by min(pi_old / pi_behaviour, cap) instead.
    legacy = policy_loss(logps, old, adv, torch.ones(1, 4), 0.2, importance_weights(old, behaviour, 2.0))
    assert legacy.loss.item() == pytest.approx((-1.1 * (0.5 / 1.1) - 1.2 * (2.0 / 1.5) + 0.9 * (0.8 / 0.9) - 2.0) / 4)
    nan = behaviour_factor(logps, torch.full((1, 4), float("nan")))
    assert torch.equal(nan, torch.ones(1, 4)) and behaviour_factor(logps, None) is None


def test_importance_weights_truncate() -> None:
    old = torch.tensor([[0.0, 0.0, -1.0]])
    sampling = torch.tensor([[0.0, -2.0, float("nan")]])
    w = importance_weights(old, sampling, cap=2.0)
    assert torch.allclose(w, torch.tensor([[1.0, 2.0, 1.0]]))
    assert importance_weights(old, None, cap=2.0) is None
    logps = torch.zeros(1, 3, requires_grad=True)
    adv = torch.ones(1, 3)
    out = policy_loss(logps, old.new_zeros(1, 3), adv, torch.ones(1, 3), 0.2, weights=torch.tensor([[1.0, 2.0, 0.5]]))
    assert out.loss.item() == pytest.approx(-(1 + 2 + 0.5) / 3)


def test_value_loss_clipped_by_hand() -> None:
    values = torch.tensor([[1.0, 0.0]])
    old = torch.tensor([[0.0, 0.0]])
    returns = torch.tensor([[1.0, 2.0]])
    mask = torch.tensor([[True, False]])
    loss, frac = value_loss(values, old, returns, mask, cliprange_value=0.2)
    # unclipped (1-1)^2 = 0, clipped (0.2-1)^2 = 0.64 -> max 0.64, times 0.5
    assert loss.item() == pytest.approx(0.32)
    assert frac.item() == 1.0


def test_explained_variance() -> None:
    returns = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    assert explained_variance(returns, returns, mask) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(1, 4), returns, mask) == pytest.approx(0.0)
