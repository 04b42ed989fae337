"""Exponential moving average of the generator's weights (Yazici et al. 2019; used by ProGAN/BigGAN)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``shadow`` = decay * shadow + (1 - decay) * weights; buffers (BN statistics) are copied."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)
        self._src_params = list(model.parameters())
        self._src_buffers = list(model.buffers())
        self._dst_params = list(self.shadow.parameters())
        self._dst_buffers = list(self.shadow.buffers())

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self._dst_params, self._src_params, 1.0 - self.decay)
        for dst, src in zip(self._dst_buffers, self._src_buffers):
            dst.copy_(src)
