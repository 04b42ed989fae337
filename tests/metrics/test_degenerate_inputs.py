"""Degenerate inputs: each metric gives the mathematically right value or a one-line UserError, never a
silently wrong number, a NaN or a traceback."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from ganbench.errors import UserError
from ganbench.metrics import suite
from ganbench.metrics.frechet import frechet_from_features
from ganbench.metrics.kid import kid
from ganbench.metrics.modes import mixture_modes
from ganbench.metrics.suite import Context, Extracted


def _suite(names, real, fake, ctx=None):
    real, fake = torch.as_tensor(real), torch.as_tensor(fake)
    real_set, fake_set = Extracted(real, samples=real), Extracted(fake, samples=fake)
    return suite.compute(names, real_set, fake_set, ctx or Context())


def cdist_prdc(x, y, k_pr=3, k_dc=5):
    """Independent float64 precision/recall/density/coverage: scipy's cdist, the strict '<' ball test."""
    dxx, dyy, dxy = np.sort(cdist(x, x), 1), np.sort(cdist(y, y), 1), cdist(x, y)
    out = {}
    rr, fr = dxx[:, k_pr], dyy[:, k_pr]
    out["precision"] = float((dxy < rr[:, None]).any(0).mean())
    out["recall"] = float((dxy < fr[None, :]).any(1).mean())
    rr = dxx[:, k_dc]
    out["density"] = float((1.0 / k_dc) * (dxy < rr[:, None]).sum(0).mean())
    out["coverage"] = float((dxy.min(1) < rr).mean())
    return out


def _points(seed=0, n=200):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)), rng.standard_normal((n, 2)) * 1.1 + 0.1


@pytest.mark.parametrize("offset, scale", [(0.0, 1.0), (1e6, 1.0), (0.0, 1e20), (0.0, 1e120), (0.0, 1e200),
                                           (0.0, 1e-200)])
def test_prdc_points_in_float64_any_offset_or_scale(offset, scale):
    """float64 points were cast to float32 (offset 1e6: 0.97/0.98/0.951/0.95 instead of
    0.97/1.0/1.018/0.975; scale 1e20: all zeros; 1e120: refused as 'NaN or Inf'). Now: the float64 value,
    whatever the offset or scale."""
    a, b = _points()
    expected = cdist_prdc(a, b)
    assert expected == cdist_prdc(a + offset, b + offset)  # the reference values do not move either
    got = _suite(["prdc"], a * scale + offset, b * scale + offset)
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
def test_prdc_points_match_float64_reference_package(seed):
    prdc_pkg = pytest.importorskip("prdc")
    a, b = _points(seed, 300)
    ref = prdc_pkg.compute_prdc(a, b, 5)
    ours = _suite(["prdc"], a, b)
    assert ours["density"] == pytest.approx(float(ref["density"]), abs=1e-12)
    assert ours["coverage"] == pytest.approx(float(ref["coverage"]), abs=1e-12)


@pytest.mark.parametrize("make", [lambda a: (np.repeat(a[:8], 5, 0),) * 2,
                                  lambda a: (np.ones((20, 2)), a)])
def test_prdc_refuses_zero_radii_in_the_real_set(make):
    """Duplicates gave precision 0, recall 0 for a set against itself (a constant set: all 0s)."""
    real, fake = make(_points()[0])
    with pytest.raises(UserError) as e:
        _suite(["prdc"], real, fake)
    msg = str(e.value)
    assert "\n" not in msg and "duplicate" in msg and "radius of 0" in msg and "real samples" in msg


def test_a_generator_repeating_samples_is_scored_not_refused():
    """Mode collapse is a result: the fake set's balls of radius 0 cover nothing, so recall falls, exactly
    as the reference package (strict '<') computes it."""
    a = _points()[0]
    collapsed = np.repeat(a[:8], 5, 0)
    ours = _suite(["prdc"], a, collapsed)
    assert ours["recall"] == 0.0  # every fake ball has radius 0 (k = 3 < 4 other copies)
    prdc_pkg = pytest.importorskip("prdc")
    ref = prdc_pkg.compute_prdc(a, collapsed, 5)
    assert ours["density"] == pytest.approx(float(ref["density"]), abs=1e-12)
    assert ours["coverage"] == pytest.approx(float(ref["coverage"]), abs=1e-12)


