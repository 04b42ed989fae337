"""Calibration logic of the report on hand-made numbers: the floor is the better trivial generator, a
variant whose interval does not clear it is marked, collapsed runs (no mode, no high-quality sample) and
runs at the floor are named apart with their reasons, and a primary metric that a trivial generator wins
while the runs beat it on another quality metric is reported as such, not as a ranking of noise."""

from pathlib import Path

from ganbench.report.html import floor_summary
from ganbench.report.sections import bottom_line, floor_state, leaderboard, overall, verdicts
from ganbench.report.view import build_view, calibration_stats
from ganbench.study.calibration import REAL, TRIVIAL
from ganbench.study.stats import summarize

GAUSS, UNIFORM = TRIVIAL


def _study(values: dict[str, dict[str, list[float]]], calibration: dict[str, dict[str, float]], primary: str,
           early: dict | None = None, repeat: dict | None = None):
    """values: {variant: {metric: one final value per seed}}; calibration: {metric: {row: value}}; early:
    {variant: {metric: values at the evaluation before the final one}} (default: 0.9 x the final); repeat:
    the same for the final checkpoint's second evaluation (default: 1.001 x the final)."""
    runs, evals = [], []
    for variant, metrics in values.items():
        for seed in range(len(next(iter(metrics.values())))):
            rid = f"grid25__{variant}__s{seed}"
            runs.append({"run_id": rid, "variant": variant, "dataset": "grid25", "seed": seed, "status": "done",
                         "config": {}, "train_seconds": 1.0, "efficiency": None})
            for metric, vals in metrics.items():
                v = vals[seed]
                before = (early or {}).get(variant, {}).get(metric, [v * 0.9] * len(vals))[seed]
                again = (repeat or {}).get(variant, {}).get(metric, [v * 1.001] * len(vals))[seed]
                for tags, step, value in ((["final"], 200, v), (["repeat"], 200, again), ([], 100, before)):
                    evals.append({"run_id": rid, "variant": variant, "dataset": "grid25", "seed": seed,
                                  "metric": metric, "step": step, "value": value, "tags": tags,
                                  "protocol": {"ema": True}})
    cal = [{"dataset": "grid25", "row": row, "checkpoint": "final", "seed": s, "metric": metric,
            "value": v + 0.001 * s} for metric, rows in calibration.items() for row, v in rows.items() for s in range(3)]
    return build_view("grid25", primary, True, runs, evals, summarize(evals), calibration_stats(cal), Path("."))


HQ_CAL = {"high_quality": {REAL: 0.99, GAUSS: 0.003, UNIFORM: 0.02}}


def _final_pairs(view):
    return [p for p in view.pairs if p["checkpoint"] == "final" and p["metric"] == view.primary]


def test_floor_is_the_better_trivial_generator_and_marks_variants_below_it():
    view = _study({"good": {"high_quality": [0.4, 0.45, 0.5]}, "noise": {"high_quality": [0.01, 0.03, 0.0]}},
                  HQ_CAL, "high_quality")
    assert view.floor("final") == (UNIFORM, 0.021) and view.ceiling("final") == 0.991
    assert view.clears_floor("good", "final") and not view.clears_floor("noise", "final")
    board = leaderboard(view)
    marks = {r["variant"]: [m[0] for m in r["marks"]] for r in board["rows"]}
    assert marks == {"good": [], "noise": ["sig", "floor", "collapse"]}  # worse than the leader, too
    assert [r["role"] for r in board["refs"]] == ["ceiling", "", "floor"] and board["floor_state"] == "clear"
    # seed 2 lost the data (collapsed); seed 0 has samples but no more of them than uniform noise (at the floor)
    assert view.collapsed == {"grid25__noise__s2": "no high-quality sample"}
    assert set(view.at_floor) == {"grid25__noise__s0"}
    assert "not better than a trivial generator" in view.at_floor["grid25__noise__s0"]
    title = next(t for c, _, t in next(r for r in board["rows"] if r["variant"] == "noise")["marks"] if c == "floor")
    assert "1 of 3 seeds no better than it" in title  # s1 (0.03) is above the floor, s0 at it, s2 collapsed
    assert ("1 of 2 variants are better than a trivial generator on high_quality (trivial: uniform box: 0.021; "
            "judged by their 95 % interval).") in bottom_line(view, "good", _final_pairs(view), warn=False)


