import math

import pytest

from ganbench.study.convergence import noise_pairs, pooled_std, still_improving, trajectories


def eval_noise(evals, metric):
    """{dataset: std of one evaluation} over every run's final/repeat pair."""
    return {ds: pooled_std(list(by_run.values())) for ds, by_run in noise_pairs(evals, metric).items()}


def _rows(run_id, metric, values, repeat, dataset="d"):
    rows = [{"run_id": run_id, "dataset": dataset, "metric": metric, "step": 100 * (i + 1), "value": v,
             "tags": ["final"] if i == len(values) - 1 else []} for i, v in enumerate(values)]
    rows.append({"run_id": run_id, "dataset": dataset, "metric": metric, "step": 100 * len(values), "value": repeat,
                 "tags": ["repeat"]})
    return rows


def test_noise_is_the_pooled_spread_of_repeated_final_evaluations():
    evals = _rows("a", "fid", [9.0, 5.0], 5.2) + _rows("b", "fid", [8.0, 7.0], 6.6)
    assert eval_noise(evals, "fid") == {"d": pytest.approx(math.sqrt((0.2 ** 2 + 0.4 ** 2) / 2 / 2))}


def test_a_run_still_dropping_is_flagged_and_a_flat_one_is_not():
    evals = _rows("dropping", "fid", [30.0, 20.0, 12.0], 12.3) + _rows("flat", "fid", [12.0, 11.0, 11.1], 10.8)
    sigma = eval_noise(evals, "fid")["d"]
    paths = trajectories(evals, "fid")
    assert [v for _, v in paths["flat"]] == [12.0, 11.0, 11.1]  # the repeat is not a trajectory point
    assert still_improving(paths["dropping"], "fid", sigma) is True
    assert still_improving(paths["flat"], "fid", sigma) is False


def test_direction_comes_from_the_declaration():
    rising = [(100, 0.2), (200, 0.6)]
    assert still_improving(rising, "high_quality", 0.01) is True and still_improving(rising, "fid", 0.01) is False
    assert still_improving(rising[:1], "fid", 0.01) is None and still_improving(rising, "fid", None) is None


@pytest.mark.parametrize("last", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_at_either_end_cannot_be_judged(last):
    # NaN compared with anything is False: such a run was counted as judged and settled
    assert still_improving([(100, 30.0), (200, last)], "fid", 0.5) is None
    assert still_improving([(100, last), (200, 0.3)], "high_quality", 0.01) is None


def test_the_pool_is_kept_by_run_so_runs_can_be_left_out():
    # a collapsed run gives the metric's bound twice (d = 0): pooled in, it shrank sigma by sqrt(2) here
    evals = _rows("a", "high_quality", [0.5, 0.6], 0.64) + _rows("dead", "high_quality", [0.0, 0.0], 0.0)
    pairs = noise_pairs(evals, "high_quality")["d"]
    assert pairs == {"a": pytest.approx(0.04 ** 2), "dead": 0.0}
    assert pooled_std(list(pairs.values())) == pytest.approx(math.sqrt(0.04 ** 2 / 2 / 2))
    assert pooled_std([pairs["a"]]) == pytest.approx(math.sqrt(0.04 ** 2 / 2))  # the report leaves "dead" out