def test_prdc_refuses_zero_columns():
    with pytest.raises(UserError, match="prdc: the features have 0 columns"):
        _suite(["prdc"], np.zeros((40, 0)), np.zeros((40, 0)))


def test_prdc_too_few_samples_names_metric_and_set():
    a, b = _points()
    with pytest.raises(UserError, match=r"prdc: need at least k\+2 = 7 samples in the fake set.*got 6"):
        _suite(["prdc"], a, b[:6])


@pytest.mark.parametrize("call", [
    lambda f, g: kid(np.zeros((40, 0)), np.zeros((40, 0))),
    lambda f, g: kid(f * 1e120, g * 1e120),
    lambda f, g: kid(f, g, subsets=0),
    lambda f, g: kid(f, g, subset_size=0),
    lambda f, g: kid(f, g, subset_size=1),
    lambda f, g: kid(f, g, subset_size=-5),
])
def test_kid_refuses_instead_of_nan(call):
    rng = np.random.default_rng(0)
    with pytest.raises(UserError) as e:
        call(rng.standard_normal((40, 5)), rng.standard_normal((50, 5)))
    assert "\n" not in str(e.value) and str(e.value).startswith("kid: ")


def test_kid_of_a_set_with_itself_is_negative_and_documented():
    f = np.random.default_rng(0).standard_normal((40, 5))
    assert kid(f, f)["kid_mean"] < 0  # the unbiased estimate, torch-fidelity's convention
    from ganbench.metrics import kid as kid_module

    assert "negative" in kid_module.__doc__


def _mixture():
    from ganbench.data.toy2d import ring_modes

    modes = ring_modes(8)
    return modes, modes.repeat(20, 1).double()


def test_modes_refuses_nan_samples():
    """Half NaN gave modes_covered, high_quality 0.5 and a reverse KL as if nothing were wrong."""
    modes, s = _mixture()
    s[::2] = float("nan")
    with pytest.raises(UserError, match="NaN or Inf"):
        _suite(["modes"], s, s, Context(modes=modes, sigma=0.01))


@pytest.mark.parametrize("samples, sigma", [(torch.zeros((0, 2)), 0.01), (None, 0.0), (None, -1.0),
                                            (None, math.nan)])
def test_modes_refuses_empty_samples_and_bad_sigma(samples, sigma):
    modes, s = _mixture()
    with pytest.raises(UserError) as e:
        mixture_modes(s if samples is None else samples, modes, sigma)
    assert str(e.value).startswith("modes: ")


def test_fid_of_huge_features():
    """x 1e120 ended in torch's LinAlgError (eigh on an overflowed matrix): FID scales as c^2 exactly."""
    rng = np.random.default_rng(0)
    f, g = rng.standard_normal((40, 5)), rng.standard_normal((60, 5)) + 0.3
    base = frechet_from_features(f, g)
    assert frechet_from_features(f * 1e120, g * 1e120) == pytest.approx(base * 1e240, rel=1e-9)
    assert 0 <= frechet_from_features(f * 1e120, f * 1e120) <= 1e-9 * 1e240
    with pytest.raises(UserError, match="too large to compare in float64"):
        frechet_from_features(f * 1e200, f * 1e200)
    with pytest.raises(UserError, match="too large to compare in float64"):
        frechet_from_features(f * 1e160, g * 1e160)



def test_metrics_compute_on_aligned_copies_of_misaligned_features():
    # real features read from the cache lie 8 bytes past the allocator's 64-byte alignment, computed ones
    # do not, and BLAS sums the two layouts in another order: one run's KID (digits, LeNet, n=200) was
    # 371.95369135298876 with a cold cache and ...887 with a warm one. Every metric takes an aligned copy.
    from ganbench.metrics.frechet import _as_float64

    g = torch.Generator().manual_seed(0)
    base = torch.randn(200 * 128 + 1, dtype=torch.float64, generator=g)
    shifted = base[1:].view(200, 128)  # 8 bytes off the alignment
    assert shifted.data_ptr() % 64
    for given in (shifted, shifted.numpy(), shifted.T):
        x = _as_float64(given)
        assert x.is_contiguous() and x.data_ptr() % 64 == 0
        assert torch.equal(x, torch.as_tensor(given))
