"""Mode metrics for Gaussian mixtures, following PacGAN's protocol (Lin et al. 2018).

Each sample is assigned to its nearest mode by sigma-normalized Euclidean distance; it is
"high quality" when that distance is within ``threshold`` (3) standard deviations. A mode is covered
when at least one high-quality sample lands on it. Reverse KL is KL(p_gen || uniform), p_gen being the
histogram of high-quality samples over the modes (0 * log 0 = 0). With no high-quality sample at all
the histogram is undefined; we report the largest possible value, log K.
"""

from __future__ import annotations

import math

import torch

from ..errors import UserError
from .frechet import check_features


def mixture_modes(samples: torch.Tensor, modes: torch.Tensor, sigma: float, threshold: float = 3.0) -> dict:
    x = torch.as_tensor(samples).double()
    if x.dim() == 2 and len(x) == 0:
        raise UserError("modes: no samples to evaluate")
    check_features(x, "modes: samples", min_rows=1)
    if len(modes) == 0:
        raise UserError("modes: the dataset has no modes")
    if not (sigma is not None and math.isfinite(sigma) and sigma > 0):
        raise UserError("modes: sigma (the modes' standard deviation) must be positive and finite; "
                        f"got {sigma}")
    dist = torch.cdist(x, modes.double().to(x.device)) / sigma
    nearest_dist, nearest = dist.min(dim=1)
    hq = nearest_dist <= threshold
    k = len(modes)
    counts = torch.bincount(nearest[hq], minlength=k).double()
    n_hq = int(hq.sum())
    if n_hq:
        p = counts / n_hq
        nz = p > 0
        kl = float((p[nz] * torch.log(p[nz] * k)).sum())
    else:
        kl = math.log(k)
    return {
        "modes_covered": int((counts > 0).sum()),
        "num_modes": k,
        "high_quality": n_hq / len(x),
        "reverse_kl": kl,
    }
