"""`ganbench study plan SPEC`: what a study will do, and about how long it will take here, before it starts.

A study of ten seeds at a paper's budget can take a day; a wrong dataset path or too small a test split
should not be found after the first hour. The plan runs the checks `study run` runs before anything trains
(every config, the data and its splits, the metrics, the reference block), lists the runs, and says what
the verdicts will be able to detect. Unless told not to, it then times each distinct recipe (a dataset and
variant) on this machine with the thread count a pool worker would get: ``probe`` training steps after as
many warm-up steps, the study's evaluation of the probe's final checkpoint (timed on its second call, once
the real features are cached), one seed's reference rows per dataset, and one checkpoint's size. Runs the
study would train together as one member-stacked model (``ensemble``, study/groups.py: on an accelerator by
default) are timed as such a stack too, once per kind of group: a stack's step is shared by its members, so
their training costs what the stack measures, not k single runs. The estimate multiplies these out per task
(a run, or a stacked group: one task each); nothing is written outside a temporary folder.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from ..errors import UserError
from ..textsafe import as_line


def plan_study(spec, workers: int | None = None, probe: int | None = 20, progress: bool = True,
               data_paths=(), ensemble: tuple[str, int] | None = None) -> dict:
    """The plan of ``spec`` (already scaled; the caller's own, so the paths it names are read): its runs,
    checks, statistical reach and, with ``probe`` steps, measured costs and the estimate for ``workers``
    pool processes (default one per core). ``data_paths``: further paths the caller consents to;
    ``ensemble``: (mode, max size) as `study run --ensemble` overrides the spec's."""
    from ..confine import STUDY, reading
    from .runner import spec_paths
    from .spec import expand

    runs = expand(spec)
    with tempfile.TemporaryDirectory(prefix="ganbench-plan-") as tmp, \
            reading(tmp, STUDY, [*data_paths, *spec_paths(runs)]):
        return _plan(spec, runs, workers, probe, progress, Path(tmp), ensemble)


def _plan(spec, runs: list, workers: int | None, probe: int | None, progress: bool, tmp: Path,
          ensemble: tuple[str, int] | None) -> dict:
    from .. import provenance
    from .evaluation import check_eval_data
    from .executors import Pool, check_workers
    from .groups import queue
    from .power import min_detectable
    from .spec import primary_for

    check_workers(workers)  # as study run checks it
    check_eval_data(spec, runs)
    pool = Pool(workers)
    recipes: dict[tuple, list] = defaultdict(list)
    for r in runs:
        recipes[r.dataset, r.variant].append(r)
    datasets = sorted({r.dataset for r in runs})
    variants = {ds: sorted({v for d, v in recipes if d == ds}) for ds in datasets}
    seeds = spec.seed_list()
    k = max(len(v) for v in variants.values())
    pairs = k * (k - 1) // 2  # the report tests every pair of variants, Holm over all of them (stats.summarize)
    level = 0.05 / max(pairs, 1)
    reach = min_detectable(len(seeds), 1.0, level) if pairs and len(seeds) > 1 else None  # JSON: no NaN
    by_seeds = {n: min_detectable(n, 1.0, level) for n in sorted({len(seeds), 5, 10, 20}) if n >= 2} if pairs else {}
    plan = {"study": spec.name, "spec_digest": spec.digest(), "runs": len(runs), "datasets": datasets,
            "variants": variants, "seeds": seeds, "budget": spec.budget.model_dump(exclude_none=True),
            "primary": {ds: primary_for(spec, ds, recipes[ds, variants[ds][0]][0].config)[0] for ds in datasets},
            "comparisons_per_dataset": pairs, "detectable_in_sd": reach, "detectable_by_seeds": by_seeds,
            "workers": pool.workers,
            "threads_per_worker": pool.threads, "machine": provenance.machine(), "recipes": [], "estimate": None}
    mode, size = ensemble or (spec.ensemble.mode, spec.ensemble.max_size)
    groups = queue(runs, mode, size)  # as the runner groups and starts them: one task each
    plan["tasks"] = [[[r.dataset, r.variant] for r in g] for g in groups]
    plan["ensemble"] = {"mode": mode, "max_size": size, "stacked_groups": sum(len(g) > 1 for g in groups)}
    if not probe:
        return plan
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(pool.threads)
    try:
        for i, ((ds, variant), members) in enumerate(sorted(recipes.items())):
            if progress:
                print(as_line(f"  probing {ds} / {variant} ({i + 1} of {len(recipes)})"), flush=True)
            cost = _probe(members[0].config, {**spec.eval.model_dump(), "primary": members[0].primary},
                          tmp / f"r{i}", probe, f"{ds} / {variant}")
            plan["recipes"].append({"dataset": ds, "variant": variant, **_per_run(members, cost)})
        plan["stacks"] = []  # one probe per kind of stacked group: its members' (dataset, variant)s
        for i, group in enumerate(sorted({tuple(sorted(map(tuple, t))) for t in plan["tasks"] if len(t) > 1})):
            if progress:
                print(as_line(f"  probing a stack of {len(group)}: {_members(group)}"), flush=True)
            first = {rv: next(r for r in runs if (r.dataset, r.variant) == rv) for rv in set(group)}
            plan["stacks"].append({"members": [list(m) for m in group], "s_per_member_step": _train_probe(
                [first[m].config for m in group], [tmp / f"g{i}" / f"m{j}" for j in range(len(group))], probe,
                _members(group))})  # a stack's step time over its members
        plan["reference_s_per_seed"] = {}
        for ds in datasets:
            first = recipes[ds, variants[ds][0]][0]
            plan["reference_s_per_seed"][ds] = _time_reference(first.config, spec.eval.model_dump(), seeds[0])
    finally:
        torch.set_num_threads(before)
    plan["estimate"] = _estimate(plan, len(seeds))
    return plan


def _probe(config: dict, eval_spec: dict, out: Path, steps: int, name: str) -> dict:
    """Seconds per training step (after ``steps`` warm-up steps), seconds per evaluation of one checkpoint,
    and bytes per checkpoint, of one run of ``config`` on this machine."""
    from ..training.rundir import RunDir
    from .evaluation import evaluate_study_run

    s_per_step = _train_probe([config], [out], steps, name)
    spec = {**eval_spec, "device": config.get("device", "auto")}
    evaluate_study_run(out, spec)  # the first call builds the extractor and caches the real features
    t = time.perf_counter()
    evaluate_study_run(out, spec)  # three evaluations of the one checkpoint: selection, repeat, held-out
    per_eval = (time.perf_counter() - t) / 3
    ckpt = sum(p.stat().st_size for p in RunDir(out).ckpt_dir.glob(f"step_{2 * steps:07d}.*"))
    return {"s_per_step": s_per_step, "s_per_eval": per_eval, "checkpoint_bytes": ckpt}


def _members(group) -> str:
    counts: dict = defaultdict(int)
    for ds, variant in group:
        counts[f"{ds} / {variant}"] += 1
    return ", ".join(f"{n} x {name}" for name, n in counts.items())


def _train_probe(configs: list[dict], outs: list[Path], steps: int, name: str) -> float:
    """Train one run (one config) or one member-stacked group for ``steps`` warm-up steps and ``steps`` timed
    ones; the seconds per member-step of the timed ones, as the loop logs them."""
    from ..config import make_config
    from ..training.loop import train_group
    from ..training.rundir import RunDir, log_rows

    cfgs = [make_config(c).model_copy(update={"steps": 2 * steps, "log_every": steps, "ckpt_every": 2 * steps,
                                              "time_budget_s": None, "keep_checkpoints": None, "tensorboard": False})
            for c in configs]
    bad = [r for r in train_group(cfgs, outs, resume=False, progress=False) if r.status != "done"]
    if bad:
        raise UserError(f"{name}: the probe {'run' if len(cfgs) == 1 else 'stack'} {bad[0].message} (of {2 * steps} "
                        "steps); the study would record its runs as diverged: check the recipe, or plan without "
                        "probing (--no-probe)")
    rows = list(log_rows(RunDir(outs[0]).log_file.read_bytes().splitlines()))  # the probe's own, fresh log
    return rows[-1]["sec_per_step"]


def _per_run(members: list, cost: dict) -> dict:
    """The cost of one run of a recipe: its training, its evaluations (every checkpoint once, the final
    and the selected one once more each), and the disk its checkpoints keep."""
    cfg = members[0].config
    steps = cfg["steps"]
    train = steps * cost["s_per_step"]
    if cfg.get("time_budget_s"):
        train = min(train, cfg["time_budget_s"])
        steps = min(steps, max(1, int(cfg["time_budget_s"] / cost["s_per_step"])))
    checkpoints = math.ceil(steps / cfg["ckpt_every"])
    kept = min(checkpoints, cfg.get("keep_checkpoints") or checkpoints)
    return {"runs": len(members), "steps": steps, **cost, "evaluations": checkpoints + 2,
            "train_s": train, "eval_s": (checkpoints + 2) * cost["s_per_eval"], "disk_bytes": kept * cost["checkpoint_bytes"]}


def _time_reference(config: dict, eval_spec: dict, seed: int) -> float:
    from .calibration import calibrate

    calibrate(config, eval_spec, [seed])  # real features cached by the probe; trivial generators fitted
    t = time.perf_counter()
    calibrate(config, eval_spec, [seed])
    return time.perf_counter() - t


def _estimate(plan: dict, n_seeds: int) -> dict:
    """Work in seconds by kind, and the wall time on the plan's workers: the work shared evenly, but never
    less than the longest task (a run, or a stacked group whose members each train at the stack's measured
    seconds per member-step)."""
    recipe = {(r["dataset"], r["variant"]): r for r in plan["recipes"]}
    stacked = {tuple(map(tuple, s["members"])): s["s_per_member_step"] for s in plan.get("stacks", [])}
    tasks = plan.get("tasks") or [[[r["dataset"], r["variant"]]] for r in plan["recipes"] for _ in range(r["runs"])]
    costs = []  # (train, evaluation) seconds of each task
    for task in tasks:
        members = [recipe[tuple(m)] for m in task]
        per_step = stacked[tuple(sorted(map(tuple, task)))] if len(task) > 1 else None
        train = sum(m["steps"] * per_step if per_step is not None else m["train_s"] for m in members)
        costs.append((train, sum(m["eval_s"] for m in members)))
    train, evals = sum(c[0] for c in costs), sum(c[1] for c in costs)
    reference = n_seeds * sum(plan["reference_s_per_seed"].values())
    longest = max(sum(c) for c in costs)
    work = train + evals + reference
    return {"train_s": train, "eval_s": evals, "reference_s": reference, "work_s": work,
            "wall_s": max(work / plan["workers"], longest),
            "disk_bytes": sum(r["runs"] * r["disk_bytes"] for r in plan["recipes"])}


def duration(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1000
    return f"{n:.3g} TB"


def describe(plan: dict) -> list[str]:
    """The plan as the CLI prints it."""
    b = plan["budget"]
    budget = (f"{b['flops']:.3g} FLOPs" if "flops" in b else f"{b['seconds']:g} s" if "seconds" in b
              else f"{b.get('steps', 0):,} steps")
    lines = [f"study {plan['study']!r} (spec {plan['spec_digest'][:12]}): {plan['runs']} runs over "
             f"{len(plan['datasets'])} dataset(s) x {max(len(v) for v in plan['variants'].values())} variant(s) x "
             f"{len(plan['seeds'])} seeds; budget {budget} per run",
             "checks passed: every config, the data and its splits (sizes for the evaluation), the metrics, "
             "the primary metric (" + ", ".join(f"{d}: {m}" for d, m in plan["primary"].items()) + ")"]
    n, m = len(plan["seeds"]), plan["comparisons_per_dataset"]
    if m:
        reach = (f"it detects a mean difference of {plan['detectable_in_sd']:.2g} standard deviations of the paired "
                 "seed differences (smaller ones will likely read 'not significant')"
                 if plan["detectable_in_sd"] is not None
                 else "no paired test is possible with one seed")
        lines.append(f"verdicts: paired t-test over {n} seeds, Holm over {m} pair(s) of variants per "
                     f"dataset; at 80 % power {reach}" + ("; with fewer than 6 seeds a pair whose seeds all differ "
                                                          "by the same amount cannot reach 5 %" if n < 6 else ""))
        if plan["detectable_by_seeds"]:
            lines.append("  detectable difference by seeds (in those SDs): " + ", ".join(
                f"{k} seeds {v:.2g}" for k, v in plan["detectable_by_seeds"].items()))
    ens = plan["ensemble"]
    if ens["stacked_groups"]:
        lines.append(f"ensemble {ens['mode']} (up to {ens['max_size']} per group): the {plan['runs']} runs train as "
                     f"{len(plan['tasks'])} tasks, {ens['stacked_groups']} of them member-stacked groups")
    if plan["estimate"] is None:
        return lines
    lines.append(f"measured on {plan['machine']}, {plan['threads_per_worker']} thread(s) per worker:")
    lines.append(f"  {'dataset':<12} {'variant':<28} {'runs':>4} {'steps':>9} {'ms/step':>8} {'train/run':>10} "
                 f"{'evals/run':>9} {'s/eval':>7} {'checkpoint':>10}")
    for r in plan["recipes"]:
        lines.append(f"  {r['dataset'][:12]:<12} {r['variant'][:28]:<28} {r['runs']:>4} {r['steps']:>9,} "
                     f"{1000 * r['s_per_step']:>8.3g} {duration(r['train_s']):>10} {r['evaluations']:>9} "
                     f"{r['s_per_eval']:>7.2g} {size(r['checkpoint_bytes']):>10}")
    for st in plan["stacks"]:  # the single-run ms/step above does not apply to their training
        lines.append(f"  stacked ({_members(st['members'])}): {1000 * st['s_per_member_step']:.3g} ms per member-step")
    ref = ", ".join(f"{d} {s:.2g} s" for d, s in plan["reference_s_per_seed"].items())
    lines.append(f"  reference rows (real data, trivial generators) per seed: {ref}")
    e = plan["estimate"]
    lines.append(f"estimate: {duration(e['wall_s'])} with {plan['workers']} worker(s) ({duration(e['work_s'])} of work: "
                 f"training {duration(e['train_s'])}, evaluation {duration(e['eval_s'])}, reference rows "
                 f"{duration(e['reference_s'])}); disk about {size(e['disk_bytes'])}")
    lines.append("  (a probe of a few steps on this machine as it is now: other work slows it, and a time budget "
                 "caps training; a first look at a fraction: --scale F)")
    return lines
