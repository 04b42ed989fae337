"""Build report.html, results.csv and results.json for a study directory."""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment
from markupsafe import Markup

from .. import provenance
from ..data.base import declared_classes
from ..confine import STUDY, reading
from ..errors import UserError
from ..fileio import atomic_write_csv, atomic_write_text
from ..metrics.declare import info
from ..study.extend import extensions, notes as extension_notes
from ..study.runner import StudyDir, check_matches
from ..study.calibration import REAL
from ..study.spec import StudySpec, expand, primary_for
from ..study.stats import summarize
from ..study.store import FINISHED, Store
from .sections import SECTIONS as SECTION_FUNCTIONS
from .reference_table import attach_reference
from .confirmation import confirmation_rows_of
from .sections import floor_state, leader_of, overall
from .template import PAGE, SECTIONS
from .view import DatasetView, build_view, calibration_stats, fmt


def build_report(path: str | Path, data_paths: Iterable[str | Path] = (), out: str | Path | None = None) -> dict:
    """The study's report and results files, written into the study directory or into ``out`` (the study is
    then only read: it may be on read-only media, or a stranger's). The study directory is data: the paths its
    spec names (the report draws real samples of each dataset beside the runs') must lie inside it or under
    one of ``data_paths``."""
    with reading(path, STUDY, data_paths):
        return _build_report(StudyDir(path), Path(out) if out is not None else Path(path))


@dataclass
class Loaded:
    """A study as the report reads it: its stored spec, rows, statistics and one view per dataset."""

    spec: StudySpec
    runs: list[dict]
    evals: list[dict]
    calibration: list[dict]
    summary: dict
    views: list[DatasetView]
    extensions: list[dict]  # how the study grew (extend.py)
    extensions_unknown: str | None = None  # why that record is lost (a store rebuilt without it, rebuild.py)
    cal_stats: dict | None = None  # the reference rows' mean and interval (calibration_stats)


def load_views(study: StudyDir) -> Loaded:
    """Read a study directory once and build every dataset's view: what the report's verdicts are made of
    (``benchmarks/verdict_stability.py`` reads the same, so it measures what the report says)."""
    if not study.exists():
        raise UserError(f"{study.path} holds no study (no {study.store_path.name})")
    spec = study.read_spec()
    planned = expand(spec, stored=str(study.spec_path))  # a stored path is refused, not silently left out of a figure
    check_matches(study, spec, planned, trained=False)  # the spec.yaml it ran (its primary, its confirms: block)
    store = Store(study.store_path, readonly=True)
    runs, evals, calibration, grown = store.runs(), store.evals(), store.calibration(), extensions(store)
    unknown = store.get_meta("extensions_unknown")
    store.close()
    # a dataset's declared number of modes or classes bounds its count and KL intervals (registered data only:
    # the name is looked up in this installation's registry, nothing of the store's is loaded)
    classes = {r["dataset"]: declared_classes((r.get("config") or {}).get("data") or {}) for r in runs}
    summary = summarize(evals, classes=classes)
    cal_stats = calibration_stats(calibration, classes)
    views = []
    for ds in sorted({r["dataset"] for r in runs}):
        ds_runs = [r for r in runs if r["dataset"] == ds]
        ds_evals = [e for e in evals if e["dataset"] == ds]
        if not ds_evals:
            continue
        primary, chosen = primary_for(spec, ds, ds_runs[0]["config"])
        views.append(build_view(ds, primary, chosen, ds_runs, ds_evals, summary, cal_stats, study.path))
        if spec.confirms is not None:
            views[-1].confirming = {"block": spec.confirms, "budget": spec.budget, "seeds": spec.seed_list()}
        views[-1].looked_again = [_of_dataset(g, ds) for g in grown if ds in g["seeds_added_to"]]
    return Loaded(spec, runs, evals, calibration, summary, views, grown, unknown, cal_stats)


def _of_dataset(record: dict, dataset: str) -> dict:
    """An extension or merge record as ``dataset``'s report reads it: a merge's first look is that dataset's
    (merge.py); a merge recorded before 2026-11-29 kept only the fewest over its datasets (``first_look_shared``
    says so when it joined more than one)."""
    looks = record.get("first_looks") or {}
    if dataset in looks:
        return {**record, "first_look": looks[dataset]}
    shared = record.get("first_look") is not None and len(record["seeds_added_to"]) > 1
    return {**record, "first_look_shared": shared}


