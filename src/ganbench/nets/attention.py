"""Self-attention over spatial positions (SAGAN, Zhang et al. 2019), usable in any conv G or D.

query/key use C/8 channels, value C/2; keys and values are max-pooled 2x2 (as in SAGAN's and
BigGAN's code) to cut cost; the output is scaled by a learned gamma that starts at 0, so a network
begins as if the block were absent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SelfAttention(nn.Module):
    def __init__(self, channels: int, wrap=lambda m: m):
        super().__init__()
        c8, c2 = max(1, channels // 8), max(1, channels // 2)
        self.query = wrap(nn.Conv2d(channels, c8, 1, bias=False))
        self.key = wrap(nn.Conv2d(channels, c8, 1, bias=False))
        self.value = wrap(nn.Conv2d(channels, c2, 1, bias=False))
        self.out = wrap(nn.Conv2d(c2, channels, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        n, _c, h, w = x.shape
        pool = (lambda t: F.max_pool2d(t, 2)) if h % 2 == 0 and w % 2 == 0 and h * w >= 16 else (lambda t: t)
        q = self.query(x).flatten(2)  # (n, c/8, hw)
        k = pool(self.key(x)).flatten(2)  # (n, c/8, hw')
        v = pool(self.value(x)).flatten(2)  # (n, c/2, hw')
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (n, hw, hw')
        o = (v @ attn.transpose(1, 2)).view(n, -1, h, w)  # (n, c/2, h, w)
        return x + self.gamma * self.out(o)
