"""The in-memory dataset type every data source returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from ..registry import DATASETS

Split = Literal["train", "test"]


@dataclass
class Dataset:
    """Samples held in memory: images as float NCHW in [-1, 1], points as float (N, D).

    ``modes``/``sigma`` describe a Gaussian mixture's components (for mode metrics and plots);
    ``y`` holds class labels where the source has them.
    """

    name: str
    x: Tensor
    y: Tensor | None = None
    modes: Tensor | None = None
    sigma: float | None = None
    num_classes: int | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.x.dim() == 4

    def __len__(self) -> int:
        return self.x.shape[0]


# A dataset option ``pixel_range`` (stacked-mnist) may keep real images in [0, 1] on purpose, as PacGAN's
# Stacked MNIST code feeds its discriminator (model.py:386) while G's tanh covers [-1, 1]: G then learns
# [0, 1]. Everything that reads images with a fixed convention (feature extractors, pictures) maps the
# dataset's range to [-1, 1] first. Range name -> (scale, shift): pixel = standard * scale + shift.
PIXEL_RANGES = {"-1..1": (1.0, 0.0), "0..1": (0.5, 0.5)}


def in_pixel_range(images: Tensor, name: str) -> Tensor:
    """[-1, 1] images in the range ``name`` (exactly the same tensor for -1..1)."""
    scale, shift = PIXEL_RANGES[name]
    return images if (scale, shift) == (1.0, 0.0) else images * scale + shift


def standard_pixels(images: Tensor, spec: dict | None) -> Tensor:
    """Images of the dataset ``spec`` describes (real or generated) in ganbench's [-1, 1] convention."""
    scale, shift = PIXEL_RANGES[(spec or {}).get("pixel_range", "-1..1")]
    return images if (scale, shift) == (1.0, 0.0) else (images - shift) / scale


def images_from_uint8(array, channels: int, size: int, scale: float = 255.0) -> Tensor:
    """uint8-range pixels (N, H*W*C or N, H, W) -> float NCHW in [-1, 1]. The one place we convert in."""
    x = torch.from_numpy(np.array(array, dtype=np.float32))  # always a copy: the source may be cached
    return x.reshape(-1, channels, size, size).div_(scale / 2).sub_(1)  # in place: the numbers of x / (s/2) - 1


@dataclass(frozen=True)
class Traits:
    """What a dataset offers the metrics: its kind (points or images), mixture modes, class labels."""

    kind: Literal["points", "images"]
    mixture: bool
    labelled: bool


def traits(spec: dict) -> Traits:
    """A dataset's traits from its registration when declared there (no loading), or from the function it
    registers as ``traits`` (user data, folder and npz: a listing and an array header, nothing decoded, so a
    large dataset is not read whole to choose a metric), else from its train split (a plugin's)."""
    entry = DATASETS.get(_name(spec))
    extra = entry.extra
    if "kind" in extra:
        return Traits(extra["kind"], bool(extra.get("mixture")), bool(extra.get("labelled")))
    if "traits" in extra:
        from ..confine import check_options

        options = entry.validate({k: v for k, v in spec.items() if k != "name"})
        check_options(entry, options)  # as loading checks them: a stored path stays inside its directory
        return extra["traits"](**options)
    data = load_dataset(spec, "train")
    return Traits("images" if data.is_image else "points", data.modes is not None, data.num_classes is not None)


def declared_classes(spec) -> int | None:
    """The number of modes or classes a dataset's registration declares (``classes=``: ring8 8, digits 10,
    stacked-mnist 1000), without loading it; None for user data, plugins that declare none, or a name this
    installation does not know (a stranger's store). The report clips intervals with it (metrics.declare)."""
    name = spec.get("name") if isinstance(spec, dict) else None
    if not isinstance(name, str) or name not in DATASETS:
        return None
    k = DATASETS.get(name).extra.get("classes")
    return k if isinstance(k, int) and k > 0 else None


def _name(spec) -> str:
    """The dataset a spec names; one line when it is no object with a name (a stranger's stored config may
    hold anything there)."""
    if not (isinstance(spec, dict) and isinstance(spec.get("name"), str)):
        from ..textsafe import shown

        raise UserError(f"the data spec {shown(spec)} is no object naming a dataset ({{\"name\": ...}})")
    return spec["name"]


def load_dataset(spec: dict, split: Split = "train") -> Dataset:
    """Build a dataset from a config spec ``{"name": ..., **options}``."""
    name = _name(spec)
    spec = {k: v for k, v in spec.items() if k != "name"}
    return _checked(DATASETS.get(name).build(split, **spec), name)


def _checked(data, name: str) -> Dataset:
    """What a dataset function (a plugin's too) returned, refused in one line unless it is a Dataset of the
    shapes everything downstream expects, so a mistake is not a traceback deep in training."""
    def bad(what: str) -> UserError:
        return UserError(f"dataset '{name}' returned {what}")

    if not isinstance(data, Dataset):
        raise bad(f"a {type(data).__name__}, not a ganbench.data.base.Dataset")
    x = data.x
    if not (torch.is_tensor(x) and x.is_floating_point() and x.dim() in (2, 4)):
        what = f"of shape {tuple(x.shape)}, {x.dtype}" if torch.is_tensor(x) else f"a {type(x).__name__}"
        raise bad(f"x {what}; expected a float tensor: (N, D) points or (N, C, H, W) images")
    if data.y is not None and not (torch.is_tensor(data.y) and data.y.shape == (len(x),)
                                   and not data.y.is_floating_point()):
        raise bad(f"y of shape {tuple(getattr(data.y, 'shape', ()))}; expected None or {len(x)} integer labels")
    if data.modes is not None and not (torch.is_tensor(data.modes) and data.modes.dim() == 2
                                       and data.modes.shape[1:] == x.shape[1:] and data.sigma):
        raise bad("modes that are not (k, D) beside its (N, D) points with a positive sigma")
    return data
