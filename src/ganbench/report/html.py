"""Build report.html, results.csv and results.json for a study directory."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import time
from collections import defaultdict
from pathlib import Path

from ..errors import UserError
from ..fileio import atomic_write_text
from ..study.runner import StudyDir
from ..metrics.declare import info, quality_names
from ..study.spec import primary_for
from ..study.stats import summarize, verdict
from ..study.store import Store
from ..study.worker import run_dir_name
from . import figures
from .reference_table import attach_reference
from .template import PAGE



def _b64(png: bytes | None) -> str:
    return base64.b64encode(png).decode() if png else ""


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}"


def _cell(row: dict | None) -> str:
    if not row:
        return "–"
    if math.isnan(row["std"]):
        return _fmt(row["mean"])
    return f"{_fmt(row['mean'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"


def build_report(path: str | Path) -> dict:
    study = StudyDir(path)
    if not study.exists():
        raise UserError(f"{study.path} holds no study (no {study.store_path.name})")
    spec = study.read_spec()
    store = Store(study.store_path)
    runs, evals = store.runs(), store.evals()
    store.close()
    summary = summarize(evals)
    board = summary["leaderboard"]
    by_run = {r["run_id"]: r for r in runs}
    datasets = []
    for ds in sorted({r["dataset"] for r in runs}):
        ds_evals = [e for e in evals if e["dataset"] == ds]
        if not ds_evals:
            continue
        metrics = {e["metric"] for e in ds_evals}
        ds_config = next(r["config"] for r in runs if r["dataset"] == ds)
        primary, chosen = primary_for(spec, ds, ds_config)
        lower = info(primary).direction == "lower"
        variants = sorted({r["variant"] for r in runs if r["dataset"] == ds})
        lookup = {(b["variant"], b["metric"], b["checkpoint"]): b for b in board if b["dataset"] == ds}
        sig = {(p["checkpoint"], p["a"], p["b"]): p for p in summary["pairs"]
               if p["dataset"] == ds and p["metric"] == primary}
        others = [m for m in quality_names() if m in metrics and m != primary]  # in declaration order
        rows = []
        for v in variants:
            row = {"variant": v, "rank": {}, "cell": {}, "mark": {}, "others": {}, "top": False}
            for c in ("best", "final"):
                b = lookup.get((v, primary, c))
                row["rank"][c] = b["rank"] if b else "–"
                row["cell"][c] = _cell(b)
                top = next((x["variant"] for x in board if x["dataset"] == ds and x["metric"] == primary
                            and x["checkpoint"] == c and x["rank"] == 1), None)
                pair = sig.get((c, *sorted((v, top)))) if top and top != v else None
                row["mark"][c] = bool(pair and pair["significant"])
                row["top"] = row["top"] or (c == "final" and top == v)
            row["n"] = lookup.get((v, primary, "final"), {}).get("n", 0)
            row["others"] = {m: _cell(lookup.get((v, m, "final"))) for m in others}
            rows.append(row)
        rows.sort(key=lambda r: r["rank"]["final"] if isinstance(r["rank"]["final"], int) else 10 ** 6)
        pairs = [p for p in summary["pairs"] if p["dataset"] == ds and p["metric"] == primary
                 and p["checkpoint"] == "final"]
        verdicts = [verdict(p) for p in sorted(pairs, key=lambda p: p["p_holm"] if not math.isnan(p["p_holm"]) else 2)]
        dirs = defaultdict(list)
        for r in runs:
            if r["dataset"] == ds:
                dirs[r["variant"]].append(study.path / "runs" / run_dir_name(r["run_id"]))
        seed0 = min(r["seed"] for r in runs if r["dataset"] == ds)
        samples = []
        for v in variants:
            rid = next((r["run_id"] for r in runs if r["dataset"] == ds and r["variant"] == v and r["seed"] == seed0),
                       None)
            png = figures.sample_picture(study.path / "runs" / run_dir_name(rid)) if rid else None
            if png:
                samples.append({"variant": v, "png": _b64(png)})
        curve_pts: dict = defaultdict(lambda: defaultdict(list))
        for e in ds_evals:
            if e["metric"] == primary and not {"heldout", "repeat"} & set(e["tags"]):  # the training trajectory
                curve_pts[e["variant"]][e["step"]].append(e["value"])
        cost_rows = []
        for v in variants:
            vr = [r for r in runs if r["dataset"] == ds and r["variant"] == v and r["status"] == "done"]
            q = lookup.get((v, primary, "final"), {}).get("mean", math.nan)
            secs = [r["train_seconds"] for r in vr if r["train_seconds"] is not None]
            flops = [r["efficiency"]["g_flops_per_sample"] for r in vr if r["efficiency"]]
            cost_rows.append({"variant": v, "quality": q, "train_seconds": sum(secs) / len(secs) if secs else None,
                              "g_flops_per_sample": flops[0] if flops else None})
        datasets.append({
            "name": ds, "primary": primary, "direction": "lower is better" if lower else "higher is better",
            "primary_source": "chosen in the spec" if chosen else "default for this kind of data",
            "arrows": {m: info(m).arrow for m in [primary, *others]},
            "checkpoints": ("best", "final"), "rows": rows, "other_metrics": others, "verdicts": verdicts[:6],
            "samples": samples, "sample_seed": seed0,
            "metric_curve": _b64(figures.metric_curves(curve_pts, primary, f"{ds}: {primary} during training")),
            "loss_curve": _b64(figures.loss_curves(dirs, f"{ds}: losses (mean over seeds)")),
            "cost_plot": _b64(figures.quality_vs_cost(cost_rows, primary, lower, f"{ds}: {primary} against cost"))})
    reference = attach_reference(spec, board, datasets, study.path)
    protocols = []
    seen = set()
    for e in evals:
        p = e["protocol"]
        key = (e["dataset"], p["split"], p["n_real"], p["n_fake"], p["extractor"])
        if key not in seen:
            seen.add(key)
            protocols.append({"dataset": e["dataset"], "split": p["split"], "n_real": p["n_real"],
                              "n_fake": p["n_fake"], "extractor": p["extractor"], "ema": p.get("ema")})
    failed = [{"run_id": r["run_id"], "status": r["status"], "error": r["error"] or ""}
              for r in runs if r["status"] in ("failed", "diverged")]
    counts: dict[str, int] = defaultdict(int)
    for r in runs:
        counts[r["status"]] += 1
    from jinja2 import Environment

    html = Environment(autoescape=True).from_string(PAGE).render(
        name=spec.name, digest=spec.digest(), n_runs=len(runs), counts=dict(counts), n_seeds=len(spec.seed_list()),
        generated=time.strftime("%Y-%m-%d %H:%M:%S"), datasets=datasets, failed=failed, protocols=protocols)
    atomic_write_text(study.path / "report.html", html)
    buf = io.StringIO()
    fields = ["dataset", "metric", "direction", "kind", "unit", "checkpoint", "variant", "rank", "n", "mean", "std",
              "ci_low", "ci_high"]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in board:
        v = info(row["metric"])
        writer.writerow({**row, "direction": v.direction or "", "kind": "quality" if v.quality else "auxiliary",
                         "unit": v.unit})
    atomic_write_text(study.path / "results.csv", buf.getvalue())
    results = {"study": spec.name, "spec_digest": spec.digest(), "leaderboard": board, "pairs": summary["pairs"],
               "runs": [{k: v for k, v in r.items()} for r in runs], "evals": evals, "reference": reference}
    atomic_write_text(study.path / "results.json", json.dumps(_clean(results), indent=1, allow_nan=False))
    return {"report": str(study.path / "report.html"), "datasets": [d["name"] for d in datasets],
            "failed": len(failed), "by_run": len(by_run)}


def _clean(obj):
    """JSON has no NaN or Infinity: write them as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