def test_no_variant_clears_any_floor_is_a_ranking_of_noise():
    view = _study({"a": {"high_quality": [0.01, 0.02, 0.005]}, "b": {"high_quality": [0.005, 0.01, 0.02]}},
                  HQ_CAL, "high_quality")
    assert floor_state(view) == "noise" and leaderboard(view)["floor_state"] == "noise"
    assert view.collapsed == {} and len(view.at_floor) == 6  # every run has samples, none beats the floor
    text = bottom_line(view, "a", _final_pairs(view), warn=False)
    assert "No variant is better than a trivial generator: this ranking orders noise." in text
    assert "On grid25 no variant beats a trivial generator." in overall([view])


def test_a_primary_metric_won_by_a_trivial_generator_is_not_called_noise_when_the_runs_learn_elsewhere():
    # grid25 at 5 % of PacGAN's budget: the uniform box's few high-quality samples spread evenly over the 25
    # modes (reverse KL 0.18), while the runs' many high-quality samples are still unevenly spread
    values = {"gan": {"reverse_kl": [0.8, 0.9, 0.75], "high_quality": [0.5, 0.55, 0.52]},
              "pacgan2": {"reverse_kl": [0.4, 0.45, 0.38], "high_quality": [0.35, 0.36, 0.33]}}
    cal = {"reverse_kl": {REAL: 0.001, GAUSS: 2.5, UNIFORM: 0.18}, **HQ_CAL}
    view = _study(values, cal, "reverse_kl")
    assert view.clearing() == [] and view.cleared_elsewhere() == {"high_quality": ["gan", "pacgan2"]}
    assert floor_state(view) == "elsewhere"
    assert view.collapsed == {} and len(view.at_floor) == 6  # at the floor of reverse_kl, not collapsed
    board = leaderboard(view)
    assert board["floor_state"] == "elsewhere" and board["elsewhere"] == "high_quality (2 of 2 variants)"
    assert all("collapse" not in [m[0] for m in r["marks"]] for r in board["rows"])
    text = bottom_line(view, "pacgan2", _final_pairs(view), warn=False)
    assert "No variant is better than a trivial generator on reverse_kl (trivial: uniform box: 0.181)" in text
    assert "but they are on high_quality (2 of 2 variants)" in text and "orders noise" not in text
    line = overall([view])
    assert "no variant beats a trivial generator on reverse_kl (they do on high_quality)" in line
    summary = floor_summary(view)
    assert summary["state"] == "elsewhere"
    assert summary["metrics"]["high_quality"]["variants_clearing"] == ["gan", "pacgan2"]
    rkl = summary["metrics"]["reverse_kl"]
    assert rkl["floor_row"] == UNIFORM and rkl["variants_clearing"] == [] and abs(rkl["floor"] - 0.181) < 1e-12
    assert summary["collapsed"] == {} and len(summary["at_floor"]) == 6


def test_verdicts_say_since_when_their_order_held_and_warn_when_a_significant_lead_is_new():
    values = {"a": {"high_quality": [0.6, 0.62, 0.61, 0.63]}, "b": {"high_quality": [0.3, 0.31, 0.29, 0.3]},
              "c": {"high_quality": [0.2, 0.21, 0.19, 0.2]}}
    # one evaluation earlier, b was ahead of a; c was behind a at both evaluations
    early = {"a": {"high_quality": [0.3, 0.3, 0.3, 0.3]}, "b": {"high_quality": [0.5, 0.5, 0.5, 0.5]},
             "c": {"high_quality": [0.1, 0.1, 0.1, 0.1]}}
    v = verdicts(_study(values, HQ_CAL, "high_quality", early))
    assert v["leader"] == "a" and v["recent"] == ["b"]
    text = " ".join(v["sentences"])
    assert "a is ahead of b only at the final evaluation (at step 100 it was not)" in text
    assert "a was ahead of c at every one of the 2 evaluations." in text
    steady = verdicts(_study(values, HQ_CAL, "high_quality"))  # the order of every pair the same at both
    assert steady["recent"] == [] and "only at the final evaluation" not in " ".join(steady["sentences"])


