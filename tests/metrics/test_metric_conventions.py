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


def test_mode_metrics_by_hand():
    """PacGAN's protocol on 4 modes (sigma 1), 5 samples written out: nearest mode, 'high quality' when its
    distance is <= 3 sigma (the boundary counts), reverse KL of the high-quality histogram to uniform."""
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]], dtype=torch.float64)
    samples = torch.tensor([[0.0, 0.0],    # mode 0, distance 0
                            [3.0, 0.0],    # mode 0, distance exactly 3: high quality (<=)
                            [10.0, 2.5],   # mode 1, distance 2.5
                            [0.0, 14.0],   # mode 2, distance 4: not high quality
                            [10.0, 10.0]],  # mode 3, distance 0
                           dtype=torch.float64)
    out = mixture_modes(samples, modes, sigma=1.0)
    # high-quality histogram over the 4 modes: (2, 1, 0, 1) of 4 -> p = (1/2, 1/4, 0, 1/4)
    # KL(p || uniform) = 1/2 ln(1/2 * 4) + 1/4 ln(1/4 * 4) * 2 = ln(2) / 2
    assert out["high_quality"] == pytest.approx(4 / 5, rel=1e-12)
    assert out["modes_covered"] == 3 and out["num_modes"] == 4
    assert out["reverse_kl"] == pytest.approx(math.log(2) / 2, rel=1e-12)
    # distances are in units of sigma: at sigma 2 the sample 4 away is within 3 sigma, covering mode 2
    wide = mixture_modes(samples, modes, sigma=2.0)
    assert wide["high_quality"] == 1.0 and wide["modes_covered"] == 4
    # p = (2, 1, 1, 1) / 5: KL = 2/5 ln(8/5) + 3 * 1/5 ln(4/5)
    assert wide["reverse_kl"] == pytest.approx(0.4 * math.log(1.6) + 0.6 * math.log(0.8), rel=1e-12)


def test_mode_metrics_threshold_default_is_three_sigma():
    """The sample 2.5 sigma away counts by default (PacGAN's 3 sigma), not at a threshold of 2."""
    modes = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    out = mixture_modes(torch.tensor([[2.5, 0.0], [0.0, 3.5]], dtype=torch.float64), modes, sigma=1.0)
    assert out["high_quality"] == 0.5


def test_mode_metrics_with_no_high_quality_sample_report_the_largest_kl():
    """No sample within 3 sigma: the histogram is undefined; the module's convention is the maximum, ln K."""
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=torch.float64)
    out = mixture_modes(torch.tensor([[5.0, 5.0], [50.0, 0.0]], dtype=torch.float64), modes, sigma=1.0)
    assert out["high_quality"] == 0.0 and out["modes_covered"] == 0
    assert out["reverse_kl"] == pytest.approx(math.log(3), rel=1e-15)


def _inception_score_written_out(logits: np.ndarray, splits: int, seed: int):
    """torch-fidelity's procedure in numpy: rows permuted by RandomState(seed), chunks [i*N//s, (i+1)*N//s),
    exp(mean KL(p(y|x) || p(y))) with p(y) the chunk's own marginal; mean and population std (ddof 0)."""
    from scipy.special import log_softmax

    x = logits[np.random.RandomState(seed).permutation(len(logits))]
    log_p = log_softmax(x, axis=1)
    p, n, scores = np.exp(log_p), len(x), []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        log_q = np.log(p[lo:hi].mean(0))
        scores.append(math.exp(float((p[lo:hi] * (log_p[lo:hi] - log_q)).sum(1).mean())))
    return float(np.mean(scores)), float(np.std(scores))


def test_inception_score_defaults_match_the_written_out_procedure():
    """103 rows (not a multiple of 10 splits): the defaults shuffle with seed 2020 into 10 unequal splits."""
    from ganbench.metrics.inception_score import inception_score

    logits = np.random.default_rng(4).standard_normal((103, 7)) * 2
    mean, std = _inception_score_written_out(logits, 10, 2020)
    out = inception_score(torch.from_numpy(logits))
    assert out["is_splits"] == 10
    assert out["is_mean"] == pytest.approx(mean, rel=1e-9)
    assert out["is_std"] == pytest.approx(std, rel=1e-6)  # a std of scores that differ in their 2nd digit: cancellation, looser


