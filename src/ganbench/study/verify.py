"""`ganbench study verify DIR`: recompute a study's stored numbers from the checkpoints it ships.

A study directory from someone else is a claim: its store says what each run's generator scored, and with
which recipe (each checkpoint's own record of its training config must name the same settings). Every
evaluation row carries its protocol (checkpoint, split, number of samples, sampling seed, extractor), and
generation and metrics are deterministic on a CPU, so each row can be evaluated again from the run's own
checkpoint and compared, value by value, with what the store says. The study is only read.

Which rows: by default the ones the report's verdicts rest on, each run's final checkpoint and its
held-out "best" (``--rows all``: every stored evaluation whose checkpoint the run kept), and each dataset's
reference rows (real data and trivial generators: the report's ceiling and floor); and, from the stored
values alone, that each run's "best" is the checkpoint its selection evaluations rank first. Rule: a value is
*identical* when equal bit for bit, *agrees* when within ``RTOL`` relative (``ATOL`` near zero): another CPU
(AVX-512 against AVX2 kernels, another BLAS) or a GPU changes the last digits of float32 generator outputs,
never the third significant figure the report prints; anything else *differs*. Rows record torch's thread
count, and are recomputed with it (sums split over threads round differently), so the work can be spread
over worker processes (one task per run, and per dataset's reference rows) without changing a digit.
``--retrain K`` also trains runs again from their stored configs (retrain.py). Every stored value is accounted
for, recomputed or named with the reason, and each row's name, step and tags checked against its protocol
(accounting.py).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from pathlib import Path

from tqdm.auto import tqdm

from .. import provenance
from ..errors import UserError
from ..textsafe import as_line
from ..training.seeding import derive_seed
from . import accounting as acc
from .evaluation import HELDOUT, REPEAT
from .runner import StudyDir
from .threads import threads_of
from .worker import run_dir_name

RTOL, ATOL = 1e-4, 1e-9
NOT_COMPUTED = "not computed by the study's metrics"  # a stored metric that evaluating the checkpoint does not give
SAMPLING_BASES = {0: {"split": "train"}, HELDOUT["seed"]: HELDOUT, REPEAT["seed"]: REPEAT}  # evaluation.py's seeds
HEADLINE = ("final", "heldout")


def sampling_base(protocol: dict) -> int | None:
    """Which of the study's sampling seeds (evaluation.py) made this row's samples, or None."""
    for base in SAMPLING_BASES:
        if derive_seed(base, 99, protocol["step"]) == protocol["seed"]:
            return base
    return None


def compare(stored: float | None, fresh: float | None) -> str:
    if stored is None and isinstance(fresh, float) and math.isnan(fresh):
        return "identical"  # SQLite keeps a NaN as NULL
    if stored is None or fresh is None:
        return "identical" if stored is fresh else "differs"
    if stored == fresh or (math.isnan(stored) and math.isnan(fresh)):
        return "identical"
    return "agrees" if abs(stored - fresh) <= ATOL + RTOL * abs(stored) else "differs"


def recipe_differences(run: dict, sidecar: Path) -> list[dict]:
    """Settings in which a checkpoint's own record of the config it was trained with differs from the run's
    config in the store (the recipe the report names), both read by this version; where it runs may differ."""
    from ..config import make_config
    from ..training.checkpoint import read_record
    from ..training.rundir import differing_settings

    ours = make_config(run["config"], stored=f"run {run['run_id']}")
    theirs = make_config(read_record(sidecar)["config"], stored=str(sidecar))
    return [{"run_id": run["run_id"], "checkpoint": sidecar.stem, "metric": f"config.{k}", "stored": a,
             "recomputed": b, "verdict": "differs", "device": ""}
            for k, a, b in differing_settings(ours, theirs, ignore={"device"})]


def recompute(run_dir: Path, row: dict, eval_spec: dict) -> tuple[dict | None, str]:
    """This row evaluated again from the run's checkpoint: (metrics, "") or (None, why not)."""
    from ..evaluate import evaluate_run
    from .identities import compare, notice

    p = row["protocol"]
    base = sampling_base(p)
    if base is None:
        return None, "its sampling seed is none of the study protocol's (0, 1, 2 per step)"
    if SAMPLING_BASES[base]["split"] != p["split"]:
        return None, f"its split {p['split']!r} is not the one sampling seed {base} is used with"
    if not (run_dir / "checkpoints" / f"{p['checkpoint']}.json").is_file():
        return None, f"checkpoint {p['checkpoint']} was not kept (keep_checkpoints)"
    with threads_of(p):
        result = evaluate_run(run_dir, metrics=eval_spec.get("metrics"), extractor=eval_spec.get("extractor"),
                              n=p["n_fake"], checkpoint=p["checkpoint"], split=p["split"], seed=base,
                              progress=False, write=False)
    (fresh,) = result["results"]
    now = fresh["protocol"]["extractor"]
    if compare(p["extractor"], now) == "unrecorded":  # recorded before identities named weights:
        notice(p["extractor"], now)  # the recomputed values decide
        p = {**p, "extractor": now}
    for field in ("n_real", "n_fake", "extractor", "seed", "step"):
        if fresh["protocol"][field] != p[field]:
            return None, f"the protocol differs ({field}: stored {p[field]!r}, now {fresh['protocol'][field]!r})"
    return fresh["metrics"], ""


