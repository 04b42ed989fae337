"""Verdicts when the variants did not finish the same seeds. The leader is the variant with the best mean over
all its seeds; the paired test uses only the seeds both finished, where the other variant can be the better
one. No sentence, mark or bottom line may then say that the leader is ahead or significantly better. Nor may
the bottom line give a lead to the first of variants with equal means."""

import math
from pathlib import Path

import pytest
from scipy import stats

from ganbench.report.sections import bottom_line, leaderboard, overall, verdicts
from ganbench.report.view import build_view, calibration_stats
from ganbench.study.calibration import REAL, TRIVIAL
from ganbench.study.stats import summarize

GAUSS, UNIFORM = TRIVIAL
HQ_CAL = {"high_quality": {REAL: 0.99, GAUSS: 0.003, UNIFORM: 0.02}}
# lead: seeds 0-2; other: seeds 0-3, better than lead by about 0.1 on each shared seed, poor on its extra seed 3
LEAD = {0: 0.50, 1: 0.52, 2: 0.51}
OTHER = {0: 0.60, 1: 0.63, 2: 0.61, 3: 0.02}


def _view(values: dict[str, dict[int, float]]):
    """values: {variant: {seed: final high_quality}}; the evaluation before the final one is 0.9 x it, the
    final checkpoint's second evaluation 1.001 x it."""
    runs, evals = [], []
    for variant, by_seed in values.items():
        for seed, v in by_seed.items():
            rid = f"grid25__{variant}__s{seed}"
            runs.append({"run_id": rid, "variant": variant, "dataset": "grid25", "seed": seed, "status": "done",
                         "config": {}, "train_seconds": 1.0, "efficiency": None})
            for tags, step, value in ((["final"], 200, v), (["repeat"], 200, v * 1.001), ([], 100, v * 0.9)):
                evals.append({"run_id": rid, "variant": variant, "dataset": "grid25", "seed": seed,
                              "metric": "high_quality", "step": step, "value": value, "tags": tags,
                              "protocol": {"ema": True}})
    cal = [{"dataset": "grid25", "row": row, "checkpoint": "final", "seed": s, "metric": metric, "value": v}
           for metric, rows in HQ_CAL.items() for row, v in rows.items() for s in range(3)]
    return build_view("grid25", "high_quality", True, runs, evals, summarize(evals), calibration_stats(cal), Path("."))


def test_a_follower_better_on_the_shared_seeds_is_not_called_worse_than_the_leader():
    view = _view({"lead": LEAD, "other": OTHER})
    # the leader by the mean over all seeds (0.51 against 0.465) ...
    assert {k[0]: r["rank"] for k, r in view.board.items() if k[2] == "final"} == {"lead": 1, "other": 2}
    (pair,) = [p for p in view.pairs if p["checkpoint"] == "final"]
    # ... is significantly worse on the three seeds both finished (scipy's paired t-test, one pair)
    shared = [0, 1, 2]
    p_ref = stats.ttest_rel([OTHER[s] for s in shared], [LEAD[s] for s in shared]).pvalue
    assert pair["n"] == 3 and pair["p_holm"] == pytest.approx(p_ref, rel=1e-12) and pair["significant"]
    marks = {r["variant"]: [m[0] for m in r["marks"]] for r in leaderboard(view)["rows"]}
    assert "sig" not in marks["other"]  # not "significantly worse than lead"
    v = verdicts(view)
    assert v["leader"] == "lead"
    text = v["sentences"][0]
    assert text.startswith("other beats lead on high_quality (final checkpoint) by 0.103")
    assert "lead was ahead of other" not in text and "other was ahead of lead at every one of the 2 evaluations" in text
    assert "keeps the order (mean other − lead: +0.103)" in text and v["unrepeated"] == []
    line = bottom_line(view, "lead", [pair], warn=False)
    assert "significantly better than 1 of 1" not in line
    assert "lead leads on high_quality but is not significantly better than any other variant." in line
    assert "On the seeds both finished, other is significantly better than lead." in line
    assert overall([view]).startswith("Across 1 dataset: lead leads on grid25 (high_quality: by the mean only; on "
                                      "the seeds both finished, other is significantly better).")


