"""DCGAN (Radford et al. 2016), one definition for every resolution the geometry helper accepts.
``attention: R`` inserts a SAGAN self-attention block where the feature maps are R x R (0 = none).

G: z -> linear to (width * 2^(stages-1), base, base) -> `stages` x [ConvTranspose 4x4 stride 2] -> tanh.
D: mirror image with strided 4x4 convolutions and LeakyReLU(0.2), then a linear layer to one logit.
``bias_before_norm: false`` drops the bias of layers that a batch/layer norm follows (redundant there).

``kernel: 5, stages: 4`` is the TensorFlow DCGAN code that PacGAN's Stacked MNIST experiments use: 5x5
kernels with 'same' padding, resolutions halved (rounding up) four times, 28 -> 14 -> 7 -> 4 -> 2.
``stages: 0`` takes the family's usual geometry (halve while even and >= 8).
"""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

from ..errors import UserError
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


def geometry(data_shape, kernel: int, stages: int) -> tuple[int, list[int]]:
    """(channels, resolutions from the image's down to the base), checked to be reachable with ``kernel``."""
    channels, base, usual = image_geometry(data_shape, "dcgan")
    if kernel not in (4, 5):
        raise UserError(f"dcgan kernel must be 4 or 5; got {kernel}")
    sizes = [data_shape[-1]]
    for _ in range(stages or usual):
        sizes.append(-(-sizes[-1] // 2))  # 'same' padding: ceil(n / 2)
    if kernel == 4 and any(n % 2 for n in sizes[:-1]):
        raise UserError(f"dcgan with 4x4 kernels needs even sizes at every stage; {sizes} has odd ones "
                        "(use kernel: 5, as TensorFlow's 'same' padding does)")
    if sizes[-1] < 1 or (stages and sizes[-2] < 2):
        raise UserError(f"dcgan: {stages} stages is too many for {data_shape[-1]} px")
    return channels, sizes


def _up(c_in: int, c_out: int, kernel: int, size_in: int, size_out: int, bias: bool = True) -> nn.ConvTranspose2d:
    """A stride-2 transposed conv from size_in to exactly size_out (output_padding picks the size)."""
    pad = (kernel - 1) // 2
    extra = size_out - ((size_in - 1) * 2 - 2 * pad + kernel)
    return nn.ConvTranspose2d(c_in, c_out, kernel, 2, pad, output_padding=extra, bias=bias)


@DISCRIMINATORS.register("dcgan")
class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: strided 4x4 (or 5x5) convs, LeakyReLU(0.2), linear head."""

    def __init__(self, data_shape, width: int = 64, norm: DNorm = "batch", attention: int = 0,
                 conditioning: Conditioning = "projection", bias_before_norm: bool = True, kernel: int = 4,
                 stages: int = 0, num_classes: int = 0):
        super().__init__()
        channels, sizes = geometry(data_shape, kernel, stages)
        base = sizes[-1]
        sn = weight_wrapper(norm)
        bias = has_bias(norm, bias_before_norm)
        widths = stage_widths(width, len(sizes) - 1)[::-1]  # highest resolution first
        layers, c_in = [], channels
        for i, (c_out, res) in enumerate(zip(widths, sizes[1:], strict=True)):
            layers.append(sn(nn.Conv2d(c_in, c_out, kernel, 2, (kernel - 1) // 2, bias=bias or i == 0)))
            if i > 0:  # as in DCGAN, no normalization on the first layer
                layers.append(norm_2d(norm, c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
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
    """DCGAN generator: linear projection, 4x4 (or 5x5) transposed convs with BN+ReLU, tanh output."""

    def __init__(self, data_shape, z_dim, width: int = 64, norm: GNorm = "batch", attention: int = 0,
                 bias_before_norm: bool = True, kernel: int = 4, stages: int = 0, num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        channels, sizes = geometry(data_shape, kernel, stages)
        sizes, base = sizes[::-1], sizes[-1]  # lowest resolution first
        widths = stage_widths(width, len(sizes) - 1)
        self.start = (widths[0], base, base)
        flat = widths[0] * base * base
        bias = has_bias(norm, bias_before_norm)
        self.project = nn.Sequential(nn.Linear(z_dim, flat, bias=bias),
                                     g_norm(norm, flat, num_classes, dims=1), nn.ReLU())
        layers = []
        for (c_in, c_out), (res_in, res) in zip(pairwise(widths), pairwise(sizes), strict=False):
            layers += [_up(c_in, c_out, kernel, res_in, res, bias), g_norm(norm, c_out, num_classes), nn.ReLU()]
            if res == attention:  # SAGAN self-attention at this resolution
                layers.append(SelfAttention(c_out))
        layers += [_up(widths[-1], channels, kernel, sizes[-2], sizes[-1]), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return run(self.body, run(self.project, z, y).view(z.shape[0], *self.start), y)
