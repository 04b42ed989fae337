"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for images seen by the discriminator.

The same kind of random transformation is applied to real and fake batches before every D call
(and to fakes in the G step), so D cannot tell them apart by augmentation artefacts, and gradients flow
through it to G. Policies: ``color`` (brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]),
``translation`` (up to 1/8 of the size, zero padding), ``cutout`` (one square of half the size set to 0).
Randomness comes from the generator passed in, so runs stay reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import UserError


Generators = torch.Generator | Sequence[torch.Generator]


def _rand(x: Tensor, g: Generators, *shape: int) -> Tensor:
    """Uniform draws, one row per sample. With k generators (a member-stacked ensemble, whose batch
    is k members' batches one after the other) member i's rows come from generator i, so each member
    sees exactly the draws of its own single run."""
    if isinstance(g, torch.Generator):
        return torch.rand(x.shape[0], *shape, generator=g, device=g.device).to(x.dtype)
    n = x.shape[0] // len(g)
    return torch.cat([torch.rand(n, *shape, generator=gi, device=gi.device) for gi in g]).to(x.dtype)


def color(x: Tensor, g: Generators) -> Tensor:
    x = x + (_rand(x, g, 1, 1, 1) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, g, 1, 1, 1) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, g, 1, 1, 1) + 0.5) + mean


def translation(x: Tensor, g: Generators, ratio: float = 0.125) -> Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = (_rand(x, g, 1) * (2 * sh + 1)).long().clamp_max(2 * sh) - sh  # (n, 1) shifts in [-sh, sh]
    tx = (_rand(x, g, 1) * (2 * sw + 1)).long().clamp_max(2 * sw) - sw
    rows = (torch.arange(h, device=x.device)[None, :] + ty + sh)  # index into the padded image
    cols = (torch.arange(w, device=x.device)[None, :] + tx + sw)
    padded = F.pad(x, (sw, sw, sh, sh))
    idx_r = rows[:, None, :, None].expand(n, x.shape[1], h, w + 2 * sw)
    out = padded.gather(2, idx_r)
    idx_c = cols[:, None, None, :].expand(n, x.shape[1], h, w)
    return out.gather(3, idx_c)


def cutout(x: Tensor, g: Generators, ratio: float = 0.5) -> Tensor:
    _, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = (_rand(x, g, 1) * (h + 1 - ch % 2)).long()
    cx = (_rand(x, g, 1) * (w + 1 - cw % 2)).long()
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = ((ys - cy + ch // 2) >= 0) & ((ys - cy + ch // 2) < ch)
    in_x = ((xs - cx + cw // 2) >= 0) & ((xs - cx + cw // 2) < cw)
    mask = ~(in_y[:, :, None] & in_x[:, None, :])
    return x * mask[:, None].to(x.dtype)


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str | None) -> list[str]:
    if not policy:
        return []
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in POLICIES:
            raise UserError(f"unknown augmentation '{name}'; valid: {', '.join(POLICIES)}")
    return names


def diff_augment(x: Tensor, names: list[str], g: Generators) -> Tensor:
    if x.dim() != 4:
        raise UserError("augmentation applies to images (N, C, H, W) only")
    for name in names:
        x = POLICIES[name](x, g)
    return x
