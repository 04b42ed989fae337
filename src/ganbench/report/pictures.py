"""The report's sections that are mostly figures: sample strips, training curves, quality against cost.
Each is a function of the ``DatasetView``, as in ``sections.py`` (whose ``SECTIONS`` lists them)."""

from __future__ import annotations

import base64
import json
import math
import sys
from collections import defaultdict

from ..provenance import mixed_machines
from ..study.calibration import REAL  # the reference rows' name for real data: the strip's caption says it too
from ..study.worker import run_dir_name
from ..textsafe import as_line
from . import figures
from .view import DatasetView, fmt


def b64(png: bytes | None) -> str:
    return base64.b64encode(png).decode() if png else ""


def samples(view: DatasetView) -> dict | None:
    """A strip per variant: the final generator of every seed (collapses show up here; ✖ collapsed, ▽ at the
    floor)."""
    strips = []
    ema = set()
    for v in view.variants:
        runs = sorted((r for r in view.runs if r["variant"] == v), key=lambda r: r["seed"])
        dirs = [view.study_path / "runs" / run_dir_name(r["run_id"]) for r in runs]
        titles = [f"seed {r['seed']}" + (" ✖" if r["run_id"] in view.collapsed else " ▽"
                                         if r["run_id"] in view.at_floor else "") for r in runs]
        png, failed = figures.sample_strip(dirs, titles)
        for run_dir, why in failed:  # said here and on the command line, never a silent blank panel
            print(as_line(f"report: the samples of {run_dir} are not drawn: {why}"), file=sys.stderr)
        not_drawn = [f"{run_dir.name}: {why}" for run_dir, why in failed]
        if png or not_drawn:
            strips.append({"variant": v, "png": b64(png) if png else None, "not_drawn": not_drawn})
        ema.update(bool(e["protocol"].get("ema")) for e in view.evals if e["variant"] == v and "final" in e["tags"])
    if not strips:
        return None
    columns = max(sum(r["variant"] == v for r in view.runs) for v in view.variants)
    strips.insert(0, real_strip(view, columns))  # the reference the variants' samples are read against
    heading = {frozenset({True}): "EMA generator", frozenset({False}): "generator (no EMA)"}.get(
        frozenset(ema), "generator (EMA where the run has one)")
    return {"strips": strips, "heading": f"final {heading}, every seed"}


# the most images the real-data strip loads (a split is loaded whole): the Stacked MNIST preset's 128,000, which
# take 1.98 GB of the report at their peak (measured; 200,000 took 2.64 GB); a stranger's study naming 1,000,000
# would take 9.4 GB of a `study report`, which only reads
REAL_IMAGES_MAX = 128_000


def reference_split(view: DatasetView) -> str:
    """The split the final checkpoints were evaluated against, as the store's protocols name it (the train
    split's reference subset: study/evaluation.py), or the study protocol's when the store names none or
    several."""
    from ..study.evaluation import SELECTION

    found = {e["protocol"].get("split") for e in view.evals if isinstance(e.get("protocol"), dict)
             and "final" in e["tags"] and not {"repeat", "heldout"} & set(e["tags"])}
    return found.pop() if len(found) == 1 and found <= {"train", "test"} else SELECTION["split"]


def real_strip(view: DatasetView, columns: int = 1) -> dict:
    """Real samples drawn as the variants' are (figures.real_panel, at the scale of a strip of ``columns``
    seeds): rows of the split the final checkpoints are evaluated against, taken by the permutation whose
    start is that evaluation's reference subset (evaluate.SUBSET_SEED). The dataset is loaded by its
    registered name and the options its runs stored, inside the report's scope (confine.py: a path option
    must lie in the study or under --data-path) and without downloading (mnist.local_only); when it cannot
    be, one line says why in its place."""
    from ..data import load_dataset
    from ..data.base import Dataset, traits
    from ..data.mnist import local_only
    from ..evaluate import SUBSET_SEED, reference_order
    from ..registry import DATASETS

    split = reference_split(view)
    specs = {_setting(data): data for data in ((r.get("config") or {}).get("data") for r in view.runs)}
    if len(specs) != 1:
        return _not_drawn(f"the {view.name} data is not drawn: its runs were trained on {len(specs)} different "
                          "settings of it")
    try:
        spec = json.loads(json.dumps(specs.popitem()[1]))  # a copy: the view's runs keep theirs
        # the size as loading reads it: validation makes a stored "1000000" or 1e6 the integer 1,000,000
        size = DATASETS.get(spec["name"]).validate({k: v for k, v in spec.items() if k != "name"}).get("n")
        if type(size) is int and size > REAL_IMAGES_MAX and traits(spec).kind == "images":
            return _not_drawn(f"the {view.name} data is not drawn: its runs' data holds {size:,} images, and the "
                              f"report loads at most {REAL_IMAGES_MAX:,} to draw {figures.N_IMAGES}")
        with local_only():
            data = load_dataset(spec, split)
        n = figures.N_IMAGES if data.is_image else figures.N_POINTS
        rows = reference_order(len(data))[:n]  # the start of the reference subset's own permutation
        png = figures.real_panel(Dataset(data.name, data.x[rows], modes=data.modes, sigma=data.sigma), spec,
                                 f"{split} split, seed {SUBSET_SEED}", columns)
    except Exception as exc:  # noqa: BLE001  (the data, not the study, is missing: the rest of the report renders)
        return _not_drawn(f"the {view.name} data cannot be loaded here: {str(exc) or type(exc).__name__}")
    what = "images" if data.is_image else "points"
    caption = (f"{REAL}: {len(rows)} {what} of the {split} split (the final evaluations' reference), drawn with "
               f"seed {SUBSET_SEED}")
    return {"variant": caption, "png": b64(png), "not_drawn": [], "real": True}