def _number(value: float | None) -> float:
    return float("nan") if value is None else value  # SQLite keeps a NaN as NULL


def selection_checks(grouped: list[dict], run_ids: list[str], primary: dict[str, str]) -> list[dict]:
    """From the stored values alone: each run's "final" must be its latest checkpoint's evaluation, its "best"
    the checkpoint its selection evaluations rank first on the primary value (earliest of equals), and its
    held-out evaluation must be of that checkpoint. A best chosen any other way (say, on the test-split
    values) or an earlier checkpoint tagged final is named."""
    from ..evaluate import _badness

    by_run: dict[str, list[dict]] = defaultdict(list)
    for r in grouped:  # one pass: a study may hold 20,000 runs
        by_run[r["run_id"]].append(r)
    out = []
    for rid in run_ids:
        rows = sorted(by_run[rid], key=lambda r: r["protocol"]["step"])
        key = primary[rid]
        selection = [r for r in rows if not {"heldout", "repeat"} & set(r["tags"])]
        last = max((r["protocol"]["step"] for r in selection), default=None)
        ends = [r["checkpoint"] for r in selection if r["protocol"]["step"] == last]
        finals = [r["checkpoint"] for r in rows if "final" in r["tags"]]
        stored_final = finals[0] if len(finals) == 1 else finals or None
        end = ends[0] if len(ends) == 1 else ends or None
        out.append({"run_id": rid, "checkpoint": "selection", "metric": f"final (step {last})",
                    "stored": stored_final, "recomputed": end,
                    "verdict": "identical" if stored_final == end and isinstance(end, str) else "differs",
                    "device": ""})  # one row tagged final, the one latest checkpoint's
        if not selection or any(key not in r["metrics"] for r in selection):
            continue  # the runner selects only when every selection row has the primary value (evaluate.py)
        pick = min(selection, key=lambda r: _badness(key, _number(r["metrics"][key])))["checkpoint"]
        tagged = [r["checkpoint"] for r in rows if "selected" in r["tags"]]
        heldout = [r["checkpoint"].split("/")[0] for r in rows if "heldout" in r["tags"]]
        for what, stored in (("selected", tagged), ("held-out best", heldout)):
            value = stored[0] if len(stored) == 1 else stored or None
            out.append({"run_id": rid, "checkpoint": "selection", "metric": f"{what} by {key}",
                        "stored": value, "recomputed": pick, "verdict": "identical" if value == pick else "differs",
                        "device": ""})
    return out


def _kept(run: dict, row: dict, last_step: int) -> bool:
    """Whether the run's recipe keeps ``row``'s checkpoint: every one without ``keep_checkpoints``, else at least
    the newest (the final one, at ``last_step`` of its rows)."""
    return not (run.get("config") or {}).get("keep_checkpoints") or row["protocol"]["step"] >= last_step


def checkpoint_difference(run_id: str, checkpoint: str, stored: str, recomputed: str, device: str = "") -> dict:
    """A difference for a checkpoint the study should hold but cannot show: ``recomputed`` says why
    ("missing", or ``unreadable(exc)``). Plain verify and --retrain (retrain.py) report it alike."""
    return {"run_id": run_id, "checkpoint": checkpoint, "metric": "checkpoint", "stored": stored,
            "recomputed": recomputed, "verdict": "differs", "device": device}


