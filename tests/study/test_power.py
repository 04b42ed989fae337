"""Power of the paired t-test against a direct scipy calculation and a simulation."""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from ganbench.study.power import min_detectable, paired_power, seeds_needed


def direct_power(n, delta, sd, alpha):
    """P(reject) for the two-sided paired t-test: noncentral t, written out with scipy.stats.nct."""
    df = n - 1
    crit = stats.t.isf(alpha / 2, df)
    nc = delta / (sd / math.sqrt(n))
    return stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc)  # P(T < -crit) = P(-T > crit)


@pytest.mark.parametrize("n, sd, alpha", [(3, 0.02, 0.05), (5, 1.5, 0.05 / 15), (10, 4.0, 0.01)])
def test_minimum_detectable_difference_has_80_percent_power(n, sd, alpha):
    mdd = min_detectable(n, sd, alpha)
    assert direct_power(n, mdd, sd, alpha) == pytest.approx(0.8, abs=1e-9)
    assert direct_power(n, 0.9 * mdd, sd, alpha) < 0.8 < direct_power(n, 1.1 * mdd, sd, alpha)


def test_known_value_and_simulation():
    # n = 10 pairs, sd 1, alpha 0.05: a difference of 1 sd is detected with power about 0.80 (G*Power: 0.8031)
    assert paired_power(10, 1.0, 1.0, 0.05) == pytest.approx(0.8031, abs=5e-4)
    rng = np.random.default_rng(0)
    d = rng.normal(1.0, 1.0, size=(20000, 10))
    rejected = stats.ttest_1samp(d, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(paired_power(10, 1.0, 1.0, 0.05), abs=0.015)  # 3.5 binomial sd


def test_seeds_needed_is_the_first_n_that_reaches_80_percent():
    for delta, sd, alpha in [(0.5, 1.0, 0.05), (0.01, 0.05, 0.05 / 15), (2.0, 1.0, 0.05)]:
        n = seeds_needed(delta, sd, alpha)
        assert direct_power(n, delta, sd, alpha) >= 0.8
        assert n == 2 or direct_power(n - 1, delta, sd, alpha) < 0.8
    assert seeds_needed(0.0, 1.0, 0.05) is None and seeds_needed(1e-6, 1.0, 0.05) is None
    assert math.isnan(min_detectable(1, 1.0, 0.05)) and math.isnan(min_detectable(3, 0.0, 0.05))


@pytest.mark.filterwarnings("ignore:.*Series did not converge:RuntimeWarning")  # the grid's far corners (nc ~ 1e9)
def test_power_is_bit_for_bit_the_scalar_formula():
    """paired_power caches the critical value and takes both tails in one scipy call (a report evaluates it
    ~16,000 times): each value must be exactly the one the plain formula gives, or the report's stated
    minimum detectable differences and seeds needed would move in their last digits."""
    for n in (2, 3, 5, 10, 37, 4096):
        for alpha in (0.05, 0.05 / 15, 0.05 / 45, 1e-6):
            for delta in (0.0, 1e-9, 0.013, 0.5, 2.0, -3.7, 40.0):
                for sd in (1e-6, 0.02, 1.0, 7.5):
                    df, nc = n - 1, abs(delta) * math.sqrt(n) / sd
                    crit = stats.t.ppf(1 - alpha / 2, df)
                    plain = float(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc))
                    got = paired_power(n, delta, sd, alpha)
                    assert got == plain or (math.isnan(got) and math.isnan(plain)), (n, alpha, delta, sd)


def plain_power(n, delta, sd, alpha):
    """paired_power's formula over scipy's public nct.sf and t.ppf, operation for operation."""
    df, nc = n - 1, abs(delta) * math.sqrt(n) / sd
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc))


def reference_min_detectable(n, sd, alpha):
    """min_detectable's search written over scipy's public nct.sf and t.ppf (its code before paired_power
    called scipy's distribution methods' inner functions)."""
    def f(d):
        return plain_power(n, d, sd, alpha) - 0.8
    high = sd
    while f(high) < 0:
        high *= 2
    return float(optimize.brentq(f, 0.0, high, xtol=1e-12 * high))


def reference_seeds_needed(delta, sd, alpha):
    """The first n (from 2) with power >= 0.8 over scipy's public functions, by a plain upward scan."""
    for n in range(2, 10_001):
        if plain_power(n, delta, sd, alpha) >= 0.8:
            return n
    return None


@pytest.mark.parametrize("alpha", [0.05, 0.05 / 15, 0.05 / 45])
def test_searches_equal_the_public_scipy_formula_bit_for_bit(alpha):
    """The report writes min_detectable with all its digits to results.json: the fast power must leave the root
    search's every step, hence its result, exactly as the public formula gives them."""
    for n in (2, 3, 5, 10):
        for sd in (1e-7, 0.0123, 0.5, 1.0, 3.3, 250.0):
            assert min_detectable(n, sd, alpha) == reference_min_detectable(n, sd, alpha), (n, sd, alpha)
    for delta, sd in [(0.3, 1.0), (-0.05, 0.2), (1.0, 0.1), (0.011, 0.35), (2.0, 3.0)]:
        assert seeds_needed(delta, sd, alpha) == reference_seeds_needed(delta, sd, alpha), (delta, sd, alpha)


def test_power_outside_the_fast_path_is_the_public_answer():
    """NaN differences or spreads, an infinite noncentrality or critical value: what scipy's public calls say."""
    for n, delta, sd, alpha in [(5, math.nan, 1.0, 0.05), (5, 1.0, math.nan, 0.05), (5, 1.0, math.inf, 0.05),
                                (5, 1.0, 1e-320, 0.05), (5, 1.0, 1.0, 0.0), (5, 1.0, 1.0, 1e-300)]:
        got, plain = paired_power(n, delta, sd, alpha), plain_power(n, delta, sd, alpha)
        assert got == plain or (math.isnan(got) and math.isnan(plain)), (n, delta, sd, alpha, got, plain)
