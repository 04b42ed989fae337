"""The verdicts' error rate between equal variants (benchmarks/verdict_calibration.py has the full audit).

One exact check (no Monte Carlo error: every multiset of paired differences of a discrete metric, weighted
by its probability) and one simulation whose tolerance is 4 Monte Carlo standard errors."""

import itertools
import math
from collections import Counter
from unittest import mock

import numpy as np
import pytest

import ganbench.study.stats as gstats
from ganbench.study.stats import summarize


@pytest.fixture
def verdicts_only():
    # the power annotations come after `significant` and never change it; they are most of summarize's time
    with mock.patch.object(gstats, "min_detectable", lambda *a, **k: math.nan), \
            mock.patch.object(gstats, "seeds_needed", lambda *a, **k: None):
        yield


def _pairs(values, metric):
    rows = [{"dataset": "d", "metric": metric, "variant": f"v{i}", "seed": s, "value": float(x), "tags": ("final",)}
            for i, row in enumerate(values) for s, x in enumerate(row)]
    return summarize(rows, checkpoints=("final",))["pairs"]


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_exact_false_positive_rate_on_a_mode_count_with_ties(verdicts_only, n):
    # two equal variants covering 5-8 of 8 modes (mostly 8: many tied seeds). The test sees only the paired
    # differences, so summing over every multiset of n of them gives its exact size. Neither the t-test on
    # tied differences nor the sign test's fallback may exceed 5 %, and every seed differing by the same
    # amount (the sign test's case) must never be significant below 6 seeds (its smallest p is 2^(1-n)).
    modes, prob = [5, 6, 7, 8], [0.05, 0.10, 0.25, 0.60]
    diff = Counter()
    for (a, pa), (b, pb) in itertools.product(zip(modes, prob), repeat=2):
        diff[a - b] += pa * pb
    size = via_sign = 0.0
    for combo in itertools.combinations_with_replacement(sorted(diff), n):
        weight = math.factorial(n)
        for d, count in Counter(combo).items():
            weight *= diff[d] ** count / math.factorial(count)
        (pair,) = _pairs([8.0 + np.array(combo), np.full(n, 8.0)], "modes_covered")
        size += weight * pair["significant"]
        via_sign += weight * (pair["significant"] and pair["test"] == "sign")
    assert size <= 0.05
    assert via_sign == 0.0 if n < 6 else via_sign > 0.0


def test_holm_holds_the_family_wise_error_of_three_equal_variants(verdicts_only):
    # 1,000 studies of 3 equal variants on 5 seeds: at least one "beats" in at most 5 % of them, within 4
    # Monte Carlo standard errors (sqrt(0.05 * 0.95 / 1000) = 0.69 %). Without Holm it is about 13 %.
    rng, sims = np.random.default_rng(7), 1000
    hits = sum(any(p["significant"] for p in _pairs(10.0 + rng.standard_normal((3, 5)), "fid")) for _ in range(sims))
    assert hits / sims <= 0.05 + 4 * math.sqrt(0.05 * 0.95 / sims)
