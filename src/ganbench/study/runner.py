"""Run (or resume) a study: expand the spec, queue what is not finished, execute, record.

The driver holds a lock on the study directory, records each finished run in one transaction, and
can be killed at any moment: the next `ganbench study run` (or `resume`) skips finished runs and
continues interrupted ones from their last checkpoint, ending with the same results table.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from ..confine import STUDY, config_paths, parse_json, reading, scope_dict, stored_file
from ..errors import UserError
from ..fileio import atomic_write_text
from ..textsafe import as_line
from ..yamlio import read_yaml_file
from . import faults
from .executors import WORKER_DIED, Lost
from .confirm import check_origin
from .extend import extend_store, extension_line, extensions, first_difference
from .evaluation import check_eval_data, check_stored_n
from .threads import on_cpu, recorded, study_threads
from .groups import queue
from .identities import check_resumed
from .samedata import check_resumed as check_same_data
from .spec import StudySpec, expand, spec_of
from .store import FINISHED, Store, check_companions, check_store
from .rebuild import check_complete
from .worker import RESULT_FILE, execute_group, run_dir_name

STORE = "study.sqlite"


class StudyDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.store_path = stored_file(self.path, self.path / STORE)  # not links out of the study directory
        self.spec_path = stored_file(self.path, self.path / "spec.yaml")
        check_companions(self.store_path)  # files SQLite opens itself, beside it

    def exists(self) -> bool:
        return self.store_path.is_file()

    def read_spec(self) -> StudySpec:
        if not self.spec_path.is_file():
            raise UserError(f"{self.path} is not a ganbench study directory (no spec.yaml)")
        tree = read_yaml_file(self.spec_path)
        if not isinstance(tree, dict):
            raise UserError(f"{self.spec_path}: expected a mapping of study keys")
        return spec_of(tree, str(self.spec_path), stored=True)

    def lock(self):
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / ".lock", "w")  # noqa: SIM115  (held open for the whole study)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise UserError(f"another ganbench process is running the study in {self.path}") from None
        return handle


RESULT_FILES = ("results.csv", "results.json", "report.html", "reference.csv")  # by `study report`


def prepare(study: StudyDir, spec: StudySpec, force_new: bool, runs: list, extend: bool = False,
            retry_failed: bool = False) -> None:
    """Make ``study`` hold ``spec``: a new study, the same one (resumed), a replacement (``force_new``) or
    the stored one with runs added (``extend``, extend.py)."""
    if force_new and extend:
        raise UserError("--force-new replaces the study and --extend keeps its runs; choose one")
    if spec.confirms is not None and (force_new or not study.exists()):  # a new confirmation: its origin's recipe
        check_origin(spec)
    if study.exists():
        check_store(study.store_path)
        old = study.read_spec()
        if old.digest() != spec.digest() and extend:
            old_runs = expand(old, stored=str(study.spec_path))
            check_matches(study, old, old_runs)
            check_complete(study, old_runs, resuming=True)
            check_stored_rows(study, spec, runs, retry_failed)
            record = extend_store(study.store_path, old, spec, old_runs, runs)
            tqdm.write(as_line(f"extending study {old.name!r} in {study.path}: {extension_line(record)}"))
            for name in RESULT_FILES:  # they describe the smaller study until the report is written again
                (study.path / name).unlink(missing_ok=True)
        elif old.digest() != spec.digest():
            if not force_new:
                raise UserError(f"{study.path} holds a study with a different spec; pass --force-new to replace it, "
                                "--extend to add its new runs to it, or choose another directory")
            study.store_path.unlink()
            for extra in ("study.sqlite-wal", "study.sqlite-shm", *RESULT_FILES):
                (study.path / extra).unlink(missing_ok=True)
            shutil.rmtree(study.path / "runs", ignore_errors=True)
        else:
            check_complete(study, check_matches(study, spec, runs), resuming=True)
            check_stored_rows(study, spec, runs, retry_failed)
    elif study.path.exists() and any(p.name != ".lock" for p in study.path.iterdir()) and not force_new:
        raise UserError(f"{study.path} is not empty and holds no study; choose another directory")
    atomic_write_text(study.spec_path, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))


def check_stored_rows(study: StudyDir, spec: StudySpec, runs: list, retry_failed: bool) -> None:
    """The runs a resume or extension will evaluate can stand beside the rows the store holds (the classifier
    weights that measured them, their sample count, the bytes of their data): checked before anything is
    written, since a refusal after it left an extension recorded, spec.yaml rewritten and the study's report
    deleted (a `study extend` on a machine whose LeNet has other weights, refused by check_resumed, did so)."""
    store = Store(study.store_path, readonly=True)
    try:
        status = {r["run_id"]: r["status"] for r in store.runs()}
        again = ("failed",) if retry_failed else ()
        todo = [r for r in runs if status.get(r.run_id) not in FINISHED or status[r.run_id] in again]
        check_resumed(store, todo, spec.eval.model_dump())  # its stored rows' classifier weights are this machine's
        evals = store.evals() if todo else []  # read once for both checks
        check_stored_n(evals, todo, spec)  # and their sample count the spec's
        check_same_data(evals, todo)  # and the data they were measured on this machine's (samedata.py)
    finally:
        store.close()


def check_matches(study: StudyDir, spec: StudySpec, runs: list, trained: bool = True) -> list:
    """Refuse a spec.yaml edited by hand after the study started: its runs must be the store's runs, and its
    ``confirms:`` block (outside the digest: it changes no result) the one the study ran with, since editing
    it after the results would choose the hypotheses after the look. Returns the runs the store holds
    already: all of them, or the old ones of an extension killed half-way. ``trained``: also hold the store's
    run configs to the spec (check_trained_as; the report reads a study it could not continue)."""
    store = Store(study.store_path, readonly=True)
    try:
        stored = store.get_meta("spec")
        rows = store.runs()
        last = extensions(store, done=False)[-1:]
    finally:
        store.close()
    known = {r["run_id"]: r["config_hash"] for r in rows}
    kept = None  # the spec the store keeps
    try:
        kept = StudySpec.model_validate(parse_json(stored)) if stored is not None else None
        same = kept is not None and kept.digest() == spec.digest()
    except (TypeError, ValueError):  # no such JSON (BadJSON), or a spec another version kept (a ValidationError,
        # a list among them): compare the runs themselves
        stored = None
    if stored is None:  # stores written before the spec was kept: compare the runs themselves
        from ..config import make_config

        same = known == {r.run_id: make_config(r.config, stored=f"run {r.run_id}").digest() for r in runs}
    held = runs
    if not same:  # an extension killed after writing spec.yaml, before the store took its spec (extend.py)
        same = bool(last) and last[0]["spec_digest"] == spec.digest()
        held = [r for r in runs if r.run_id in known]
    if not same:
        raise UserError(f"{study.spec_path} no longer matches the study's store (edited after the study started?); "
                        "restore it, or start over with `ganbench study run SPEC --force-new`")
    if kept is not None and kept.confirms != spec.confirms:
        raise UserError(f"{study.path}: the spec's confirms: block (the verdicts this study re-tests, fixed before "
                        "it ran) is not the one the study ran with; restore it, or confirm again into a new study")
    if trained:
        check_trained_as(study, runs, {r["run_id"]: r["config"] for r in rows})
    return held


def check_trained_as(study: StudyDir, runs: list, trained: dict) -> None:
    """Refuse to add runs to a study whose stored runs were trained with other configs than its spec gives
    now: a study made before variants stopped leaking settings into their dataset entry (2026-11-28) stored
    the leaked spec and runs that differ from it, and continuing it would mix two recipes under one
    variant name. Both sides are validated by this version, so fields added since
    (with their defaults) do not count as a difference. ``trained``: run id -> the store's config."""
    from ..config import make_config

    for r in runs:
        if r.run_id not in trained:
            continue
        then = make_config(trained[r.run_id], stored=f"run {r.run_id}")
        now = make_config(r.config, stored=f"run {r.run_id}")
        if then.digest() != now.digest():
            diff = first_difference(then.model_dump(mode="json"), now.model_dump(mode="json"))
            raise UserError(f"run '{r.run_id}' was trained with another config than {study.spec_path} gives now "
                            f"({diff}: trained -> spec); a study made by an older ganbench, whose variants could "
                            "pass settings to each other, cannot be continued: its report still reads it, and "
                            "`ganbench study run SPEC --force-new` starts it over")


