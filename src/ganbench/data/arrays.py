"""Read samples from files for direct comparison: a .npz array or a folder of images.

* ``.npz`` with key ``x`` (the first array otherwise): 2-D (N, D) arrays are vectors (points or
  precomputed features); (N, H, W), (N, H, W, C) or (N, C, H, W) arrays are images, uint8 in [0, 255]
  or floats in [-1, 1].
* a folder: every PNG/JPEG below it (recursively, sorted), all of one size, read as RGB or grayscale.
Images come back as float NCHW in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UserError


def _images_from_array(x: np.ndarray, source: str) -> torch.Tensor:
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise UserError(f"{source}: cannot read an image batch of shape {x.shape}")
    if x.dtype == np.uint8:
        return torch.from_numpy(x.astype(np.float32) / 127.5 - 1)
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if t.min() < -1.001 or t.max() > 1.001:
        raise UserError(f"{source}: float images must lie in [-1, 1] (got {float(t.min()):.3g}..{float(t.max()):.3g})")
    return t


def read_npz(path: Path) -> torch.Tensor:
    try:
        with np.load(path, allow_pickle=False) as f:
            if not f.files:
                raise UserError(f"{path}: the .npz file holds no array")
            x = f["x"] if "x" in f.files else f[f.files[0]]
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None
    if x.ndim == 2:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
        if not torch.isfinite(t).all():
            raise UserError(f"{path}: the array contains NaN or Inf")
        return t
    return _images_from_array(x, str(path))


def read_folder(path: Path) -> torch.Tensor:
    from .folder import image_files, read_images

    return _images_from_array(read_images(image_files(path), None, None, "resize them first"), str(path))


def read_samples(path: str | Path) -> torch.Tensor:
    p = Path(path)
    if p.is_dir():
        return read_folder(p)
    if p.is_file() and p.suffix == ".npz":
        return read_npz(p)
    raise UserError(f"{p}: expected a folder of images or a .npz file")
