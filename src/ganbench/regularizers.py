"""Discriminator regularizers.

A regularizer may add a penalty to D's loss (``penalty``) and/or act on D after its optimizer step
(``after_d_step``). ``every`` > 1 makes a penalty lazy (StyleGAN2): it is applied on one D step in
``every`` and scaled by ``every`` so its average strength is unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .registry import REGULARIZERS


def _grad_norms(D: nn.Module, x: Tensor) -> Tensor:
    """Per-sample L2 norm of dD(x)/dx, with a graph so the penalty can be backpropagated."""
    x = x.detach().requires_grad_(True)
    out = D(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1).norm(2, dim=1)


def _uniform_like(x: Tensor, rng: torch.Generator, per_sample: bool) -> Tensor:
    shape = (x.shape[0],) + (1,) * (x.dim() - 1) if per_sample else x.shape
    return torch.rand(shape, generator=rng).to(x.device, x.dtype)


class Regularizer:
    every: int = 1

    def penalty(self, D: nn.Module, real: Tensor, fake: Tensor, rng: torch.Generator) -> Tensor | None:
        return None

    def after_d_step(self, D: nn.Module) -> None:
        return None


@REGULARIZERS.register("gp")
class GradientPenalty(Regularizer):
    """WGAN-GP gradient penalty on real/fake interpolates (Gulrajani 2017): weight*(|grad|-center)^2."""

    def __init__(self, weight: float = 10.0, center: float = 1.0, every: int = 1):
        self.weight, self.center, self.every = weight, center, every

    def penalty(self, D, real, fake, rng):
        eps = _uniform_like(real, rng, per_sample=True)
        x_hat = eps * real + (1 - eps) * fake
        return self.weight * (_grad_norms(D, x_hat) - self.center).pow(2).mean()


@REGULARIZERS.register("r1")
class R1(Regularizer):
    """R1 penalty on real data (Mescheder 2018): gamma/2 * E|grad D(x)|^2."""

    def __init__(self, gamma: float = 10.0, every: int = 1):
        self.gamma, self.every = gamma, every

    def penalty(self, D, real, fake, rng):
        return 0.5 * self.gamma * _grad_norms(D, real).pow(2).mean()


@REGULARIZERS.register("dragan")
class Dragan(Regularizer):
    """DRAGAN penalty (Kodali 2017) around perturbed real data: weight*(|grad|-1)^2."""

    def __init__(self, weight: float = 10.0, noise: float = 0.5, every: int = 1):
        self.weight, self.noise, self.every = weight, noise, every

    def penalty(self, D, real, fake, rng):
        perturbed = real + self.noise * real.std() * _uniform_like(real, rng, per_sample=False)
        alpha = _uniform_like(real, rng, per_sample=True)
        x_hat = real + alpha * (perturbed - real)
        return self.weight * (_grad_norms(D, x_hat) - 1).pow(2).mean()


@REGULARIZERS.register("clip")
class WeightClip(Regularizer):
    """Clamp every discriminator parameter to [-limit, limit] after each D step (original WGAN)."""

    def __init__(self, limit: float = 0.01):
        self.limit = limit

    @torch.no_grad()
    def after_d_step(self, D):
        for p in D.parameters():
            p.clamp_(-self.limit, self.limit)
