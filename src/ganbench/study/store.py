"""The study store: one SQLite file (WAL mode) in the study directory.

Tables: ``meta`` (the spec and its digest), ``runs`` (one row per run: config and its hash, status
queued/running/done/failed/diverged, timings, error text, ``attempts``: the times a worker started it,
``faults``: the times a machine fault stopped it without a result, NULL in a store older than that count)
and ``evals`` (one row per run, checkpoint and metric, with the protocol as JSON; a checkpoint evaluated twice has two names, e.g.
``step_0001200`` and ``step_0001200/repeat``) and ``calibration`` (the reference rows of each dataset:
real data and trivial generators, per seed and checkpoint protocol). A finished run's status and all its evaluation
rows are written in one transaction, so a crash leaves either all of a run's results or none.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from pathlib import Path

from ..confine import BadJSON, parse_json
from ..errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, variant TEXT NOT NULL, dataset TEXT NOT NULL, seed INTEGER NOT NULL,
    config TEXT NOT NULL, config_hash TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'queued',
    started REAL, finished REAL, train_seconds REAL, steps INTEGER, error TEXT, attempts INTEGER DEFAULT 0,
    efficiency TEXT, trained_with TEXT, compiled TEXT, software TEXT, faults INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS evals (
    run_id TEXT NOT NULL REFERENCES runs(run_id), step INTEGER NOT NULL, checkpoint TEXT NOT NULL,
    tags TEXT NOT NULL, metric TEXT NOT NULL, value REAL, protocol TEXT NOT NULL,
    PRIMARY KEY (run_id, checkpoint, metric));
CREATE TABLE IF NOT EXISTS calibration (
    dataset TEXT NOT NULL, row TEXT NOT NULL, checkpoint TEXT NOT NULL, seed INTEGER NOT NULL, metric TEXT NOT NULL,
    value REAL, protocol TEXT NOT NULL, PRIMARY KEY (dataset, row, checkpoint, seed, metric));
"""

FINISHED = ("done", "failed", "diverged")
_SQLITE_HEADER = b"SQLite format 3\x00"
_REBUILD = "rebuild it from the runs' own directories with `ganbench study rebuild {dir}`"


def check_schema(db: sqlite3.Connection, path: str | Path) -> None:
    """Refuse a store holding triggers or views: ganbench creates neither, and a stranger's trigger runs on
    the writes of `study resume` / `extend` (one rewriting each new evaluation's value would make the report
    show numbers that were never computed)."""
    found = db.execute("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY name").fetchall()
    if found:
        kind, name = found[0]
        raise UserError(f"{path}: the study store holds a {kind} '{name}' ({len(found)} trigger(s)/view(s) in all), "
                        "which ganbench never creates; it could alter results as they are written. Rebuild the "
                        f"store from the runs' own directories with `ganbench study rebuild {Path(path).parent}`")


def check_companions(path: str | Path) -> None:
    """Refuse a store whose companion files are not plain files of the study directory. SQLite opens a WAL
    store's write-ahead log (-wal) and shared-memory index (-shm) itself, past every check of ganbench's: a
    FIFO or folder there failed as 'disk I/O error' (a full disk's hint, exit 1), a link as 'unable to open'."""
    from ..confine import file_kind

    for suffix, role in (("-wal", "write-ahead log"), ("-shm", "shared-memory index")):
        p = Path(f"{path}{suffix}")
        try:
            mode = os.lstat(p).st_mode
        except OSError:  # none there (or a part of the path is a file: whoever makes the store says so)
            continue
        if stat.S_ISREG(mode):
            continue
        what, fix = (("a link", "replace it with the file itself") if stat.S_ISLNK(mode) else
                     (file_kind(mode), "remove it (it holds no results)"))
        raise UserError(f"{p}: {what}, not a regular file; SQLite keeps the study store's {role} there and opens "
                        f"it itself, so it must be a file of the study directory: {fix}")


