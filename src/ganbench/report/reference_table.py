"""The report's "published numbers" section: each dataset's reference rows, and reference.csv."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..fileio import atomic_write_text
from ..study.reference import RULE, reference_rows

MARKS = {True: "✓", False: "✗", None: "–"}
CSV_FIELDS = ["dataset", "variant", "metric", "checkpoint", "published_mean", "published_spread", "spread_kind",
              "published_n", "ours_mean", "ours_ci_low", "ours_ci_high", "ours_n", "diff", "margin", "consistent",
              "source"]


def _f(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def attach_reference(spec, board: list[dict], datasets: list[dict], folder: Path) -> list[dict]:
    """Give every dataset section its reference rows (formatted for the page, with their marks), write
    reference.csv when the spec has a reference, and return all rows for results.json."""
    everything = []
    for d in datasets:
        rows = reference_rows(spec.reference, board, d["name"])
        everything += rows
        d["reference_rule"] = RULE
        d["reference"] = [{
            **r, "mark": MARKS[r["consistent"]],
            "published": f"{_f(r['published_mean'])} ± {_f(r['published_spread'])} ({r['spread_kind']}"
                         + (f", n={r['published_n']})" if r["published_n"] else ")"),
            "ours": f"{_f(r['ours_mean'])} [{_f(r['ours_ci_low'])}, {_f(r['ours_ci_high'])}] (n={r['ours_n']})",
            "gap": f"{_f(r['diff'])} (margin {_f(r['margin'])})",
            "own_source": r["source"] if r["source"] != spec.reference.source else ""} for r in rows]
        d["reference_source"] = spec.reference.source if spec.reference else ""
    if spec.reference is not None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(everything)
        atomic_write_text(folder / "reference.csv", buf.getvalue())
    return everything
