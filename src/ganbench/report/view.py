"""What the report knows about one dataset of a study: its primary metric, statistics, calibration rows,
convergence, collapsed runs and runs not better than a trivial generator. Sections (``sections.py``) read a
``DatasetView``; they compute nothing twice and never open the store.

Two different things are kept apart. A run *collapsed* when it lost the data altogether: it covers no mode
or has no high-quality sample. A run is *at the floor* when its primary metric is not better than a
trivial generator's (a Gaussian fit, uniform noise) under the same protocol. The second says something
about the metric as much as the run: on grid25 a uniform box scores a reverse KL of 0.18 because its few
high-quality samples spread evenly over all modes, so a run covering 24 of 25 modes can sit above it. The
floor is therefore judged on every quality metric, and the report says which ones the runs do clear."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..metrics.declare import Value, info
from ..study.calibration import REAL, TRIVIAL
from ..study.convergence import noise_pairs, pooled_std, still_improving, trajectories
from ..study.history import Held, held, paired_history
from ..study.stats import mean_ci

CHECKPOINTS = ("final", "best")


def fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.4g}"


def mostly(part: int, whole: int) -> bool:
    """More than half: the report's rule for "most runs were still improving", for a dataset and for a pair."""
    return whole > 0 and part > whole / 2


def cell(row: dict | None, seeds: int | None = None) -> str:
    """mean [95 % CI], or the mean alone with one seed; ``seeds``: the runs with results, named when the
    value exists for fewer of them (a non-finite value, an infinite KL, or a missing one is left out of mean
    and interval)."""
    if not row:  # finished runs without one finite value (an infinite KL on each): said, not a bare dash
        return f"– (no finite value on its {seeds} seed{'s' if seeds > 1 else ''})" if seeds else "–"
    short = f" (n = {row['n']} of {seeds}: the others without a finite value)" if seeds and row["n"] < seeds else ""
    if row["n"] < 2 or math.isnan(row["std"]):
        return fmt(row["mean"]) + short
    if row.get("no_spread"):  # the same value on every seed: no interval (stats.mean_ci)
        return f"{fmt(row['mean'])} ({'every seed' if not short else f'the same on each; {short[2:-1]}'})"
    return f"{fmt(row['mean'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]" + short


def calibration_stats(rows: list[dict], classes: dict | None = None) -> dict:
    """{(dataset, row, checkpoint, metric): mean/CI over the study's seeds}; ``classes`` as stats.summarize's."""
    grouped: dict = {}
    for r in rows:
        if r["value"] is not None and math.isfinite(r["value"]):
            grouped.setdefault((r["dataset"], r["row"], r["checkpoint"], r["metric"]), []).append(r["value"])
    return {k: mean_ci(v, clip=info(k[3]).clip_for((classes or {}).get(k[0]))) for k, v in grouped.items()}


