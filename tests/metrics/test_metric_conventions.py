"""Conventions of the metrics that the agreement tests did not pin down (found by mutation testing):
each test names the convention and the independent value it checks against."""

import inspect
import math

import numpy as np
import pytest
import torch

from ganbench.metrics.kid import kid
from ganbench.metrics.modes import mixture_modes


def _kid_written_out(x, y, size):
    """One unbiased MMD^2 (cubic kernel (x.y/d + 1)^3) on whole sets of ``size`` rows, in numpy."""
    d, m = x.shape[1], size
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    return ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.sum() / m ** 2


def test_kid_defaults_are_torch_fidelitys():
    """torch-fidelity's KID defaults: 100 subsets of 1000 rows, RandomState seed 2020."""
    defaults = {k: p.default for k, p in inspect.signature(kid).parameters.items()}
    assert (defaults["subsets"], defaults["subset_size"], defaults["seed"]) == (100, 1000, 2020)


def test_kid_with_fewer_real_than_fake_rows_still_draws_subsets():
    """n_real = 40 <= subset size < n_fake = 60: subsets of min(size, n_real, n_fake) = 40 rows, drawn from
    both sets (the fake set is subsampled), not one estimate on the unequal whole sets."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((40, 5)), rng.standard_normal((60, 5)) + 0.3
    out = kid(x, y, subsets=4, subset_size=1000, seed=9)
    draws = np.random.RandomState(9)
    vals = []
    for _ in range(4):
        a, b = x[draws.choice(40, 40, replace=False)], y[draws.choice(60, 40, replace=False)]
        vals.append(_kid_written_out(a, b, 40))
    assert out["kid_subset_size"] == 40 and out["kid_subsets"] == 4
    assert out["kid_mean"] == pytest.approx(np.mean(vals), rel=1e-9)
    assert out["kid_std"] == pytest.approx(np.std(vals), rel=1e-6)
