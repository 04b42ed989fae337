"""Published numbers a study reproduces (``reference:`` in the spec), and whether ours agree with them.

    reference:
      source: "Lin et al., PacGAN (NeurIPS 2018), Table 1"
      spread: se              # kind of the published spread: se | sd | ci95 | none
      n: 10                   # runs behind each published number (turns an sd into a standard error)
      checkpoint: final       # which of our checkpoints to compare: final | best
      budget: {steps: 400000} # the training behind the published numbers, per run (steps | seconds | flops)
      values:                 # dataset -> variant -> metric -> [mean, spread] (or {mean, spread, kind, n, source})
        ring8:
          gan: {modes_covered: [6.3, 0.5], high_quality: [0.982, 0.002]}

Values are in ganbench's units (``high_quality`` is a fraction, not a percentage). Every dataset,
variant and metric named must exist in the study; this is checked when the spec is expanded, before any
run starts.

Agreement rule (``RULE``): a cell is *consistent* when the difference between our mean and the published
mean is within t(0.975, n-1) * sqrt(se_ours^2 + se_published^2), with n our number of seeds: a two-sided
test at the 5 % level does not reject that both estimate the same quantity. It accounts for the
uncertainty on both sides; with few seeds it is lenient, so the margin is shown beside every mark.

The rule says nothing about how long either side trained. A study run with ``--scale`` trains a fraction
of the published budget, so ``budget`` is compared with each run's (``run_budget``) and the report says
how far apart they are beside the marks: a ✗ there may be the budget, a ✓ is not a reproduction.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from scipy import stats

from ..errors import UserError, did_you_mean
from .budget import Budget

SpreadKind = Literal["se", "sd", "ci95", "none"]
RULE = ("consistent (✓) when |ours − published| ≤ t(0.975, n−1)·√(se_ours² + se_published²), n = our seeds: "
        "a two-sided test at 5 % does not reject equality; published spreads are turned into standard errors "
        "(sd/√n, 95 % CI half-width/1.96)")


class RefValue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mean: float
    spread: float = Field(0.0, ge=0)
    kind: SpreadKind | None = None  # None: the block's kind
    n: int | None = Field(None, ge=1)
    source: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return {"mean": v}
        if isinstance(v, (list, tuple)):
            if len(v) != 2:
                raise ValueError("a reference value is [mean, spread], a number, or a mapping")
            return {"mean": v[0], "spread": v[1]}
        return v


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    spread: SpreadKind = "se"
    n: int | None = Field(None, ge=1)
    checkpoint: Literal["final", "best"] = "final"
    budget: Budget | None = None  # None: not stated, so the report cannot say whether our runs trained as long
    values: dict[str, dict[str, dict[str, RefValue]]]

    @field_validator("budget", mode="before")
    @classmethod
    def _one_budget_unit(cls, v):
        # a published result trained to one stated amount; two units would leave nothing to compare against
        if isinstance(v, dict) and sum(v.get(k) is not None for k in Budget.model_fields) != 1:
            raise ValueError("give one of steps, seconds or flops (the training behind the published numbers, "
                             "per run)")
        return v

    @model_validator(mode="after")
    def _sd_needs_n(self):
        for ds, variants in self.values.items():
            for variant, metrics in variants.items():
                for metric, v in metrics.items():
                    if (v.kind or self.spread) == "sd" and not (v.n or self.n):
                        raise ValueError(f"{ds}.{variant}.{metric}: a published sd needs n (the runs behind it)")
        return self


def check_reference(ref: Reference, datasets: set[str], variants: set[str], metrics_for) -> None:
    """Refuse a reference naming a dataset, variant or metric the study does not have (one line each).

    ``metrics_for(dataset)`` gives the metric names the study reports for that dataset.
    """
    for ds, by_variant in ref.values.items():
        if ds not in datasets:
            raise UserError(f"reference: unknown dataset '{ds}'{did_you_mean(ds, sorted(datasets))} "
                            f"(the study has: {', '.join(sorted(datasets))})")
        known = set(metrics_for(ds))
        for variant, by_metric in by_variant.items():
            if variant not in variants:
                raise UserError(f"reference: unknown variant '{variant}' for dataset '{ds}'"
                                f"{did_you_mean(variant, sorted(variants))} (the study has: {', '.join(sorted(variants))})")
            for metric in by_metric:
                if metric not in known:
                    raise UserError(f"reference: metric '{metric}' ({ds}, {variant}) is not reported for '{ds}'"
                                    f"{did_you_mean(metric, sorted(known))}; metrics: {', '.join(sorted(known))}")


def run_budget(config: dict, unit: str, study_flops: float | None) -> float | None:
    """One run's training in ``unit`` (a Budget.kind()), from its resolved config; None when the run was
    budgeted in another unit, so the two cannot be compared."""
    if unit == "steps":  # a time budget stops a run before its step cap, at a step not known from the config
        return None if config.get("time_budget_s") else config["steps"]
    if unit == "seconds":
        return config.get("time_budget_s")
    return study_flops  # a FLOPs budget sets each run's steps so that it reaches it (spec._flops_budget)


def standard_error(v: RefValue, ref: Reference) -> float:
    kind, n = v.kind or ref.spread, v.n or ref.n
    return {"se": v.spread, "sd": v.spread / math.sqrt(n or 1), "ci95": v.spread / 1.96, "none": 0.0}[kind]


def agreement(ours: dict | None, published: float, se_published: float) -> dict:
    """Our leaderboard row (n, mean, std) against one published number: difference, margin, verdict."""
    if not ours or ours.get("n", 0) < 2 or not math.isfinite(ours.get("std", math.nan)):
        return {"diff": math.nan, "margin": math.nan, "consistent": None}
    n = ours["n"]
    se_ours = ours["std"] / math.sqrt(n)
    diff = ours["mean"] - published
    margin = float(stats.t.ppf(0.975, n - 1)) * math.hypot(se_ours, se_published)
    # a hair of float slack, so two exact equal constants (1000 modes of 1000) count as agreeing
    slack = 1e-9 * max(1.0, abs(published))
    return {"diff": float(diff), "margin": margin, "consistent": bool(abs(diff) <= margin + slack)}


def reference_rows(ref: Reference | None, board: list[dict], dataset: str) -> list[dict]:
    """One row per published number of ``dataset``: published value, ours (mean, 95 % CI, n) and the mark."""
    if ref is None:
        return []
    lookup = {(b["variant"], b["metric"]): b for b in board
              if b["dataset"] == dataset and b["checkpoint"] == ref.checkpoint}
    rows = []
    for variant, by_metric in ref.values.get(dataset, {}).items():
        for metric, v in by_metric.items():
            ours = lookup.get((variant, metric))
            se_pub = standard_error(v, ref)
            rows.append({
                "dataset": dataset, "variant": variant, "metric": metric, "checkpoint": ref.checkpoint,
                "published_mean": v.mean, "published_spread": v.spread, "spread_kind": v.kind or ref.spread,
                "published_n": v.n or ref.n, "source": v.source or ref.source,
                "ours_mean": ours["mean"] if ours else math.nan, "ours_n": ours["n"] if ours else 0,
                "ours_ci_low": ours["ci_low"] if ours else math.nan,
                "ours_ci_high": ours["ci_high"] if ours else math.nan,
                **agreement(ours, v.mean, se_pub)})
    return rows