def test_verdicts_say_whether_a_second_evaluation_keeps_the_order():
    values = {"a": {"high_quality": [0.6, 0.62, 0.61, 0.63]}, "b": {"high_quality": [0.3, 0.31, 0.29, 0.3]}}
    kept = verdicts(_study(values, HQ_CAL, "high_quality"))
    assert kept["unrepeated"] == []
    assert ("A second evaluation of the same 4 pairs of checkpoints, with other samples, keeps the order "
            "(mean a − b: +0.315)") in \
        kept["sentences"][0]
    # the second evaluation's samples put b ahead: the significant lead rests on one draw of samples
    flipped = verdicts(_study(values, HQ_CAL, "high_quality", repeat={"b": {"high_quality": [0.7] * 4}}))
    assert flipped["unrepeated"] == ["b"] and "reverses or ties it (mean a − b: -0.0844)" in flipped["sentences"][0]


def test_verdicts_say_when_the_pairs_runs_were_still_improving():
    """Orders between variants whose runs were mostly still improving changed more often at three times the
    budget (benchmarks/verdict_stability.py); the verdict says so per pair, and results.json counts them."""
    from ganbench.report.html import order_held

    values = {"a": {"high_quality": [0.6, 0.62, 0.61]}, "b": {"high_quality": [0.3, 0.31, 0.29]},
              "c": {"high_quality": [0.2, 0.21, 0.19]}}
    early = {"c": {"high_quality": values["c"]["high_quality"]}}  # c settled; a and b 10 % better than before
    rising = _study(values, HQ_CAL, "high_quality", early=early)
    assert rising.still_improving("a", "b") == (6, 6) and rising.still_improving("a", "c") == (3, 6)
    said = verdicts(rising)
    assert said["warn"] and said["still"] == 6 and said["judged"] == 9
    text = {s.split(" ")[2]: s for s in said["sentences"]}  # "a beats b ..." / "a beats c ..."
    assert "Most of these two variants' runs (6 of 6) were still improving at the end" in text["b"]
    assert "still improving" not in text["c"]  # half of the pair's runs: not most
    held = {h["other"]: h for h in order_held(rising)}
    assert (held["b"]["runs_still_improving"], held["b"]["runs_judged"]) == (6, 6)
    everyone = verdicts(_study(values, HQ_CAL, "high_quality"))  # every run improving: the warning says it once
    assert everyone["still"] == everyone["judged"] == 9
    assert not any("still improving" in s for s in everyone["sentences"])
    flat = _study(values, HQ_CAL, "high_quality", early=values)  # the same at both evaluations: settled
    assert flat.still_improving("a", "b") == (0, 6)
    assert "still improving" not in verdicts(flat)["sentences"][0]


def test_a_significant_difference_between_two_followers_is_a_verdict_too():
    """The leader is noisy and beats nobody after Holm; b beats c on every seed. That finding belongs in the
    verdicts and the bottom line, not only in the table of all pairs (Stacked MNIST at 1 %: PacDCGAN3 over
    DCGAN while PacDCGAN2 led)."""
    values = {"a": {"high_quality": [0.9, 0.3, 0.9, 0.3]}, "b": {"high_quality": [0.55, 0.56, 0.57, 0.58]},
              "c": {"high_quality": [0.40, 0.42, 0.41, 0.44]}}
    said = verdicts(_study(values, HQ_CAL, "high_quality"))
    assert said["leader"] == "a" and not any("beats" in s for s in said["sentences"])
    assert len(said["others"]) == 1 and said["others"][0].startswith("b beats c on high_quality (final checkpoint)")
    assert "b was ahead of c at every one of the 2 evaluations." in said["others"][0]
    assert said["bottom"].startswith("a leads on high_quality but is not significantly better than any other "
                                     "variant. Among the others, b is significantly better than c.")
    # beside a leader that beats both, the followers' own difference is still said
    clear = verdicts(_study({**values, "a": {"high_quality": [0.9, 0.91, 0.92, 0.9]}}, HQ_CAL, "high_quality"))
    assert "significantly better than 2 of 2 others" in clear["bottom"]
    assert len(clear["others"]) == 1 and "Among the others, b is significantly better than c." in clear["bottom"]
    values["c"] = {"high_quality": [0.56, 0.55, 0.58, 0.57]}  # b and c now tie
    tied = verdicts(_study(values, HQ_CAL, "high_quality"))
    assert tied["others"] == [] and "Among the others" not in tied["bottom"]