def run_study(path: str | Path, spec: StudySpec, executor, force_new: bool = False, progress: bool = True,
              ensemble: tuple[str, int] | None = None, retry_failed: bool = False, compile: str | None = None,
              data_paths: Iterable[str | Path] = (), extend: bool = False, inherit_threads: int | None = None) -> dict:
    """``extend``: add the runs ``spec`` has beyond the stored study's, keeping its finished ones (extend.py);
    ``inherit_threads``: the CPU thread count to record when the store has none yet (``study confirm``: the
    confirmed study's, so that its runs train with the same recipe; threads.py);
    ``ensemble``: (mode, max_size) overriding the spec's ``ensemble`` (the CLI's --ensemble flags);
    ``retry_failed``: queue the runs recorded as failed again; ``compile``: overrides the spec's.
    ``spec`` is the caller's, so the paths it names are followed; any other path the study reads (a run's
    stored files) must lie inside ``path`` or under one of ``data_paths`` (confine.py)."""
    if not isinstance(spec, StudySpec):
        raise UserError(f"run_study needs a StudySpec (ganbench.study.spec.load_spec(PATH) reads a YAML file); "
                        f"got {type(spec).__name__}")
    runs = expand(spec)  # validates every config before anything is written
    with reading(path, STUDY, [*data_paths, *spec_paths(runs)]):
        check_eval_data(spec, runs)  # a split too small for the evaluation: refused before anything trains
        _note_single_checkpoint(spec, runs)
        return _run_study(StudyDir(path), spec, runs, executor, force_new, progress, ensemble, retry_failed,
                          compile, extend, inherit_threads)