def test_prdc_float32_real_with_float64_fake_keeps_float64_distances():
    """Mixed dtypes: sklearn (in the reference ``prdc``) upcasts a float32/float64 pair to float64, so a fake
    point 1 - 1e-9 from a real point whose radius is 1 is inside its ball (strict '<'); rounding that distance
    to float32 (1.0) would put it outside. Real: a 4 x 4 unit grid in float32, k = 2: every radius is 1."""
    from ganbench.metrics.prdc import prdc

    real = np.array([[i, j] for i in range(4) for j in range(4)], dtype=np.float32)
    e = 1 - 1e-9
    fake = np.array([[-e, 0.0], [-e, 3.0], [10.0, 10.0], [10.0, 11.0], [11.0, 10.0]], dtype=np.float64)
    # precision 2/5 (two fakes each inside one real ball); density (1 + 1) / 5 / k = 0.2; coverage 2/16; recall 1:
    # the fake (-e, 0)'s 2nd-nearest fake is (10, 10), ~14.1 away, a ball that holds the whole grid
    assert prdc(real, fake, 2) == {"precision": 0.4, "recall": 1.0, "density": 0.2, "coverage": 0.125}
    compute_prdc = pytest.importorskip("prdc").compute_prdc
    ref = compute_prdc(real, fake, 2)
    assert {k: float(v) for k, v in ref.items()} == prdc(real, fake, 2)


def test_prdc_mixed_dtypes_take_each_sets_radii_in_its_own_dtype():
    """float32 real with float64 fake: the reference's real radii are float32 (sklearn on a float32 set), its
    real-to-fake distances float64. A fake point between real[0]'s float32 radius and the float64 one is
    outside that ball there (strict '<'); taking the radius in float64 put it inside (density 0.25)."""
    from ganbench.metrics.prdc import prdc

    reference = pytest.importorskip("prdc")
    real = np.random.default_rng(1).standard_normal((12, 2)).astype(np.float32)
    r32 = float(reference.prdc.compute_nearest_neighbour_distances(real, 2)[0])  # real[0]'s 2-NN radius, float32
    d = np.sort(np.sqrt(((real.astype(np.float64) - real[0]) ** 2).sum(1)))[2]  # the same in float64
    assert r32 < d  # the float32 radius is the smaller (else the test checks nothing)
    fake = np.vstack([real[0] + np.array([(r32 + d) / 2, 0.0]), 50 + np.random.default_rng(2).standard_normal((5, 2))])
    ours = prdc(real, fake, 2)
    assert ours["density"] == pytest.approx(1 / 6, rel=1e-12)  # (2 balls of 12) / 6 fakes / k: not real[0]'s
    assert {k: float(v) for k, v in reference.compute_prdc(real, fake, 2).items()} == ours
    flipped_real, flipped_fake = fake.astype(np.float32), real.astype(np.float64)
    assert {k: float(v) for k, v in reference.compute_prdc(flipped_real, flipped_fake, 2).items()} == prdc(
        flipped_real, flipped_fake, 2)


def test_class_kl_compares_with_every_label_of_the_split_not_the_real_subset():
    """class_kl's reference histogram is the evaluation split's labels (ctx.real_labels: all of them), not the
    n_real rows the protocol names: here 4 real rows of class 0 stand beside a split of classes 0 and 1 in equal
    numbers, and a generator predicting 0 and 1 half each scores KL 0 (by hand: sum p log(p/q), p = q = 1/2)."""
    from ganbench.metrics.suite import Context, Extracted, compute

    real = Extracted(features=torch.zeros(4, 2, dtype=torch.float64), logits=torch.tensor([[9.0, 0.0]] * 4))
    fake = Extracted(features=torch.zeros(4, 2, dtype=torch.float64),
                     logits=torch.tensor([[9.0, 0.0], [0.0, 9.0], [9.0, 0.0], [0.0, 9.0]]))
    ctx = Context(real_labels=torch.tensor([0, 1] * 50), num_classes=2)
    values = compute(["classes"], real, fake, ctx)
    assert values["class_kl"] == 0.0 and values["classes_covered"] == 2
    ctx = Context(real_labels=torch.tensor([0] * 75 + [1] * 25), num_classes=2)  # q = (3/4, 1/4)
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert compute(["classes"], real, fake, ctx)["class_kl"] == pytest.approx(expected, rel=1e-12)