def read_only(path: str | Path) -> sqlite3.Connection:
    """A connection that never writes (checks run before anything may change the study directory)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return db
    except sqlite3.OperationalError:  # a read-only directory: no -shm can be made; read the file as is
        wal = Path(f"{path}-wal")
        if wal.is_file() and wal.stat().st_size:  # "as is" would leave out the transactions still in the log
            raise UserError(f"{path}: the study store's write-ahead log ({wal.name}) holds results not yet in the "
                            "store and its directory is read-only; copy the study directory somewhere writable and "
                            "read the copy") from None
        return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, timeout=30)


def check_store(path: str | Path) -> None:
    """Refuse, with one line, a store that is missing, empty, truncated, corrupt or not a ganbench
    store, before anything reads from it (or writes results computed from it). Opens it read-only."""
    path = Path(path)
    fix = _REBUILD.format(dir=path.parent)
    if not path.is_file():
        raise UserError(f"{path.parent} holds no study ({path.name} is missing)")
    with open(path, "rb") as f:
        head = f.read(len(_SQLITE_HEADER))
    if not head:
        raise UserError(f"{path}: the study store is empty (0 bytes); {fix}")
    if head != _SQLITE_HEADER:
        raise UserError(f"{path}: not an SQLite database (corrupt or foreign); {fix}")
    try:
        db = read_only(path)
        try:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise UserError(f"{path}: the study store is damaged ({check}); {fix}")
            check_schema(db, path)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"meta", "runs", "evals"} <= tables:
                raise UserError(f"{path}: not a ganbench study store (tables: {', '.join(sorted(tables)) or 'none'})")
            if db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0:
                raise UserError(f"{path}: the study store holds no runs; {fix}")
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path}: the study store cannot be read ({exc}); {fix}") from None


class Store:
    def __init__(self, path: str | Path, readonly: bool = False):
        """``readonly``: a store that is only read (a report, a merge's source, a confirmation's origin): it
        is never written, so a study on read-only media or shared by another user can be read as it is."""
        self.path = Path(path)
        if readonly:
            self.db = read_only(self.path)
            return
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            check_schema(self.db, self.path)  # before anything is written through a stranger's trigger
        except BaseException:
            self.db.close()
            raise
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}
        for column in ("trained_with", "compiled", "software"):  # studies written before these were recorded
            if column not in columns:
                self.db.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")
        if "faults" not in columns:  # its runs' faults were not counted (and `attempts` counted submissions): NULL
            self.db.execute("ALTER TABLE runs ADD COLUMN faults INTEGER")

    def close(self) -> None:
        self.db.close()

    # --- meta ---------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, **items: str) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(items.items()))

    # --- runs ---------------------------------------------------------------------------------------
    def add_runs(self, runs) -> None:
        """Register runs as queued; existing rows are kept as they are."""
        from ..config import make_config

        rows = [(r.run_id, r.variant, r.dataset, r.seed, json.dumps(r.config),
                 make_config(r.config, stored=f"run {r.run_id}").digest()) for r in runs]
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO runs (run_id, variant, dataset, seed, config, config_hash, "
                                "faults) VALUES (?, ?, ?, ?, ?, ?, 0)", rows)

    def keep_config_hash(self, run_id: str, digest: str) -> None:
        """A run taken from another study (merge.py) keeps the config hash its result.json names: an older
        version of ganbench may have hashed the same config differently."""
        self.db.execute("UPDATE runs SET config_hash=? WHERE run_id=?", (digest, run_id))

    def status(self, run_id: str) -> str:
        return self.db.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()[0]

    def mark_running(self, run_id: str) -> None:
        """A worker starts (or starts again) training ``run_id``: one more attempt."""
        self.db.execute("UPDATE runs SET status='running', started=?, attempts=attempts+1 WHERE run_id=?",
                        (time.time(), run_id))

    def requeue(self, run_id: str, note: str) -> None:
        """Back to 'queued' with no result: an infrastructure fault stopped it (the note says which; one more
        fault counted, unless the store is older than that count)."""
        self.db.execute("UPDATE runs SET status='queued', error=?, faults=faults+1 WHERE run_id=?",
                        (f"not finished: {note}", run_id))

    def requeue_interrupted(self) -> None:
        """Runs left 'running' by a driver that was killed are queued again (no fault: nothing of the
        machine stopped them; their attempts count the start)."""
        self.db.execute("UPDATE runs SET status='queued' WHERE status='running'")

    def requeue_failed(self) -> list[str]:
        """Queue every failed run again (``study resume --retry-failed``); return their ids."""
        with self.db:
            self.db.execute("BEGIN")
            ids = [r[0] for r in self.db.execute("SELECT run_id FROM runs WHERE status='failed' ORDER BY run_id")]
            self.db.execute("DELETE FROM evals WHERE run_id IN (SELECT run_id FROM runs WHERE status='failed')")
            self.db.execute("UPDATE runs SET status='queued' WHERE status='failed'")
            return ids

    def finish(self, run_id: str, result: dict) -> None:
        """Record a run's outcome and all of its evaluations atomically."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM evals WHERE run_id=?", (run_id,))
            self.db.execute(
                "UPDATE runs SET status=?, finished=?, train_seconds=?, steps=?, error=?, efficiency=?, trained_with=?, "
                "compiled=?, software=?, started=COALESCE(?, started) WHERE run_id=?",
                (result["status"], time.time(), result.get("train_seconds"), result.get("steps"),
                 result.get("error"), json.dumps(result.get("efficiency")),
                 json.dumps(result["trained_with"]) if result.get("trained_with") else None,
                 result.get("compiled"), _software_text(result.get("software")),
                 result.get("started"), run_id))
            self.db.executemany(
                "INSERT INTO evals VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, row["step"], row["checkpoint"], ",".join(row["tags"]), metric, value,
                  json.dumps(row["protocol"]))
                 for row in result.get("evals", []) for metric, value in row["metrics"].items()])

    def has_calibration(self, dataset: str) -> bool:
        return self.db.execute("SELECT 1 FROM calibration WHERE dataset=? LIMIT 1", (dataset,)).fetchone() is not None

    def add_calibration(self, dataset: str, rows: list[dict]) -> None:
        """Rows {row, checkpoint, seed, metrics, protocol} of one dataset, all at once."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM calibration WHERE dataset=?", (dataset,))
            self.db.executemany("INSERT INTO calibration VALUES (?, ?, ?, ?, ?, ?, ?)",
                                [(dataset, r["row"], r["checkpoint"], r["seed"], metric, value, json.dumps(r["protocol"]))
                                 for r in rows for metric, value in r["metrics"].items()])

    def clear_calibration(self) -> None:
        """Forget every dataset's reference rows (an extension changed the seeds they are drawn for)."""
        self.db.execute("DELETE FROM calibration")

    def calibration(self) -> list[dict]:
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name='calibration'").fetchone():
            return []  # a store older than reference rows, read without adding the table
        cur = self.db.execute("SELECT * FROM calibration ORDER BY dataset, row, checkpoint, seed, metric")
        names = [d[0] for d in cur.description]
        rows = []
        for row in cur.fetchall():
            r = dict(zip(names, row))
            where = f"{self.path}: the reference row {r['dataset']} {r['row']} {r['checkpoint']} {r['metric']}"
            r["protocol"] = _protocol(self.path, r["protocol"], where, CALIBRATION_KEYS)
            _check_number(self.path, r["value"], where)
            rows.append(r)
        return rows

    def runs(self) -> list[dict]:
        cur = self.db.execute("SELECT * FROM runs ORDER BY run_id")
        names = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            r = dict(zip(names, row))
            where = f"{self.path}: the run {r['run_id']}"
            r["config"] = _column(self.path, r, "config", where, dict, "a mapping")
            r["efficiency"] = _column(self.path, r, "efficiency", where, dict, "a mapping")
            _check_number(self.path, r["train_seconds"], f"{where} train_seconds")
            _check_number(self.path, (r["efficiency"] or {}).get("train_flops"), f"{where} train_flops")
            r["trained_with"] = _column(self.path, r, "trained_with", where, list, "a list of run names",
                                        lambda found: all(isinstance(x, str) for x in found))  # stack members
            r.setdefault("compiled", None)  # columns an older store, read as it is, lacks
            r.setdefault("faults", None)
            r["software"] = _software(self.path, r)
            out.append(r)
        return out

    def evals(self) -> list[dict]:
        cur = self.db.execute("SELECT e.*, r.variant, r.dataset, r.seed FROM evals e JOIN runs r USING (run_id) "
                              "ORDER BY run_id, step, metric")
        names = [d[0] for d in cur.description]
        rows = []
        for row in cur.fetchall():
            r = dict(zip(names, row))
            r["tags"] = [t for t in r["tags"].split(",") if t]
            where = f"{self.path}: the evaluation of {r['run_id']} {r['checkpoint']} {r['metric']}"
            r["protocol"] = _protocol(self.path, r["protocol"], where.replace("evaluation", "protocol", 1))
            _check_number(self.path, r["value"], where)
            rows.append(r)
        return rows

    def results_table(self) -> list[tuple]:
        """The comparable content of a study: every run's status and every evaluation value."""
        runs = [(r["run_id"], r["status"], r["steps"]) for r in self.runs()]
        evals = [(e["run_id"], e["step"], e["metric"], e["value"]) for e in self.evals()]
        return runs + evals