def _build_report(study: StudyDir, out: Path) -> dict:
    loaded = load_views(study)
    spec, runs, evals, calibration, summary, views = (loaded.spec, loaded.runs, loaded.evals, loaded.calibration,
                                                     loaded.summary, loaded.views)
    published = [{"name": v.name} for v in views]
    reference = attach_reference(spec, summary["leaderboard"], published, out, runs)  # writes reference.csv
    for view, d in zip(views, published):
        view.reference = d
    env = Environment(autoescape=True)
    templates = {name: env.from_string(SECTIONS[name]) for name, _ in SECTION_FUNCTIONS}
    datasets = []
    for view in views:
        parts = []
        for name, fn in SECTION_FUNCTIONS:
            values = fn(view)
            if values is not None:
                parts.append(Markup(templates[name].render(s=values)))
        datasets.append({"name": view.name, "sections": parts})
    failed = [{"run_id": r["run_id"], "status": r["status"], "error": r["error"] or ""}
              for r in runs if r["status"] in ("failed", "diverged")]
    failed += [{"run_id": rid, "status": "collapsed", "error": reason}
               for view in views for rid, reason in sorted(view.collapsed.items())]
    failed += [{"run_id": rid, "status": "not better than trivial", "error": reason}
               for view in views for rid, reason in sorted(view.at_floor.items())]
    counts: dict[str, int] = defaultdict(int)
    for r in runs:
        counts[r["status"]] += 1
    html = env.from_string(PAGE).render(
        name=spec.name, digest=spec.digest(), n_runs=len(runs), counts=dict(counts), n_seeds=_seeds_per_variant(spec, runs),
        budget=_budget(spec), as_of=_as_of(runs), datasets=datasets, failed=failed,
        overall=overall(views), protocols=_protocols(evals, calibration), mixed_software=provenance.mixed_software(runs),
        unequal_seconds=provenance.unequal_seconds(runs, spec.budget.seconds),
        protocol_notes=(_protocol_notes(views, runs, evals, calibration) + extension_notes(loaded.extensions, loaded.extensions_unknown)
                        + provenance.notes(runs)))
    atomic_write_text(out / "report.html", html)
    _write_tables(out, spec, summary, runs, evals, calibration, reference,
                  {"floor": [floor_summary(v) for v in views], "order_held": [h for v in views for h in order_held(v)],
                   "confirmation": [r for v in views for r in confirmation_rows_of(v)],
                   "extensions": loaded.extensions, "extensions_unknown": loaded.extensions_unknown,
                   "reference_rows": reference_rows(loaded.cal_stats),
                   "still_improving": {r: j for v in views for r, j in sorted(v.improving.items())}})
    return {"report": str(out / "report.html"), "datasets": [v.name for v in views], "failed": len(failed)}


def _seeds_per_variant(spec, runs: list[dict]) -> str:
    """The spec's seed count, and how many have results where some do not (runs still queued in a merged or
    interrupted study; failed or diverged runs, which are not evaluated): the header must not promise seeds
    the tables do not hold."""
    done: dict[tuple, int] = defaultdict(int)
    queued = stopped = False
    for r in runs:
        done[r["dataset"], r["variant"]] += r["status"] == "done"
        queued |= r["status"] not in FINISHED
        stopped |= r["status"] in ("failed", "diverged")
    n = len(spec.seed_list())
    lo, hi = min(done.values(), default=n), max(done.values(), default=n)
    if lo == hi == n:
        return str(n)
    why = [w for w, hit in (("some failed or diverged: see below", stopped),
                            ("the rest queued: `ganbench study resume`", queued)) if hit]
    return f"{n} in the spec, {lo if lo == hi else f'{lo}–{hi}'} with results ({'; '.join(why)})"


def _as_of(runs: list[dict]) -> str | None:
    """When the newest result was recorded: the latest finish among the runs, in UTC. The report is a
    function of the store, so it stamps the store's time, not its own: the same study reported twice, or
    on a machine in another time zone, gives the same page (None: no run finished yet)."""
    latest = max((t for r in runs if isinstance(t := r.get("finished"), (int, float)) and 0 <= t < 253402300800),
                 default=None)  # the store is data: a time past year 9999 is not one
    return None if latest is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(latest))


def _budget(spec) -> str:
    b = spec.budget
    if b.flops:
        return f"{b.flops:.3g} training FLOPs per run (each run stops at the first step past it)"
    if b.seconds:
        return f"{b.seconds:g} training seconds per run" + (f" (at most {b.steps} steps)" if b.steps else "")
    # equal steps are not equal compute (wgan-gp's n_dis 2 and penalty cost 2.5x ns's FLOPs on ring8): say so here
    return (f"{b.steps} training steps per run (a step: n_dis D and n_gen G updates; its FLOPs differ by variant: see "
            "each dataset's Quality against training cost)") if b.steps else "the runs' own steps"


