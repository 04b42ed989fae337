"""The protocol's KID note says how the subsets were drawn, as metrics.kid draws them."""

import numpy as np
import pytest

from ganbench.metrics.kid import kid
from ganbench.report.html import _kid_note


def _note(n_real, n_fake, subset_size):
    rng = np.random.default_rng(0)
    out = kid(rng.normal(size=(n_real, 4)), rng.normal(size=(n_fake, 4)), subsets=7, subset_size=subset_size)
    return out, _kid_note("d", n_real, n_fake, out["kid_subset_size"], out["kid_subsets"])


def test_both_sets_whole_gives_one_value_and_says_its_std_is_not_measured():
    out, note = _note(6, 6, 10)
    assert out["kid_subsets"] == 1 and out["kid_std"] == 0
    assert "KID on 1 subset of 6 rows" in note and "0 by construction" in note


@pytest.mark.parametrize("n_real, n_fake, part", [(6, 9, "fake"), (9, 6, "real")])
def test_one_set_whole_still_has_a_measured_spread_from_the_other(n_real, n_fake, part):
    out, note = _note(n_real, n_fake, 10)
    assert out["kid_subsets"] == 7 and out["kid_std"] > 0
    assert "by construction" not in note and f"kid_std measures the {part} draw only" in note


def test_subsets_smaller_than_both_sets_need_no_remark():
    out, note = _note(9, 12, 4)
    assert out["kid_std"] > 0 and note == "d: KID on 7 subsets of 4 rows (n_real 9, n_fake 12)."
