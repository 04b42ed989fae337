"""The exact Wasserstein metric against independent references: at any scale (tiny costs once made POT's
simplex report a non-optimum, huge ones overflowed), and between sets of unequal size (once cut to the
first min(n, m) rows of each). Convention: empirical W_p with uniform weights, every sample used."""

import sys

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment, linprog
from scipy.spatial.distance import cdist

from ganbench.errors import UserError
from ganbench.metrics import wasserstein as w
from ganbench.metrics.suite import Context, Extracted, compute


def assignment(x, y, p):
    """W_p of equal-size sets by SciPy's Hungarian algorithm on the unscaled costs."""
    cost = cdist(x, y) ** p
    rows, cols = linear_sum_assignment(cost)
    return float(np.mean(cost[rows, cols])) ** (1 / p)


def transport_lp(x, y, p):
    """W_p of the empirical distributions (weights 1/n, 1/m) as the transport linear program (HiGHS)."""
    n, m = len(x), len(y)
    cost = cdist(x, y) ** p
    rows = np.kron(np.eye(n), np.ones((1, m)))  # sum_j P_ij = 1/n
    cols = np.kron(np.ones((1, n)), np.eye(m))  # sum_i P_ij = 1/m
    marginals = np.r_[np.full(n, 1 / n), np.full(m, 1 / m)]
    res = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=marginals, bounds=(0, None),
                  method="highs")
    assert res.status == 0
    return res.fun ** (1 / p)


@pytest.fixture
def sets():
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 3)), rng.standard_normal((40, 3))


def test_any_scale_gives_the_same_distance_times_the_scale(sets):
    a, b = sets
    base = w.wasserstein(a, b)
    for p in (1, 2):
        assert base[f"w{p}"] == pytest.approx(assignment(a, b, p), rel=1e-12)
    # the old solve: W2 64% off at 1e-8, W1 and W2 60-80% off at 1e-20, an exception at 1e160
    for scale in (1e-20, 1e-8, 1.0, 1e8, 1e160):
        out = w.wasserstein(a * scale, b * scale)
        for p in (1, 2):
            # scaling the data rounds each coordinate (1e-16 relative): the optimum moves as little
            assert out[f"w{p}"] == pytest.approx(scale * base[f"w{p}"], rel=1e-12)
            if scale < 1e150:  # the unscaled W2 costs of 1e160 data overflow: no Hungarian reference there
                assert out[f"w{p}"] == pytest.approx(assignment(a * scale, b * scale, p), rel=1e-12)


def test_values_too_large_for_float64_are_refused():
    big = np.full((2, 2), 1e308)
    with pytest.raises(UserError, match="too large"):
        w.wasserstein(big, -big)


def test_unequal_sizes_use_every_sample_with_uniform_weights(sets):
    a, _ = sets
    head = a[:7]  # a set against its own first 7 rows: 0 when the 40 were cut to 7 (the old way)
    out = w.wasserstein(a, head)
    for p in (1, 2):
        assert out[f"w{p}"] > 0.5
        # HiGHS solves to a 1e-9 optimality tolerance, not to rounding
        assert out[f"w{p}"] == pytest.approx(transport_lp(a, head, p), rel=1e-9)
    rng = np.random.default_rng(1)
    for x, y in [(a[rng.permutation(40)], head), (a, head[rng.permutation(7)]), (head, a)]:
        again = w.wasserstein(x, y)  # row order (and which set is which) does not matter
        assert again["w1"] == pytest.approx(out["w1"], rel=1e-12)
        assert again["w2"] == pytest.approx(out["w2"], rel=1e-12)


def test_the_suite_uses_every_sample(sets):
    a, b = sets
    real, fake = Extracted(torch.zeros(40, 1), samples=torch.from_numpy(a)), Extracted(torch.zeros(7, 1))
    fake.samples = torch.from_numpy(a[:7])
    got = compute(["wasserstein"], real, fake, Context())
    assert got == w.wasserstein(a, a[:7]) and got["w1"] > 0.5
    shuffled = Extracted(torch.zeros(40, 1), samples=torch.from_numpy(a[::-1].copy()))
    again = compute(["wasserstein"], shuffled, fake, Context())
    assert again["w2"] == pytest.approx(got["w2"], rel=1e-12)


def test_unequal_sizes_without_pot(sets, monkeypatch):
    """The Hungarian fallback on the replicated problem (lcm(40, 7) = 280 points each) gives the same
    optimum; one too large to replicate is refused, never cut."""
    a, _ = sets
    exact = w.wasserstein(a, a[:7])
    monkeypatch.setitem(sys.modules, "ot", None)
    fallback = w.wasserstein(a, a[:7])
    for p in (1, 2):
        assert fallback[f"w{p}"] == pytest.approx(exact[f"w{p}"], rel=1e-12)
    rng = np.random.default_rng(2)
    with pytest.raises(UserError, match="lcm|fallback"):
        w.wasserstein(rng.standard_normal((401, 2)), rng.standard_normal((400, 2)))


def test_samples_beyond_the_kept_limit_are_named():
    """More than SAMPLES_KEPT samples: the message names that limit, not the extractor or the data."""
    from ganbench.metrics.suite import SAMPLES_KEPT

    many = Extracted(torch.zeros(SAMPLES_KEPT + 1, 1))  # samples not kept (evaluate._extract)
    with pytest.raises(UserError, match=f"at most {SAMPLES_KEPT:,}"):
        compute(["wasserstein"], many, many, Context())
    few = Extracted(torch.zeros(10, 1))  # image data: no samples for another reason
    with pytest.raises(UserError, match="check the extractor and the data"):
        compute(["wasserstein"], few, few, Context())
