import json
import sqlite3

import pytest

from ganbench.study.spec import StudySpec, expand
from ganbench.study.store import Store


def _result(run_id, value):
    return {"run_id": run_id, "status": "done", "steps": 10, "train_seconds": 1.5, "efficiency": {"g_params": 3},
            "evals": [{"checkpoint": "step_0000010", "step": 10, "tags": ["final", "best"],
                       "metrics": {"fid": value, "precision": 0.5},
                       "protocol": {"n_real": 100, "n_fake": 100, "checkpoint": "step_0000010", "split": "train",
                                    "step": 10, "seed": 0, "extractor": "raw"}}]}


def test_round_trip(tmp_path):
    runs = expand(StudySpec(seeds=2, budget={"steps": 10}))
    store = Store(tmp_path / "s.sqlite")
    store.set_meta(spec_digest="abc")
    store.add_runs(runs)
    store.add_runs(runs)  # idempotent
    assert [r["status"] for r in store.runs()] == ["queued", "queued"]
    store.mark_running(runs[0].run_id)
    store.finish(runs[0].run_id, _result(runs[0].run_id, 1.25))
    store.close()
    again = Store(tmp_path / "s.sqlite")
    assert again.get_meta("spec_digest") == "abc"
    rows = {r["run_id"]: r for r in again.runs()}
    first = rows[runs[0].run_id]
    assert first["status"] == "done" and first["attempts"] == 1 and first["efficiency"] == {"g_params": 3}
    assert first["config"] == runs[0].config
    evals = again.evals()
    assert [(e["metric"], e["value"], e["tags"]) for e in evals] == [("fid", 1.25, ["final", "best"]),
                                                                     ("precision", 0.5, ["final", "best"])]
    assert evals[0]["protocol"] == _result("x", 0)["evals"][0]["protocol"] and evals[0]["seed"] == 0
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_finish_is_atomic(tmp_path):
    runs = expand(StudySpec(seeds=1, budget={"steps": 10}))
    store = Store(tmp_path / "s.sqlite")
    store.add_runs(runs)
    rid = runs[0].run_id
    store.mark_running(rid)
    bad = _result(rid, 1.0)
    bad["evals"].append(dict(bad["evals"][0]))  # same (run, step, metric) twice: the insert fails
    with pytest.raises(sqlite3.IntegrityError):
        store.finish(rid, bad)
    assert store.status(rid) == "running" and store.evals() == []  # nothing half-written


def test_store_from_before_ensembles_and_compile_gains_their_columns(tmp_path):
    """A store written before runs recorded ``trained_with`` and ``compiled`` opens, keeps its rows and
    records both from then on."""
    from ganbench.study import store as store_module

    old = store_module.SCHEMA.replace(", trained_with TEXT, compiled TEXT", "")
    assert old != store_module.SCHEMA
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.executescript(old)
    db.close()
    runs = expand(StudySpec(seeds=1, budget={"steps": 10}))
    again = Store(tmp_path / "s.sqlite")
    again.add_runs(runs)
    run_id = runs[0].run_id
    assert again.runs()[0]["compiled"] is None and again.runs()[0]["trained_with"] is None
    again.finish(run_id, {**_result(run_id, 1.0), "compiled": "default", "trained_with": [run_id, "other"]})
    row = again.runs()[0]
    assert row["compiled"] == "default" and row["trained_with"] == [run_id, "other"]


def test_store_from_before_faults_were_counted_opens_with_them_unknown(tmp_path):
    """A store made before ``faults`` was a column (its ``attempts`` counted submissions) opens, writable
    and read-only; its runs' fault counts are unknown (NULL) and stay so, its new runs count from 0."""
    from ganbench.study import store as store_module

    old = store_module.SCHEMA.replace(", faults INTEGER DEFAULT 0", "")
    assert old != store_module.SCHEMA
    first, second = expand(StudySpec(seeds=2, budget={"steps": 10}))
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.executescript(old)
    db.execute("INSERT INTO runs (run_id, variant, dataset, seed, config, config_hash, attempts) "
               "VALUES (?, ?, ?, ?, ?, 'h', 2)", (first.run_id, first.variant, first.dataset, first.seed,
                                                 json.dumps(first.config)))
    db.commit()
    db.close()
    assert Store(tmp_path / "s.sqlite", readonly=True).runs()[0]["faults"] is None  # read as it is
    again = Store(tmp_path / "s.sqlite")
    again.add_runs([first, second])
    again.requeue(first.run_id, "disk full")
    again.requeue(second.run_id, "disk full")
    rows = {r["run_id"]: r for r in again.runs()}
    assert (rows[first.run_id]["attempts"], rows[first.run_id]["faults"]) == (2, None)
    assert (rows[second.run_id]["attempts"], rows[second.run_id]["faults"]) == (0, 1)
