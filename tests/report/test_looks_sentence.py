"""The optional-stopping caveat's number: how often a paired t-test run at each of a study's seed counts calls
two equal variants different. A seed count below 2 has no p-value, and a repeated count is one look."""

import numpy as np
import pytest
from scipy import stats

from ganbench.report.sections import _looks_sentence


def _chain(counts: list[int]) -> list[dict]:
    return [{"seeds_before": list(range(counts[0])), "seeds_after": list(range(n)), "by": "extend", "at": "today"}
            for n in counts[1:]]


@pytest.mark.parametrize("counts", [[1, 3], [3, 3], [1, 1, 4]])
def test_one_look_at_a_p_value_gets_no_rate_that_contradicts_itself(counts):
    text = _looks_sentence("", _chain(counts))
    assert "optimistic (optional stopping)." in text and "% of the time" not in text  # was "5 % ..., not 5 %"


def test_repeated_seed_counts_are_one_look_in_the_sentence_and_in_the_rate():
    text = _looks_sentence("", _chain([2, 2, 4]))
    assert "run at 2 and 4 seeds finds a difference " in text
    # independent simulation: normal paired differences, scipy's one-sample t-test at 2 and at 4 seeds
    d = np.random.default_rng(7).standard_normal((100_000, 4))
    ref = np.mean((stats.ttest_1samp(d[:, :2], 0, axis=1).pvalue < 0.05)
                  | (stats.ttest_1samp(d, 0, axis=1).pvalue < 0.05))
    shown = int(text.split("finds a difference ")[1].split(" %")[0])
    assert abs(shown - 100 * ref) <= 1.5  # Monte Carlo error of the two simulations, and rounding to a percent