@dataclass
class DatasetView:
    name: str
    primary: str
    chosen: bool  # named in the spec (else the default for the kind of data)
    runs: list[dict]
    evals: list[dict]
    board: dict  # (variant, metric, checkpoint) -> leaderboard row
    pairs: list[dict]
    calibration: dict  # (row, checkpoint, metric) -> stats
    study_path: Path
    variants: list[str] = field(default_factory=list)
    noise: float | None = None
    noise_runs: tuple = (0, 0)  # (runs pooled into noise, collapsed runs left out of it)
    improving: dict = field(default_factory=dict)  # run_id -> True/False/None
    paths: dict = field(default_factory=dict)  # run_id -> [(step, primary value)] of the selection evaluations
    repeats: dict = field(default_factory=dict)  # run_id -> primary value of the final checkpoint's second evaluation
    collapsed: dict = field(default_factory=dict)  # run_id -> reason (no mode, no high-quality sample)
    at_floor: dict = field(default_factory=dict)  # run_id -> reason (primary not better than a trivial generator)
    reference: dict = field(default_factory=dict)  # published numbers beside ours (reference_table.py)
    confirming: dict = field(default_factory=dict)  # {block, budget, seeds}: verdicts re-tested here (confirm.py)
    looked_again: list = field(default_factory=list)  # extensions that added seeds after results existed (extend.py)

    @property
    def value(self) -> Value:
        return info(self.primary)

    def floor(self, checkpoint: str, metric: str | None = None) -> tuple[str, float] | None:
        """The better trivial generator on a metric (default: the primary): (row name, mean)."""
        metric = metric or self.primary
        found = [(t, self.calibration[(t, checkpoint, metric)]["mean"]) for t in TRIVIAL
                 if (t, checkpoint, metric) in self.calibration]
        if not found:
            return None
        return min(found, key=lambda x: x[1]) if info(metric).direction == "lower" else max(found, key=lambda x: x[1])

    def ceiling(self, checkpoint: str) -> float | None:
        row = self.calibration.get((REAL, checkpoint, self.primary))
        return row["mean"] if row else None

    def beyond_ceiling(self, metric: str) -> list[str]:
        """The variants whose final mean is strictly better than real data's on a metric: real samples are as good
        as a generator can be, so there the metric measures its estimate's error at this sample count."""
        real, value = self.calibration.get((REAL, "final", metric)), info(metric)
        if not real or not math.isfinite(real["mean"]):
            return []
        return [v for v in self.variants if (row := self.board.get((v, metric, "final"))) and row["n"]
                and math.isfinite(row["mean"]) and value.better(row["mean"], real["mean"])]

    def clears_floor(self, variant: str, checkpoint: str, metric: str | None = None) -> bool | None:
        """Is the variant's whole interval on the better side of the floor? None when it cannot be told: no floor,
        no value, or one seed (no interval: one value on the better side says nothing of the next seed). Two or
        more seeds with the same value have no interval either (stats.mean_ci); they clear the floor when that
        value, the value of every seed, is on the better side."""
        metric = metric or self.primary
        floor, row = self.floor(checkpoint, metric), self.board.get((variant, metric, checkpoint))
        if floor is None or row is None or row["n"] < 2:
            return None
        value = info(metric)
        if row.get("no_spread"):
            return value.better(row["mean"], floor[1])
        return value.better(row["ci_high"] if value.direction == "lower" else row["ci_low"], floor[1])

    def clearing(self, metric: str | None = None) -> list[str]:
        """The variants whose final interval clears the floor on a metric (default: the primary)."""
        return [v for v in self.variants if self.clears_floor(v, "final", metric)]

    def above_on_every_seed(self, metric: str | None = None) -> list[str]:
        """The variants whose final interval does not clear the floor although each of their finished seeds (two
        or more) is on its better side: the interval is too wide to show it, not a seed at the floor."""
        metric = metric or self.primary
        floor, value = self.floor("final", metric), info(metric)
        out = []
        for v in self.variants:
            if self.clears_floor(v, "final", metric) is not False:
                continue
            finals = [self.final_values(r).get(metric) for r in self.seeds(v).values()]
            if len(finals) > 1 and all(x is not None and math.isfinite(x) and value.better(x, floor[1]) for x in finals):
                out.append(v)
        return out

    def one_seed(self, metric: str | None = None) -> list[str]:
        """The variants with a final value on one seed only, against a floor: whether they clear it cannot be told."""
        metric = metric or self.primary
        return [v for v in self.variants if self.floor("final", metric) is not None
                and (row := self.board.get((v, metric, "final"))) is not None and row["n"] < 2]

    def cleared_elsewhere(self) -> dict[str, list[str]]:
        """{other quality metric: variants clearing its floor}, for the metrics some variant clears: what the
        runs did learn when the primary metric alone cannot tell them from a trivial generator."""
        out = {}
        for m in self.quality_metrics():
            if m != self.primary and self.floor("final", m) is not None and (won := self.clearing(m)):
                out[m] = won
        return out

    def seeds(self, variant: str) -> dict[int, str]:
        """seed -> run_id of the variant's finished runs: how verdicts pair runs."""
        return {r["seed"]: r["run_id"] for r in self.runs if r["variant"] == variant and r["status"] == "done"}

    def still_improving(self, *variants: str) -> tuple[int, int]:
        """(runs still improving at the end, runs judged) among the variants' finished runs. Orders between
        variants whose runs mostly were changed more often at three times the budget than the others
        (``benchmarks/verdict_stability.py``; README)."""
        judged = [self.improving.get(r) for v in variants for r in self.seeds(v).values()]
        judged = [j for j in judged if j is not None]
        return sum(judged), len(judged)

    def order_held(self, a: str, b: str) -> Held:
        """Since when the final order of a and b on the primary metric has held (``study/history.py``)."""
        return held(paired_history(self.paths, self.seeds(a), self.seeds(b)), self.primary)

    def repeat_difference(self, a: str, b: str) -> tuple[float, int] | None:
        """(mean over paired seeds of a − b, seeds) on the primary metric from the final checkpoints' second
        evaluation: other samples from the same generators (sampling seed base 2, ``study/evaluation.py``).
        A verdict that is real, not a draw of the evaluation's samples, keeps its order there."""
        runs_a, runs_b = self.seeds(a), self.seeds(b)
        diffs = [self.repeats[runs_a[s]] - self.repeats[runs_b[s]] for s in sorted(set(runs_a) & set(runs_b))
                 if runs_a[s] in self.repeats and runs_b[s] in self.repeats]
        return (sum(diffs) / len(diffs), len(diffs)) if diffs else None

    def quality_metrics(self) -> list[str]:
        from ..metrics.declare import quality_names

        present = {e["metric"] for e in self.evals}
        return [m for m in quality_names() if m in present]

    def final_values(self, run_id: str) -> dict:
        return {e["metric"]: e["value"] for e in self.evals if e["run_id"] == run_id and "final" in e["tags"]}


