"""The distribution G's latent vectors are drawn from (run option ``latent``).

``normal`` (N(0, 1), the default) is what most GAN code uses. ``uniform`` (U(-1, 1)) is the TensorFlow
DCGAN code's, which PacGAN's Stacked MNIST experiment trains and samples with (model.py:172,193 of
fjxmlzn/PacGAN's VEEGAN_experiment). Every place that draws a latent (training's D and G steps, member
stacks, ``generate``/``ganbench sample``/evaluation) fills its tensor through ``LATENTS``, so a run is
sampled from the distribution it was trained on, from the same seeded streams.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

# kind -> fill an empty tensor in place from a generator (torch.randn is exactly empty + normal_)
LATENTS: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {
    "normal": lambda rows, gen: rows.normal_(generator=gen),
    "uniform": lambda rows, gen: rows.uniform_(-1.0, 1.0, generator=gen),
}


def draw_latent(kind: str, n: int, z_dim: int, gen: torch.Generator, device: torch.device | str = "cpu") -> Tensor:
    """``n`` latent vectors of ``kind`` from ``gen`` (a generator on ``device``)."""
    return LATENTS[kind](torch.empty(n, z_dim, device=device), gen)
