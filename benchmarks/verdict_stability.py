"""Do the quick study's verdicts survive a longer budget? The preset as it is against the same preset at
``--scale`` times the budget (steps and evaluation interval scaled alike): for every dataset and every
pair of variants, the sign of the mean difference of the primary metric at the final checkpoint, and
whether significant verdicts stay significant. Prints how many keep their sign (the ratio to the quick
run's verdicts, run in this process), split by what the report says of each order: held at two or more
evaluations of the quick run, or new at its final one (``ganbench.study.history``). ``--every`` sets the
quick run's evaluation interval (more evaluations, a longer history; training is unchanged).

    python benchmarks/verdict_stability.py [--preset presets/quick.yaml] [--scale 3] [--dir studies/stability]
        [--datasets ring8 ...] [--seeds 0 1 2] [--workers N] [--every K]

Both studies resume, so an interrupted benchmark continues where it stopped. Existing study directories
of the two budgets can be compared without running anything: ``--short DIR --long DIR``.
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from pathlib import Path

from ganbench.study.convergence import trajectories
from ganbench.study.executors import Pool
from ganbench.study.history import held, paired_history
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec, load_spec, primary_for
from ganbench.study.stats import summarize
from ganbench.study.store import Store


def scaled(spec: StudySpec, scale: float, datasets: list[str] | None, seeds: list[int] | None,
           every: int | None = None) -> StudySpec:
    every = every or (round(spec.eval.every * scale) if spec.eval.every else None)
    update = {"name": f"{spec.name}-x{scale:g}",
              "budget": spec.budget.model_copy(update={"steps": round(spec.budget.steps * scale)}),
              "eval": spec.eval.model_copy(update={"every": every})}
    if datasets:
        update["datasets"] = [d for d in spec.datasets if (d if isinstance(d, str) else d["data"] if isinstance(
            d["data"], str) else d["data"]["name"]) in datasets]
    if seeds is not None:
        update["seeds"] = seeds
    return spec.model_copy(update=update)


def verdicts(study_dir: Path, spec: StudySpec) -> dict:
    """{(dataset, a, b): (mean_diff, significant, held)} on each dataset's primary metric, final checkpoint;
    held: the number of evaluations the final order has held for (the report's 'since when')."""
    store = Store(study_dir / "study.sqlite")
    runs, evals = store.runs(), store.evals()
    store.close()
    config = {r["dataset"]: r["config"] for r in runs}
    primary = {ds: primary_for(spec, ds, cfg)[0] for ds, cfg in config.items()}
    seeds = defaultdict(dict)
    for r in runs:
        if r["status"] == "done":
            seeds[(r["dataset"], r["variant"])][r["seed"]] = r["run_id"]
    paths = {ds: trajectories([e for e in evals if e["dataset"] == ds], m) for ds, m in primary.items()}
    out = {}
    for p in summarize(evals, checkpoints=("final",))["pairs"]:
        ds = p["dataset"]
        if p["metric"] == primary[ds] and math.isfinite(p["mean_diff"]):
            h = held(paired_history(paths[ds], seeds[(ds, p["a"])], seeds[(ds, p["b"])]), p["metric"])
            out[(ds, p["a"], p["b"])] = (p["mean_diff"], p["significant"], h.points)
    return out


def compare(short: dict, long: dict) -> dict:
    common = sorted(set(short) & set(long))
    kept = [k for k in common if short[k][0] * long[k][0] > 0]
    sig = [k for k in common if short[k][1]]
    sig_kept = [k for k in sig if short[k][0] * long[k][0] > 0 and long[k][1]]
    steady = [k for k in common if short[k][2] >= 2]
    return {"pairs": len(common), "sign_kept": len(kept), "significant": len(sig), "significant_kept": len(sig_kept),
            "flipped": [k for k in common if k not in kept], "steady": len(steady),
            "steady_kept": sum(k in kept for k in steady), "new": len(common) - len(steady),
            "new_kept": sum(k in kept for k in common if k not in steady)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default=str(Path(__file__).parents[1] / "presets" / "quick.yaml"))
    ap.add_argument("--scale", type=float, default=3.0)
    ap.add_argument("--dir", default="studies/stability")
    ap.add_argument("--datasets", nargs="*")
    ap.add_argument("--seeds", nargs="*", type=int)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--short", type=Path)
    ap.add_argument("--long", type=Path)
    ap.add_argument("--every", type=int, help="the quick run's evaluation interval (default: the preset's)")
    args = ap.parse_args()
    base = load_spec(args.preset)
    short_spec = scaled(base, 1, args.datasets, args.seeds, args.every)
    long_spec = scaled(base, args.scale, args.datasets, args.seeds)
    short_dir, long_dir = args.short or Path(args.dir) / "x1", args.long or Path(args.dir) / f"x{args.scale:g}"
    if not (args.short and args.long):
        for spec, d in ((short_spec, short_dir), (long_spec, long_dir)):
            run_study(d, spec, Pool(args.workers), progress=True)
    result = compare(verdicts(short_dir, short_spec), verdicts(long_dir, long_spec))
    print(f"{result['sign_kept']} of {result['pairs']} pairwise verdicts keep their sign at {args.scale:g}x the budget "
          f"({result['sign_kept'] / max(result['pairs'], 1):.0%}); significant at 1x: {result['significant']}, "
          f"of which still significant with the same sign: {result['significant_kept']}")
    print(f"  orders held at >= 2 evaluations of the quick run: {result['steady_kept']} of {result['steady']} keep "
          f"their sign; orders new at its final evaluation: {result['new_kept']} of {result['new']}")
    for ds, a, b in result["flipped"]:
        print(f"  flipped: {ds}: {a} vs {b}")


if __name__ == "__main__":
    main()
