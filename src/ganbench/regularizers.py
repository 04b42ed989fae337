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
    """L2 norm of dD/d(input) per value D returns, with a graph so the penalty can be backpropagated.

    One value per sample, or per pack for a PacGAN discriminator (nets.Packed): its input is a pack of m
    consecutive rows, so the norm is taken over the pack's m rows together."""
    x = x.detach().requires_grad_(True)
    out = D(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(out.shape[0], -1).norm(2, dim=1)


class Draws:
    """Randomness and per-run reductions for a batch that holds the batches of k runs one after the other.

    A single run is k = 1 (its generator alone). In a member-stacked ensemble (training/stack.py) member
    i's rows draw from member i's own generator, and means/stds are taken per member, so each member's
    penalty is exactly its single run's. Per-member options arrive as tensors of shape (k,).

    ``pack`` = m for a PacGAN discriminator: a per-sample draw is then one draw per pack of m consecutive
    rows (the interpolate of a pack lies between a real pack and a fake pack); m = 1 draws as before.
    """

    def __init__(self, gens: torch.Generator | list[torch.Generator], pack: int = 1):
        self.gens = [gens] if isinstance(gens, torch.Generator) else list(gens)
        self.k, self.pack = len(self.gens), pack

    def uniform(self, x: Tensor, per_sample: bool) -> Tensor:
        n = x.shape[0] // self.k
        shape = (n // self.pack,) + (1,) * (x.dim() - 1) if per_sample else (n, *x.shape[1:])
        draws = [torch.rand(shape, generator=g) for g in self.gens]
        out = (draws[0] if self.k == 1 else torch.cat(draws)).to(x.device, x.dtype)
        return out.repeat_interleave(self.pack, dim=0) if per_sample and self.pack > 1 else out

    def mean(self, t: Tensor) -> Tensor:
        """Mean over each member's rows: a scalar for one run, shape (k,) for an ensemble."""
        return t.mean() if self.k == 1 else t.view(self.k, -1).mean(1)

    def std(self, x: Tensor) -> Tensor:
        """Population std (ddof 0, numpy's x.std() as in Kodali et al.'s DRAGAN code) over all elements of
        each member's rows: a scalar for one run, shape (k,) for an ensemble."""
        return x.std(correction=0) if self.k == 1 else x.reshape(self.k, -1).std(1, correction=0)

    def rows(self, v: float | Tensor, x: Tensor) -> float | Tensor:
        """A per-member value (float, 0-d or (k,) tensor) broadcast over the rows of x."""
        if not torch.is_tensor(v) or v.dim() == 0:
            return v
        return v.repeat_interleave(x.shape[0] // self.k).view(-1, *(1,) * (x.dim() - 1))


def _per_member(v: float | Tensor, stacked: Tensor) -> float | Tensor:
    """A per-member value broadcast over a member-stacked parameter of shape (k, ...)."""
    return v.view(-1, *(1,) * (stacked.dim() - 1)) if torch.is_tensor(v) else v


class Regularizer:
    every: int = 1

    def penalty(self, D: nn.Module, real: Tensor, fake: Tensor, draws: Draws | torch.Generator) -> Tensor | None:
        return None

    def after_d_step(self, D: nn.Module) -> None:
        return None


@REGULARIZERS.register("gp")
class GradientPenalty(Regularizer):
    """WGAN-GP gradient penalty on real/fake interpolates (Gulrajani 2017): weight*(|grad|-center)^2."""

    def __init__(self, weight: float = 10.0, center: float = 1.0, every: int = 1):
        self.weight, self.center, self.every = weight, center, every

    def penalty(self, D, real, fake, draws):
        draws = draws if isinstance(draws, Draws) else Draws(draws)
        eps = draws.uniform(real, per_sample=True)
        x_hat = eps * real + (1 - eps) * fake
        norms = _grad_norms(D, x_hat)
        return self.weight * draws.mean((norms - draws.rows(self.center, norms)).pow(2))


@REGULARIZERS.register("r1")
class R1(Regularizer):
    """R1 penalty on real data (Mescheder 2018): gamma/2 * E|grad D(x)|^2."""

    def __init__(self, gamma: float = 10.0, every: int = 1):
        self.gamma, self.every = gamma, every

    def penalty(self, D, real, fake, draws):
        draws = draws if isinstance(draws, Draws) else Draws(draws)
        return 0.5 * self.gamma * draws.mean(_grad_norms(D, real).pow(2))


@REGULARIZERS.register("dragan")
class Dragan(Regularizer):
    """DRAGAN penalty (Kodali 2017) around perturbed real data: weight*(|grad|-1)^2."""

    def __init__(self, weight: float = 10.0, noise: float = 0.5, every: int = 1):
        self.weight, self.noise, self.every = weight, noise, every

    def penalty(self, D, real, fake, draws):
        draws = draws if isinstance(draws, Draws) else Draws(draws)
        perturbed = real + draws.rows(self.noise * draws.std(real), real) * draws.uniform(real, per_sample=False)
        alpha = draws.uniform(real, per_sample=True)
        x_hat = real + alpha * (perturbed - real)
        return self.weight * draws.mean((_grad_norms(D, x_hat) - 1).pow(2))


@REGULARIZERS.register("clip")
class WeightClip(Regularizer):
    """Clamp every discriminator parameter to [-limit, limit] after each D step (original WGAN)."""

    def __init__(self, limit: float = 0.01):
        self.limit = limit

    @torch.no_grad()
    def after_d_step(self, D):
        for p in D.parameters():  # member-stacked parameters get each member's own limit
            limit = _per_member(self.limit, p)
            p.clamp_(-limit, limit)