def unreadable(exc) -> str:
    """How a checkpoint that cannot be read (an UnreadableCheckpoint) is shown as the recomputed value."""
    return f"unreadable: {exc.path.name}: {exc.reason}"


def _checkpoint_row(row: dict, recomputed: str) -> dict:
    """``row``'s values cannot be recomputed: its checkpoint is missing or unreadable, a difference."""
    return {**checkpoint_difference(row["run_id"], row["checkpoint"], row["protocol"]["checkpoint"], recomputed),
            "values": len(row["metrics"])}


def verify_run(study_path: str, run: dict, rows: list[dict], eval_spec: dict, retrain: list[tuple] | None,
               scope: dict | None) -> tuple[list[dict], list[dict], float]:
    """One run's share, a task for an executor (another process, perhaps): its rows recomputed, each checkpoint
    read checked against the recipe the store names, and with ``retrain`` (the run, or its group, as (run,
    final row) pairs) trained again (retrain.py). Returns (comparisons, rows not recomputed with the reason,
    seconds of training, how many of the rows' stored values were recomputed or not, by reason: accounting.py)."""
    from ..confine import restored
    from ..training.checkpoint import UnreadableCheckpoint
    from .samedata import verify_rows as same_data

    checked, skipped, recipes, seconds, tally = [], [], set(), 0.0, defaultdict(int)
    run_dir = Path(study_path) / "runs" / run_dir_name(run["run_id"])
    last_step = max((r["protocol"]["step"] for r in rows), default=0)
    with restored(scope):
        for row in rows:
            n = len(row["metrics"])
            sidecar = run_dir / "checkpoints" / f"{row['protocol']['checkpoint']}.json"
            try:
                if sidecar.is_file() and sidecar.stem not in recipes:
                    recipes.add(sidecar.stem)  # the checkpoint was trained with the recipe the store names
                    checked += recipe_differences(run, sidecar)
                fresh, why = recompute(run_dir, row, eval_spec)
            except UnreadableCheckpoint as exc:  # kept, but damaged: evidence that cannot be read, a difference
                checked.append(_checkpoint_row(row, unreadable(exc)))
                tally[acc.MISSING] += n
                continue
            if fresh is None and not sidecar.is_file():
                if _kept(run, row, last_step):
                    checked.append(_checkpoint_row(row, "missing"))  # the recipe keeps it: evidence removed
                    tally[acc.MISSING] += n
                    continue
                excused = acc.NOT_KEPT  # the recipe's keep_checkpoints: named, not held against the study
                why = f"checkpoint {row['protocol']['checkpoint']} was not kept (keep_checkpoints)"
            else:
                excused = None
            if fresh is None:
                skipped.append({"run_id": row["run_id"], "checkpoint": row["checkpoint"], "reason": why, "values": n,
                                "excused": excused is not None})
                tally[excused or acc.UNCHECKABLE] += n
                continue
            tally["recomputed"] += n
            for metric, value in sorted(row["metrics"].items()):
                now = fresh.get(metric, NOT_COMPUTED)
                checked.append({"run_id": row["run_id"], "checkpoint": row["checkpoint"], "metric": metric,
                                "stored": value, "recomputed": now,
                                "verdict": "differs" if now is NOT_COMPUTED else compare(value, now),
                                "device": row["protocol"].get("device", "cpu")})
            # the study stores every metric it computes: one the row lacks was deleted (as verify_reference says)
            for metric in sorted(fresh.keys() - row["metrics"].keys()):
                checked.append({"run_id": row["run_id"], "checkpoint": row["checkpoint"], "metric": metric,
                                "stored": "absent", "recomputed": fresh[metric], "verdict": "differs",
                                "device": row["protocol"].get("device", "cpu")})
        checked += same_data(run, rows)  # the data the rows were measured on is this machine's (samedata.py)
        if retrain is not None:
            from .retrain import retrain_group

            more, left_out, seconds = retrain_group(Path(study_path), retrain, eval_spec)
            checked += more
            skipped += left_out
    return checked, skipped, seconds, dict(tally)


