"""Exponential moving average of the generator's weights (Yazici et al. 2019; used by ProGAN/BigGAN)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``shadow`` = beta * shadow + (1 - beta) * weights; buffers (BN statistics) are copied.

    ``rampup`` (StyleGAN2-ADA's ema_rampup) caps the average's half-life at ``rampup * step`` steps, so a
    short run is not dominated by its random initial weights: beta_t = min(decay, 0.5 ** (1 / (rampup*t))).
    """

    def __init__(self, model: nn.Module, decay: float, rampup: float | None = None):
        self.decay, self.rampup = decay, rampup
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)
        self._src_params = list(model.parameters())
        self._src_buffers = list(model.buffers())
        self._dst_params = list(self.shadow.parameters())
        self._dst_buffers = list(self.shadow.buffers())

    def beta(self, step: int) -> float:
        """Decay used after generator step ``step`` (1-based)."""
        if not self.rampup:
            return self.decay
        return min(self.decay, 0.5 ** (1.0 / max(self.rampup * step, 1e-8)))

    @torch.no_grad()
    def update(self, step: int) -> None:
        torch._foreach_lerp_(self._dst_params, self._src_params, 1.0 - self.beta(step))
        for dst, src in zip(self._dst_buffers, self._src_buffers):
            dst.copy_(src)
