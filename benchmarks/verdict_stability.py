"""Do the quick study's verdicts survive a longer budget? The preset as it is against the same preset at
``--scale`` times the budget (steps and evaluation interval scaled alike): for every dataset and every
pair of variants, the sign of the mean difference of the primary metric at the final checkpoint, and
whether significant verdicts stay significant. Prints how many keep their sign (the ratio to the quick
run's verdicts, run in this process).

    python benchmarks/verdict_stability.py [--preset presets/quick.yaml] [--scale 3] [--dir studies/stability]
        [--datasets ring8 ...] [--seeds 0 1 2] [--workers N]

Both studies resume, so an interrupted benchmark continues where it stopped. Existing study directories
of the two budgets can be compared without running anything: ``--short DIR --long DIR``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ganbench.study.executors import Pool
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec, load_spec, primary_for
from ganbench.study.stats import summarize
from ganbench.study.store import Store


def scaled(spec: StudySpec, scale: float, datasets: list[str] | None, seeds: list[int] | None) -> StudySpec:
    update = {"name": f"{spec.name}-x{scale:g}",
              "budget": spec.budget.model_copy(update={"steps": round(spec.budget.steps * scale)}),
              "eval": spec.eval.model_copy(update={"every": round(spec.eval.every * scale) if spec.eval.every else None})}
    if datasets:
        update["datasets"] = [d for d in spec.datasets if (d if isinstance(d, str) else d["data"] if isinstance(
            d["data"], str) else d["data"]["name"]) in datasets]
    if seeds is not None:
        update["seeds"] = seeds
    return spec.model_copy(update=update)


def verdicts(study_dir: Path, spec: StudySpec) -> dict:
    """{(dataset, a, b): (mean_diff, significant)} on each dataset's primary metric, final checkpoint."""
    store = Store(study_dir / "study.sqlite")
    runs, evals = store.runs(), store.evals()
    store.close()
    config = {r["dataset"]: r["config"] for r in runs}
    primary = {ds: primary_for(spec, ds, cfg)[0] for ds, cfg in config.items()}
    out = {}
    for p in summarize(evals, checkpoints=("final",))["pairs"]:
        if p["metric"] == primary[p["dataset"]] and math.isfinite(p["mean_diff"]):
            out[(p["dataset"], p["a"], p["b"])] = (p["mean_diff"], p["significant"])
    return out


def compare(short: dict, long: dict) -> dict:
    common = sorted(set(short) & set(long))
    kept = [k for k in common if short[k][0] * long[k][0] > 0]
    sig = [k for k in common if short[k][1]]
    sig_kept = [k for k in sig if short[k][0] * long[k][0] > 0 and long[k][1]]
    return {"pairs": len(common), "sign_kept": len(kept), "significant": len(sig), "significant_kept": len(sig_kept),
            "flipped": [k for k in common if k not in kept]}


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
    args = ap.parse_args()
    base = load_spec(args.preset)
    short_spec, long_spec = scaled(base, 1, args.datasets, args.seeds), scaled(base, args.scale, args.datasets, args.seeds)
    short_dir, long_dir = args.short or Path(args.dir) / "x1", args.long or Path(args.dir) / f"x{args.scale:g}"
    if not (args.short and args.long):
        for spec, d in ((short_spec, short_dir), (long_spec, long_dir)):
            run_study(d, spec, Pool(args.workers), progress=True)
    result = compare(verdicts(short_dir, short_spec), verdicts(long_dir, long_spec))
    print(f"{result['sign_kept']} of {result['pairs']} pairwise verdicts keep their sign at {args.scale:g}x the budget "
          f"({result['sign_kept'] / max(result['pairs'], 1):.0%}); significant at 1x: {result['significant']}, "
          f"of which still significant with the same sign: {result['significant_kept']}")
    for ds, a, b in result["flipped"]:
        print(f"  flipped: {ds}: {a} vs {b}")


if __name__ == "__main__":
    main()