def gathered_calibration(flat: list[dict]) -> dict[str, list[dict]]:
    """Reference rows as ``Store.calibration`` reads them (one per metric) gathered per dataset into the
    rows ``Store.add_calibration`` takes: {row, checkpoint, seed, protocol, metrics}, in the order read."""
    rows: dict[str, dict[tuple, dict]] = {}
    for r in flat:
        key = (r["row"], r["checkpoint"], r["seed"], json.dumps(r["protocol"], sort_keys=True))
        row = rows.setdefault(r["dataset"], {}).setdefault(key, {
            "row": r["row"], "checkpoint": r["checkpoint"], "seed": r["seed"], "protocol": r["protocol"],
            "metrics": {}})
        row["metrics"][r["metric"]] = r["value"]
    return {dataset: list(by_key.values()) for dataset, by_key in rows.items()}


def _software_text(found) -> str | None:
    """A result's software record (provenance.py) as stored: a mapping of names to texts, else none (a
    result.json is data; a malformed record is no record)."""
    ok = isinstance(found, dict) and found and all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())
    return json.dumps(found, sort_keys=True) if ok else None


def _software(path, row: dict) -> dict | None:
    """A run's stored software record, checked: the store is data, and the report prints it."""
    text = row.get("software")
    if text is None:
        return None  # made before it was recorded, or a run without a result
    try:
        found = parse_json(text)
    except (TypeError, BadJSON):  # TypeError: a column of another type (a stranger's schema)
        found = None
    if _software_text(found) is None:
        raise UserError(f"{path}: the software record of {row['run_id']} is not a mapping of names to texts; "
                        f"{_REBUILD.format(dir=Path(path).parent)}")
    return found