def verify_reference(dataset: str, config: dict, stored_rows: list[dict], eval_spec: dict, seeds: list[int],
                     scope: dict | None) -> tuple[list[dict], list[dict], float, dict]:
    """One dataset's reference rows (real data, trivial generators: the report's ceiling and floor) drawn
    again as the runner drew them (from the dataset's first run's config) and compared with the stored ones;
    a task for an executor, shaped as ``verify_run``'s."""
    from ..confine import restored
    from .calibration import calibrate

    stored = {(c["row"], c["checkpoint"], c["seed"], c["metric"]): c for c in stored_rows}
    tqdm.write(as_line(f"drawing the reference rows of {dataset} again (real data, trivial generators; "
                       f"{len(seeds)} seeds)"))
    with restored(scope), threads_of(stored_rows[0]["protocol"]):
        drawn = calibrate(config, eval_spec, seeds, device="cpu")  # as runs' rows are: on the CPU
    fresh = {(row["row"], row["checkpoint"], row["seed"], metric): {"value": value, "protocol": row["protocol"]}
             for row in drawn for metric, value in row["metrics"].items()}
    out = []
    for key in sorted(stored.keys() | fresh.keys(), key=str):
        row, checkpoint, seed, metric = key
        mine, now = stored.get(key), fresh.get(key)
        base = {"run_id": f"{dataset} reference '{row}'", "checkpoint": f"{checkpoint}, seed {seed}",
                "device": (mine or now)["protocol"].get("device", "cpu")}
        if mine is None or now is None:  # a row deleted from, or added to, the store (NULL is a NaN kept)
            out.append({**base, "metric": metric, "stored": "absent" if mine is None else mine["value"],
                        "recomputed": "absent" if now is None else now["value"], "verdict": "differs"})
            continue
        out.append({**base, "metric": metric, "stored": mine["value"], "recomputed": now["value"],
                    "verdict": compare(mine["value"], now["value"])})
        out += [{**base, "metric": f"{metric} {field}", "stored": mine["protocol"][field],
                 "recomputed": now["protocol"][field], "verdict": "differs"}
                for field in ("split", "n_real", "n_fake") if mine["protocol"][field] != now["protocol"][field]]
    return out, [], 0.0, {"recomputed": len(stored_rows)}


def _task(kind: str, *args):
    return (verify_run if kind == "run" else verify_reference)(*args)


