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
    assert 0.05 < p < 0.1  # the input's premise (scipy: p = 0.0869...)
    (pair,) = summarize(_evals({"a": a, "b": b}), checkpoints=("final",))["pairs"]
    assert ALPHA == 0.05 and pair["p_holm"] == pytest.approx(p, rel=1e-12) and not pair["significant"]
