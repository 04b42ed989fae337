"""Rebuild a study's store from its runs' own directories (``ganbench study rebuild DIR``).

Every study run leaves ``result.json`` in its directory: the same record the driver writes to the
store. When ``study.sqlite`` is lost or damaged, the spec (``spec.yaml``) and those files give a fresh
store: finished runs come back with their results, the others are queued for ``study resume``, which
also recomputes the calibration rows. The damaged store is kept beside it, never deleted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..config import make_config
from .spec import expand
from .store import FINISHED, Store
from .worker import RESULT_FILE, run_dir_name


def read_result(run_dir: Path, run_id: str, config_hash: str) -> dict | None:
    """A run's saved result when it is readable, finished, and belongs to this run and config."""
    path = run_dir / RESULT_FILE
    try:
        saved = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("run_id") != run_id or saved.get("config_hash") != config_hash:
        return None
    if saved.get("status") not in FINISHED or not isinstance(saved.get("evals", []), list):
        return None
    return saved


def rebuild_store(study) -> dict:
    """Write a fresh store for ``study`` (a StudyDir) from its spec and run directories; return counts."""
    spec = study.read_spec()
    runs = expand(spec, stored=str(study.spec_path))
    fresh = study.path / f".{study.store_path.name}.rebuild"
    for leftover in (fresh, Path(f"{fresh}-wal"), Path(f"{fresh}-shm")):
        leftover.unlink(missing_ok=True)
    store = Store(fresh)
    try:
        store.set_meta(spec_digest=spec.digest(), name=spec.name)
        store.add_runs(runs)
        recovered = 0
        for r in runs:
            digest = make_config(r.config, stored=f"run {r.run_id}").digest()
            saved = read_result(study.path / "runs" / run_dir_name(r.run_id), r.run_id, digest)
            if saved is not None:
                store.finish(r.run_id, saved)
                recovered += 1
    except BaseException:
        store.close()
        fresh.unlink(missing_ok=True)
        raise
    store.close()  # the last connection checkpoints the WAL into the file
    if study.store_path.exists():
        kept = study.path / f"{study.store_path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        study.store_path.rename(kept)
    for extra in ("-wal", "-shm"):
        Path(f"{study.store_path}{extra}").unlink(missing_ok=True)
    fresh.rename(study.store_path)
    for name in ("results.csv", "results.json", "report.html"):  # they described the old store
        (study.path / name).unlink(missing_ok=True)
    return {"runs": len(runs), "recovered": recovered, "queued": len(runs) - recovered}
