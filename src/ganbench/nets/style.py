"""A small style-based generator (StyleGAN2-lite, after Karras et al. 2020) for resolutions up to 64.

mapping: z (normalized) -> ``mapping_layers`` x [linear, LeakyReLU(0.2)] -> w.
synthesis: a learned constant at the base resolution, then per resolution two modulated 3x3
convolutions with weight demodulation, a per-layer noise input, bias and LeakyReLU(0.2); images are
accumulated through modulated 1x1 "toRGB" layers (skip architecture), upsampled bilinearly.
Simplifications ("lite"): one w for all layers (no style mixing), no equalized learning rate, and the
noise inputs are fixed buffers (StyleGAN's noise_mode='const') so runs resume exactly. tanh output.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import GENERATORS
from .layers import image_geometry


class ModulatedConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int, w_dim: int, demodulate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k) / (c_in * k * k) ** 0.5)
        self.affine = nn.Linear(w_dim, c_in)
        nn.init.ones_(self.affine.bias)  # styles start at 1: an ordinary convolution
        self.demodulate, self.pad = demodulate, k // 2

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        n, c_in, h, wd = x.shape
        weight = self.weight[None] * self.affine(w)[:, None, :, None, None]  # (n, out, in, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        out = F.conv2d(x.reshape(1, n * c_in, h, wd), weight.reshape(-1, c_in, *weight.shape[3:]),
                       padding=self.pad, groups=n)
        return out.reshape(n, -1, h, wd)


class StyleLayer(nn.Module):
    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int):
        super().__init__()
        self.conv = ModulatedConv(c_in, c_out, 3, w_dim)
        self.register_buffer("noise", torch.randn(1, 1, resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = self.conv(x, w) + self.noise_strength * self.noise
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2)


@GENERATORS.register("style")
class StyleGenerator(nn.Module):
    """StyleGAN2-lite: mapping network + modulated, demodulated convolutions, skip toRGB outputs."""

    def __init__(self, data_shape, z_dim, width: int = 32, w_dim: int = 128, mapping_layers: int = 4,
                 max_channels: int = 256):
        super().__init__()
        self.z_dim = z_dim
        channels, base, stages = image_geometry(data_shape, "style")
        widths = [min(max_channels, width * 2 ** (stages - i)) for i in range(stages + 1)]  # base .. full res
        mapping, d = [], z_dim
        for _ in range(mapping_layers):
            mapping += [nn.Linear(d, w_dim), nn.LeakyReLU(0.2)]
            d = w_dim
        self.mapping = nn.Sequential(*mapping)
        self.const = nn.Parameter(torch.randn(1, widths[0], base, base))
        self.layers = nn.ModuleList([StyleLayer(widths[0], widths[0], w_dim, base)])
        self.to_rgb = nn.ModuleList([ModulatedConv(widths[0], channels, 1, w_dim, demodulate=False)])
        res = base
        for c_in, c_out in itertools.pairwise(widths):
            res *= 2
            self.layers.append(nn.ModuleList([StyleLayer(c_in, c_out, w_dim, res), StyleLayer(c_out, c_out, w_dim, res)]))
            self.to_rgb.append(ModulatedConv(c_out, channels, 1, w_dim, demodulate=False))

    def forward(self, z: Tensor) -> Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # normalize the latent's 2nd moment
        w = self.mapping(z)
        x = self.layers[0](self.const.expand(z.shape[0], -1, -1, -1), w)
        rgb = self.to_rgb[0](x, w)
        for (first, second), to_rgb in zip(self.layers[1:], self.to_rgb[1:]):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = second(first(x, w), w)
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + to_rgb(x, w)
        return torch.tanh(rgb)