def _protocols(evals: list[dict], calibration: list[dict]) -> list[dict]:
    roles = (("selection", lambda e: not {"heldout", "repeat"} & set(e["tags"])),
             ("best (held-out)", lambda e: "heldout" in e["tags"]), ("noise repeat", lambda e: "repeat" in e["tags"]))
    out, seen = [], set()
    for role, keep in roles:
        for e in evals:
            p = e["protocol"]
            key = (e["dataset"], role, p["split"], p["n_real"], p["n_fake"], p["extractor"])
            if keep(e) and key not in seen:
                seen.add(key)
                sampling = f"seed derived from (base {SEED_BASE[role]}, step); EMA {'on' if p.get('ema') else 'off'}"
                out.append({"dataset": e["dataset"], "role": role, "split": p["split"], "n_real": p["n_real"],
                            "n_fake": p["n_fake"], "extractor": p["extractor"], "sampling": sampling})
    # the trivial generators always draw the protocol's n; real data draws from its held-out split, and a split of
    # fewer rows is used whole (digits: 360 of 1000), the same rows on every seed: nothing is drawn
    drawn = {(c["dataset"], c["checkpoint"]): c["protocol"]["n_fake"] for c in calibration if c["row"] != REAL}
    for c in calibration:
        p = c["protocol"]
        key = (c["dataset"], c["row"], c["checkpoint"], p["split"], p["n_real"], p["n_fake"])
        if key not in seen:
            seen.add(key)
            whole = c["row"] == REAL and p["n_fake"] < drawn.get((c["dataset"], c["checkpoint"]), 0)
            out.append({"dataset": c["dataset"], "role": f"{c['row']} ({c['checkpoint']} protocol)", "split": p["split"],
                        "n_real": p["n_real"], "n_fake": p["n_fake"], "extractor": p["extractor"],
                        "sampling": f"the whole held-out split ({p['n_fake']} rows), the same on every seed" if whole
                        else "one draw per study seed"})
    return out


SEED_BASE = {"selection": 0, "best (held-out)": 1, "noise repeat": 2}


def _protocol_notes(views, runs: list[dict], evals: list[dict], calibration: list[dict] = ()) -> list[str]:
    """calibration: the reference rows, whose protocols (real data against the train split: n_fake 360 on
    digits) can differ from every run's, so their KID subsets get their own note."""
    notes = ["Best checkpoint: selected on the selection evaluation (train-split reference, sampling seed base 0); "
             "the value reported for it comes from an independent evaluation (test-split reference, sampling seed "
             "base 1). The final checkpoint is reported from the selection evaluation."]
    for view in views:
        if view.noise is not None:
            pooled, left = view.noise_runs
            notes.append(f"{view.name}: evaluation noise of {view.primary}, one evaluation's std pooled over the "
                         f"{pooled} final checkpoints evaluated twice (seed bases 0 and 2): {fmt(view.noise)}"
                         + (f"; {left} collapsed run{'s' if left > 1 else ''} left out, whose values cannot vary."
                            if left else "."))
    kid: dict = {}
    for e in [*evals, *calibration]:  # each protocol's note names its rows: the runs, or reference rows
        if e["metric"] in ("kid_subset_size", "kid_subsets") and e["value"] is not None:
            p = e["protocol"]
            k = kid.setdefault((e["dataset"], p["n_real"], p["n_fake"]), {"rows": set()})
            k[e["metric"]] = int(e["value"])
            k["rows"].add(e.get("row", "runs"))  # a reference row names itself; a run's evaluation does not
    for (ds, n_real, n_fake), k in sorted(kid.items()):
        who = f"{ds} ({', '.join(sorted(k['rows'], key=lambda r: (r != 'runs', r)))})"  # the runs first
        notes.append(_kid_note(who, n_real, n_fake, k.get("kid_subset_size"), k.get("kid_subsets")))
    notes += _thread_notes(evals)
    groups = {tuple(r["trained_with"]) for r in runs if r.get("trained_with")}
    for g in sorted(groups):
        notes.append(f"Trained together as one member-stacked model: {', '.join(g)}.")
    compiled: dict[str, list[str]] = {}
    for r in runs:
        if r.get("compiled"):
            compiled.setdefault(r["compiled"], []).append(r["run_id"])
    for how, ids in sorted(compiled.items()):
        notes.append(f"Training step run with torch.compile mode {how}; compiled kernels round differently "
                     f"from eager ones: {', '.join(ids)}.")
    return notes


def _thread_notes(evals: list[dict]) -> list[str]:
    """The torch thread count the CPU runs were evaluated (and, in the same process, trained) with: part of
    the recipe on a CPU, since sums split over other threads round differently and training carries that on.
    A reader comparing this study with a rerun elsewhere needs it; runs that differ in it are named."""
    by_run: dict[str, set] = defaultdict(set)
    for e in evals:
        p = e["protocol"]
        if p.get("device", "cpu") == "cpu" and type(p.get("threads")) is int:
            by_run[e["run_id"]].add(p["threads"])
    counts: dict[str, list[str]] = defaultdict(list)
    for run_id, seen in sorted(by_run.items()):
        counts[" or ".join(map(str, sorted(seen)))].append(run_id)
    why = ("another count rounds sums differently and training carries it on, so a rerun with another count "
           "gives other numbers (README, Reproducibility)")
    if len(counts) == 1:
        n = next(iter(counts))
        return [f"CPU runs trained and evaluated with {n} torch thread{'' if n == '1' else 's'} each; {why}."]
    return [f"CPU runs trained and evaluated with different torch thread counts ({why}): "
            + "; ".join(f"{n}: {', '.join(ids)}" for n, ids in sorted(counts.items()))] if counts else []