def test_one_seed_has_no_interval_so_whether_it_clears_the_floor_cannot_be_told():
    """A single value above the floor says nothing of the next seed: neither clearing (counted in the bottom line)
    nor failing (▽); results.json names the variants apart."""
    view = _study({"good": {"high_quality": [0.4]}, "low": {"high_quality": [0.01]}}, HQ_CAL, "high_quality")
    assert view.clears_floor("good", "final") is None and view.clears_floor("low", "final") is None
    assert view.clearing() == [] and view.one_seed() == ["good", "low"]
    assert floor_state(view) == "one_seed"
    board = leaderboard(view)
    assert {r["variant"]: [m[1] for m in r["marks"]] for r in board["rows"]} == {"good": ["?"], "low": ["?"]}
    text = bottom_line(view, "good", _final_pairs(view), warn=False)
    assert "variants are better than a trivial generator" not in text
    assert "With one seed, whether good and low are better than a trivial generator cannot be told" in text
    assert "orders noise" not in text and "cannot be told" in overall([view])
    summary = floor_summary(view)
    assert summary["state"] == "one_seed"
    assert summary["metrics"]["high_quality"]["variants_clearing"] == []
    assert summary["metrics"]["high_quality"]["variants_one_seed"] == ["good", "low"]
    # beside a variant with seeds that clears it, the one-seed variant is named apart, not counted
    view = _study({"good": {"high_quality": [0.4, 0.45, 0.5]}, "one": {"high_quality": [0.4]}}, HQ_CAL,
                  "high_quality")
    assert view.clearing() == ["good"] and view.one_seed() == ["one"] and floor_state(view) == "clear"
    text = bottom_line(view, "good", _final_pairs(view), warn=False)
    assert ("1 of 2 variants are better than a trivial generator on high_quality (trivial: uniform box: 0.021; "
            "judged by their 95 % interval); with one seed, whether one is better than a trivial generator cannot be "
            "told.") in text


def test_equal_values_on_every_seed_clear_the_floor_by_that_value_and_show_no_interval():
    """Three seeds with the same share have no interval (stats.mean_ci): they clear the floor when the value of
    every seed is better than it, do not when it is not, and the cell says "every seed" instead of [x, x]."""
    view = _study({"same": {"high_quality": [0.5, 0.5, 0.5]}, "flat": {"high_quality": [0.01, 0.01, 0.01]}},
                  HQ_CAL, "high_quality")
    assert view.clears_floor("same", "final") is True and view.clears_floor("flat", "final") is False
    assert view.clearing() == ["same"] and view.one_seed() == [] and floor_state(view) == "clear"
    rows = {r["variant"]: r for r in leaderboard(view)["rows"]}
    assert rows["same"]["cells"]["final"] == "0.5 (every seed)"
    assert "floor" in [m[0] for m in rows["flat"]["marks"]] and not rows["same"]["marks"]


def test_a_variant_above_the_floor_on_every_seed_is_not_called_no_better_than_it():
    """The main job's ring8: ns scored 0.17-0.63 high-quality on its 3 seeds against the uniform box's 0.005, yet
    its interval reached 0 at 3 seeds (▽), and the bottom line's bare "3 of 6 variants are better than a trivial
    generator" read as if ns were not. A variant with a seed at the floor is not named so."""
    view = _study({"good": {"high_quality": [0.4, 0.45, 0.5]}, "wide": {"high_quality": [0.03, 0.9, 0.05]},
                   "low": {"high_quality": [0.01, 0.9, 0.5]}}, HQ_CAL, "high_quality")
    assert view.clearing() == ["good"] and view.clears_floor("wide", "final") is False
    assert view.above_on_every_seed() == ["wide"]  # low's seed 0 is below the floor: ▽ for a reason
    text = bottom_line(view, "good", _final_pairs(view), warn=False)
    assert ("1 of 3 variants are better than a trivial generator on high_quality (trivial: uniform box: 0.021; "
            "judged by their 95 % interval). wide is better than the trivial generator on every seed, but its "
            "interval is too wide to show it.") in text
    assert "low" not in text.split("judged by")[1]