def _note_single_checkpoint(spec: StudySpec, runs: list) -> None:
    """Say so when eval.every is not below a run's steps: each run is evaluated at its final checkpoint only
    (no learning curve; its "best" is its final), which is allowed but rarely meant."""
    late = sorted({r.config["steps"] for r in runs if spec.eval.every and spec.eval.every >= r.config["steps"]})
    if late:
        tqdm.write(f"note: eval.every {spec.eval.every} is not below the budget of {', '.join(map(str, late))} "
                   "steps: only the final checkpoint of those runs is evaluated (no learning curve; best = final)",
                   file=sys.stderr)


def resume_study(path: str | Path, executor, data_paths: Iterable[str | Path] = (), **options) -> dict:
    """Continue the study stored in ``path`` with its stored spec (``ganbench study resume``); ``options``:
    run_study's. That spec is data: its plugins must be imported already, and its paths must lie inside
    ``path`` or under one of ``data_paths``."""
    study = StudyDir(path)
    spec = study.read_spec()
    with reading(path, STUDY, data_paths):  # run_study joins this scope: the stored paths get no consent
        expand(spec, stored=str(study.spec_path))  # refused before anything runs
        return run_study(path, spec, executor, **options)


def spec_paths(runs: list) -> list[str]:
    """The path options the runs of a spec name (a spec the caller passed names the caller's paths)."""
    return [value for r in runs for _, value in config_paths(r.config)]


