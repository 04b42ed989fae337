"""The report's "published numbers" section: each dataset's reference rows, and reference.csv.

Beside the marks the section says how our runs compare with the published ones in training budget and
seeds: a study run with ``--scale`` trains a fraction of the paper's budget, and a ✓/✗ printed beside the
paper's number without saying so would read as a reproduction (or a failure to reproduce) that it is not.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..fileio import atomic_write_csv
from ..study.budget import amount_text
from ..study.reference import RULE, reference_rows, run_budget

MARKS = {True: "✓", False: "✗", None: "–"}
CSV_FIELDS = ["dataset", "variant", "metric", "checkpoint", "published_mean", "published_spread",
              "spread_kind", "published_n", "ours_mean", "ours_ci_low", "ours_ci_high", "ours_n", "diff",
              "margin", "consistent", "budget_unit", "published_budget", "ours_budget", "source"]


def _f(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def _share(lo: float, hi: float) -> str:
    pct = [f"{100 * x:.3g} %" for x in (lo, hi)]
    return pct[0] if pct[0] == pct[1] else f"{pct[0]} to {pct[1]}"


def _budgets(spec, runs: list[dict], dataset: str) -> dict[str, float | None]:
    """variant -> the training of each of its runs, in the unit of the published budget (None: not
    comparable, or its seeds differ)."""
    if spec.reference is None or spec.reference.budget is None:
        return {}
    unit, by_variant = spec.reference.budget.kind(), {}
    for r in runs:
        if r["dataset"] == dataset:
            by_variant.setdefault(r["variant"], set()).add(run_budget(r["config"], unit, spec.budget.flops))
    return {v: next(iter(amounts)) if len(amounts) == 1 else None for v, amounts in by_variant.items()}


def scope_notes(ref, rows: list[dict], seeds: int) -> list[tuple[str, str]]:
    """(css class, sentence) lines on how our runs' budget and seeds compare with those behind the published
    numbers; the marks' rule is unchanged, these say what a mark can and cannot mean."""
    notes = []
    if ref.budget is None:
        notes.append(("note", "The training budget behind the published numbers is not stated "
                              "(reference.budget), so whether these runs trained as long is unknown."))
    else:
        unit, theirs = ref.budget.kind(), ref.budget.amount()
        ours = sorted({r["ours_budget"] for r in rows if r["ours_budget"] is not None})
        if not ours:
            notes.append(("warn", f"The published numbers come from {amount_text(theirs, unit)} per run; these "
                                  "runs were budgeted in another unit, so their training is not compared with it."))
        elif ours == [theirs]:
            notes.append(("note", f"These runs trained {amount_text(theirs, unit)} each, as the published numbers "
                                  "did."))
        else:
            trained = amount_text(ours[0], unit) if len(ours) == 1 else \
                f"{amount_text(ours[0], unit)} to {amount_text(ours[-1], unit)}"
            tail = ("a ✗ may be the budget, and a ✓ does not show the paper's result holds at its budget"
                    if ours[-1] < theirs else "the marks compare runs of different lengths")
            share = _share(ours[0] / theirs, ours[-1] / theirs)
            notes.append(("warn", f"These runs trained {trained}, {share} of the {amount_text(theirs, unit)} behind "
                                  f"the published numbers: {tail}."))
    published_n = max((r["published_n"] for r in rows if r["published_n"]), default=None)
    if published_n and seeds < published_n:
        notes.append(("warn", f"These runs have {seeds} seeds per variant, fewer than the {published_n} runs "
                              "behind each published number: our means are noisier and the margin wider, so a ✓ "
                              "says less."))
    return notes


def _cells(r: dict, spec) -> dict:
    """One row as the page prints it, each side's training beside its number when it is known."""
    trained = {side: f", {amount_text(r[f'{side}_budget'], r['budget_unit'])}" if r[f"{side}_budget"] else ""
               for side in ("published", "ours")}
    return {
        **r, "mark": MARKS[r["consistent"]],
        "published": f"{_f(r['published_mean'])} ± {_f(r['published_spread'])} ({r['spread_kind']}"
                     + (f", n={r['published_n']}" if r["published_n"] else "") + trained["published"] + ")",
        "ours": f"{_f(r['ours_mean'])} {_interval(r)}n={r['ours_n']}" + trained["ours"] + ")",
        "gap": f"{_f(r['diff'])} (margin {_f(r['margin'])})",
        "own_source": r["source"] if r["source"] != spec.reference.source else ""}


def _interval(r: dict) -> str:
    """'[low, high] (', or what stands in for the interval: the same value on every seed has none (stats.mean_ci)."""
    if math.isnan(r["ours_ci_low"]) and r["ours_n"] >= 2:
        return "(every seed, "
    return f"[{_f(r['ours_ci_low'])}, {_f(r['ours_ci_high'])}] ("


def attach_reference(spec, board: list[dict], datasets: list[dict], folder: Path,
                     runs: list[dict]) -> list[dict]:
    """Give every dataset section its reference rows (formatted for the page, with their marks and the
    budget/seed notes), write reference.csv when the spec has a reference, and return all rows for
    results.json."""
    everything = []
    for d in datasets:
        rows = reference_rows(spec.reference, board, d["name"])
        budgets = _budgets(spec, runs, d["name"])
        budget = spec.reference.budget if spec.reference else None
        for r in rows:
            r.update(budget_unit=budget.kind() if budget else "", ours_budget=budgets.get(r["variant"]),
                     published_budget=budget.amount() if budget else None)
        everything += rows
        d["reference_rule"] = RULE
        d["reference"] = [_cells(r, spec) for r in rows]
        d["reference_scope"] = scope_notes(spec.reference, rows, len(spec.seed_list())) if rows else []
        d["reference_source"] = spec.reference.source if spec.reference else ""
    if spec.reference is not None:
        atomic_write_csv(folder / "reference.csv", CSV_FIELDS, everything)
    else:  # one written for a spec that had a reference block would be read as this study's
        (folder / "reference.csv").unlink(missing_ok=True)
    return everything