def verify_study(path: str | Path, which: str = "headline", sample: int | None = None, seed: int = 0,
                 reference: bool = True, retrain: int = 0, workers: int | None = None) -> dict:
    """Every chosen row recomputed and compared, and ``retrain`` of the chosen runs trained again
    (retrain.py), one task per run and per dataset's reference rows, on ``workers`` processes (default one
    per core; 1: in this one); the caller has entered the study's reading scope."""
    from ..confine import scope_dict
    from .calibration import calibration_runs
    from .executors import InProcess, Lost, make_executor, usable_cores
    from .rebuild import check_readable
    from .retrain import AGAIN, choose
    from .store import Store

    study = StudyDir(path)
    spec, expanded = check_readable(study)
    store = Store(study.store_path, readonly=True)
    try:
        runs, evals, calibration = {r["run_id"]: r for r in store.runs()}, store.evals(), store.calibration()
    finally:
        store.close()
    total = len(evals)  # check_readable refused evaluation rows of no run (the store's reader leaves them out)
    keys = {(c["dataset"], c["row"], c["checkpoint"], c["seed"], c["metric"]) for c in calibration}
    if len(keys) != len(calibration):
        raise UserError(f"{study.store_path}: a reference value is stored twice; not a ganbench study store (it "
                        "keeps one)")
    done = sorted(rid for rid, r in runs.items() if r["status"] == "done")
    if not done:
        raise UserError(f"{path}: no finished run to verify")
    if sample is not None:
        if sample < 1:
            raise UserError(f"--runs must be at least 1; got {sample}")
        done = sorted(random.Random(seed).sample(done, min(sample, len(done))))
    if retrain < 0:
        raise UserError(f"--retrain must be at least 0; got {retrain}")
    chosen = set(done)
    grouped = acc.stored_rows(evals, str(study.store_path))
    rows = [r for r in grouped if r["run_id"] in chosen and (which == "all" or set(HEADLINE) & set(r["tags"]))]
    tally: dict[str, int] = defaultdict(int)  # the values of the rows not chosen, by why
    for r in grouped:
        status = runs[r["run_id"]]["status"]
        why = (acc.unfinished(status) if status != "done" else acc.NOT_DRAWN if r["run_id"] not in chosen
               else None if which == "all" or set(HEADLINE) & set(r["tags"]) else acc.NOT_CHOSEN)
        if why:
            tally[why] += len(r["metrics"])
    reference_tally: dict[str, int] = defaultdict(int)
    by_run: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_run[r["run_id"]].append(r)
    finals = {r["run_id"]: r for r in grouped if "final" in r["tags"]}
    again, not_again, eligible = choose(runs, finals, done, retrain, seed) if retrain else ([], [], 0)
    eval_spec, scope = spec.eval.model_dump(), scope_dict()
    tasks = []  # the reference rows first: each is a long task, and the runs' fill the workers around them
    datasets = calibration_runs(expanded)
    for c in calibration:
        if c["dataset"] not in datasets or not reference:
            reference_tally[acc.FOREIGN if c["dataset"] not in datasets else acc.NO_REFERENCE] += 1
    if reference:
        for dataset, r in datasets.items():
            stored = [c for c in calibration if c["dataset"] == dataset]
            if stored:
                tasks.append((("reference", dataset), ("reference", dataset, r.config, stored, eval_spec,
                                                        spec.seed_list(), scope)))
    owner = {min(set(group) & set(done)): [(runs[m], finals.get(m) if runs[m]["status"] == "done" else None)
                                           for m in group] for group in again}  # a group trains in one task
    tasks += [(("run", rid), ("run", str(study.path), runs[rid], by_run[rid], eval_spec, owner.get(rid), scope))
              for rid in done if by_run[rid] or rid in owner]
    workers = usable_cores() if workers is None else workers
    executor = InProcess() if workers == 1 else make_executor("pool", workers)
    results = {}
    try:
        for key, result in tqdm(executor.run(_task, tasks), total=len(tasks), desc="verifying", unit="task",
                                dynamic_ncols=True):
            if isinstance(result, Lost):
                raise UserError(f"verifying {key[1]}: {result.reason}; run again (with fewer --workers if "
                                "memory is short)")
            results[key] = result
    finally:
        executor.close()
    checked, skipped, seconds = [], [], 0.0
    known: dict[str, set] = defaultdict(set)  # dataset -> the metrics its stored rows hold
    for e in evals:
        known[runs[e["run_id"]]["dataset"]].add(e["metric"])
    never = set()  # metrics this version computes that the study never stored (made before they existed)
    for key, _ in tasks:
        if key[0] == "run":
            dataset = runs[key[1]]["dataset"]
            for c in results[key][0]:
                if c["stored"] == "absent" and c["metric"] not in known[dataset]:
                    never.add(c["metric"])  # absent from every row of the dataset: not a deletion
                else:
                    checked.append(c)
            skipped += results[key][1]
            seconds += results[key][2]
        for why, n in results[key][3].items():
            (tally if key[0] == "run" else reference_tally)[why] += n
    checked += acc.row_differences([r for r in grouped if r["run_id"] in chosen], eval_spec)
    checked += selection_checks(grouped, done, {r.run_id: r.primary for r in expanded})
    for key, _ in tasks:
        if key[0] == "reference":
            checked += results[key][0]
    stored = {"evaluation": acc.summary(tally, total), "reference": acc.summary(reference_tally, len(calibration))}
    retrained = None
    if retrain:
        mine = [c for c in checked if c["checkpoint"].endswith(f" {AGAIN}")]
        retrained = {"runs": sorted(m for group in again for m in group), "trainings": len(again),
                     "drawn": min(retrain, eligible),
                     "eligible": eligible, "seconds": round(seconds, 1), "values": len(mine),
                     "identical": sum(c["verdict"] == "identical" for c in mine)}
    counts: dict[str, int] = defaultdict(int)
    for c in checked:
        counts[c["verdict"]] += 1
    software = {"made_by": sorted(provenance.software_of([runs[r] for r in done])),
                "verified_with": provenance.software_label(provenance.record())}
    return {"study": spec.name, "runs": done, "rows": len(rows), "reference": reference, "values": checked,
            "software": software, "stored": stored, "unverified": acc.unverified(stored), "never_stored": sorted(never),
            "skipped": skipped + not_again, "retrained": retrained,
            "counts": {k: counts[k] for k in ("identical", "agrees", "differs")}, "rule": {"rtol": RTOL, "atol": ATOL}}
