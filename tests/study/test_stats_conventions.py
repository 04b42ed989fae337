"""Conventions of the across-seed statistics that the other tests did not pin down (found by mutation
testing); each test names the convention and the independent value it checks against."""

import math

import numpy as np
import pytest
from scipy import stats

from ganbench.study.power import min_detectable, seeds_needed
from ganbench.study.stats import ALPHA, holm, summarize


def _evals(values: dict[str, list[float]], metric="fid"):
    return [{"dataset": "d", "metric": metric, "variant": variant, "seed": seed, "value": v, "tags": ["final"]}
            for variant, vals in values.items() for seed, v in enumerate(vals)]


def test_holm_adjusted_p_values_never_decrease_with_the_raw_ones():
    """Holm's step-down: sorted p_(1) <= p_(2) <= p_(3), adjusted p_(j) = max over i <= j of min(1, (m-i+1) p_(i)).
    By hand for (0.01, 0.04, 0.045), m = 3: 3*0.01 = 0.03; 2*0.04 = 0.08; 1*0.045 = 0.045 -> raised to 0.08."""
    assert holm([0.045, 0.01, 0.04]) == pytest.approx([0.08, 0.03, 0.08], rel=1e-12)
    assert holm([0.3, 0.6]) == pytest.approx([0.6, 0.6], rel=1e-12)  # 2*0.3 = 0.6; 1*0.6 = 0.6
    assert holm([0.7, 0.2]) == pytest.approx([0.7, 0.4], rel=1e-12)  # 2*0.2 = 0.4; max(0.4, 0.7) = 0.7
    assert holm([0.9, 0.6]) == pytest.approx([1.0, 1.0], rel=1e-12)  # 2*0.6 = 1.2 capped at 1; then max(1, 0.9)


def test_significance_is_holm_adjusted_p_below_five_percent():
    """A two-sided paired t-test with p between 0.05 and 0.1 is not significant at the 5 % level."""
    a, b = [10.0, 11.0, 12.0, 13.0], [10.6, 11.1, 12.9, 13.2]
    p = stats.ttest_rel(a, b).pvalue
    assert 0.05 < p < 0.1  # the input's premise (scipy: p = 0.0930)
    (pair,) = summarize(_evals({"a": a, "b": b}), checkpoints=("final",))["pairs"]
    assert ALPHA == 0.05 and pair["p_holm"] == pytest.approx(p, rel=1e-12) and not pair["significant"]


def test_pair_statistics_mean_and_n_minus_1_spread_of_differences_power_at_holms_first_step():
    """Three variants: 3 pairs, so power is stated at alpha/3 (Holm's strictest step); the paired differences'
    mean and sample std (ddof 1) are numpy's; a tied seed is a win for neither."""
    a, b, c = [1.0, 2.0, 3.0, 9.0, 5.0], [1.5, 2.1, 3.0, 9.9, 5.2], [4.0, 5.0, 6.0, 7.0, 8.0]
    pairs = {(p["a"], p["b"]): p for p in summarize(_evals({"a": a, "b": b, "c": c}), checkpoints=("final",))["pairs"]}
    pair = pairs[("a", "b")]
    diff = np.subtract(a, b)  # (-0.5, -0.1, 0, -0.9, -0.2): mean -0.34, median -0.2
    assert pair["mean_diff"] == pytest.approx(-0.34, rel=1e-9)
    assert pair["sd_diff"] == pytest.approx(np.std(diff, ddof=1), rel=1e-12)
    assert pair["pairs_tested"] == 3 and pair["alpha_power"] == pytest.approx(0.05 / 3, rel=1e-15)
    assert pair["min_detectable"] == min_detectable(5, np.std(diff, ddof=1), 0.05 / 3)
    assert pair["seeds_needed"] == seeds_needed(-0.34, np.std(diff, ddof=1), 0.05 / 3)
    assert (pair["win_rate_a"], pair["win_rate_b"]) == (0.8, 0.0)  # 4 wins of 5 seeds, one tie


