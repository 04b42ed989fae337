"""Calibration logic of the report on hand-made numbers: the floor is the better trivial generator, a
variant whose interval does not clear it is marked, and collapsed runs are named with their reason."""

from pathlib import Path

from ganbench.report.sections import bottom_line, leaderboard
from ganbench.report.view import build_view, calibration_stats
from ganbench.study.calibration import REAL, TRIVIAL
from ganbench.study.stats import summarize


def _study(values: dict[str, list[float]], metric="high_quality"):
    runs, evals = [], []
    for variant, vals in values.items():
        for seed, v in enumerate(vals):
            rid = f"ring8__{variant}__s{seed}"
            runs.append({"run_id": rid, "variant": variant, "dataset": "ring8", "seed": seed, "status": "done",
                         "config": {}, "train_seconds": 1.0, "efficiency": None})
            for tags, step, value in ((["final"], 200, v), (["repeat"], 200, v + 0.001), ([], 100, v / 2)):
                evals.append({"run_id": rid, "variant": variant, "dataset": "ring8", "seed": seed, "metric": metric,
                              "step": step, "value": value, "tags": tags, "protocol": {"ema": True}})
    cal = [{"dataset": "ring8", "row": row, "checkpoint": "final", "seed": s, "metric": metric, "value": v + 0.001 * s}
           for row, v in ((REAL, 0.99), (TRIVIAL[0], 0.003), (TRIVIAL[1], 0.02)) for s in range(3)]
    return build_view("ring8", metric, False, runs, evals, summarize(evals), calibration_stats(cal), Path("."))


def test_floor_is_the_better_trivial_generator_and_marks_variants_below_it():
    view = _study({"good": [0.4, 0.45, 0.5], "noise": [0.01, 0.03, 0.0]})
    assert view.floor("final") == (TRIVIAL[1], 0.021) and view.ceiling("final") == 0.991
    assert view.clears_floor("good", "final") and not view.clears_floor("noise", "final")
    board = leaderboard(view)
    marks = {r["variant"]: [m[0] for m in r["marks"]] for r in board["rows"]}
    assert marks == {"good": [], "noise": ["sig", "floor", "collapse"]}  # worse than the leader, too
    assert [r["role"] for r in board["refs"]] == ["ceiling", "", "floor"] and not board["no_variant_clears"]
    assert view.collapsed["ring8__noise__s2"] == "no high-quality sample"
    assert "not better than a trivial generator" in view.collapsed["ring8__noise__s0"]


def test_warning_when_no_variant_clears_the_floor():
    view = _study({"a": [0.01, 0.02, 0.0], "b": [0.0, 0.01, 0.02]})
    assert leaderboard(view)["no_variant_clears"]
    text = bottom_line(view, "a", [p for p in view.pairs if p["checkpoint"] == "final"], warn=False)
    assert "No variant is better than a trivial generator" in text