def _run_study(study: StudyDir, spec: StudySpec, runs: list, executor, force_new: bool, progress: bool,
               ensemble: tuple[str, int] | None, retry_failed: bool, compile: str | None, extend: bool,
               inherit_threads: int | None = None) -> dict:
    lock = study.lock()
    try:
        prepare(study, spec, force_new, runs, extend, retry_failed)  # checks the stored rows first (check_stored_rows)
        store = Store(study.store_path)
        store.set_meta(spec_digest=spec.digest(), name=spec.name,
                       spec=json.dumps(spec.model_dump(mode="json"), sort_keys=True))
        store.add_runs(runs)
        store.requeue_interrupted()  # 'running' in a store no driver holds: its driver was killed
        if retry_failed:
            for run_id in store.requeue_failed():  # their result.json no longer describes the store
                (study.path / "runs" / run_dir_name(run_id) / RESULT_FILE).unlink(missing_ok=True)
        todo = [r for r in runs if store.status(r.run_id) not in FINISHED]
        if todo:  # a report of the study before these runs would stand beside a store that has them
            for name in RESULT_FILES:
                (study.path / name).unlink(missing_ok=True)
        eval_spec = spec.eval.model_dump()
        mode, size = ensemble or (spec.ensemble.mode, spec.ensemble.max_size)
        scope = scope_dict()  # workers in other processes check paths as this driver does
        hashes = {r["run_id"]: r["config_hash"] for r in store.runs()}  # each result.json names its config
        compile_mode = compile or spec.compile
        cpu_threads = study_threads(store, executor, [r.config for r in todo], inherit_threads)  # one for its CPU runs

        def make_tasks(selected: list) -> list:
            return [(tuple(r.run_id for r in group),
                     ([{"run_id": r.run_id, "config": r.config, "config_hash": hashes[r.run_id]} for r in group],
                      str(study.path), [{**eval_spec, "primary": r.primary} for r in group],
                      cpu_threads if cpu_threads and on_cpu(group[0].config) else executor.threads,
                      compile_mode, scope))
                    for group in queue(selected, mode, size)]  # one task per group, seed-major (groups.py)

        started = time.perf_counter()
        threads = _calibration_threads(cpu_threads or recorded(store))  # the reference rows' count: the runs'
        early = _calibrate_early(store, runs, spec, executor, threads) if todo else None
        bar = tqdm(total=len(runs), initial=len(runs) - len(todo), unit="run", desc=f"study {spec.name}",
                   disable=not progress, dynamic_ncols=True)
        try:
            with bar:
                left = _execute(store, executor, make_tasks, todo, bar, progress)
        except BaseException:  # Ctrl-C, SIGTERM, a fault: the rows computed beside the runs stop with them
            if early is not None:
                early.cancel()
            raise
        _calibrate(store, runs, spec, progress, threads, early)
        summary = {"runs": len(runs), "executed": len(todo), "seconds": round(time.perf_counter() - started, 2),
                   "status": _counts(store), "left_queued": left}
        store.close()
        return summary
    finally:
        executor.close()
        lock.close()


def _calibration_threads(threads: int | None) -> int | None:
    """The study's CPU thread count, at most the usable cores: the reference rows are computed with it, as its
    runs were evaluated (a feature extractor's sums split over other threads give other last digits)."""
    from .. import cores

    return min(threads, cores.usable_cores()) if threads else None


def _calibrate_early(store: Store, runs, spec: StudySpec, executor, threads: int | None):
    """Start computing the missing reference rows beside the runs when they train in other processes
    (calibration.Early); None otherwise (in this process they would change its thread count under them)."""
    from .calibration import Early, calibration_runs

    if not getattr(executor, "separate_processes", False):
        return None
    jobs = {dataset: r.config for dataset, r in calibration_runs(runs).items() if not store.has_calibration(dataset)}
    return Early(jobs, spec.eval.model_dump(), spec.seed_list(), threads) if jobs else None