def test_the_first_bottom_line_says_whether_each_lead_is_significant():
    """The page's first line names each dataset's leader; a lead of means that no test supports must not read
    like a win there (the main job: hinge-sn 'led' digits with Holm p = 1 against 3 of 5 others)."""
    noisy = _study({"a": {"high_quality": [0.9, 0.3, 0.9, 0.3]}, "b": {"high_quality": [0.55, 0.56, 0.57, 0.58]}},
                   HQ_CAL, "high_quality")
    clear = _study({"a": {"high_quality": [0.9, 0.91, 0.92, 0.9]}, "b": {"high_quality": [0.55, 0.56, 0.57, 0.58]},
                    "c": {"high_quality": [0.50, 0.52, 0.51, 0.54]}}, HQ_CAL, "high_quality")
    assert overall([noisy]) == ("Across 1 dataset: a leads on grid25 (high_quality: by the mean only, not "
                                "significantly better than any other variant).")
    assert overall([clear]).startswith("Across 1 dataset: a leads on grid25 (high_quality: significantly better "
                                       "than 2 of 2 others).")
    one = _study({"a": {"high_quality": [0.9]}, "b": {"high_quality": [0.5]}}, HQ_CAL, "high_quality")
    assert "a leads on grid25 (high_quality: too few seeds to test it)" in overall([one])


def test_the_table_of_all_pairs_names_its_holm_families_directions_and_sign_tests():
    """A red Holm p on a secondary metric is one of several families, each adjusted alone: the table must say
    so, show each metric's direction (mean a−b is signed as a−b) and mark a p that is the exact sign test's."""
    from jinja2 import Environment

    from ganbench.report.template import SECTIONS

    values = {"a": {"high_quality": [0.5, 0.6, 0.7], "reverse_kl": [0.2, 0.25, 0.3]},
              "b": {"high_quality": [0.4, 0.5, 0.6], "reverse_kl": [0.3, 0.2, 0.4]}}  # high_quality: +0.1 on each
    said = verdicts(_study(values, HQ_CAL, "high_quality"))
    rows = {r["metric"]: r for r in said["table"]}
    assert set(rows) == {"high_quality ↑", "reverse_kl ↓"}
    assert rows["high_quality ↑"]["sign"] and not rows["reverse_kl ↓"]["sign"]
    html = " ".join(Environment(autoescape=True).from_string(SECTIONS["verdicts"]).render(s=said).split())
    assert ("All 2 paired comparisons (1 pair of variants on each of 2 quality metrics at 1 checkpoint; the verdicts "
            "above are the rows of high_quality at the final checkpoint)") in html
    assert "Holm p: adjusted over the 1 pair of one metric at one checkpoint, not across the 2 such families" in html
    assert "<td>0.25 (sign)</td>" in html and html.count("(sign)</td>") == 1


def test_the_cost_table_gives_the_spread_of_train_seconds_over_seeds():
    """Wall time varies with the machine's load (the main job: 10.6 to 20 s for seeds of one recipe); a mean
    alone would read as a property of the recipe."""
    from ganbench.report.pictures import cost

    view = _study({"a": {"high_quality": [0.5, 0.6, 0.7]}, "b": {"high_quality": [0.4, 0.5, 0.6]}}, HQ_CAL,
                  "high_quality")
    for r, s in zip(view.runs, (10.0, 20.0, 15.0, 3.0, 3.0, 3.0)):
        r["train_seconds"] = s
    view.runs[-1]["status"] = "failed"  # not a finished seed: left out
    assert {r["variant"]: r["seconds"] for r in cost(view)["table"]} == {"a": "15 (10–20)", "b": "3 (3–3)"}


