"""Multilayer perceptrons for data of any shape (flattened); the natural choice for 2-D mixtures.

``bias_before_norm: false`` drops the bias of every hidden layer that a batch or layer norm follows
(the norm's shift makes it redundant; PacGAN's official generator is built so). The discriminator's
``activation: maxout`` with ``pieces: k`` is Goodfellow et al.'s maxout unit, as in the discriminator of
PacGAN's 2-D experiments (and ALI's, which they build on): each hidden unit is the max of k linear pieces.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from ..errors import UserError
from ..registry import DISCRIMINATORS, GENERATORS
from .layers import DNorm, GNorm, flat_dim, has_bias, norm_1d, weight_wrapper

Activation = Literal["leaky_relu", "maxout"]


class Maxout(nn.Module):
    """Max over consecutive groups of ``pieces``: (N, units * k) -> (N, units); unit u = max of u*k .. u*k+k-1."""

    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = pieces

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], -1, self.pieces).amax(dim=-1)


# activation name -> (how many linear outputs each hidden unit needs, the activation module)
_ACTIVATIONS = {
    "leaky_relu": lambda pieces: (1, nn.LeakyReLU(0.2)),
    "maxout": lambda pieces: (pieces, Maxout(pieces)),
}


@GENERATORS.register("mlp")
class MLPGenerator(nn.Module):
    """MLP generator: `depth` hidden layers of `hidden` units, ReLU; tanh output for images."""

    def __init__(self, data_shape, z_dim, hidden: int = 256, depth: int = 3, norm: GNorm = "none",
                 bias_before_norm: bool = True):
        super().__init__()
        self.data_shape, self.z_dim = tuple(data_shape), z_dim
        bias = has_bias(norm, bias_before_norm)
        layers, width = [], z_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden, bias=bias), norm_1d(norm, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, flat_dim(self.data_shape)))
        if len(self.data_shape) == 3:
            layers.append(nn.Tanh())  # images live in [-1, 1]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)


@DISCRIMINATORS.register("mlp")
class MLPDiscriminator(nn.Module):
    """MLP discriminator: `depth` hidden layers of `hidden` units, LeakyReLU(0.2) or maxout; one logit."""

    def __init__(self, data_shape, hidden: int = 256, depth: int = 3, norm: DNorm = "none",
                 activation: Activation = "leaky_relu", pieces: int = 5, bias_before_norm: bool = True):
        super().__init__()
        if pieces < 2 and activation == "maxout":
            raise UserError(f"discriminator.pieces: maxout needs at least 2 pieces; got {pieces}")
        sn = weight_wrapper(norm)
        bias = has_bias(norm, bias_before_norm)
        layers, width = [nn.Flatten()], flat_dim(data_shape)
        for _ in range(depth):
            k, act = _ACTIVATIONS[activation](pieces)
            # norm acts on every linear piece, before the activation picks among them
            layers += [sn(nn.Linear(width, hidden * k, bias=bias)), norm_1d(norm, hidden * k), act]
            width = hidden
        layers.append(sn(nn.Linear(width, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).view(-1)
