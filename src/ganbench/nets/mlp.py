"""Multilayer perceptrons for data of any shape (flattened); the natural choice for 2-D mixtures."""

from __future__ import annotations

from torch import Tensor, nn

from ..registry import DISCRIMINATORS, GENERATORS
from .layers import DNorm, GNorm, flat_dim, norm_1d, weight_wrapper


@GENERATORS.register("mlp")
class MLPGenerator(nn.Module):
    """MLP generator: `depth` hidden layers of `hidden` units, ReLU; tanh output for images."""

    def __init__(self, data_shape, z_dim, hidden: int = 256, depth: int = 3, norm: GNorm = "none"):
        super().__init__()
        self.data_shape, self.z_dim = tuple(data_shape), z_dim
        layers, width = [], z_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), norm_1d(norm, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, flat_dim(self.data_shape)))
        if len(self.data_shape) == 3:
            layers.append(nn.Tanh())  # images live in [-1, 1]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)


@DISCRIMINATORS.register("mlp")
class MLPDiscriminator(nn.Module):
    """MLP discriminator: `depth` hidden layers of `hidden` units, LeakyReLU(0.2); one logit."""

    def __init__(self, data_shape, hidden: int = 256, depth: int = 3, norm: DNorm = "none"):
        super().__init__()
        sn = weight_wrapper(norm)
        layers, width = [nn.Flatten()], flat_dim(data_shape)
        for _ in range(depth):
            layers += [sn(nn.Linear(width, hidden)), norm_1d(norm, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        layers.append(sn(nn.Linear(width, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).view(-1)
