"""Stacked MNIST (Metz et al. 2017; PacGAN): three random MNIST digits as the R, G and B channels.

1000 modes (one per digit triple), labelled 100*d_R + 10*d_G + d_B. Deterministic for a seed; the
digits of the test split come from MNIST's test images. PacGAN trained on 128,000 images and evaluated
26,000 samples; the size is an option here.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field

from ..limits import MAX_IMAGES
from ..registry import DATASETS
from .base import Dataset, in_pixel_range, load_dataset


Images = Annotated[int, Field(ge=1, le=MAX_IMAGES)]
Seed = Annotated[int, Field(ge=0, le=2**63 - 1)]  # torch's generator takes 64 bits, and the seed is doubled

# the MNIST splits the digits of each split are drawn from
DIGITS = {"train": {"train": ("train",), "test": ("test",)},
          "train+test": {"train": ("train", "test"), "test": ("test",)}}


@DATASETS.register("stacked-mnist", z_dim=100, kind="images", labelled=True, classes=1000,
                   late_options=("digits", "pixel_range"))
def stacked_mnist(split, n: Images = 128_000, seed: Seed = 0, path: str | None = None,
                  digits: Literal["train", "train+test"] = "train", pixel_range: Literal["-1..1", "0..1"] = "-1..1"):
    """Three random MNIST digits as RGB channels (1000 modes), 28x28x3; needs MNIST.

    ``digits: train+test`` draws the training images' digits from all 70,000 MNIST images, as PacGAN's
    code does (model.py:364-373); the test split keeps MNIST's test digits, which the training images
    then share. ``pixel_range: 0..1`` keeps real images in [0, 1] (PacGAN's model.py:386, a quirk
    reproduced on purpose: its G still ends in tanh); extractors and pictures map it back to [-1, 1].
    """
    sources = [load_dataset({"name": "mnist", "path": path}, part) for part in DIGITS[digits][split]]
    xs, ys = torch.cat([d.x for d in sources]), torch.cat([d.y for d in sources])
    g = torch.Generator().manual_seed(seed * 2 + (split == "test"))
    idx = torch.randint(len(xs), (n, 3), generator=g)
    x = xs[idx.reshape(-1)].reshape(n, 3, 28, 28)
    y = (ys[idx] * torch.tensor([100, 10, 1])).sum(1)
    return Dataset("stacked-mnist", in_pixel_range(x, pixel_range), y, num_classes=1000)


def mode_labels(images: torch.Tensor, classify) -> torch.Tensor:
    """The mode (0..999) of each stacked image, classifying every channel with ``classify``
    (a callable: (N, 1, 28, 28) images -> logits)."""
    n = len(images)
    per_channel = classify(images.reshape(n * 3, 1, 28, 28)).argmax(1).reshape(n, 3)
    return (per_channel * torch.tensor([100, 10, 1], device=per_channel.device)).sum(1)