def test_the_cost_section_says_how_the_runs_started():
    """Seconds compare recipes only when load drift fell on every variant alike: the section says the runs
    started seed by seed across variants, or warns that each variant's seeds ran back to back (read from the
    stored start times; a pool's two workers may swap two starts)."""
    from jinja2 import Environment

    from ganbench.report.pictures import cost, start_order
    from ganbench.report.template import SECTIONS

    view = _study({"a": {"high_quality": [0.5, 0.6, 0.7]}, "b": {"high_quality": [0.4, 0.5, 0.6]}}, HQ_CAL,
                  "high_quality")
    by_id = {r["run_id"]: r for r in view.runs}

    def started(*ids):
        for t, rid in enumerate(ids):
            by_id[f"grid25__{rid}"]["started"] = 1000.0 + t

    render = Environment(autoescape=True).from_string(SECTIONS["cost"]).render
    started("a__s0", "b__s0", "a__s1", "b__s1", "a__s2", "b__s2")
    assert start_order(view.runs) == "interleaved"
    html = render(s=cost(view))
    assert "started seed by seed across variants" in html and "back to back" not in html
    assert "the machine's load does not change them" in html and "wall-clock" in html
    started("a__s0", "b__s0", "b__s1", "a__s1", "a__s2", "b__s2")  # two workers' starts swapped
    assert start_order(view.runs) == "interleaved"
    started("a__s0", "a__s1", "a__s2", "b__s0", "b__s1", "b__s2")
    assert start_order(view.runs) == "back to back"
    html = render(s=cost(view))
    assert "seeds back to back" in html and "seed by seed" not in html
    started("a__s0", "a__s1", "b__s0", "a__s2", "b__s1", "b__s2")  # swapped, still mostly variant by variant
    assert start_order(view.runs) == "back to back"
    for r in view.runs:
        r["started"] = None  # a store without start times: nothing said
    assert start_order(view.runs) is None
    html = render(s=cost(view))
    assert "seed by seed" not in html and "back to back" not in html
    started("a__s0", "b__s0", "a__s1", "b__s1", "a__s2", "b__s2")
    assert start_order([r for r in view.runs if r["seed"] == 0]) is None  # one seed: cannot tell


def test_the_budget_caveat_is_said_once_above_the_verdicts():
    """The bottom line says the ranking is one at this budget; the warning under it gives the count and the
    command, not the same caveat again."""
    from jinja2 import Environment

    from ganbench.report.template import SECTIONS

    said = verdicts(_study({"a": {"high_quality": [0.5, 0.6, 0.7]}, "b": {"high_quality": [0.4, 0.45, 0.5]}},
                           HQ_CAL, "high_quality"))  # every run 10 % better than one evaluation before
    assert said["warn"] and "at this budget" in said["bottom"]
    html = Environment(autoescape=True).from_string(SECTIONS["verdicts"]).render(s=said)
    head = html[:html.index("<ul>")]
    assert head.count("at this budget") == 1 and head.count("may change") == 1
    assert "6 of 6 runs were still improving when the budget ran out" in head


def test_the_training_curve_names_the_primary_metrics_direction(monkeypatch):
    from ganbench.report import figures, pictures

    drawn = {}
    monkeypatch.setattr(figures, "metric_curves", lambda points, label, title: drawn.update(label=label) or b"")
    monkeypatch.setattr(figures, "loss_curves", lambda dirs, title: b"")
    pictures.training(_study({"a": {"reverse_kl": [0.5, 0.6, 0.7]}}, HQ_CAL, "reverse_kl"))
    assert drawn["label"] == "reverse_kl (lower is better)"


def test_the_leaderboard_names_the_units_of_its_columns():
    board = leaderboard(_study({"a": {"high_quality": [0.5, 0.6, 0.7], "reverse_kl": [0.2, 0.25, 0.3],
                                      "modes_covered": [8, 7, 8]}}, HQ_CAL, "high_quality"))
    assert board["units"] == "modes_covered in modes; reverse_kl in nats"  # high_quality, a share, has none


