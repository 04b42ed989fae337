"""Was a run still improving when its budget ran out? Judged against the evaluation's own noise.

The noise: each run's final checkpoint is evaluated twice with independent sampling seeds
(``evaluation.py``); with d the difference of the two values, the pooled standard deviation of one
evaluation over a dataset's runs is sqrt(mean(d^2) / 2). Runs that collapsed (no mode, no high-quality
sample: both evaluations give the metric's bound) are left out of the pool: their d = 0 says nothing of the
noise of a run that learned something, and counting them made the noise look smaller. A run is *still improving* when its primary
metric got better over the last evaluation interval by more than ``Z`` standard deviations of a
difference of two evaluations (Z * sqrt(2) * sigma): a change that noise alone rarely makes.
"""

from __future__ import annotations

import math
from collections import defaultdict

from ..metrics.declare import info

Z = 2.0
EXTRA = {"heldout", "repeat"}  # tags of evaluations that are not points of the training trajectory


def trajectories(evals: list[dict], metric: str) -> dict[str, list[tuple[int, float]]]:
    """{run_id: [(step, value), ...]} of the selection evaluations, in step order."""
    out: dict = defaultdict(list)
    for e in evals:
        if e["metric"] == metric and not EXTRA & set(e["tags"]) and e["value"] is not None:
            out[e["run_id"]].append((e["step"], e["value"]))
    return {k: sorted(v) for k, v in out.items()}


def noise_pairs(evals: list[dict], metric: str) -> dict[str, dict[str, float]]:
    """{dataset: {run_id: d^2}} of the runs whose final checkpoint has both evaluations finite: the pool the
    noise is taken from (``pooled_std``), by run, so that a caller can leave runs out and count them."""
    final, repeat = {}, {}
    for e in evals:
        if e["metric"] == metric and e["value"] is not None and math.isfinite(e["value"]):
            if "final" in e["tags"]:
                final[e["run_id"]] = (e["dataset"], e["value"])
            elif "repeat" in e["tags"]:
                repeat[e["run_id"]] = e["value"]
    sq: dict = defaultdict(dict)
    for run_id, (dataset, value) in final.items():
        if run_id in repeat:
            sq[dataset][run_id] = (value - repeat[run_id]) ** 2
    return dict(sq)


def pooled_std(squares: list[float]) -> float:
    """One evaluation's std from the squared differences of pairs of evaluations: sqrt(mean(d^2) / 2)."""
    return math.sqrt(sum(squares) / len(squares) / 2)


def still_improving(trajectory: list[tuple[int, float]], metric: str, sigma: float | None) -> bool | None:
    """True/False, or None when it cannot be judged (one evaluation, or no noise measurement)."""
    if len(trajectory) < 2 or sigma is None or not math.isfinite(sigma):
        return None
    (_, before), (_, last) = trajectory[-2], trajectory[-1]
    if not (math.isfinite(before) and math.isfinite(last)):  # a NaN made every comparison False: "settled"
        return None
    gain = (before - last) if info(metric).direction == "lower" else (last - before)
    return gain > Z * math.sqrt(2) * sigma
