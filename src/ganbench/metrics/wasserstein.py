"""Exact Wasserstein-1 and -2 distances between two equal-size point sets (e.g. 2-D samples).

With uniform weights on n points each, the optimal transport plan is a permutation, found exactly by
the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``). W_p = (mean_i |x_i - y_pi(i)|^p)^(1/p).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from ..errors import UserError
from .frechet import _as_float64, check_features


def wasserstein(a, b) -> dict:
    x, y = _as_float64(a).numpy(), _as_float64(b).numpy()
    check_features(_as_float64(a), "a", 1), check_features(_as_float64(b), "b", 1)
    if x.shape != y.shape:
        raise UserError(f"exact Wasserstein needs equal-size samples of equal dimension; got {x.shape} and {y.shape}")
    dist = cdist(x, y)
    out = {}
    for p in (1, 2):
        cost = dist ** p
        rows, cols = linear_sum_assignment(cost)
        out[f"w{p}"] = float(np.mean(cost[rows, cols]) ** (1 / p))
    return out
