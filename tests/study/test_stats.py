import math

import numpy as np
import pytest
from scipy import stats

from ganbench.study.stats import holm, mean_ci, summarize, verdict


def test_mean_ci_matches_scipy_t_interval():
    x = [3.1, 2.7, 3.9, 3.3, 2.5]
    out = mean_ci(x)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))
    assert out["ci_low"] == pytest.approx(low, rel=1e-12) and out["ci_high"] == pytest.approx(high, rel=1e-12)
    assert out["std"] == pytest.approx(np.std(x, ddof=1))
    assert math.isnan(mean_ci([1.0])["ci_low"])


def test_the_same_value_on_every_seed_has_no_interval():
    """[8, 8] from three seeds of 8 modes would claim certainty: the bounds are NaN and the row says why; the
    same holds within float32 rounding, and any real spread gives a t interval again."""
    for values in ([8.0, 8.0, 8.0], [0.0, 0.0], [0.97, 0.97 + 1e-9, 0.97]):
        out = mean_ci(values)
        assert out["no_spread"] and math.isnan(out["ci_low"]) and math.isnan(out["ci_high"])
        assert out["mean"] == pytest.approx(values[0]) and out["n"] == len(values)
    out = mean_ci([8.0, 8.0, 7.0])
    assert "no_spread" not in out and out["ci_low"] < 7.0 < 8.0 < out["ci_high"]


def test_holm_by_hand():
    # sorted p: 0.01 (x3 = 0.03), 0.02 (x2 = 0.04), 0.04 (x1 = 0.04): monotone
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def _evals(values: dict[str, list[float]], metric="fid"):
    rows = []
    for variant, vals in values.items():
        for seed, v in enumerate(vals):
            rows.append({"dataset": "d", "metric": metric, "variant": variant, "seed": seed, "value": v,
                         "tags": ["final", "best"]})
    return rows


