"""Since when a verdict's order has held: the paired mean difference replayed at every evaluation, seeds
paired as in the verdicts, runs that stopped at different steps meeting at their final evaluations."""

import pytest

from ganbench.study.history import held, paired_history


def _paths(values: dict[str, list[float]], steps=(100, 200, 300, 400)):
    return {rid: list(zip(steps, vals)) for rid, vals in values.items()}


def test_paired_history_is_the_mean_over_paired_seeds_at_each_step():
    paths = _paths({"a0": [1, 2, 3, 4], "a1": [3, 4, 5, 6], "b0": [2, 2, 2, 2], "b1": [2, 2, 2, 2],
                    "a2": [9, 9, 9, 9]})  # seed 2 of a has no partner: left out
    hist = paired_history(paths, {0: "a0", 1: "a1", 2: "a2"}, {0: "b0", 1: "b1"})
    assert hist == [(100, 0.0), (200, 1.0), (300, 2.0), (400, 3.0)]


def test_runs_stopping_at_different_steps_meet_at_their_final_evaluation():
    # equal-FLOPs budgets: a stops at step 350, b at 400; steps 100-300 are shared
    paths = {"a0": [(100, 1.0), (200, 1.0), (300, 1.0), (350, 5.0)],
             "b0": [(100, 2.0), (200, 2.0), (300, 2.0), (400, 3.0)]}
    assert paired_history(paths, {0: "a0"}, {0: "b0"}) == [(100, -1.0), (200, -1.0), (300, -1.0), (400, 2.0)]


@pytest.mark.parametrize("diffs, metric, expected", [
    ([0.1, 0.2, 0.3], "high_quality", (100, 3, 3, None)),        # always ahead
    ([-0.1, 0.2, 0.3], "high_quality", (200, 2, 3, 100)),        # ahead since the second evaluation
    ([0.1, -0.2, 0.3], "high_quality", (300, 1, 3, 200)),        # new at the final evaluation
    ([0.1, 0.0, 0.3], "high_quality", (300, 1, 3, 200)),         # a tie breaks the run
    ([-0.5, -0.2, -0.1], "fid", (100, 3, 3, None)),              # lower is better: a - b < 0 is a's lead
    ([0.5, -0.2, -0.1], "fid", (200, 2, 3, 100)),
])
def test_held_counts_the_final_run_of_evaluations_with_the_final_order(diffs, metric, expected):
    h = held(list(zip((100, 200, 300), diffs)), metric)
    assert (h.since, h.points, h.total, h.last_other) == expected


def test_no_order_at_the_end_gives_no_sentence():
    h = held([(100, 0.2), (200, 0.0)], "high_quality")
    assert h.since is None and h.sentence("a", "b") == ""
    assert held([], "fid").total == 0


def test_sentences_say_how_long_the_order_held():
    assert "at every one of the 3 evaluations" in held([(1, 1), (2, 1), (3, 1)], "high_quality").sentence("a", "b")
    new = held([(1000, 1), (2000, -1), (3000, 1)], "high_quality").sentence("a", "b")
    assert "only at the final evaluation (at step 2,000 it was not)" in new
    mid = held([(1000, -1), (2000, 1), (3000, 1)], "high_quality").sentence("a", "b")
    assert mid == "a has been ahead of b since step 2,000 (2 of 3 evaluations; not at step 1,000)."


@pytest.mark.parametrize("metric, sign", [("high_quality", -1), ("fid", 1)])
def test_a_history_that_ends_with_b_ahead_names_b_as_the_one_ahead(metric, sign):
    # a − b worse for a at every evaluation: the sentence on (a, b) must not say a was ahead
    h = held([(1000, sign * 1.0), (2000, sign * 0.5), (3000, sign * 0.2)], metric)
    assert (h.since, h.points, h.total, h.a_ahead) == (1000, 3, 3, False)
    assert h.sentence("a", "b") == "b was ahead of a at every one of the 3 evaluations."
    mid = held([(1000, -sign * 1.0), (2000, sign * 1.0), (3000, sign * 1.0)], metric).sentence("a", "b")
    assert mid == "b has been ahead of a since step 2,000 (2 of 3 evaluations; not at step 1,000)."
    assert held([(1000, sign), (2000, -sign)], metric).sentence("a", "b").startswith("a is ahead of b only at the final")
