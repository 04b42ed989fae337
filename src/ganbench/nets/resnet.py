"""ResNet generator/discriminator in the style of SNGAN (Miyato et al. 2018), any supported resolution.

G: linear -> `stages` up-blocks (BN, ReLU, nearest x2, conv3x3, BN, ReLU, conv3x3; 1x1 shortcut)
-> BN, ReLU, conv3x3, tanh.  D: an optimized first down-block, then down-blocks (ReLU, conv3x3, ReLU,
conv3x3, avg-pool; 1x1 shortcut), ReLU, global sum pooling, linear.
"""

from __future__ import annotations

from itertools import pairwise

import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import DISCRIMINATORS, GENERATORS
from .attention import SelfAttention
from .layers import (
    ClassHead,
    Conditioning,
    DNorm,
    GNorm,
    g_norm,
    image_geometry,
    norm_2d,
    run,
    stage_widths,
    weight_wrapper,
)


class UpBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, norm: str, num_classes: int = 0):
        super().__init__()
        self.n1, self.c1 = g_norm(norm, c_in, num_classes), nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.n2, self.c2 = g_norm(norm, c_out, num_classes), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = F.interpolate(F.relu(run([self.n1], x, y)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(run([self.n2], self.c1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, norm: str, first: bool):
        super().__init__()
        sn = weight_wrapper(norm)
        self.first = first
        self.c1, self.n1 = sn(nn.Conv2d(c_in, c_out, 3, 1, 1)), norm_2d(norm, c_out)
        self.c2, self.n2 = sn(nn.Conv2d(c_out, c_out, 3, 1, 1)), norm_2d(norm, c_out)
        self.skip = sn(nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else F.relu(x)  # the first block sees raw pixels
        h = self.n2(self.c2(F.relu(self.n1(self.c1(h)))))
        h = F.avg_pool2d(h, 2)
        if self.first:  # pool before the 1x1 conv: cheaper, same as SNGAN's optimized block
            return h + self.skip(F.avg_pool2d(x, 2))
        return h + F.avg_pool2d(self.skip(x), 2)


@GENERATORS.register("resnet")
class ResNetGenerator(nn.Module):
    """SNGAN-style ResNet generator: residual up-blocks with batch norm."""

    def __init__(self, data_shape, z_dim, width: int = 64, norm: GNorm = "batch", attention: int = 0,
                 num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        channels, base, stages = image_geometry(data_shape, "resnet")
        widths = stage_widths(width, stages) + [width]
        self.start = (widths[0], base, base)
        self.project = nn.Linear(z_dim, widths[0] * base * base)
        blocks = []
        for i, (a, b) in enumerate(pairwise(widths)):
            blocks.append(UpBlock(a, b, norm, num_classes))
            if base * 2 ** (i + 1) == attention:
                blocks.append(SelfAttention(b))
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Sequential(g_norm(norm, widths[-1], num_classes), nn.ReLU(),
                                 nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.project(z).view(z.shape[0], *self.start)
        for block in self.blocks:
            h = block(h, y) if isinstance(block, UpBlock) else block(h)
        return run(self.out, h, y)


@DISCRIMINATORS.register("resnet")
class ResNetDiscriminator(nn.Module):
    """SNGAN-style ResNet discriminator: residual down-blocks, global sum pooling."""

    def __init__(self, data_shape, width: int = 64, norm: DNorm = "spectral", attention: int = 0,
                 conditioning: Conditioning = "projection", num_classes: int = 0):
        super().__init__()
        channels, _, stages = image_geometry(data_shape, "resnet")
        widths = [channels] + (stage_widths(width, stages) + [width])[::-1][1:]  # width ... width*2^(stages-1)
        blocks = []
        for i, (a, b) in enumerate(pairwise(widths)):
            blocks.append(DownBlock(a, b, norm, first=(i == 0)))
            if data_shape[-1] // 2 ** (i + 1) == attention:
                blocks.append(SelfAttention(b, weight_wrapper(norm)))
        self.blocks = nn.Sequential(*blocks)
        self.head = weight_wrapper(norm)(nn.Linear(widths[-1], 1))
        self.cond = ClassHead(widths[-1], num_classes, conditioning, weight_wrapper(norm)) if num_classes else None

    def forward(self, x: Tensor, y: Tensor | None = None):
        phi = F.relu(self.blocks(x)).sum(dim=(2, 3))
        logit = self.head(phi).view(-1)
        return self.cond(phi, logit, y) if self.cond is not None else logit
