"""Building blocks shared by the network families: normalization choices, PacGAN packing, geometry."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize, parametrizations

from ..errors import UserError

DNorm = Literal["none", "batch", "layer", "spectral"]
GNorm = Literal["batch", "none"]
Conditioning = Literal["projection", "acgan"]


def norm_2d(kind: str, channels: int) -> nn.Module:
    """Feature normalization after a conv layer ('spectral' acts on weights instead, see ``wrap``)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # LayerNorm over (C, H, W), as in WGAN-GP's critic
    return nn.Identity()


def norm_1d(kind: str, features: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    return nn.Identity()


# norms that carry their own shift, so a bias in the layer just before them is redundant
SHIFTING_NORMS = ("batch", "layer")


def has_bias(norm: str, bias_before_norm: bool) -> bool:
    """Whether a layer followed by ``norm`` keeps its bias (``bias_before_norm: false`` drops it)."""
    return bias_before_norm or norm not in SHIFTING_NORMS


class _SpectralNorm(parametrizations._SpectralNorm):
    """torch's spectral-norm parametrization, with the power iteration writing u and v by ``copy_``.

    torch writes them with ``out=``, which ``vmap`` cannot batch; ``copy_`` gives the same values and
    lets a member-stacked ensemble (training/stack.py) keep one u, v pair per member. State-dict keys
    (``parametrizations.weight.original``, ``..._u``, ``..._v``) are torch's own.
    """

    @torch.no_grad()
    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        for _ in range(n_power_iterations):
            self._u.copy_(F.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps))
            self._v.copy_(F.normalize(torch.mv(weight_mat.H, self._u), dim=0, eps=self.eps))


def spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalization (Miyato 2018) of ``module.weight``, as torch's ``spectral_norm`` does it."""
    dim = 1 if isinstance(module, nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d) else 0
    parametrize.register_parametrization(module, "weight", _SpectralNorm(module.weight, 1, dim, 1e-12))
    return module


def weight_wrapper(kind: str) -> Callable[[nn.Module], nn.Module]:
    """Spectral normalization (Miyato 2018) wraps the layer's weight; other kinds leave it alone."""
    return spectral_norm if kind == "spectral" else (lambda m: m)


def image_geometry(shape: tuple[int, ...], family: str) -> tuple[int, int, int]:
    """(channels, base resolution, number of x2 stages) for an image shape (C, H, W).

    The resolution is halved while it stays even and >= 8, so 8 -> 4x1, 16 -> 4x2, 28 -> 7x2,
    32 -> 4x3 and 64 -> 4x4. One definition per family serves every resolution.
    """
    if len(shape) != 3:
        raise UserError(f"the {family} networks need image data (C, H, W); this data has shape {tuple(shape)}")
    c, h, w = shape
    if h != w:
        raise UserError(f"the {family} networks need square images; got {h}x{w}")
    base, stages = h, 0
    while base % 2 == 0 and base >= 8:
        base //= 2
        stages += 1
    if stages == 0 or base > 7:  # e.g. 50 -> a 25x25 start: not the 3..7 px start these networks grow from
        raise UserError(f"the {family} networks need a square resolution b x 2^s with s >= 1 and b <= 7 "
                        f"(8, 12, 16, 20, 24, 28, 32, 48, 64, 128, ...); got {h}")
    return c, base, stages


def stage_widths(width: int, stages: int) -> list[int]:
    """Channel counts from the lowest resolution to the highest: width*2^(stages-1) ... width."""
    return [width * 2 ** (stages - 1 - i) for i in range(stages)]


def flat_dim(shape: tuple[int, ...]) -> int:
    return int(math.prod(shape))


class Packed(nn.Module):
    """PacGAN (Lin et al. 2018): D judges ``m`` samples at once, concatenated along channels/features.

    The wrapped discriminator is built for data with ``m`` times the channels; the batch must be a
    multiple of ``m``. Samples i*m ... i*m+m-1 form pack i.
    """

    def __init__(self, inner: nn.Module, m: int):
        super().__init__()
        self.inner, self.m = inner, m

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        if n % self.m:
            raise UserError(f"batch of {n} is not a multiple of the pack size {self.m}")
        packed = x.reshape(n // self.m, self.m * x.shape[1], *x.shape[2:])
        return self.inner(packed)


def packed_shape(shape: tuple[int, ...], m: int) -> tuple[int, ...]:
    return (shape[0] * m, *shape[1:])


class ConditionalNorm(nn.Module):
    """Conditional batch norm (de Vries et al. 2017; used by SNGAN/BigGAN generators): batch statistics
    without learned affine, then a per-class gain and bias from embeddings (gain starts at 1)."""

    def __init__(self, norm: nn.Module, features: int, num_classes: int):
        super().__init__()
        self.norm = norm
        self.gain = nn.Embedding(num_classes, features)
        self.bias = nn.Embedding(num_classes, features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)
        return self.norm(x) * self.gain(y).view(shape) + self.bias(y).view(shape)


def g_norm(kind: str, features: int, num_classes: int, dims: int = 2) -> nn.Module:
    """The generator's normalization: class-conditional batch norm when num_classes > 0."""
    if num_classes and kind == "batch":
        base = nn.BatchNorm2d(features, affine=False) if dims == 2 else nn.BatchNorm1d(features, affine=False)
        return ConditionalNorm(base, features, num_classes)
    if num_classes:
        raise UserError("class-conditional generators need norm: batch (conditional batch norm)")
    return norm_2d(kind, features) if dims == 2 else norm_1d(kind, features)


def run(layers: nn.Sequential, x: Tensor, y: Tensor | None) -> Tensor:
    """Apply a Sequential, handing the labels to the layers that take them."""
    for layer in layers:
        x = layer(x, y) if isinstance(layer, ConditionalNorm) else layer(x)
    return x


class ClassHead(nn.Module):
    """Discriminator conditioning on features phi (N, F): 'projection' (Miyato & Koyama 2018) adds
    <embed(y), phi> to the logit; 'acgan' (Odena et al. 2017) predicts the class from phi instead."""

    def __init__(self, features: int, num_classes: int, kind: str, wrap):
        super().__init__()
        self.kind = kind
        if kind == "projection":
            self.embed = wrap(nn.Embedding(num_classes, features))
        else:
            self.classifier = wrap(nn.Linear(features, num_classes))

    def forward(self, phi: Tensor, logit: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if self.kind == "projection":
            if y is None:
                raise UserError("a projection discriminator needs labels")
            return logit + (self.embed(y) * phi).sum(1), None
        return logit, self.classifier(phi)
