"""A dataset's bottom line says what the leader's training cost: studies give every variant the same step budget,
not the same cost (n_dis, regularizer passes, packing), and the main job's ring8 leader, wgan-gp, took 2.5 times
the training FLOPs of ns-pac2 (6.48e11 against 2.63e11 per run) with only the cost section saying so."""

from ganbench.report.sections import bottom_line

from .test_view import HQ_CAL, _final_pairs, _study


def _view(flops: dict[str, float]):
    view = _study({"good": {"high_quality": [0.4, 0.45, 0.5]}, "fair": {"high_quality": [0.3, 0.33, 0.31]},
                   "cheap": {"high_quality": [0.2, 0.25, 0.22]}}, HQ_CAL, "high_quality")
    for run in view.runs:
        run["efficiency"] = {"train_flops": flops[run["variant"]] * (1 + 0.01 * run["seed"])}  # mean: x 1.01
    return view


def test_a_costly_leader_is_named_with_its_ratio_to_the_cheapest_variant():
    view = _view({"good": 6.48e11, "fair": 4e11, "cheap": 2.63e11})
    text = bottom_line(view, "good", _final_pairs(view), warn=False)
    assert ("It trains at 2.5× the FLOPs of the cheapest variant, cheap (6.54e+11 against 2.66e+11 per run; the cost "
            "section sets quality against cost).") in text


def test_a_leader_within_a_quarter_of_the_cheapest_cost_gets_no_cost_sentence():
    for flops in ({"good": 3e11, "fair": 4e11, "cheap": 2.63e11},   # 1.14 x the cheapest
                  {"good": 2e11, "fair": 4e11, "cheap": 2.63e11}):  # the cheapest itself
        view = _view(flops)
        assert "FLOPs" not in bottom_line(view, "good", _final_pairs(view), warn=False)
    view = _view({"good": 6.48e11, "fair": 4e11, "cheap": 2.63e11})
    for run in view.runs:
        run["efficiency"] = None  # no count (a run from before FLOPs were counted): nothing to say
    assert "FLOPs" not in bottom_line(view, "good", _final_pairs(view), warn=False)