def _kid_note(ds: str, n_real: int, n_fake: int, size: int | None, count: int | None) -> str:
    """How KID's subsets were drawn, as ``metrics.kid`` draws them: ``min(subset_size, n_real, n_fake)``
    rows per set; when that is all of both sets there is one value and no spread."""
    line = f"{ds}: KID on {count} subset{'' if count == 1 else 's'} of {size} rows (n_real {n_real}, n_fake {n_fake})"
    if size is None or size < min(n_real, n_fake):
        return line + "."
    if size >= max(n_real, n_fake):
        return line + (": both sets are no larger than the subset size, so the one subset is the whole of both "
                       "sets; kid_std is 0 by construction, not a measured spread.")
    whole, part, n_part = ("real", "fake", n_fake) if n_real <= n_fake else ("fake", "real", n_real)
    return line + (f": every subset holds all the {whole} rows and another draw of {size} of the {n_part} "
                   f"{part} rows, so kid_std measures the {part} draw only.")


def reference_rows(cal_stats: dict) -> list[dict]:
    """results.json's reference rows (real data, trivial generators) as the leaderboard shows them: mean, std
    and 95 % interval over the study's seeds, per dataset, row, checkpoint and metric (``calibration_stats``)."""
    return [{"dataset": ds, "row": row, "checkpoint": ckpt, "metric": metric, **stats}
            for (ds, row, ckpt, metric), stats in sorted(cal_stats.items())]


def floor_summary(view) -> dict:
    """results.json's account of the trivial generators: per quality metric the floor and the variants that
    clear it; the runs that collapsed and those at the floor of the primary metric, with reasons."""
    metrics = {}
    for m in view.quality_metrics():
        if (floor := view.floor("final", m)) is not None:
            metrics[m] = {"floor_row": floor[0], "floor": floor[1], "variants_clearing": view.clearing(m),
                          "variants_one_seed": view.one_seed(m)}
    return {"dataset": view.name, "primary": view.primary, "state": floor_state(view), "metrics": metrics,
            "collapsed": dict(sorted(view.collapsed.items())), "at_floor": dict(sorted(view.at_floor.items()))}


def order_held(view) -> list[dict]:
    """results.json's account of since when the leader has been ahead of each other variant (primary metric)."""
    leader = leader_of(view)
    out = []
    for other in view.variants:
        if leader and other != leader:
            h, again = view.order_held(leader, other), view.repeat_difference(leader, other)
            moving, judged = view.still_improving(leader, other)
            out.append({"dataset": view.name, "metric": view.primary, "leader": leader, "other": other,
                        # on the paired seeds the other can be the one ahead (the leader: best mean over all seeds)
                        "ahead": None if h.a_ahead is None else leader if h.a_ahead else other,
                        "ahead_since_step": h.since, "evaluations_ahead": h.points, "evaluations": h.total,
                        "second_evaluation_difference": again[0] if again else None,
                        "runs_still_improving": moving, "runs_judged": judged})
    return out


def _write_tables(path: Path, spec, summary: dict, runs, evals, calibration, reference, judged: dict) -> None:
    fields = ["dataset", "metric", "direction", "kind", "unit", "checkpoint", "variant", "rank", "n", "mean", "std",
              "ci_low", "ci_high", "row"]
    rows = []
    # each leaderboard's rows, then its reference rows (real data: the ceiling; trivial generators: the floor)
    both = ([{**r, "row": "variant"} for r in summary["leaderboard"]]
            + [{**r, "variant": r["row"], "row": "ceiling" if r["row"] == REAL else "trivial generator"}
               for r in judged.get("reference_rows", [])])
    for row in both:
        v = info(row["metric"])
        rows.append({**row, "direction": v.direction or "", "kind": "quality" if v.quality else "auxiliary",
                     "unit": v.unit})
    atomic_write_csv(path / "results.csv", fields, rows)
    results = {"study": spec.name, "spec_digest": spec.digest(), "leaderboard": summary["leaderboard"],
               "pairs": summary["pairs"], "runs": runs, "evals": evals, "calibration": calibration,
               "reference": reference, **judged}
    atomic_write_text(path / "results.json", json.dumps(_clean(results), indent=1, allow_nan=False))


def _clean(obj):
    """JSON has no NaN or Infinity: write them as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
