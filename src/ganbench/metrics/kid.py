"""Kernel Inception Distance (Bińkowski et al. 2018) with torch-fidelity's conventions.

Polynomial kernel k(x, y) = (x.y / d + 1)^3; unbiased MMD^2 estimate on each of ``subsets`` random
subsets of ``min(subset_size, n)`` real and fake rows, drawn without replacement by
``numpy.random.RandomState(seed).choice`` (real subset first, then fake, subset after subset);
reported as the mean and the population std (ddof 0) over subsets. torch-fidelity's default seed is 2020.
When both sets are no larger than the subset size, every subset is the whole of both sets: KID is then
one value with ``kid_std`` 0 and ``kid_subsets`` 1 (torch-fidelity would report a std of rounding noise).

The estimate is unbiased, so it can dip below 0: KID of a set with itself is negative (the cross term
includes the diagonal k(x_i, x_i), the within-set terms do not). That is torch-fidelity's convention too;
we do not clamp it. Refused in one line: features with no columns, ``subsets < 1``, ``subset_size < 2``
(the unbiased estimate needs pairs) and values so large that the cubic kernel overflows float64.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .frechet import _as_float64, check_features


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    m, d = x.shape
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    off_xx = k_xx.sum() - k_xx.diagonal().sum()
    off_yy = k_yy.sum() - k_yy.diagonal().sum()
    return float((off_xx + off_yy) / (m * (m - 1)) - 2 * k_xy.sum() / (m * m))


def kid(real, fake, subsets: int = 100, subset_size: int = 1000, seed: int = 2020) -> dict:
    x, y = _as_float64(real), _as_float64(fake)
    check_features(x, "real"), check_features(y, "fake")
    if x.shape[1] != y.shape[1]:
        raise UserError(f"feature dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    if x.shape[1] == 0:
        raise UserError("kid: the features have 0 columns; there is nothing to compare")
    if int(subsets) != subsets or subsets < 1:
        raise UserError(f"kid: subsets must be a positive integer; got {subsets}")
    if int(subset_size) != subset_size or subset_size < 2:
        raise UserError("kid: subset_size must be an integer of at least 2 (the unbiased estimate needs "
                        f"pairs); got {subset_size}")
    out = _kid(x, y, int(subsets), int(subset_size), seed)
    if not (np.isfinite(out["kid_mean"]) and np.isfinite(out["kid_std"])):
        raise UserError("kid: feature values too large to compare (the cubic kernel overflows float64); "
                        "rescale the features")
    return out


def _kid(x: torch.Tensor, y: torch.Tensor, subsets: int, subset_size: int, seed: int) -> dict:
    m = min(subset_size, len(x), len(y))
    if m == len(x) == len(y):
        # every "subset" is the whole of both sets, so all of them give the same value (their std is
        # rounding noise, ~1e-13): report that one value with no subset spread
        return {"kid_mean": _mmd2_unbiased(x, y), "kid_std": 0.0, "kid_subset_size": m, "kid_subsets": 1}
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        xi = x[torch.from_numpy(rng.choice(len(x), m, replace=False))]
        yi = y[torch.from_numpy(rng.choice(len(y), m, replace=False))]
        values[i] = _mmd2_unbiased(xi, yi)
    return {"kid_mean": float(values.mean()), "kid_std": float(values.std()), "kid_subset_size": m,
            "kid_subsets": subsets}
