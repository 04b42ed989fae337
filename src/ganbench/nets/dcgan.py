"""DCGAN (Radford et al. 2016), one definition for every resolution the geometry helper accepts.
``attention: R`` inserts a SAGAN self-attention block where the feature maps are R x R (0 = none).

G: z -> linear to (width * 2^(stages-1), base, base) -> `stages` x [ConvTranspose 4x4 stride 2] -> tanh.
D: mirror image with strided 4x4 convolutions and LeakyReLU(0.2), then a linear layer to one logit.
``bias_before_norm: false`` drops the bias of layers that a batch/layer norm follows (redundant there).
"""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

from ..registry import DISCRIMINATORS, GENERATORS
from .attention import SelfAttention
from .layers import (
    ClassHead,
    Conditioning,
    DNorm,
    GNorm,
    g_norm,
    has_bias,
    image_geometry,
    norm_2d,
    run,
    stage_widths,
    weight_wrapper,
)


@DISCRIMINATORS.register("dcgan")
class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: strided 4x4 convs, LeakyReLU(0.2), linear head."""

    def __init__(self, data_shape, width: int = 64, norm: DNorm = "batch", attention: int = 0,
                 conditioning: Conditioning = "projection", bias_before_norm: bool = True,
                 num_classes: int = 0):
        super().__init__()
        channels, base, stages = image_geometry(data_shape, "dcgan")
        sn = weight_wrapper(norm)
        bias = has_bias(norm, bias_before_norm)
        widths = stage_widths(width, stages)[::-1]  # highest resolution first
        layers, c_in, res = [], channels, data_shape[-1]
        for i, c_out in enumerate(widths):
            layers.append(sn(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=bias or i == 0)))
            if i > 0:  # as in DCGAN, no normalization on the first layer
                layers.append(norm_2d(norm, c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in, res = c_out, res // 2
            if res == attention:  # SAGAN self-attention at this resolution
                layers.append(SelfAttention(c_out, sn))
        self.features = nn.Sequential(*layers)
        self.head = sn(nn.Linear(c_in * base * base, 1))
        self.cond = ClassHead(c_in * base * base, num_classes, conditioning, sn) if num_classes else None

    def forward(self, x: Tensor, y: Tensor | None = None):
        phi = self.features(x).flatten(1)
        logit = self.head(phi).view(-1)
        return self.cond(phi, logit, y) if self.cond is not None else logit


@GENERATORS.register("dcgan")
class DCGANGenerator(nn.Module):
    """DCGAN generator: linear projection, 4x4 transposed convs with BN+ReLU, tanh output."""

    def __init__(self, data_shape, z_dim, width: int = 64, norm: GNorm = "batch", attention: int = 0,
                 bias_before_norm: bool = True, num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        channels, base, stages = image_geometry(data_shape, "dcgan")
        widths = stage_widths(width, stages)
        self.start = (widths[0], base, base)
        flat = widths[0] * base * base
        bias = has_bias(norm, bias_before_norm)
        self.project = nn.Sequential(nn.Linear(z_dim, flat, bias=bias),
                                     g_norm(norm, flat, num_classes, dims=1), nn.ReLU())
        layers, res = [], base
        for c_in, c_out in pairwise(widths):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias), g_norm(norm, c_out, num_classes),
                       nn.ReLU()]
            res *= 2
            if res == attention:  # SAGAN self-attention at this resolution
                layers.append(SelfAttention(c_out))
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return run(self.body, run(self.project, z, y).view(z.shape[0], *self.start), y)
