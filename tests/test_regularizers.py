import pytest
import torch
from torch import nn

from ganbench.regularizers import R1, Dragan, GradientPenalty, WeightClip


def _critic():
    """In float64: batched and per-sample autograd sum in different orders, and float32 matrix products
    round differently on different CPUs (SIMD width, FMA), so float32 would test rounding, not the formula."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def _per_sample_grad_norm(D, x):
    """Reference: one autograd call per sample (no batching tricks)."""
    norms = []
    for i in range(len(x)):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(D(xi).sum(), xi)
        norms.append(g.norm())
    return torch.stack(norms)


def test_gradient_penalty_matches_direct_autograd():
    D = _critic()
    real, fake = torch.randn(5, 3, 2, 2, dtype=torch.float64), torch.randn(5, 3, 2, 2, dtype=torch.float64)
    gen = torch.Generator().manual_seed(7)
    got = GradientPenalty(weight=10.0).penalty(D, real, fake, gen)
    eps = torch.rand(5, 1, 1, 1, generator=torch.Generator().manual_seed(7)).double()
    x_hat = eps * real + (1 - eps) * fake
    want = 10.0 * ((_per_sample_grad_norm(D, x_hat) - 1) ** 2).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-12)
    got.backward()  # the penalty is differentiable w.r.t. D's weights
    assert D[1].weight.grad is not None and D[1].weight.grad.abs().sum() > 0


def test_r1_matches_direct_autograd():
    D = _critic()
    real = torch.randn(6, 3, 2, 2, dtype=torch.float64)
    got = R1(gamma=4.0).penalty(D, real, real, torch.Generator())
    want = 0.5 * 4.0 * (_per_sample_grad_norm(D, real) ** 2).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-12)


def test_dragan_is_zero_for_unit_gradient_critic():
    D = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        D[1].weight.copy_(torch.tensor([[0.6, 0.8, 0.0, 0.0]]))  # |grad| = 1 everywhere
    pen = Dragan().penalty(D, torch.randn(8, 4), None, torch.Generator().manual_seed(0))
    assert pen.item() == pytest.approx(0.0, abs=1e-10)


def test_weight_clip():
    D = _critic()
    with torch.no_grad():
        D[1].weight.mul_(100)
    WeightClip(limit=0.01).after_d_step(D)
    assert max(p.abs().max().item() for p in D.parameters()) <= 0.01