def test_paired_comparison_matches_scipy_and_win_rate():
    a, b = [10.0, 12.0, 11.0, 13.0], [12.5, 13.0, 12.0, 15.5]
    out = summarize(_evals({"a": a, "b": b}), checkpoints=("final",))
    (pair,) = out["pairs"]
    assert pair["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert pair["win_rate_a"] == 1.0  # lower fid wins on every seed
    assert pair["mean_diff"] == pytest.approx(np.mean(np.subtract(a, b)))
    ranks = {r["variant"]: r["rank"] for r in out["leaderboard"]}
    assert ranks == {"a": 1, "b": 2}
    assert pair["significant"] == (pair["p_holm"] < 0.05)


def test_higher_is_better_metrics_and_ties():
    out = summarize(_evals({"x": [0.5, 0.6], "y": [0.7, 0.8], "z": [0.7, 0.8]}, metric="precision"),
                    checkpoints=("final",))
    ranks = {r["variant"]: r["rank"] for r in out["leaderboard"]}
    assert ranks == {"y": 1, "z": 1, "x": 3}


def test_verdict_says_plainly_when_not_significant():
    out = summarize(_evals({"a": [1.0, 2.0, 3.0], "b": [1.1, 1.9, 3.2]}), checkpoints=("final",))
    text = verdict(out["pairs"][0])
    assert "no significant difference" in text and "n = 3 seeds" in text
    assert "could only have detected a difference of " in text and "80 % power" in text
    assert "if the spread of these paired differences is the true one" in text  # the power is conditional on it


@pytest.mark.parametrize("metric", ["fid", "precision"])
def test_verdict_names_the_better_mean_first_and_signs_the_difference_from_it(metric):
    # 'a' has the lower means: better on FID, worse on precision; the stats table keeps a − b either way
    out = summarize(_evals({"a": [0.10, 0.20, 0.30], "b": [0.12, 0.19, 0.35]}, metric=metric), checkpoints=("final",))
    pair = out["pairs"][0]
    assert (pair["a"], pair["b"]) == ("a", "b") and not pair["significant"]
    assert pair["mean_diff"] == pytest.approx(-0.02)
    winner, loser, diff = ("a", "b", "-0.02") if metric == "fid" else ("b", "a", "+0.02")
    assert verdict(pair).startswith(f"{winner} vs {loser} on {metric} (final checkpoint): no significant difference "
                                    f"(mean {winner} − {loser}: {diff}, ")


def test_power_sentence_stays_inside_a_bounded_metric():
    # paired differences spread over most of [0, 1] with 3 seeds: the detectable difference exceeds the range
    out = summarize(_evals({"a": [0.1, 0.9, 0.2], "b": [0.8, 0.1, 0.7]}, metric="precision"),
                    checkpoints=("final",))
    pair = out["pairs"][0]
    assert pair["min_detectable"] > 1.0
    text = verdict(pair)
    assert "could not have detected any difference precision can show: it would have needed " in text
    assert "and the range is 0 to 1 (80 % power" in text
    assert "a difference of " + f"{pair['min_detectable']:.3g}" not in text


def test_verdict_names_winner_and_loser():
    out = summarize(_evals({"a": [10.0, 12.0, 11.0, 13.0, 10.5], "b": [20.0, 21.0, 22.5, 23.0, 20.5]}),
                    checkpoints=("final",))
    assert verdict(out["pairs"][0]).startswith("a beats b on fid (final checkpoint) by 10.1 (95 % CI ")


def test_a_verdict_states_the_interval_of_its_difference():
    # scipy's paired t-test's own 95 % interval of the mean difference is the reference (per comparison)
    a, b = [10.0, 12.0, 11.0, 13.0, 10.5], [20.0, 21.0, 22.5, 23.0, 20.5]
    (pair,) = summarize(_evals({"a": a, "b": b}), checkpoints=("final",))["pairs"]
    ci = stats.ttest_rel(b, a).confidence_interval(0.95)  # fid: lower is better, so a beats b by b - a
    assert f"by 10.1 (95 % CI {ci.low:.3g} to {ci.high:.3g} unadjusted; Holm-adjusted p = " in verdict(pair)
    # not significant: the interval of the better mean minus the other, signed as the sentence's difference
    a, b = [10.0, 12.0, 11.0], [10.5, 11.0, 12.5]
    (pair,) = summarize(_evals({"a": a, "b": b}), checkpoints=("final",))["pairs"]
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert f"(mean a − b: {np.mean(a) - np.mean(b):+.3g}, 95 % CI {ci.low:+.3g} to {ci.high:+.3g} unadjusted, " \
           "Holm-adjusted p = " in verdict(pair)
    # a share's difference cannot leave [-1, 1]: the interval is clipped there, as the leaderboard's cells are
    (pair,) = summarize(_evals({"a": [0.9, 0.1, 0.8], "b": [0.1, 0.9, 0.2]}, metric="precision"),
                        checkpoints=("final",))["pairs"]
    ci = stats.ttest_rel([0.9, 0.1, 0.8], [0.1, 0.9, 0.2]).confidence_interval(0.95)
    assert ci.low < -1 and ci.high > 1
    assert "95 % CI -1 to +1 unadjusted" in verdict(pair)
    # every seed by the same amount: no interval, the sign test's sentence says why
    (pair,) = summarize(_evals({"a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "b": [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]}),
                        checkpoints=("final",))["pairs"]
    assert pair["test"] == "sign" and "CI" not in verdict(pair) and "the same amount" in verdict(pair)


@pytest.mark.parametrize("metric", ["modes_covered", "fid"])
def test_a_significant_verdict_counts_tied_seeds_as_wins_for_neither(metric):
    # a differs from b by one unit on 4 of 10 seeds, 6 tied (integer counts): significant at 5 % (one pair);
    # the winner (a on modes_covered, b on FID, lower is better) wins 4 seeds, not the 6 that 1 - 0.4 counts
    a, b = [8.0] * 4 + [7.0] * 6, [7.0] * 10
    (pair,) = summarize(_evals({"a": a, "b": b}, metric=metric), checkpoints=("final",))["pairs"]
    assert pair["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12) and pair["significant"]
    winner, loser = ("a", "b") if metric == "modes_covered" else ("b", "a")
    text = verdict(pair)
    assert text.startswith(f"{winner} beats {loser} on {metric}")
    assert text.endswith("wins 40% of 10 seeds).")


@pytest.mark.parametrize("metric", ["fid", "precision"])
def test_a_tie_is_printed_as_a_difference_of_plus_zero(metric):
    # equal means, different seeds: b is named first (b first on a tie) and the difference is 0, not "-0"
    (pair,) = summarize(_evals({"a": [0.1, 0.3], "b": [0.3, 0.1]}, metric=metric), checkpoints=("final",))["pairs"]
    assert pair["mean_diff"] == 0.0 and pair["p"] == pytest.approx(stats.ttest_rel([0.1, 0.3], [0.3, 0.1]).pvalue)
    assert "no significant difference (mean b − a: +0, " in verdict(pair)


@pytest.mark.parametrize("a, b, metric", [
    ([8, 8, 8], [7, 7, 7], "modes_covered"),  # counts: equal differences exactly
    ([0.98, 0.97, 0.99], [0.97, 0.96, 0.98], "high_quality"),  # shares: equal up to rounding (scipy: p = 0)
])
def test_equal_differences_on_every_seed_use_the_exact_sign_test(a, b, metric):
    """The t statistic of constant differences is infinite (or rounding noise): scipy's p ~ 0 would make any
    2 seeds significant. The sign test's p for n seeds all one way is scipy's binomtest(n, n, 1/2)."""
    for n in (2, 3):
        (pair,) = summarize(_evals({"a": a[:n], "b": b[:n]}, metric=metric), checkpoints=("final",))["pairs"]
        assert stats.ttest_rel(a[:n], b[:n]).pvalue < 1e-10  # what the t-test would have said
        assert pair["test"] == "sign" and pair["p"] == pytest.approx(stats.binomtest(n, n, 0.5).pvalue, rel=1e-12)
        assert not pair["significant"] and "exact sign test" in verdict(pair) and "6 seeds all one way" in verdict(pair)
    six = summarize(_evals({"a": [8] * 6, "b": [7] * 6}, metric="modes_covered"), checkpoints=("final",))["pairs"][0]
    assert six["significant"] and six["p"] == pytest.approx(stats.binomtest(6, 6, 0.5).pvalue, rel=1e-12)


def test_differences_that_vary_keep_the_t_test():
    a, b = [8, 8, 7], [7, 7, 7]
    (pair,) = summarize(_evals({"a": a, "b": b}, metric="modes_covered"), checkpoints=("final",))["pairs"]
    assert pair["test"] == "t" and pair["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)


def test_summarize_clips_counts_at_the_datasets_declared_number_of_modes():
    evals = [{"dataset": "ring8", "variant": "v", "seed": s, "metric": "modes_covered", "value": v, "tags": ["final"]}
             for s, v in enumerate([8.0, 0.0, 8.0])]
    (row,) = summarize(evals, checkpoints=("final",), classes={"ring8": 8})["leaderboard"]
    assert (row["ci_low"], row["ci_high"]) == (0.0, 8.0) and row["clipped"]
    (row,) = summarize(evals, checkpoints=("final",))["leaderboard"]  # no declared number: only the metric's 0
    assert row["ci_high"] > 8


def test_a_mean_lead_that_most_seeds_contradict_says_so():
    # the quick study's ring8 wgan-gp vs lsgan: lsgan collapsed on one seed (0) and beat wgan-gp on the other two,
    # so wgan-gp has the better mean while losing 2 of 3 seeds; the verdict named wgan-gp first and said nothing
    # of the seeds, and the report's next sentence ("wgan-gp was ahead ... at every one of the 6 evaluations")
    # read as if wgan-gp were better run for run
    (pair,) = summarize(_evals({"lsgan": [0.525, 0.0, 0.604], "wgan-gp": [0.462, 0.544, 0.459]},
                               metric="high_quality"), checkpoints=("final",))["pairs"]
    assert not pair["significant"]
    text = verdict(pair)
    assert text.startswith("wgan-gp vs lsgan on high_quality (final checkpoint): no significant difference")
    assert ("By seed the order is the other way: lsgan is better on 2 of 3 paired seeds, wgan-gp on 1; "
            "wgan-gp's lead is in the mean only.") in text
    # a mean lead that most seeds agree with, or an even split, adds nothing
    (pair,) = summarize(_evals({"a": [0.5, 0.6, 0.3], "b": [0.4, 0.5, 0.35]}, metric="high_quality"),
                        checkpoints=("final",))["pairs"]
    assert "By seed" not in verdict(pair)
    (pair,) = summarize(_evals({"a": [0.5, 0.6, 0.1, 0.4], "b": [0.4, 0.7, 0.3, 0.3]}, metric="high_quality"),
                        checkpoints=("final",))["pairs"]
    assert "By seed" not in verdict(pair)
