"""Rebuild a study's store from its runs' own directories (``ganbench study rebuild DIR``).

Every study run leaves ``result.json`` in its directory: the same record the driver writes to the
store. When ``study.sqlite`` is lost or damaged, the spec (``spec.yaml``) and those files give a fresh
store: finished runs come back with their results, the others are queued for ``study resume``. The
reference rows (calibration) are not in the runs' files: they are carried from the old store when it is
sound and was made for the same spec, and otherwise ``study resume`` draws them again. The old store is
kept beside it (``.damaged-<time>`` when it fails the store check, ``.previous-<time>`` when it is intact:
a rebuild also recovers runs copied in), never deleted. The same files tell ``study report`` and ``resume``
when a store that still opens has lost runs (``check_complete``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from ..config import make_config
from ..confine import STUDY, NotStoredJSON, read_stored_json, reading
from ..errors import UserError
from ..limits import MAX_STEPS, MAX_STORED_JSON
from .spec import expand
from .store import FINISHED, Store, check_store, gathered_calibration, read_only
from .worker import RESULT_FILE, run_dir_name


def _saved(run_dir: Path) -> dict | None:
    try:  # STUDY/runs/NAME: no link out of the study, no FIFO, no file larger than a result can be
        saved = read_stored_json(run_dir.parent.parent, run_dir / RESULT_FILE, MAX_STORED_JSON)
    except (OSError, NotStoredJSON):  # missing or unreadable, or no JSON (confine.parse_json): no saved result
        return None
    return saved if isinstance(saved, dict) else None


def _sqlite_number(v, integer: bool = False) -> bool:
    """A value SQLite stores as written: a float, or an int within 64 bits (a larger one is an OverflowError)."""
    return (type(v) is int and -2**63 <= v < 2**63) or (not integer and type(v) is float)


def _fits_store(saved: dict) -> bool:
    """Whether a result.json holds what Store.finish writes, in the types it writes them: a stranger's file
    with a step past 64 bits, two rows of one checkpoint or a row without metrics ended the rebuild in an
    OverflowError, IntegrityError or KeyError traceback."""
    from .store import PROTOCOL_KEYS

    def optional(key, test) -> bool:
        return saved.get(key) is None or test(saved[key])

    if not (optional("steps", lambda v: _sqlite_number(v, True) and 0 <= v <= MAX_STEPS)
            and all(optional(k, _sqlite_number) for k in ("train_seconds", "started"))
            and all(optional(k, lambda v: isinstance(v, str)) for k in ("error", "compiled"))
            and optional("efficiency", lambda v: isinstance(v, dict))
            and optional("trained_with", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))):
        return False
    seen = set()
    for row in saved.get("evals", []):
        if not (isinstance(row, dict) and isinstance(row.get("checkpoint"), str) and row["checkpoint"]
                and _sqlite_number(row.get("step"), True) and 0 <= row["step"] <= MAX_STEPS
                and isinstance(row.get("tags"), list) and all(isinstance(t, str) and "," not in t for t in row["tags"])
                and isinstance(row.get("metrics"), dict)
                and all(isinstance(m, str) and (v is None or _sqlite_number(v)) for m, v in row["metrics"].items())
                and isinstance(row.get("protocol"), dict)
                and all(type(row["protocol"].get(k)) is t for k, t in PROTOCOL_KEYS.items())):
            return False
        keys = {(row["checkpoint"], m) for m in row["metrics"]}
        if keys & seen:
            return False
        seen |= keys
    return True


def read_result(run_dir: Path, run_id: str, config_hash: str) -> dict | None:
    """A run's saved result when it is readable, finished, belongs to this run and config, and holds what
    the store records in the types it records them."""
    saved = _saved(run_dir)
    if saved is None or saved.get("run_id") != run_id or saved.get("config_hash") != config_hash:
        return None
    if saved.get("status") not in FINISHED or not isinstance(saved.get("evals", []), list):
        return None
    return saved if _fits_store(saved) else None


def check_readable(study) -> tuple:
    """The checks before a study's results are read out (the report, `study verify`): a sound store, no
    extension left half-way, every finished run recorded. Returns its spec and runs."""
    from .extend import check_not_half_extended

    check_store(study.store_path)  # never replace good results with those of a bad store
    check_not_half_extended(study)
    spec = study.read_spec()
    runs = expand(spec, stored=str(study.spec_path))
    check_complete(study, runs)  # nor with fewer runs
    return spec, runs


def check_complete(study, runs, resuming: bool = False) -> None:
    """Refuse (one line) a store that silently lost what the runs' own files hold, instead of reporting
    fewer runs: a run of the spec without a row (every run gets one when the study starts), a finished
    result.json whose run the store does not record as finished, or a finished run with fewer evaluation
    rows than its result.json. ``resuming``: a row left running or queued beside a finished result.json is
    what a killed driver leaves, and resuming runs it again (same result), so only the report counts it.
    Evaluation rows that name no run of the store (a reader joins them to their runs) are refused too."""
    db = read_only(study.store_path)  # a check writes nothing (the directory may even be read-only)
    try:
        rows = {run_id: {"status": status, "config_hash": digest, "label": (dataset, variant, seed)}
                for run_id, status, digest, dataset, variant, seed
                in db.execute("SELECT run_id, status, config_hash, dataset, variant, seed FROM runs")}
        n_evals = dict(db.execute("SELECT run_id, COUNT(*) FROM evals GROUP BY run_id").fetchall())
    finally:
        db.close()
    orphans = sum(n for run_id, n in n_evals.items() if run_id not in rows)
    if orphans:  # the store's reader joins evaluations to their runs: these would be left out without a word
        raise UserError(f"{study.store_path}: {orphans} evaluation values name no run of the store; not a ganbench "
                        f"study store as written; `ganbench study rebuild {study.path}` makes it again from the "
                        "runs' own files")
    missing, unrecorded = [], []
    for r in runs:
        row = rows.get(r.run_id)
        if row is None:
            missing.append(r.run_id)
            continue
        saved = read_result(study.path / "runs" / run_dir_name(r.run_id), r.run_id, row["config_hash"])
        if saved is None:
            continue
        if row["status"] not in FINISHED:
            if not resuming:
                unrecorded.append(r.run_id)
        elif n_evals.get(r.run_id, 0) < sum(len(e.get("metrics", {})) for e in saved.get("evals", [])):
            unrecorded.append(r.run_id)
    # the report groups runs by these columns, not by the id: a row relabelled (another seed or variant) or
    # one the spec does not have would be counted in place of, or beside, the spec's runs without a word
    ids = {r.run_id for r in runs}
    wrong = [f"'{r.run_id}' is stored as {rows[r.run_id]['label']}" for r in runs if r.run_id in rows
             and rows[r.run_id]["label"] != (r.dataset, r.variant, r.seed)]
    wrong += [f"'{run_id}' is not a run of the spec" for run_id in sorted(set(rows) - ids)]
    if wrong:
        more = f" and {len(wrong) - 1} more" if len(wrong) > 1 else ""
        raise UserError(f"{study.store_path}: the study store's runs are not the spec's ({wrong[0]}{more}; "
                        "(dataset, variant, seed) is what the report groups by); `ganbench study rebuild "
                        f"{study.path}` makes the store again from the runs' own files")
    if missing or unrecorded:
        lost = missing + unrecorded
        shown = ", ".join(lost[:3]) + (f" and {len(lost) - 3} more" if len(lost) > 3 else "")
        parts = ([f"{len(missing)} of the spec's {len(runs)} runs have no row"] if missing else []) + (
            [f"{len(unrecorded)} finished runs on disk (result.json) are missing from it"] if unrecorded else [])
        raise UserError(f"{study.store_path}: the study store lost runs ({'; '.join(parts)}: {shown}); it would "
                        f"{'run them again' if resuming else 'report fewer runs'}; `ganbench study rebuild "
                        f"{study.path}` restores them from the runs' own files")


def _history(path: Path) -> tuple[str | None, str | None]:
    """(the old store's record of extensions and merges (extend.py), why that record is unknown): a record
    is carried only from a sound store; without one (no store, a damaged one) whether the study grew after
    a look is unknown, and a store rebuilt that way stays unknown through later rebuilds."""
    from .extend import _records

    when = time.strftime("%Y-%m-%d")
    try:
        db = read_only(path)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('extensions', 'extensions_unknown')"))
        finally:
            db.close()
    except (sqlite3.DatabaseError, UserError, OSError):
        return None, f"rebuilt on {when} without {path.name} ({'unreadable' if path.exists() else 'missing'})"
    try:
        _records(meta.get("extensions"), path)  # a damaged record is not carried into the fresh store
    except (UserError, TypeError):
        return None, f"rebuilt on {when}: the record of extensions in {path.name} was damaged"
    unknown = meta.get("extensions_unknown")
    return meta.get("extensions"), (unknown if isinstance(unknown, str) else None)


def _reference_rows(path: Path, digest: str, datasets: set[str], seeds: set[int]) -> dict[str, list[dict]]:
    """The old store's reference rows per dataset, in ``Store.add_calibration``'s shape, when that store is
    sound and was last run with this very spec (same digest: datasets, seeds, evaluation protocol): the rows
    are drawn from the spec alone, so they are the ones ``study resume`` would draw again. Otherwise none."""
    try:
        check_store(path)
        old = Store(path, readonly=True)
        try:
            if old.get_meta("spec_digest") != digest:
                return {}
            found = old.calibration()  # every row checked: a protocol that is no protocol, a value that is text
        finally:
            old.close()
    except (sqlite3.DatabaseError, UserError, OSError):
        return {}
    return gathered_calibration([r for r in found if r["dataset"] in datasets and r["seed"] in seeds])


def rebuild_store(study, data_paths: Iterable[str | Path] = ()) -> dict:
    """Write a fresh store for ``study`` (a StudyDir) from its spec and run directories; return counts, and
    in ``changed`` the runs whose result.json is of another config than spec.yaml gives them now (spec.yaml
    edited since they ran: the store follows spec.yaml, so they are queued, and the caller says so).
    The stored spec is data: its paths must lie inside the study directory or under one of ``data_paths``."""
    spec = study.read_spec()
    with reading(study.path, STUDY, data_paths):  # the rest reads only the runs' own result.json files
        runs = expand(spec, stored=str(study.spec_path))
    fresh = study.path / f".{study.store_path.name}.rebuild"
    for leftover in (fresh, Path(f"{fresh}-wal"), Path(f"{fresh}-shm")):
        leftover.unlink(missing_ok=True)
    history, unknown = _history(study.store_path)
    reference = _reference_rows(study.store_path, spec.digest(), {r.dataset for r in runs}, set(spec.seed_list()))
    store = Store(fresh)
    try:
        store.set_meta(spec_digest=spec.digest(), name=spec.name)
        if history is not None:  # how the study grew: the report's optional-stopping caveat rests on it
            store.set_meta(extensions=history)
        if unknown is not None:  # the runs' own files do not say: the report must not read "never grew"
            store.set_meta(extensions_unknown=unknown)
        store.add_runs(runs)
        for dataset, rows in reference.items():
            store.add_calibration(dataset, rows)
        recovered, changed = 0, []
        for r in runs:
            digest = make_config(r.config, stored=f"run {r.run_id}").digest()
            run_dir = study.path / "runs" / run_dir_name(r.run_id)
            saved = read_result(run_dir, r.run_id, digest)
            if saved is not None:
                store.finish(r.run_id, saved)
                recovered += 1
            elif (other := _saved(run_dir)) is not None and other.get("run_id") == r.run_id:
                changed.append(r.run_id)  # its result is of another config: spec.yaml edited since it ran
    except BaseException:
        store.close()
        fresh.unlink(missing_ok=True)
        raise
    store.close()  # the last connection checkpoints the WAL into the file
    kept = None
    if study.store_path.exists():  # kept beside it, named for what it was: a store that opens is not damaged
        try:
            check_store(study.store_path)
            state = "previous"
        except UserError:
            state = "damaged"
        kept = study.path / f"{study.store_path.name}.{state}-{time.strftime('%Y%m%d-%H%M%S')}"
        study.store_path.rename(kept)
    for extra in ("-wal", "-shm"):
        Path(f"{study.store_path}{extra}").unlink(missing_ok=True)
    fresh.rename(study.store_path)
    for name in ("results.csv", "results.json", "report.html", "reference.csv"):  # of the old store
        (study.path / name).unlink(missing_ok=True)
    return {"runs": len(runs), "recovered": recovered, "queued": len(runs) - recovered, "changed": changed,
            "kept": kept, "extensions_unknown": unknown, "reference_carried": sorted(reference),
            "reference_missing": sorted({r.dataset for r in runs} - set(reference))}