def _calibrate(store: Store, runs, spec: StudySpec, progress: bool, threads: int | None, early=None) -> None:
    """The reference rows (real data, trivial generators) of every dataset not calibrated yet, with the
    study's CPU thread count (``_calibration_threads``); ``early``: those already computed beside the runs."""
    from .calibration import calibrate, calibration_runs
    from .threads import threads_of

    for dataset, r in calibration_runs(runs).items():
        if not store.has_calibration(dataset):
            if progress:
                tqdm.write(as_line(f"calibrating {dataset}: real data and trivial generators, same protocol "
                                   "as the runs"))
            rows = early.result(dataset) if early is not None else None
            if rows is None:
                with threads_of({"threads": threads}):
                    rows = calibrate(r.config, spec.eval.model_dump(), spec.seed_list())
            store.add_calibration(dataset, rows)


def _execute(store: Store, executor, make_tasks, todo: list, bar, progress: bool) -> list[str]:
    """Run ``todo`` as the tasks ``make_tasks`` forms, recording each run's result. Runs hit by an
    infrastructure fault get ``faults.RETRIES`` more rounds after a growing pause, then stay queued;
    a task whose worker died (``Lost``) was already tried again by its executor. Each fault is one line,
    with or without ``progress`` (a log must say why a run was started again). Returns the run ids
    left queued."""
    for round_ in range(faults.RETRIES + 1):
        if round_:
            time.sleep(faults.BACKOFF_S * 2 ** (round_ - 1))
        tasks = make_tasks(todo)
        if progress and any(len(key) > 1 for key, _ in tasks):
            bar.write(f"{len(todo)} runs in {len(tasks)} tasks (runs of equal network shapes train together)")
        again: set[str] = set()
        running: set[str] = set()  # started by this driver, no outcome yet
        for key, results in executor.run(execute_group, tasks,
                                         started=lambda key: _started(store, key, running, bar)):
            running.difference_update(key)
            if isinstance(results, Lost):
                for run_id in key:
                    faults.with_retries(lambda k=run_id: store.requeue(k, results.reason))
                bar.write(as_line(f"  queued {', '.join(key)}: {results.reason}"))  # said with --no-progress too
                continue
            for result in results:
                run_id = result["run_id"]
                if result["status"] == faults.TRANSIENT:
                    faults.with_retries(lambda k=run_id, n=result.get("error", ""): store.requeue(k, n))
                    again.add(run_id)
                    word = "retry" if round_ < faults.RETRIES else "queued"  # the last round's stay queued
                    bar.write(as_line(f"{word:>8} {run_id}: {result.get('error', '')}"))
                    continue
                faults.with_retries(lambda k=run_id, r=result: store.finish(k, r))
                bar.update(1)
                if progress:
                    bar.write(as_line(_status_line(result)))
        todo = [r for r in todo if r.run_id in again]
        if not todo:
            break
    return [r["run_id"] for r in store.runs() if r["status"] not in FINISHED]


def _started(store: Store, key: tuple, running: set, bar) -> None:
    """A worker starts the runs of ``key``: one more attempt each. A run this driver started that has no
    outcome yet lost its worker (the executor starts it again): that was a fault, counted and said."""
    for run_id in key:
        if run_id in running:
            faults.with_retries(lambda k=run_id: store.requeue(k, WORKER_DIED))
            bar.write(as_line(f"   retry {run_id}: {WORKER_DIED}"))
        faults.with_retries(lambda k=run_id: store.mark_running(k))
        running.add(run_id)


def _counts(store: Store) -> dict:
    out: dict[str, int] = {}
    for r in store.runs():
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def _status_line(result: dict) -> str:
    head = f"{result['status']:>8} {result['run_id']}"
    if result["status"] != "done":
        return f"{head}: {result.get('error', '')}"
    final = next((e for e in result["evals"] if "final" in e["tags"]), None)
    shown = ", ".join(f"{k}={v:.4g}" for k, v in list(final["metrics"].items())[:3]) if final else ""
    return f"{head} ({result.get('train_seconds', 0):.1f}s train) {shown}"