def test_results_json_names_the_variant_ahead_in_the_order_history():
    from ganbench.report.html import order_held

    (row,) = order_held(_view({"lead": LEAD, "other": OTHER}))
    assert (row["leader"], row["other"], row["ahead"]) == ("lead", "other", "other")
    assert (row["ahead_since_step"], row["evaluations_ahead"], row["evaluations"]) == (100, 2, 2)
    assert row["second_evaluation_difference"] == pytest.approx(sum(
        1.001 * (LEAD[s] - OTHER[s]) for s in (0, 1, 2)) / 3, rel=1e-12)


def test_a_lead_shared_by_equal_means_is_called_a_tie():
    # every variant covers the same share on every seed (a clipped metric at its bound): rank 1 for both
    view = _view({"a": {0: 1.0, 1: 1.0, 2: 1.0}, "b": {0: 1.0, 1: 1.0, 2: 1.0}, "c": {0: 0.9, 1: 0.95, 2: 0.9}})
    assert {k[0]: r["rank"] for k, r in view.board.items() if k[2] == "final"} == {"a": 1, "b": 1, "c": 3}
    assert verdicts(view)["bottom"].startswith("a leads on high_quality (tied with b: equal means) ")
    assert overall([view]).startswith("Across 1 dataset: a and b share the lead on grid25 (high_quality: by the mean "
                                      "only, not significantly better than any other variant).")


def test_a_cell_over_fewer_seeds_than_finished_says_so():
    """A non-finite value (an infinite KL, say) is left out of a mean and its interval; the cell names the
    seeds it stands on, as the 'seeds' column counts runs with results."""
    view = _view({"a": {0: 0.5, 1: 0.6, 2: float("inf")}, "b": {0: 0.7, 1: 0.7, 2: float("nan")},
                  "c": {0: 0.4, 1: 0.5, 2: 0.45}})
    rows = {r["variant"]: r for r in leaderboard(view)["rows"] if r["kind"] == "variant"}
    assert rows["a"]["cells"]["final"].endswith(" (n = 2 of 3: the others without a finite value)")
    assert rows["b"]["cells"]["final"] == "0.7 (the same on each; n = 2 of 3: the others without a finite value)"
    assert "n = " not in rows["c"]["cells"]["final"] and rows["a"]["n"] == "3/3"


def test_a_variant_without_one_finite_value_is_said_to_be_so_not_shown_as_a_bare_dash():
    view = _view({"lead": LEAD, "inf": {0: math.inf, 1: math.inf, 2: math.inf}})
    row = next(r for r in leaderboard(view)["rows"] if r["variant"] == "inf")
    assert row["cells"]["final"] == "– (no finite value on its 3 seeds)" and row["n"] == "3/3"
    v = verdicts(view)
    assert "inf is not compared: none of its 3 finished runs has a finite high_quality at the final checkpoint." \
        in v["sentences"]


def test_a_lone_variant_is_not_said_to_have_too_few_seeds():
    view = _view({"lead": LEAD})
    assert verdicts(view)["bottom"].startswith("lead leads on high_quality (no other variant has results to compare "
                                               "it with).")
    two = _view({"lead": {0: 0.5}, "other": {0: 0.4}})  # one paired seed: no test possible
    assert "lead leads on high_quality (too few seeds to test it)." in verdicts(two)["bottom"]


def test_a_variant_whose_runs_all_failed_is_said_not_to_be_compared():
    view = _view({"lead": LEAD, "other": OTHER})
    view.runs += [{"run_id": f"grid25__broken__s{s}", "variant": "broken", "dataset": "grid25", "seed": s,
                   "status": "failed", "config": {}, "train_seconds": None, "efficiency": None} for s in range(3)]
    view.variants = sorted({*view.variants, "broken"})
    v = verdicts(view)
    assert ("broken is not compared: none of its runs finished (failed or diverged runs are listed below; the "
            "others are queued).") in v["sentences"]
    row = next(r for r in leaderboard(view)["rows"] if r["variant"] == "broken")
    assert (row["n"], row["cells"]["final"]) == ("0/3", "–")
