"""GAN losses as pure functions of the discriminator's raw outputs (logits / critic values).

Each loss is a pair ``d(real, fake)`` and ``g(real, fake)`` of scalar-valued functions of D's outputs
on a real batch and a fake batch; both are minimized. ``g_needs_real`` says whether the generator's
loss looks at D's outputs on real data (only relativistic losses do), so the loop can skip that
forward pass otherwise. Adding a loss = two functions + one ``LOSSES.add`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from .registry import LOSSES

LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Loss:
    d: LossFn
    g: LossFn
    g_needs_real: bool = False


# minimax (Goodfellow et al. 2014): D maximizes log D(x) + log(1 - D(G(z))), G minimizes log(1 - D(G(z))).
# With D(x) = sigmoid(l): -log sigmoid(l) = softplus(-l) and log(1 - sigmoid(l)) = -softplus(l).
def _bce_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _minimax_g(real: Tensor, fake: Tensor) -> Tensor:
    return -F.softplus(fake).mean()


def _ns_g(real: Tensor, fake: Tensor) -> Tensor:
    return F.softplus(-fake).mean()  # -log D(G(z))


# least squares (Mao et al. 2017), a=0, b=1, c=1, with the paper's factor 1/2.
def _ls_d(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())


def _ls_g(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * (fake - 1).pow(2).mean()


# hinge (Lim & Ye 2017; used by SNGAN, SAGAN, BigGAN).
def _hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def _critic_g(real: Tensor, fake: Tensor) -> Tensor:
    return -fake.mean()


# Wasserstein (Arjovsky et al. 2017): the critic maximizes E[D(x)] - E[D(G(z))].
def _wgan_d(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean() - real.mean()


# relativistic average, standard (non-saturating) form (Jolicoeur-Martineau 2018), averaged over the two
# terms as in the paper's reference code.
def _ra_d(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * (F.softplus(-(real - fake.mean())).mean() + F.softplus(fake - real.mean()).mean())


def _ra_g(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * (F.softplus(-(fake - real.mean())).mean() + F.softplus(real - fake.mean()).mean())


LOSSES.add("minimax", Loss(_bce_d, _minimax_g), "Original saturating minimax loss (Goodfellow 2014)")
LOSSES.add("ns", Loss(_bce_d, _ns_g), "Non-saturating loss: G maximizes log D(G(z))")
LOSSES.add("lsgan", Loss(_ls_d, _ls_g), "Least-squares loss (Mao 2017), targets 0/1")
LOSSES.add("hinge", Loss(_hinge_d, _critic_g), "Hinge loss (Lim & Ye 2017; SNGAN, BigGAN)")
LOSSES.add("wgan", Loss(_wgan_d, _critic_g), "Wasserstein critic loss; pair with gp or clip")
LOSSES.add("rsgan-avg", Loss(_ra_d, _ra_g, g_needs_real=True),
           "Relativistic average non-saturating loss (RaSGAN)")


def get_loss(name: str) -> Loss:
    return LOSSES.get(name).obj


__all__ = ["Loss", "get_loss"]