# what every reader of an evaluation row needs (the report's protocol table: split, n_real, n_fake, extractor)
PROTOCOL_KEYS = {"checkpoint": str, "split": str, "step": int, "seed": int, "n_real": int, "n_fake": int,
                 "extractor": str}
CALIBRATION_KEYS = {"split": str, "n_real": int, "n_fake": int, "extractor": str}  # a reference row's


def _protocol(path, raw, where: str, keys: dict = PROTOCOL_KEYS) -> dict:
    """A stored protocol, checked: the store is data, and every reader needs these fields."""
    try:
        found = parse_json(raw)
    except (TypeError, BadJSON):
        found = None
    if not isinstance(found, dict) or any(not isinstance(found.get(k), t) for k, t in keys.items()):
        raise UserError(f"{where} is not a ganbench protocol (needs {', '.join(keys)}); "
                        f"{_REBUILD.format(dir=Path(path).parent)}")
    return found


def _column(path, row: dict, column: str, where: str, kind: type, what: str, fits=lambda found: True):
    """A run's JSON column, decoded and checked (the store is data): None when empty or JSON null (but the
    config), else a ``kind`` that ``fits``; text that is no JSON, or JSON of another shape, is refused in one
    line naming the run."""
    text = row.get(column)
    if not text and column != "config":
        return None
    try:
        found = parse_json(text)
    except (TypeError, BadJSON):
        found = ValueError
    if found is None and column != "config":
        return None
    if not (isinstance(found, kind) and fits(found)):
        raise UserError(f"{where} holds {column} {str(text)[:80]!r}, not {what}; {_REBUILD.format(dir=Path(path).parent)}")
    return found


def _check_number(path, value, where: str) -> None:
    """A stored number is a number or missing (NULL), never text (the store is data)."""
    if not (value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))):
        raise UserError(f"{where} holds {str(value)[:80]!r}, not a number; {_REBUILD.format(dir=Path(path).parent)}")
