"""Each metric against an independent reference on data the test makes."""

import contextlib
import io
import itertools
import math
import sys

import numpy as np
import pytest
import torch
from scipy import linalg

from ganbench.errors import UserError
from ganbench.metrics.frechet import fit_gaussian, frechet_distance, frechet_from_features
from ganbench.metrics.inception_score import inception_score
from ganbench.metrics.kid import kid
from ganbench.metrics.modes import mixture_modes
from ganbench.metrics.prdc import prdc, precision_recall_density_coverage
from ganbench.metrics.wasserstein import wasserstein


def scipy_frechet(x, y):
    """pytorch-fid's formula: np.cov (N-1) and scipy.linalg.sqrtm of the covariance product."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n, d", [(500, 8), (2000, 64), (300, 128)])
def test_frechet_matches_scipy_sqrtm(n, d):
    rng = np.random.default_rng(d)
    mix = rng.standard_normal((d, d)) / math.sqrt(d)
    x = rng.standard_normal((n, d)) @ mix
    y = rng.standard_normal((n, d)) @ (mix * 1.2) + 0.3
    ours, ref = frechet_from_features(x, y), scipy_frechet(x, y)
    assert abs(ours - ref) <= 1e-6 * abs(ref)


def test_frechet_singular_covariance_is_real_and_finite():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 64)), rng.standard_normal((30, 64)) + 0.5  # fewer samples than dims
    value = frechet_from_features(x, y)
    assert isinstance(value, float) and math.isfinite(value) and value > 0
    assert frechet_from_features(x, x) == pytest.approx(0.0, abs=1e-8)
    # rank-deficient but well-defined: agrees with the reference's real part where that one is stable
    assert value == pytest.approx(scipy_frechet(x, y), rel=1e-4)


def test_frechet_of_known_gaussians():
    g1 = fit_gaussian(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]))
    g2 = fit_gaussian(np.array([[1.0, 1.0], [5.0, 1.0], [1.0, 5.0], [5.0, 5.0]]))
    # equal-shape covariances s1 = 4/3 I, s2 = 16/3 I: d = |mu diff|^2 + tr(s1) + tr(s2) - 2 tr(sqrt(s1 s2))
    expected = 2 * 2.0 ** 2 + 2 * (4 / 3) + 2 * (16 / 3) - 2 * 2 * math.sqrt(64 / 9)
    assert frechet_distance(g1, g2) == pytest.approx(expected, rel=1e-12)


def kid_reference(x, y, subsets, size, seed):
    """The estimator written out with loops over subsets and the same RandomState draws."""
    rng = np.random.RandomState(seed)
    d = x.shape[1]
    vals = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), size, replace=False)]
        b = y[rng.choice(len(y), size, replace=False)]
        kxx, kyy, kxy = ((a @ a.T) / d + 1) ** 3, ((b @ b.T) / d + 1) ** 3, ((a @ b.T) / d + 1) ** 3
        m = size
        vals.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                    - 2 * kxy.sum() / m ** 2)
    return float(np.mean(vals)), float(np.std(vals))


def test_kid_matches_written_out_estimator():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((300, 16)), rng.standard_normal((250, 16)) * 1.1 + 0.1
    out = kid(x, y, subsets=7, subset_size=100, seed=5)
    mean, std = kid_reference(x, y, 7, 100, 5)
    assert out["kid_mean"] == pytest.approx(mean, rel=1e-10)
    assert out["kid_std"] == pytest.approx(std, rel=1e-8)
    assert kid(x, y, subsets=3, subset_size=1000)["kid_subset_size"] == 250  # min(1000, n)


def test_kid_when_every_subset_is_the_whole_set():
    """n_real = n_fake <= subset size: one value, no spread (not a std of 1e-13 rounding noise)."""
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((200, 16)), rng.standard_normal((200, 16)) + 0.2
    out = kid(x, y, subsets=10, subset_size=1000)
    mean, _ = kid_reference(x, y, 1, 200, 0)
    assert out["kid_mean"] == pytest.approx(mean, rel=1e-10)
    assert out["kid_std"] == 0.0 and out["kid_subsets"] == 1 and out["kid_subset_size"] == 200


def test_kid_near_zero_for_same_distribution():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((1000, 8)), rng.standard_normal((1000, 8))
    same = kid(x, y, subsets=20, subset_size=500)["kid_mean"]
    shifted = kid(x, y + 0.5, subsets=20, subset_size=500)["kid_mean"]
    assert shifted > 0.1 and abs(same) < shifted / 20


def test_inception_score_on_hand_made_tables():
    sharp_uniform = torch.eye(10).repeat(10, 1) * 50  # confident and balanced: IS = 10
    out = inception_score(sharp_uniform, splits=10, shuffle=False)  # each split holds every class once
    assert out["is_mean"] == pytest.approx(10.0, rel=1e-6) and out["is_std"] < 1e-6
    collapsed = torch.zeros(100, 10)
    collapsed[:, 3] = 50  # confident but one class: IS = 1
    assert inception_score(collapsed)["is_mean"] == pytest.approx(1.0, abs=1e-6)
    # a two-class table by hand: p(y|x) = (0.9, 0.1) for half, (0.1, 0.9) for the rest; p(y) = (0.5, 0.5)
    # built in float64: a float32 log rounds the table itself (~1e-8 relative, CPU-dependent vector math)
    logits = torch.log(torch.tensor([[0.9, 0.1]] * 50 + [[0.1, 0.9]] * 50, dtype=torch.float64))
    kl = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    out = inception_score(logits, splits=1)
    assert out["is_mean"] == pytest.approx(math.exp(kl), rel=1e-9)


def reference_prdc(x, y, k):
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):
        return {key: float(v) for key, v in compute_prdc(x, y, k).items()}


@pytest.mark.parametrize("n_real, n_fake, d, k, dtype", [
    (300, 300, 2, 5, np.float32), (400, 350, 32, 3, np.float32), (500, 520, 256, 5, np.float32),
    (200, 260, 16, 5, np.float64), (120, 100, 2048, 4, np.float32)])
def test_prdc_identical_to_package(n_real, n_fake, d, k, dtype):
    rng = np.random.default_rng(n_real + d)
    x = rng.standard_normal((n_real, d)).astype(dtype)
    y = (rng.standard_normal((n_fake, d)) * 1.1 + 0.05).astype(dtype)
    assert prdc(x, y, k) == reference_prdc(x, y, k)


def test_prdc_with_duplicates_and_ties():
    rng = np.random.default_rng(3)
    # many exact duplicate points (up to 5 copies: k-NN radii stay above 0 at k=5) and equal distances
    x = rng.integers(0, 5, size=(200, 3)).astype(np.float32)
    y = rng.integers(0, 5, size=(150, 3)).astype(np.float32)
    assert prdc(x, y, 5) == reference_prdc(x, y, 5)


def within_counts(ours, ref, n_real, n_fake, k, counts):
    """Each metric differs by at most ``counts`` points (density: ball memberships)."""
    scale = {"precision": n_fake, "recall": n_real, "coverage": n_real, "density": k * n_fake}
    return all(abs(ours[m] - ref[m]) * scale[m] <= counts + 1e-9 for m in scale)


@pytest.mark.parametrize("seed", [6, 137])
def test_prdc_with_large_offsets(seed):
    """Features far from the origin (float32 cancellation in the estimate): the exact path must agree.

    Not to the bit: at an offset of 1000 the reference's float64 |x|^2 + |y|^2 - 2 x.y cancels ~6e7
    down to ~0.01, leaving ~1e-6 relative noise, above float32 resolution, fixed by its BLAS's summation
    order (which differs between builds and CPUs). A point that close to a ball's edge is decided by that
    noise; about one seed in 40 has such a point (137 does here). Two counts per metric bound it."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((400, 64)) * 0.01 + 1000).astype(np.float32)
    y = (rng.standard_normal((380, 64)) * 0.01 + 1000.001).astype(np.float32)
    assert within_counts(prdc(x, y, 5), reference_prdc(x, y, 5), 400, 380, 5, counts=2)