def build_view(name: str, primary: str, chosen: bool, runs: list[dict], evals: list[dict], summary: dict,
               calibration: dict, study_path: Path) -> DatasetView:
    board = {(b["variant"], b["metric"], b["checkpoint"]): b for b in summary["leaderboard"] if b["dataset"] == name}
    view = DatasetView(name, primary, chosen, runs, evals, board,
                       [p for p in summary["pairs"] if p["dataset"] == name],
                       {k[1:]: v for k, v in calibration.items() if k[0] == name}, study_path,
                       sorted({r["variant"] for r in runs}))
    floor = view.floor("final")
    for r in runs:
        if r["status"] != "done":
            continue
        final = view.final_values(r["run_id"])
        if reason := _collapse_reason(final):
            view.collapsed[r["run_id"]] = reason
        elif reason := _floor_reason(final, primary, floor):
            view.at_floor[r["run_id"]] = reason
    pairs = noise_pairs(evals, primary).get(name, {})  # the collapsed runs' d = 0 would shrink the noise
    pooled = [d for run_id, d in pairs.items() if run_id not in view.collapsed]
    view.noise = pooled_std(pooled) if pooled else None
    view.noise_runs = (len(pooled), len(pairs) - len(pooled))
    view.paths = paths = trajectories(evals, primary)
    view.repeats = {e["run_id"]: e["value"] for e in evals if e["metric"] == primary and "repeat" in e["tags"]
                    and e["value"] is not None and math.isfinite(e["value"])}
    view.improving = {r["run_id"]: still_improving(paths.get(r["run_id"], []), primary, view.noise) for r in runs}
    return view


def _collapse_reason(final: dict) -> str:
    if final.get("modes_covered") == 0:
        return "covers no mode"
    if final.get("high_quality") == 0:
        return "no high-quality sample"
    return ""


def _floor_reason(final: dict, primary: str, floor) -> str:
    value = final.get(primary)
    if floor is not None and value is not None and math.isfinite(value) and not info(primary).better(value, floor[1]):
        return f"{primary} {fmt(value)} is not better than a trivial generator ({floor[0]}: {fmt(floor[1])})"
    return ""
