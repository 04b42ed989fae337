"""Do the quick study's verdicts survive a longer budget? The preset as it is against the same preset at
``--scale`` times the budget (steps and evaluation interval scaled alike): for every dataset and every
pair of variants, the sign of the mean difference of the primary metric at the final checkpoint, and
whether significant verdicts stay significant. Prints how many keep their sign (the ratio to the quick
run's verdicts, run in this process), split by what the report says of each order: held at two or more
evaluations of the quick run, or new at its final one (``ganbench.study.history``); kept, or reversed, by a
second evaluation of the same final checkpoints with other samples. The verdicts are read through the
report's own views (``report.html.load_views``). ``--every`` sets the quick run's evaluation interval (more
evaluations, a longer history; training is unchanged).

    python benchmarks/verdict_stability.py [--preset presets/quick.yaml] [--scale 3] [--dir studies/stability]
        [--datasets ring8 ...] [--seeds 0 1 2] [--workers N] [--every K]

Both studies resume, so an interrupted benchmark continues where it stopped. Existing study directories
of the two budgets can be compared without running anything: ``--short DIR --long DIR``; several pairs
(replicates with other seeds, ``--short A B --long A3 B3``) are pooled; with several, each quick study is
also re-tested by the next replicate's longer one, on other seeds, as ``ganbench study confirm`` would.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ganbench.confine import STUDY, reading
from ganbench.report.html import load_views
from ganbench.report.view import mostly
from ganbench.study.confirm import confirmation_rows, confirmation_spec, tally
from ganbench.study.executors import Pool
from ganbench.study.runner import StudyDir, run_study
from ganbench.study.spec import StudySpec, load_spec


def scaled(spec: StudySpec, scale: float, datasets: list[str] | None, seeds: list[int] | None,
           every: int | None = None) -> StudySpec:
    longer = spec.times(scale)
    update = {"name": f"{spec.name}-x{scale:g}"}
    if every:
        update["eval"] = longer.eval.model_copy(update={"every": every})
    if datasets:
        update["datasets"] = [d for d in spec.datasets if (d if isinstance(d, str) else d["data"] if isinstance(
            d["data"], str) else d["data"]["name"]) in datasets]
    if seeds is not None:
        update["seeds"] = seeds
    return longer.model_copy(update=update)


def verdicts(study_dir: Path) -> dict:
    """{(dataset, a, b): (mean_diff, significant, held, repeat, improving)} on each dataset's primary metric,
    final checkpoint, read through the report's own views: held, the number of evaluations the final order
    has held for (the report's 'since when'); repeat, the mean difference on the second evaluation of the
    same checkpoints (None without one); improving, whether most of the pair's runs were still improving at
    the end (the report's convergence column)."""
    with reading(study_dir, STUDY):
        views = load_views(StudyDir(study_dir)).views
    out = {}
    for view in views:
        for p in view.pairs:
            if p["metric"] == view.primary and p["checkpoint"] == "final" and math.isfinite(p["mean_diff"]):
                a, b = p["a"], p["b"]
                again = view.repeat_difference(a, b)
                out[(view.name, a, b)] = (p["mean_diff"], p["significant"], view.order_held(a, b).points,
                                          again[0] if again else None, mostly(*view.still_improving(a, b)))
    return out


def compare(short: dict, long: dict) -> dict:
    """How many of the quick run's orders keep their sign at the longer budget, overall and split by what the
    report says of them: held at 2+ evaluations or new at the final one; kept or not by a second evaluation."""
    common = sorted(set(short) & set(long))
    kept = {k for k in common if short[k][0] * long[k][0] > 0}

    def split(keys) -> tuple[int, int]:
        keys = list(keys)
        return sum(k in kept for k in keys), len(keys)

    sig = [k for k in common if short[k][1]]
    return {"pairs": len(common), "sign_kept": len(kept), "significant": len(sig),
            "significant_kept": sum(k in kept and long[k][1] for k in sig),
            "flipped": [k for k in common if k not in kept],
            "steady": split(k for k in common if short[k][2] >= 2),
            "new": split(k for k in common if short[k][2] < 2),
            "repeat_kept": split(k for k in common if short[k][3] is not None and short[k][3] * short[k][0] > 0),
            "repeat_lost": split(k for k in common if short[k][3] is not None and short[k][3] * short[k][0] <= 0),
            "significant_sign": split(sig), "not_significant": split(k for k in common if not short[k][1]),
            "improving": split(k for k in common if short[k][4]), "settled": split(k for k in common if not short[k][4]),
            "by_held": {h: split(k for k in common if short[k][2] == h) for h in sorted({short[k][2] for k in common})}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default=str(Path(__file__).parents[1] / "presets" / "quick.yaml"))
    ap.add_argument("--scale", type=float, default=3.0)
    ap.add_argument("--dir", default="studies/stability")
    ap.add_argument("--datasets", nargs="*")
    ap.add_argument("--seeds", nargs="*", type=int)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--short", type=Path, nargs="+")
    ap.add_argument("--long", type=Path, nargs="+")
    ap.add_argument("--every", type=int, help="the quick run's evaluation interval (default: the preset's)")
    args = ap.parse_args()
    base = load_spec(args.preset)
    short_spec = scaled(base, 1, args.datasets, args.seeds, args.every)
    long_spec = scaled(base, args.scale, args.datasets, args.seeds)
    if args.short and args.long:
        if len(args.short) != len(args.long):
            ap.error("--short and --long need the same number of study directories")
        pairs = list(zip(args.short, args.long))
    else:
        pairs = [(Path(args.dir) / "x1", Path(args.dir) / f"x{args.scale:g}")]
        for spec, d in zip((short_spec, long_spec), pairs[0]):
            run_study(d, spec, Pool(args.workers), progress=True)
    short, long = {}, {}
    for i, (quick, longer) in enumerate(pairs):  # replicates pooled: a pair of variants once per replicate
        short.update({(i, *k): v for k, v in verdicts(quick).items()})
        long.update({(i, *k): v for k, v in verdicts(longer).items()})
    result = compare(short, long)
    print(f"{result['sign_kept']} of {result['pairs']} pairwise verdicts keep their sign at {args.scale:g}x the budget "
          f"({result['sign_kept'] / max(result['pairs'], 1):.0%}); significant at 1x: {result['significant']}, "
          f"of which still significant with the same sign: {result['significant_kept']}")
    print("  of the quick run's orders, keep their sign at the longer budget:")
    for key, what in (("steady", "held at >= 2 evaluations"), ("new", "new at the final evaluation"),
                      ("repeat_kept", "kept by the second evaluation"), ("repeat_lost", "reversed or tied by it"),
                      ("significant_sign", "significant"), ("not_significant", "not significant"),
                      ("improving", "most of the pair's runs still improving"), ("settled", "the others")):
        k, n = result[key]
        print(f"    {what}: {k} of {n}" + (f" ({k / n:.0%})" if n else ""))
    print("    by the evaluations the order had held for at the end of the quick run (the report's 'since when'): "
          + "; ".join(f"{h}: {k} of {n}" for h, (k, n) in result["by_held"].items()))
    for i, ds, a, b in result["flipped"]:
        print(f"  flipped: {pairs[i][0]}: {ds}: {a} vs {b}")
    if len(pairs) > 1:
        fresh_seeds(pairs)


def fresh_seeds(pairs: list[tuple[Path, Path]]) -> None:
    """What ``ganbench study confirm`` would say: replicate i's quick verdicts re-tested by the longer study
    of replicate i + 1 (other seeds), counted by the functions of the report's Confirmation section."""
    totals: dict[str, int] = {}
    for i, (quick, _) in enumerate(pairs):
        longer = pairs[(i + 1) % len(pairs)][1]
        with reading(quick, STUDY):
            first = load_views(StudyDir(quick))
        with reading(longer, STUDY):
            second = load_views(StudyDir(longer))
        block = confirmation_spec(first.spec, first.views, 1).confirms  # the verdicts; the factor plays no part
        for view in second.views:
            rows = confirmation_rows(block, view.name, view.pairs)
            counts = tally(rows)
            print(f"  fresh seeds: {quick} ({first.spec.seed_list()}) re-tested by {longer} ({second.spec.seed_list()}), "
                  f"{view.name}: sign held for {counts['kept']} of {counts['orders']}")
            counts["significant_now"] = sum(r["significant_now"] for r in rows if r["significant_then"])
            for k, n in counts.items():
                totals[k] = totals.get(k, 0) + n
    print(f"on fresh seeds (as `ganbench study confirm`): {totals['kept']} of {totals['orders']} keep their sign "
          f"({totals['kept'] / max(totals['orders'], 1):.0%}); significant: {totals['significant']}, of which "
          f"{totals['significant_kept']} keep their sign and {totals['confirmed']} are confirmed (one-sided re-test, Holm "
          f"over the dataset's significant verdicts; the confirming study's own two-sided test over all its pairs: "
          f"{totals['significant_now']}); "
          f"{totals['new_significant']} not significant at 1x are at the longer budget")


if __name__ == "__main__":
    main()