def test_prdc_with_near_ties():
    """Points on a lattice (many near-equal distances, small norms: float64 noise far below float32
    resolution): identical to the package."""
    rng = np.random.default_rng(6)
    lattice = (rng.integers(0, 3, size=(300, 8)) + rng.standard_normal((300, 8)) * 1e-4).astype(np.float32)
    other = (rng.integers(0, 3, size=(280, 8)) + rng.standard_normal((280, 8)) * 1e-4).astype(np.float32)
    assert prdc(lattice, other, 3) == reference_prdc(lattice, other, 3)


def test_prdc_convention_mode_collapse():
    """All fakes sit on one real cluster: high precision, low recall and coverage."""
    rng = np.random.default_rng(4)
    centers = rng.standard_normal((10, 8)) * 10
    real = (centers[rng.integers(0, 10, 1000)] + rng.standard_normal((1000, 8))).astype(np.float32)
    fake = (centers[0] + rng.standard_normal((1000, 8))).astype(np.float32)
    out = precision_recall_density_coverage(real, fake)
    assert out["precision"] > 0.7 and out["recall"] < 0.2 and out["coverage"] < 0.2
    spread = (centers[rng.integers(0, 10, 1000)] + rng.standard_normal((1000, 8))).astype(np.float32)
    healthy = precision_recall_density_coverage(real, spread)
    assert healthy["recall"] > 0.6 and healthy["coverage"] > 0.6


