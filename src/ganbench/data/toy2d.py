"""2-D Gaussian mixtures with PacGAN's parameters (Lin et al. 2018), generated, no download.

ring8: 8 modes evenly spaced on the unit circle, sigma 0.01.  grid25: means {-4,-2,0,2,4}^2, sigma 0.05.
The train and test splits are drawn from independent seeds; components are picked uniformly.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
from pydantic import Field

from ..registry import DATASETS
from ..limits import MAX_POINTS
from .base import Dataset

_SPLIT_SEED = {"train": 0, "test": 1}
Points = Annotated[int, Field(ge=1, le=MAX_POINTS)]  # the train split's size (test: a quarter)


def ring_modes(k: int = 8, radius: float = 1.0) -> torch.Tensor:
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1).float()


def grid_modes(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def sample_mixture(modes: torch.Tensor, sigma: float, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(modes), (n,), generator=g)
    x = modes[labels] + sigma * torch.randn(n, modes.shape[1], generator=g)
    return x, labels


def _mixture(name: str, modes: torch.Tensor, sigma: float, split: str, n: int) -> Dataset:
    size = n if split == "train" else max(n // 4, 1)
    x, y = sample_mixture(modes, sigma, size, _SPLIT_SEED[split])
    return Dataset(name, x, y, modes=modes, sigma=sigma, num_classes=len(modes))


@DATASETS.register("ring8", z_dim=2, kind="points", mixture=True, labelled=True, classes=8)
def ring8(split, n: Points = 100_000):
    """8 Gaussians on the unit circle, sigma 0.01 (PacGAN); 2-D points."""
    return _mixture("ring8", ring_modes(8), 0.01, split, n)


@DATASETS.register("grid25", z_dim=2, kind="points", mixture=True, labelled=True, classes=25)
def grid25(split, n: Points = 100_000):
    """25 Gaussians at {-4,-2,0,2,4}^2, sigma 0.05 (PacGAN); 2-D points."""
    return _mixture("grid25", grid_modes(5, 2.0), 0.05, split, n)
