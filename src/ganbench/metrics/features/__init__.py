"""Feature extractors: turn samples into the vectors metrics compare.

Each extractor is built by ``build_extractor(name, dataset_spec)`` and is a callable
``samples -> {"features": (N, D) float64[, "logits": (N, C)]}`` with an ``identity`` string that names
it precisely (weights hash included), used in cache keys and in every result's protocol. A process
builds each extractor once and reuses it (memo.py).
"""

from __future__ import annotations

import torch

from ...errors import UserError, did_you_mean
from .memo import reused


class PointFeatures:
    """For vector data (2-D mixtures): the coordinates themselves."""

    name = "points"
    identity = "points"
    has_logits = False

    def __call__(self, samples: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"features": samples.reshape(len(samples), -1).double()}


def _points(dataset, device):
    return PointFeatures()


def _lenet(dataset, device):
    from .lenet import LeNetFeatures, StackedLeNetFeatures

    if dataset and dataset.get("name") == "stacked-mnist":
        return StackedLeNetFeatures(dataset, device=device)  # per-channel MNIST classifier, 1000 modes
    return LeNetFeatures(dataset, device=device)


def _inception(dataset, device):
    from .inception import InceptionFeatures

    return InceptionFeatures(device=device)


EXTRACTORS = {
    "points": (_points, "the samples' own coordinates (vector data)"),
    "lenet": (_lenet, "penultimate layer + logits of a LeNet ganbench trains on the dataset (fast)"),
    "inception": (_inception, "FID Inception-v3 pool3 features (TF 2015 weights; the reference)"),
}

HAS_LOGITS = {"points": False, "lenet": True, "inception": True}  # known without building the extractor
DATA_KIND = {"points": "points", "lenet": "images", "inception": "images"}  # what each one reads


def check_fits(name: str, kind: str) -> None:
    """Refuse an extractor that does not read this kind of data ('points' or 'images')."""
    wants = DATA_KIND.get(name)
    if wants is not None and wants != kind:
        other = [n for n, k in DATA_KIND.items() if k == kind]
        raise UserError(f"the {name} extractor reads {wants}, but this data is {kind}; "
                        f"use --extractor {' or '.join(other)}")


def build_extractor(name: str, dataset: dict | None, device: str | torch.device = "cpu"):
    if name not in EXTRACTORS:
        raise UserError(f"unknown extractor '{name}'{did_you_mean(name, EXTRACTORS)}; valid: {', '.join(EXTRACTORS)}")
    if name == "lenet" and dataset is None:
        raise UserError("the lenet extractor needs a labelled dataset to train on (e.g. --dataset digits)")
    ext = reused(name, dataset, torch.device(device), EXTRACTORS[name][0])  # built once per process
    return InRange(ext, dataset) if (dataset or {}).get("pixel_range", "-1..1") != "-1..1" else ext


class InRange:
    """An image extractor for a dataset whose pixels are not in [-1, 1] (``pixel_range``): real and
    generated samples are mapped to [-1, 1], the convention every extractor was made for, first."""

    def __init__(self, inner, dataset: dict):
        self.inner, self.dataset = inner, dataset

    def __getattr__(self, attr):  # name, identity, has_logits, test_accuracy, ... of the wrapped one
        return getattr(self.inner, attr)

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        from ...data.base import standard_pixels

        return self.inner(standard_pixels(images, self.dataset))