def test_wasserstein_matches_brute_force():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((6, 2)), rng.standard_normal((6, 2)) + 1
    dist = np.linalg.norm(a[:, None] - b[None], axis=2)
    w1 = min(np.mean([dist[i, p[i]] for i in range(6)]) for p in itertools.permutations(range(6)))
    w2 = min(np.mean([dist[i, p[i]] ** 2 for i in range(6)]) for p in itertools.permutations(range(6))) ** 0.5
    out = wasserstein(a, b)
    assert out["w1"] == pytest.approx(w1, rel=1e-12) and out["w2"] == pytest.approx(w2, rel=1e-12)


def test_wasserstein_solvers_agree_and_fall_back(monkeypatch):
    """POT's network simplex (the fast path) against SciPy's Hungarian algorithm, on GAN-like samples (points
    near a ring's modes against a spread-out generator); a simplex that stops short, or no POT, falls back
    to the Hungarian algorithm, never to a suboptimal plan."""
    import warnings

    from ganbench.data.toy2d import ring_modes
    from ganbench.metrics import wasserstein as w

    pytest.importorskip("ot")
    rng = np.random.default_rng(7)
    real = ring_modes(8).numpy()[rng.integers(0, 8, 400)] + 0.01 * rng.standard_normal((400, 2))
    fake = 0.8 * real[rng.permutation(400)] + 0.3 * rng.standard_normal((400, 2))
    dist = np.linalg.norm(real[:, None] - fake[None], axis=2)
    for p in (1, 2):
        exact = w.hungarian(dist ** p)
        assert w.simplex(dist ** p) == pytest.approx(exact, rel=1e-12)  # both exact: they differ by rounding
        monkeypatch.setattr(w, "MAX_PIVOTS", 10)  # far too few pivots for 400 points
        assert w.simplex(dist ** p) is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the abandoned solve says nothing
            assert w.optimal_mean_cost(dist ** p) == exact
        monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "ot", None)  # POT not installed
    assert w.wasserstein(real, fake)["w2"] == pytest.approx(w.hungarian(dist ** 2) ** 0.5, rel=0)


def test_mode_metrics_on_exact_modes():
    from ganbench.data.toy2d import grid_modes, ring_modes

    for modes, sigma in [(ring_modes(8), 0.01), (grid_modes(), 0.05)]:
        samples = modes.repeat(100, 1)
        out = mixture_modes(samples, modes, sigma)
        assert out["modes_covered"] == len(modes) and out["high_quality"] == 1.0
        assert out["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    one = mixture_modes(ring_modes(8)[:1].repeat(50, 1), ring_modes(8), 0.01)
    assert one["modes_covered"] == 1 and one["reverse_kl"] == pytest.approx(math.log(8))
    far = mixture_modes(torch.full((10, 2), 5.0), ring_modes(8), 0.01)
    assert far["high_quality"] == 0 and far["modes_covered"] == 0


@pytest.mark.parametrize("fn", [
    lambda: frechet_from_features(np.zeros((10, 3)), np.zeros((10, 4))),
    lambda: prdc(np.zeros((10, 3), np.float32), np.zeros((10, 4), np.float32)),
    lambda: prdc(np.random.rand(5, 3), np.random.rand(50, 3), 5),
    lambda: kid(np.full((10, 3), np.nan), np.zeros((10, 3))),
    lambda: frechet_from_features(np.zeros(10), np.zeros(10)),
])
def test_bad_features_raise_user_errors(fn):
    with pytest.raises(UserError):
        fn()


def test_prdc_radii_and_values_on_correlated_features():
    """Found in review: near-tied neighbours once shifted a k-NN rank (float32 boundary tests) and torch's
    float32 sqrt differs from numpy's near rounding midpoints; radii must equal the package's exactly."""
    import torch
    from prdc.prdc import compute_nearest_neighbour_distances

    from ganbench.metrics import prdc as P

    rng = np.random.default_rng(0)
    n, d = 4000, 1024
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    real = (rng.standard_normal((n, d)) @ mix).astype(np.float32)
    fake = (rng.standard_normal((n, d)) @ (mix * 1.05) + 0.01).astype(np.float32)
    pts = P._Points(real, "real")
    pts.center(torch.from_numpy(real.astype(np.float64)).mean(0))
    ours = P._to_distance(P._knn_sq_radii(pts, [5], 1024)[5], True).numpy()
    np.testing.assert_array_equal(ours, compute_nearest_neighbour_distances(real, 5))
    assert prdc(real, fake, 5) == reference_prdc(real, fake, 5)
