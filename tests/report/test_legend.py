"""The page's legend says what its cells and ranks are, and no more than that."""

import math

from jinja2 import Environment

from ganbench.metrics.declare import info
from ganbench.report.template import PAGE
from ganbench.study.stats import mean_ci


def _legend() -> str:
    html = Environment(autoescape=True).from_string(PAGE).render(name="s", counts={}, datasets=[], failed=[],
                                                                 protocols=[], protocol_notes=[])
    start = html.index("Cells:")
    return " ".join(html[start:html.index("</p>", start)].split())


def test_intervals_stay_inside_the_datasets_number_of_modes_and_the_legend_says_where_that_holds():
    # 8, 0, 8 modes of ring8's 8: the t interval reaches past 8 (the main job's lsgan: 5.333 [0, 16.81]); with
    # the dataset's declared 8 modes it stops at 8, and a KL to the uniform histogram at ln 8; a dataset that
    # declares no number (user data) keeps the metric's own bounds, and the legend says so
    wide = mean_ci([8.0, 0.0, 8.0], clip=info("modes_covered").clip)
    assert wide["ci_low"] == 0.0 and wide["ci_high"] > 8
    row = mean_ci([8.0, 0.0, 8.0], clip=info("modes_covered").clip_for(8))
    assert (row["ci_low"], row["ci_high"]) == (0.0, 8.0)
    kl = mean_ci([2.0, 0.1, 2.0], clip=info("reverse_kl").clip_for(8))
    assert kl["ci_high"] == math.log(8) and kl["ci_low"] == 0.0
    assert info("high_quality").clip_for(8) == info("high_quality").clip  # a share has no such bound
    legend = _legend()
    assert "possible range" not in legend
    assert ("the dataset's number of them (its logarithm) where the dataset declares it: the built-in ones do, user "
            "folders and arrays do not") in legend


def test_the_legend_says_a_rank_is_an_order_of_means_not_a_test():
    assert "Rank: the order of the final means (equal means share a rank), not a test." in _legend()


def test_the_legend_ties_indistinguishable_to_the_dagger_not_to_every_mark():
    # the main job's lsgan on ring8 is marked ▽ ✖1 yet cannot be told from the leader (Holm p = 1): "unmarked
    # variants are not distinguishable" let a reader think the marked ones are
    legend = _legend()
    assert "Unmarked variants" not in legend
    assert "Variants without &dagger; (whatever their other marks) are <em>not</em> distinguishable from the leader" in legend


def test_the_leaderboard_note_does_not_claim_reference_rows_share_the_runs_sample_counts():
    # digits' real-data row at the final protocol scores the 360-row held-out split (n_fake 360) where the runs
    # score 1000 samples: FID's bias depends on n, so "the same protocol" was not true of it
    from ganbench.report.template import SECTIONS

    note = " ".join(Environment(autoescape=True).from_string(SECTIONS["leaderboard"]).render(
        s={"primary": "fid", "rows": [], "refs": [{"variant": "real data", "cells": {}, "others": {}}],
           "others": []}).split())
    assert "use the same protocol" not in note
    assert "its sample count can be smaller than the runs'" in note


def test_the_page_links_each_datasets_section_from_the_top():
    # each dataset's verdicts sit below a wide leaderboard: the top of the page links to every section
    html = Environment(autoescape=True).from_string(PAGE).render(
        name="s", counts={}, failed=[], protocols=[], protocol_notes=[],
        datasets=[{"name": "ring8", "sections": []}, {"name": "digits", "sections": []}])
    assert ('<a href="#ds-ring8">ring8</a> &middot; <a href="#ds-digits">digits</a>.' in html
            and 'id="ds-ring8"' in html and 'id="ds-digits"' in html)
