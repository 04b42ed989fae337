"""Metric semantics come from one declaration: every value a metric returns is declared, directions are
right (class_kl_uniform is lower-is-better), and auxiliary numbers are never ranked or tested."""

import math

import pytest

from ganbench.metrics.declare import VALUES, better, info, is_quality
from ganbench.metrics.suite import METRICS
from ganbench.study.stats import summarize

# The expected direction of every quality value, written out independently of the declarations.
DIRECTIONS = {
    "fid": "lower", "kid_mean": "lower", "precision": "higher", "recall": "higher", "density": "higher",
    "coverage": "higher", "is_mean": "higher", "modes_covered": "higher", "high_quality": "higher",
    "reverse_kl": "lower", "classes_covered": "higher", "class_kl": "lower", "class_kl_uniform": "lower",
    "class_accuracy": "higher", "class_accuracy_min": "higher", "w1": "lower", "w2": "lower"}
AUXILIARY = {"kid_std", "is_std", "kid_subset_size", "kid_subsets", "g_params", "d_params", "g_flops_per_sample",
             "samples_per_s", "sampling_batch", "sec_per_step", "train_wall_s", "peak_memory_bytes",
             "peak_memory_kind"}


def test_every_registered_value_is_declared_once_with_a_meaning():
    registered = [v for m in METRICS.values() for v in m.values]
    assert len(registered) == len(set(registered))
    assert set(registered) == set(VALUES) == set(DIRECTIONS) | AUXILIARY
    assert all(VALUES[v].meaning for v in VALUES)


@pytest.mark.parametrize("name, direction", sorted(DIRECTIONS.items()))
def test_direction_and_rank_from_the_declaration(name, direction):
    assert is_quality(name) and info(name).direction == direction
    good, bad = (1.0, 2.0) if direction == "lower" else (2.0, 1.0)
    assert better(name, good, bad) and not better(name, bad, good)
    rows = [{"dataset": "d", "metric": name, "variant": v, "seed": s, "value": x + 0.01 * s, "tags": ["final"]}
            for v, x in (("good", good), ("bad", bad)) for s in range(3)]
    ranks = {r["variant"]: r["rank"] for r in summarize(rows, checkpoints=("final",))["leaderboard"]}
    assert ranks == {"good": 1, "bad": 2}


@pytest.mark.parametrize("name", sorted(AUXILIARY))
def test_auxiliary_numbers_are_never_ranked_or_tested(name):
    assert not is_quality(name) and info(name).direction is None
    with pytest.raises(ValueError, match="never ranked"):
        better(name, 1.0, 2.0)
    rows = [{"dataset": "d", "metric": name, "variant": v, "seed": s, "value": x + s, "tags": ["final"]}
            for v, x in (("a", 1.0), ("b", 5.0)) for s in range(3)]
    out = summarize(rows, checkpoints=("final",))
    assert out["pairs"] == [] and all(r["rank"] is None for r in out["leaderboard"])


def test_undeclared_values_from_old_stores_are_auxiliary():
    assert not is_quality("something_else")


def test_bounded_interval_stays_inside_the_declared_bounds():
    rows = [{"dataset": "d", "metric": "high_quality", "variant": "v", "seed": s, "value": x, "tags": ["final"]}
            for s, x in enumerate([0.0, 0.01, 0.9])]
    (row,) = summarize(rows, checkpoints=("final",))["leaderboard"]
    assert (row["ci_low"], row["ci_high"]) == (0.0, 1.0) and row["clipped"]  # t interval: [-0.97, 1.57]
    assert math.isclose(row["mean"], 0.91 / 3)
