"""Pictures of samples: an image grid, or a scatter plot over a 2-D mixture's real modes."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch

from .fileio import atomic_write_bytes


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float NCHW in [-1, 1] -> uint8 NHWC. The one place images leave the library's range."""
    x = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def image_grid(images: torch.Tensor, pad: int = 1) -> np.ndarray:
    """Tile N images into a near-square uint8 grid (H, W, C) with a ``pad``-pixel border."""
    arr = to_uint8(images)
    n, h, w, c = arr.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = arr[i]
    return grid


def save_grid(images: torch.Tensor, path: str | Path, scale: int | None = None) -> None:
    """Write an image grid PNG (atomically); small images are enlarged by nearest-neighbour ``scale``."""
    from PIL import Image

    grid = image_grid(images)
    scale = scale or max(1, 256 // max(grid.shape[:2]))
    img = Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())


def save_scatter(points: torch.Tensor, path: str | Path, modes: torch.Tensor | None = None,
                 title: str = "") -> None:
    """Scatter generated 2-D points with the real mixture's modes marked (atomic PNG write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    pts = points.cpu().numpy()
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color="tab:blue", label="generated")
    if modes is not None:
        m = modes.cpu().numpy()
        ax.scatter(m[:, 0], m[:, 1], s=40, marker="x", color="tab:red", label="real modes")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
