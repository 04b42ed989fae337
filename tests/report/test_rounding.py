"""A number the report prints twice is printed the same way both times, and a p-value is never rounded across
the 5 % level that its verdict is judged at (0.0496 beside "beats" printed as 0.05)."""

import re

import pytest

from ganbench.report.sections import verdicts
from ganbench.study.stats import p_text, verdict

from .test_unpaired_seeds import _view


def _pair(p_holm: float, significant: bool) -> dict:
    return {"dataset": "d", "metric": "high_quality", "checkpoint": "final", "a": "x", "b": "y", "n": 5,
            "mean_diff": 0.1, "sd_diff": 0.05, "p": p_holm / 2, "p_holm": p_holm, "test": "t",
            "significant": significant, "win_rate_a": 0.8, "win_rate_b": 0.2, "alpha_power": 0.05,
            "min_detectable": 0.08, "seeds_needed": 4}


@pytest.mark.parametrize("p_holm, significant, shown", [(0.0496, True, "0.0496"), (0.0504, False, "0.05"),
                                                        (0.049996, True, "0.049996"), (0.05, False, "0.05"),
                                                        (0.012345, True, "0.012"), (0.5, False, "0.5")])
def test_a_p_value_is_not_rounded_across_the_level_its_verdict_uses(p_holm, significant, shown):
    text = verdict(_pair(p_holm, significant))
    assert f"Holm-adjusted p = {shown}," in text
    assert ("beats" in text) == significant and p_text(p_holm) == shown


def test_the_table_of_pairs_prints_p_and_the_detectable_difference_as_the_verdicts_do():
    view = _view({"a": {0: 0.50, 1: 0.52, 2: 0.51, 3: 0.55}, "b": {0: 0.47, 1: 0.52, 2: 0.44, 3: 0.53}})
    v = verdicts(view)
    (row,) = [r for r in v["table"] if r["checkpoint"] == "final"]
    (sentence,) = v["sentences"]
    assert "no significant difference" in sentence
    assert f"Holm-adjusted p = {row['p_holm']}," in sentence
    assert re.search(rf"a difference of {re.escape(row['mdd'])} or more", sentence), (row["mdd"], sentence)
