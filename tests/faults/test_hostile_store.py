"""Fault family: a stranger's study store with schema objects ganbench never creates. A trigger runs on the
writes of `study resume` / `extend`: one rewriting each new evaluation made the report show values that were
never computed (the new seed's 'w1' read 0.001 in every row). Such a store is refused in one line before
anything is written, and `study rebuild` makes a clean one from the runs' own files."""

import os
import shutil
import sqlite3
from contextlib import closing

import pytest

from .conftest import cli, refused

FORGE = "CREATE TRIGGER forge AFTER INSERT ON evals BEGIN UPDATE evals SET value = 0.001 WHERE rowid = new.rowid; END"
VIEW = "CREATE VIEW best AS SELECT * FROM evals"


@pytest.fixture
def study(tiny_study, tmp_path):
    shutil.copytree(tiny_study, tmp_path / "s")
    return tmp_path / "s"


def _sql(path, statement):
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(statement)


def _values(path):
    with closing(sqlite3.connect(path)) as db:
        return sorted(db.execute("SELECT run_id, checkpoint, metric, value FROM evals").fetchall())


def test_a_store_with_a_trigger_is_refused_before_extend_writes_through_it(capsys, study):
    _sql(study / "study.sqlite", FORGE)
    before = _values(study / "study.sqlite")
    refused(capsys, "study", "extend", study, "--seeds", "3", "--executor", "inprocess", "--no-progress",
            says="holds a trigger 'forge'")
    assert _values(study / "study.sqlite") == before  # no run of seed 2 was evaluated into it
    refused(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress", says="trigger")
    code, _, err = cli(capsys, "study", "rebuild", study)
    assert code == 0, err
    assert _values(study / "study.sqlite") == before  # the runs' own numbers, in a store without the trigger
    with closing(sqlite3.connect(study / "study.sqlite")) as db:
        assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0] == 0


@pytest.mark.parametrize("statement", [FORGE, VIEW])
def test_report_and_verify_refuse_a_store_with_a_trigger_or_view(capsys, study, statement):
    _sql(study / "study.sqlite", statement)
    refused(capsys, "study", "report", study, says="which ganbench never creates")
    refused(capsys, "study", "verify", study, "--no-reference", "--workers", "1", says="which ganbench never creates")


@pytest.mark.parametrize("companion", ["study.sqlite-wal", "study.sqlite-shm"])
@pytest.mark.parametrize("kind", ["fifo", "folder", "link out"])
def test_the_stores_companion_files_must_be_files_of_the_study(capsys, study, tmp_path, companion, kind):
    """SQLite keeps a WAL store's write-ahead log and shared-memory index beside it and opens them itself (no
    check of ganbench's saw them): a FIFO or folder there made `study resume` say 'disk I/O error; free
    space', exit 1 (the machine's fault), and a link out of the study 'unable to open database file' or 'its
    directory is read-only'. Each is now named, exit 2, and nothing outside the study is touched."""
    path = study / companion
    path.unlink(missing_ok=True)
    outside = tmp_path / "outside"
    outside.write_bytes(b"not the study's")
    {"fifo": lambda: os.mkfifo(path), "folder": path.mkdir, "link out": lambda: path.symlink_to(outside)}[kind]()
    for command in (["resume", study, "--executor", "inprocess", "--no-progress"], ["report", study]):
        refused(capsys, "study", *command, says=f"{companion}: ")
    assert outside.read_bytes() == b"not the study's"


@pytest.mark.parametrize("column, text", [("config", "{"), ("config", "[]"), ("efficiency", "{"),
                                          ("trained_with", "{"), ("trained_with", "5"), ("trained_with", '["a", 1]'),
                                          ("config", "[" * 100_000), ("config", "null")])
def test_a_runs_json_column_that_is_no_such_json_is_refused_naming_the_run(capsys, study, column, text):
    """The runs table's JSON columns were decoded unchecked: text that is no JSON said 'a JSON file is not
    valid ... restore it from a copy' (no file is at fault: the store, and rebuild mends it), trained_with 5
    was a TypeError traceback in the report, and a config '[]' was read as the default config."""
    with closing(sqlite3.connect(study / "study.sqlite")) as db, db:
        run_id = db.execute("SELECT run_id FROM runs ORDER BY run_id").fetchone()[0]
        db.execute(f"UPDATE runs SET {column} = ? WHERE run_id = ?", (text, run_id))
    refused(capsys, "study", "report", study, says=f"the run {run_id} holds {column} ")
    refused(capsys, "study", "verify", study, "--no-reference", "--workers", "1", says="study rebuild")


@pytest.mark.parametrize("table, column, says", [("runs", "software", "software record"),
                                                 ("evals", "protocol", "is not a ganbench protocol")])
def test_a_stored_integer_of_thousands_of_digits_is_refused_not_a_traceback(capsys, study, table, column, says):
    """json.loads raises a plain ValueError (no JSONDecodeError) for an int past 4,300 digits: a traceback."""
    with closing(sqlite3.connect(study / "study.sqlite")) as db, db:
        db.execute(f"UPDATE {table} SET {column} = ?", ('{"a": %s}' % ("9" * 5_000),))
    refused(capsys, "study", "report", study, says=says)
