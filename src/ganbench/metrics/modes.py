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


def mixture_modes(samples: torch.Tensor, modes: torch.Tensor, sigma: float, threshold: float = 3.0) -> dict:
    x = samples.double()
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