def test_the_other_columns_say_which_ones_no_variant_clears_the_floor_of():
    """▽ marks the primary metric only. On the main job's ring8 a Gaussian fit's fid (0.0016) was below real data's
    (0.0017) and every variant's: a reader ranking the runs by that column was not told it cannot tell them from a
    trivial generator. The caption names such columns; a column some variant clears is not named."""
    from jinja2 import Environment

    from ganbench.report.template import SECTIONS

    values = {"good": {"high_quality": [0.4, 0.45, 0.5], "fid": [0.010, 0.011, 0.012]},
              "other": {"high_quality": [0.3, 0.35, 0.32], "fid": [0.012, 0.013, 0.014]}}
    cal = {"fid": {REAL: 0.002, GAUSS: 0.0015, UNIFORM: 0.03}, **HQ_CAL}
    board = leaderboard(_study(values, cal, "high_quality"))
    assert board["others"] == ["fid"] and board["unclear"] == ["fid"]
    html = " ".join(Environment(autoescape=True).from_string(SECTIONS["leaderboard"]).render(s=board).split())
    assert ("No variant's interval is better than the better trivial generator on fid: that column does not tell "
            "these runs from a trivial generator.") in html
    cal["fid"][GAUSS] = 0.05  # now the uniform box's 0.031 is the floor, and both variants' intervals clear it
    board = leaderboard(_study(values, cal, "high_quality"))
    assert board["unclear"] == []
    assert "No variant's interval" not in Environment(autoescape=True).from_string(
        SECTIONS["leaderboard"]).render(s=board)


def test_a_column_without_a_lower_bound_says_its_values_can_be_below_0():
    """The legend says intervals are clipped at 0 for a distance; KID's unbiased estimate is not (the main job's
    digits: real data's kid_mean -2.68, hinge-sn's interval from -2.23): the caption says so for that column."""
    from jinja2 import Environment

    from ganbench.report.template import SECTIONS

    values = {"a": {"high_quality": [0.4, 0.45, 0.5], "kid_mean": [0.5, -0.2, 0.1], "fid": [1.0, 2.0, 1.5]},
              "b": {"high_quality": [0.3, 0.35, 0.32], "kid_mean": [0.3, 0.2, 0.1], "fid": [1.0, 2.0, 1.5]}}
    board = leaderboard(_study(values, HQ_CAL, "high_quality"))
    assert [m for m, _ in board["unbounded"]] == ["kid_mean"]  # not fid, clipped at 0
    assert board["rows"][0]["others"]["kid_mean"].split("[")[1].startswith("-")  # the unclipped interval
    html = " ".join(Environment(autoescape=True).from_string(SECTIONS["leaderboard"]).render(s=board).split())
    assert "kid_mean has no lower bound (unbiased MMD² (cubic kernel), mean over subsets; may dip below 0): its " \
           "values and interval are not clipped at 0." in html
    assert "fid has no lower bound" not in html


def test_the_leaderboard_says_when_best_and_final_use_reference_sets_of_different_sizes():
    # digits: best (held-out) against the test split's 360 rows, final against the train split's 1000; FID's
    # bias depends on the sample count, so the two columns are not comparable with each other
    from jinja2 import Environment

    from ganbench.report.template import SECTIONS

    view = _study({"a": {"high_quality": [0.4, 0.45, 0.5]}, "b": {"high_quality": [0.3, 0.35, 0.4]}},
                  HQ_CAL, "high_quality")
    for e in view.evals:
        e["protocol"] = {"ema": True, "split": "train", "n_real": 1000}
    held = [dict(e, tags=["best", "heldout"], protocol={"ema": True, "split": "test", "n_real": 360})
            for e in view.evals if "final" in e["tags"]]
    assert leaderboard(view)["sizes"] is None  # no held-out evaluation: nothing to say
    view.evals += held
    board = leaderboard(view)
    assert board["sizes"] == {"best": ("test", 360), "final": ("train", 1000)}
    note = " ".join(Environment(autoescape=True).from_string(SECTIONS["leaderboard"]).render(s=board).split())
    assert ("Their reference sets differ in size (best: the test split's 360 rows; final: the train split's 1000), "
            "and high_quality can depend on the sample count") in note
    for e in held:
        e["protocol"]["n_real"] = 1000  # the same size: no sentence
    assert leaderboard(view)["sizes"] is None

