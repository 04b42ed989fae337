"""Print a study's reference.csv as a Markdown table (ours beside the published numbers, with marks).

    python scripts/reference_markdown.py studies/pacgan-2d-x0.01/reference.csv
"""

from __future__ import annotations

import csv
import sys

MARK = {"True": "✓", "False": "✗", "": "–"}


def _f(x: str) -> str:
    return "–" if x in ("", "nan") else f"{float(x):.3g}"


def main(path: str) -> None:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    print("| dataset | variant | metric | published (" + (rows[0]["spread_kind"] if rows else "") + ") | "
          "ours: mean [95 % CI] (n) | agrees |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['variant']} | {r['metric']} | {_f(r['published_mean'])} ± "
              f"{_f(r['published_spread'])} | {_f(r['ours_mean'])} [{_f(r['ours_ci_low'])}, {_f(r['ours_ci_high'])}]"
              f" ({r['ours_n']}) | {MARK[r['consistent']]} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/reference_markdown.py STUDY_DIR/reference.csv")
    main(sys.argv[1])