def _setting(data) -> str:
    """A run's stored data spec as loading reads it, as JSON: its options validated (a stored "100000", 1e5 or
    100000.0 is the n 100000; a default written out is the default left out); as stored when it cannot be
    validated here (an unknown name, a wrong option: the load then says why in the strip's line)."""
    from ..data.base import _name
    from ..errors import UserError
    from ..registry import DATASETS

    try:
        name = _name(data)
        options = DATASETS.get(name).validate({k: v for k, v in data.items() if k != "name"})
        return json.dumps({"name": name, **options}, sort_keys=True, default=str)  # a plugin's option types too
    except UserError:
        return json.dumps(data, sort_keys=True)


def _not_drawn(why: str) -> dict:
    """Real data's place in the strips when it is not drawn: one line, on the page and on stderr."""
    line = as_line(why)
    print(f"report: {line}", file=sys.stderr)
    return {"variant": REAL, "png": None, "not_drawn": [line], "real": True}


def training(view: DatasetView) -> dict:
    points: dict = defaultdict(lambda: defaultdict(list))
    for e in view.evals:
        if e["metric"] == view.primary and not {"heldout", "repeat"} & set(e["tags"]) and e["value"] is not None:
            points[e["variant"]][e["step"]].append(e["value"])
    dirs = defaultdict(list)
    for r in view.runs:
        dirs[r["variant"]].append(view.study_path / "runs" / run_dir_name(r["run_id"]))
    n_points = max((len(s) for s in points.values()), default=0)
    label = f"{view.primary} ({view.value.direction} is better)"  # the y axis: a number without its direction misleads
    return {"metric_curve": b64(figures.metric_curves(points, label, f"{view.name}: {view.primary} during training "
                                                       "(mean over seeds, band: min to max)")),
            "loss_curve": b64(figures.loss_curves(dirs, f"{view.name}: losses (mean over seeds)")),
            "n_points": n_points}


def mean_flops(view: DatasetView) -> dict[str, float]:
    """Each variant's training FLOPs, the mean over its finished runs (variants without a count left out)."""
    out = {}
    for v in view.variants:
        flops = [r["efficiency"]["train_flops"] for r in view.runs
                 if r["variant"] == v and r["status"] == "done" and (r["efficiency"] or {}).get("train_flops")]
        if flops:
            out[v] = sum(flops) / len(flops)
    return out


COSTLIER = 1.25  # a leader this many times the cheapest variant's training FLOPs gets a cost sentence


def cost_sentence(view: DatasetView, leader: str) -> str:
    """The leader's training cost against the cheapest variant's, when it is COSTLIER times that or more: an equal
    step budget is not an equal cost (n_dis, regularizer passes, packing), and a lead bought with 2.5 times the
    FLOPs is a different finding from a free one."""
    flops = mean_flops(view)
    others = [v for v in flops if v != leader]
    if leader not in flops or not others:
        return ""
    cheap = min(others, key=lambda v: (flops[v], v))
    ratio = flops[leader] / flops[cheap]
    if ratio < COSTLIER:
        return ""
    return (f" It trains at {ratio:.2g}× the FLOPs of the cheapest variant, {cheap} ({flops[leader]:.3g} against "
            f"{flops[cheap]:.3g} per run; the cost section sets quality against cost).")


def cost(view: DatasetView) -> dict:
    rows, flops = [], mean_flops(view)
    for v in view.variants:
        done = [r for r in view.runs if r["variant"] == v and r["status"] == "done"]
        b = view.board.get((v, view.primary, "final"))
        secs = [r["train_seconds"] for r in done if r["train_seconds"] is not None]
        rows.append({"variant": v, "quality": b["mean"] if b else math.nan,
                     "train_seconds": sum(secs) / len(secs) if secs else None,
                     "train_flops": flops.get(v), "seconds": secs})
    png = figures.quality_vs_cost(rows, view.primary, view.value.direction == "lower",
                                  f"{view.name}: {view.primary} (final) against training cost")
    table = [{"variant": r["variant"], "flops": f"{r['train_flops']:.3g}" if r["train_flops"] else "–",
              "seconds": _seconds(r["seconds"])} for r in rows]
    return {"plot": b64(png), "table": table, "machines": mixed_machines(view.runs), "order": start_order(view.runs)}


def start_order(runs: list[dict]) -> str | None:
    """How one dataset's runs started, read from their stored start times: "interleaved" when consecutive
    starts mostly share a seed (every variant's first seed, then every variant's second: study/groups.py),
    "back to back" when they mostly share a variant (each variant's seeds in a row, as until 2026-11-29,
    when load that drifts during a study falls on whole variants); None when neither, or with fewer than
    two variants or seeds. Two starts of a pool's workers may swap, so this counts pairs, not exact order."""
    timed = sorted((r for r in runs if r.get("started") is not None), key=lambda r: r["started"])
    if len({r["variant"] for r in timed}) < 2 or len({r["seed"] for r in timed}) < 2:
        return None
    pairs = list(zip(timed, timed[1:]))
    same_variant = sum(a["variant"] == b["variant"] for a, b in pairs)
    same_seed = sum(a["seed"] == b["seed"] for a, b in pairs)
    if same_seed == same_variant:
        return None
    return "interleaved" if same_seed > same_variant else "back to back"


def _seconds(secs: list[float]) -> str:
    """A variant's train seconds: the mean, and the range over its seeds (wall time varies with the machine's
    load: the main job's seeds of one recipe took 10.6 to 20 s)."""
    if len(secs) < 2:
        return fmt(secs[0]) if secs else "–"
    return f"{fmt(sum(secs) / len(secs))} ({fmt(min(secs))}–{fmt(max(secs))})"
