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


def test_a_reference_rows_own_kid_protocol_gets_its_note():
    """digits' real-data row at the final protocol scores the 360-row test split against 1000 train rows: a
    protocol no run has, and its KID subsets were not described."""
    from ganbench.report.html import _protocol_notes

    def rows(n_real, n_fake, size, count, **row):
        return [{"dataset": "digits", "metric": m, "value": v, "protocol": {"n_real": n_real, "n_fake": n_fake},
                 **row} for m, v in (("kid_subset_size", size), ("kid_subsets", count))]

    notes = _protocol_notes([], [], rows(1000, 1000, 1000, 1), rows(1000, 360, 360, 100, row="real data"))
    kid_notes = [n for n in notes if "KID" in n]
    assert len(kid_notes) == 2
    # each note names its rows: a reader could not tell which rows' KID drew 100 subsets
    assert any(n.startswith("digits (runs): KID on 1 subset of 1000 rows") for n in kid_notes)
    assert ("digits (real data): KID on 100 subsets of 360 rows (n_real 1000, n_fake 360): every subset holds all the fake rows "
            "and another draw of 360 of the 1000 real rows, so kid_std measures the real draw only.") in kid_notes
