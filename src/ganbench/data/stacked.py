"""Stacked MNIST (Metz et al. 2017; PacGAN): three random MNIST digits as the R, G and B channels.

1000 modes (one per digit triple), labelled 100*d_R + 10*d_G + d_B. Deterministic for a seed; the
digits of the test split come from MNIST's test images. PacGAN trained on 128,000 images and evaluated
26,000 samples; the size is an option here.
"""

from __future__ import annotations

import torch

from ..registry import DATASETS
from .base import Dataset, load_dataset


@DATASETS.register("stacked-mnist", z_dim=100, kind="images", labelled=True)
def stacked_mnist(split, n: int = 128_000, seed: int = 0, path: str | None = None):
    """Three random MNIST digits as RGB channels (1000 modes), 28x28x3; needs MNIST."""
    digits = load_dataset({"name": "mnist", "path": path}, split)
    g = torch.Generator().manual_seed(seed * 2 + (split == "test"))
    idx = torch.randint(len(digits), (n, 3), generator=g)
    x = digits.x[idx.reshape(-1)].reshape(n, 3, 28, 28)
    y = (digits.y[idx] * torch.tensor([100, 10, 1])).sum(1)
    return Dataset("stacked-mnist", x, y, num_classes=1000)


def mode_labels(images: torch.Tensor, classify) -> torch.Tensor:
    """The mode (0..999) of each stacked image, classifying every channel with ``classify``
    (a callable: (N, 1, 28, 28) images -> logits)."""
    n = len(images)
    per_channel = classify(images.reshape(n * 3, 1, 28, 28)).argmax(1).reshape(n, 3)
    return (per_channel * torch.tensor([100, 10, 1], device=per_channel.device)).sum(1)