def test_exact_sign_test_is_two_sided():
    """n paired differences all of one sign: two-sided exact sign test p = 2 * 0.5^n = scipy's binomtest."""
    (pair,) = summarize(_evals({"a": [5.0] * 4, "b": [6.0] * 4}), checkpoints=("final",))["pairs"]
    assert pair["test"] == "sign" and pair["p"] == pytest.approx(0.125, rel=1e-15)
    assert pair["p"] == pytest.approx(stats.binomtest(4, 4, 0.5, alternative="two-sided").pvalue, rel=1e-12)


def test_differences_that_vary_by_one_millionth_keep_the_t_test():
    """same_difference is rounding-level (1e-9 of the values): differences of 0.01 that vary by 1e-6 are a
    measured spread, so the paired t-test applies (scipy: p ~ 1.7e-13), not the sign test (p = 0.125)."""
    a = [1.0, 2.0, 3.0, 4.0]
    b = [x - d for x, d in zip(a, [0.01, 0.010001, 0.009999, 0.0100005])]
    (pair,) = summarize(_evals({"a": a, "b": b}), checkpoints=("final",))["pairs"]
    assert pair["test"] == "t" and pair["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)


def test_identical_values_on_every_seed_give_p_one():
    """No difference on any seed: the t statistic is 0/0 (scipy: NaN); ganbench's convention is p = 1."""
    (pair,) = summarize(_evals({"a": [3.0, 4.0, 5.0], "b": [3.0, 4.0, 5.0]}), checkpoints=("final",))["pairs"]
    assert pair["p"] == 1.0 and pair["p_holm"] == 1.0 and not pair["significant"]
    assert pair["test"] == "equal"  # no test was run: it was labelled "t"


def test_a_pair_with_one_common_seed_has_no_test():
    (pair,) = summarize(_evals({"a": [3.0], "b": [4.0]}), checkpoints=("final",))["pairs"]
    assert pair["test"] == "none" and math.isnan(pair["p"]) and not pair["significant"]
    # every pair has the same fields, so a reader of results.json needs no key check: null where no test ran
    tested = summarize(_evals({"a": [3.0, 4.0], "b": [4.0, 6.0]}), checkpoints=("final",))["pairs"][0]
    assert set(pair) == set(tested)
    assert pair["pairs_tested"] is None and pair["seeds_needed"] is None
    assert math.isnan(pair["alpha_power"]) and math.isnan(pair["min_detectable"])


def test_a_spread_above_float32_rounding_keeps_its_interval():
    """no_spread is 1e-6 of the magnitude (float32 rounding); a relative spread of 1e-5 is a real spread and
    gets the t interval (n-1 std, t with n-1 degrees of freedom)."""
    from ganbench.study.stats import mean_ci

    x = [1.0, 1.00001, 1.00002]
    out = mean_ci(x)
    half = stats.t.ppf(0.975, 2) * np.std(x, ddof=1) / math.sqrt(3)
    assert "no_spread" not in out
    assert out["ci_high"] == pytest.approx(np.mean(x) + half, rel=1e-12)


def test_two_seeds_can_be_enough():
    """seeds_needed starts at n = 2 (the fewest a paired t-test takes): a 30 sd difference has power
    0.999 already at 2 pairs (noncentral t, df 1, nc = 30 sqrt(2))."""
    crit = stats.t.isf(0.025, 1)
    nc = 30 * math.sqrt(2)
    assert stats.nct.sf(crit, 1, nc) + stats.nct.sf(crit, 1, -nc) > 0.8  # the premise, by scipy
    assert seeds_needed(30.0, 1.0, 0.05) == 2



def test_per_class_caps_of_declared_bounds():
    """A dataset of k modes caps modes_covered at k and a KL to the uniform k-bin histogram at ln k (its
    maximum, all mass on one bin); with no declared k only the metric's own bounds apply."""
    from ganbench.metrics.declare import info

    assert info("modes_covered").clip_for(8)(9.5) == 8.0
    assert info("modes_covered").clip_for(8)(-1.0) == 0.0
    assert info("reverse_kl").clip_for(8)(5.0) == pytest.approx(math.log(8), rel=1e-15)
    assert info("reverse_kl").clip_for(None)(5.0) == 5.0
    assert info("high_quality").clip_for(8)(1.2) == 1.0 and info("high_quality").clip_for(8)(-0.1) == 0.0
