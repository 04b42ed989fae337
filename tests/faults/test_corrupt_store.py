"""Fault family: a corrupt study store. `study report` refuses an empty, truncated, garbage or foreign
store in one line (exit 2) and leaves the results files as they were; `study rebuild` re-reads the
finished runs from their own directories; a hand-edited spec.yaml is refused; stale results go."""

import json
import shutil
import sqlite3
from contextlib import closing

import pytest
import yaml

from ganbench.study.store import Store

from .conftest import cli, refused

SPEC = {"name": "c", "base": {"batch_size": 16, "log_every": 10, "generator": {"name": "mlp", "hidden": 8},
                              "discriminator": {"name": "mlp", "hidden": 8}},
        "datasets": [{"data": {"name": "ring8", "n": 300}}], "seeds": 2, "budget": {"steps": 20},
        "eval": {"n": 50, "metrics": ["modes"]}}
RESULTS = ("results.csv", "results.json", "report.html")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    (root / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    from ganbench.cli import main

    assert main(["study", "run", str(root / "spec.yaml"), "--dir", str(root / "s"), "--executor", "inprocess",
                 "--no-progress"]) == 0
    return root / "s"


@pytest.fixture
def study(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "s")
    return tmp_path / "s"


def _results(study):
    return {name: (study / name).read_bytes() for name in RESULTS}


def _sql(path, *statements):
    """Run SQL statements on a store and commit: how each damage below is done."""
    with closing(sqlite3.connect(path)) as db, db:
        for statement in statements:
            db.execute(statement)


def _foreign(path):
    path.unlink()
    _sql(path, "CREATE TABLE customers (id INTEGER)")


def _no_runs(path):
    _sql(path, "DELETE FROM evals", "DELETE FROM runs")


DAMAGE = {
    "empty": (lambda p: p.write_bytes(b""), "empty"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]), "rebuild"),
    "garbage": (lambda p: p.write_bytes(b"this is not a database" * 100), "not an sqlite database"),
    "foreign": (_foreign, "not a ganbench study store"),
    "no-runs": (_no_runs, "holds no runs"),
    "text-value": (lambda p: _sql(p, "UPDATE evals SET value='abc' WHERE rowid=1"), "'abc', not a number"),
    "bad-protocol": (lambda p: _sql(p, """UPDATE evals SET protocol='{"threads": "x"}' WHERE rowid=1"""),
                     "is not a ganbench protocol"),
    "text-protocol": (lambda p: _sql(p, "UPDATE evals SET protocol='not json' WHERE rowid=1"),
                      "is not a ganbench protocol"),
    # what the report's protocol table, reference rows and cost figure read (each was a traceback)
    "protocol-without-n_real": (lambda p: _sql(p, "UPDATE evals SET protocol=json_remove(protocol, '$.n_real')"),
                                "needs checkpoint, split, step, seed, n_real, n_fake, extractor"),
    "reference-row-protocol": (lambda p: _sql(p, "UPDATE calibration SET protocol='[1, 2]'"),
                               "is not a ganbench protocol"),
    "reference-row-value": (lambda p: _sql(p, "UPDATE calibration SET value='abc'"), "'abc', not a number"),
    "text-train-seconds": (lambda p: _sql(p, "UPDATE runs SET train_seconds='<b>x</b>'"), "'<b>x</b>', not a number"),
    "text-train-flops": (lambda p: _sql(p, """UPDATE runs SET efficiency='{"train_flops": "x"}'"""),
                         "train_flops holds 'x', not a number"),
    "list-efficiency": (lambda p: _sql(p, "UPDATE runs SET efficiency='[1]'"), "not a mapping"),
    # SQLite cannot return it as text: its error read as a full or locked disk ("free space, then study resume";
    # retried as a transient fault), and a text of 'full' made its exit code 1
    "non-utf8-text": (lambda p: _sql(p, "UPDATE runs SET variant = CAST(x'ff66756c6c' AS TEXT) WHERE rowid=1"),
                      "the study store holds text that is not UTF-8 (ganbench writes none); `ganbench study rebuild"),
    # the store's reader joins evaluations to their runs: a row of no run was left out of the report unsaid
    "evaluation-of-no-run": (lambda p: _sql(p, "INSERT INTO evals SELECT 'ghost', step, checkpoint, tags, metric, "
                                               "value, protocol FROM evals WHERE rowid=1"),
                             "1 evaluation values name no run of the store"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_report_refuses_a_bad_store_and_keeps_the_results(capsys, study, damage):
    before = _results(study)
    hurt, says = DAMAGE[damage]
    hurt(study / "study.sqlite")
    refused(capsys, "study", "report", study, says=says)
    assert _results(study) == before  # good results never overwritten with nothing
    refused(capsys, "study", "verify", study, "--no-reference", "--workers", "1", says=says)


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
def test_resume_refuses_a_bad_store_and_rebuild_recovers_every_finished_run(capsys, study, damage):
    expected = Store(study / "study.sqlite").results_table()
    DAMAGE[damage][0](study / "study.sqlite")
    refused(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress", says="study rebuild")
    code, out, err = cli(capsys, "study", "rebuild", study)
    assert code == 0 and "2 finished runs recovered, 0 queued" in out, err
    (kept,) = study.glob("study.sqlite.damaged-*")  # the damaged store is kept, never deleted
    assert f"the old store is kept as {kept.name}" in out
    assert Store(study / "study.sqlite").results_table() == expected
    assert not (study / "results.csv").exists()  # it described the old store
    # a damaged store cannot give the reference rows, and the runs' files do not hold them: the report says so
    assert "of ring8 are not kept in the runs' files and the old store could not give them" in err
    assert "carried from the old store" not in out
    code, _, err = cli(capsys, "study", "report", study)
    assert code == 0, err
    page = (study / "report.html").read_text()
    assert "<b>No reference rows</b>" in page and "have no reference rows" not in page  # one dataset: "has"
    assert "has no reference rows (no floor, no ceiling)" in page  # said in the bottom line too, not left out
    code, _, err = cli(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress")
    assert code == 0, err
    assert "executed" in _ and (study / "results.csv").exists()


def test_a_store_text_that_is_no_utf8_is_input_not_a_transient_fault(capsys, study):
    from ganbench.study.faults import is_transient

    DAMAGE["non-utf8-text"][0](study / "study.sqlite")
    with pytest.raises(sqlite3.OperationalError) as caught:
        Store(study / "study.sqlite").runs()
    assert not is_transient(caught.value)  # not retried with back-off as a full disk is
    refused(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress", says="study rebuild")


def test_rebuild_of_an_intact_store_keeps_it_as_the_previous_one_not_as_damaged(capsys, study):
    expected = Store(study / "study.sqlite").results_table()
    code, out, err = cli(capsys, "study", "rebuild", study)
    (kept,) = study.glob("study.sqlite.previous-*")
    assert code == 0 and f"the old store is kept as {kept.name}" in out, err
    assert not list(study.glob("study.sqlite.damaged-*"))
    assert Store(kept).results_table() == Store(study / "study.sqlite").results_table() == expected


def test_rebuild_queues_runs_whose_result_files_are_missing_or_forged(capsys, study):
    runs = sorted(p.parent for p in (study / "runs").glob("*/result.json"))
    (runs[0] / "result.json").unlink()
    text = (runs[1] / "result.json").read_text().replace('"config_hash": "', '"config_hash": "x')
    (runs[1] / "result.json").write_text(text)
    (study / "study.sqlite").write_bytes(b"")
    code, out, _ = cli(capsys, "study", "rebuild", study)
    assert code == 0 and "0 finished runs recovered, 2 queued" in out
    assert cli(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress")[0] == 0
    assert {r["status"] for r in Store(study / "study.sqlite").runs()} == {"done"}


def _first_eval(edit):
    def damage(result):
        edit(result["evals"][0])
    return damage


@pytest.mark.parametrize("damage", [
    _first_eval(lambda e: e.update(step=2**70)),
    _first_eval(lambda e: e["metrics"].update(w1=10**30)),
    _first_eval(lambda e: e.pop("metrics")),
    _first_eval(lambda e: e.update(tags="best")),
    lambda result: [e.update(checkpoint="step_0000001") for e in result["evals"]],
    lambda result: result["evals"].append([1]),
    lambda result: result.update(steps=2**64, train_seconds="x"),
])
def test_rebuild_queues_a_run_whose_result_json_the_store_cannot_hold(capsys, study, damage):
    """read_result checked a result.json's run, config and status, not its rows: a step past 64 bits, two rows
    of one checkpoint or a row without metrics ended `study rebuild` in an OverflowError, IntegrityError or
    KeyError traceback (exit 1). Such a file is now no result, as a forged one is: its run is queued."""
    path = sorted((study / "runs").glob("*/result.json"))[0]
    result = json.loads(path.read_text())
    damage(result)
    path.write_text(json.dumps(result))
    shutil.copytree(study, study.parent / "copy")
    refused(capsys, "study", "merge", study, study.parent / "copy", "--out", study.parent / "m",
            says="stale or malformed")
    code, out, err = cli(capsys, "study", "rebuild", study)
    assert code == 0 and "1 finished runs recovered, 1 queued" in out, err


def test_rebuild_says_when_spec_yaml_was_edited_since_the_runs(capsys, study):
    """rebuild follows spec.yaml (that is its job), but a hand edit since the runs trained would queue them
    all again without a word: it says which runs have results for another config."""
    original = (study / "spec.yaml").read_text()
    edited = yaml.safe_load(original)
    edited["base"]["lr_d"] = 0.005
    (study / "spec.yaml").write_text(yaml.safe_dump(edited))
    code, out, err = cli(capsys, "study", "rebuild", study)
    assert code == 0 and "0 finished runs recovered, 2 queued" in out, err
    assert "note: 2 of the queued runs have results on disk for another config" in err
    assert "spec.yaml was edited since they ran" in err
    assert "carried from the old store" not in out  # its reference rows were drawn for the other spec
    assert "of ring8 are not kept in the runs' files and the old store could not give them" in err
    (study / "spec.yaml").write_text(original)
    code, out, err = cli(capsys, "study", "rebuild", study)
    assert code == 0 and "2 finished runs recovered, 0 queued" in out and "for another config" not in err


def test_rebuild_of_a_directory_that_is_no_study(capsys, tmp_path):
    refused(capsys, "study", "rebuild", tmp_path / "nothing", says="not a ganbench study directory")
    assert not (tmp_path / "nothing").exists()


def test_hand_edited_spec_is_refused_not_half_resumed(capsys, study):
    spec = yaml.safe_load((study / "spec.yaml").read_text())
    spec["seeds"] = 3
    (study / "spec.yaml").write_text(yaml.safe_dump(spec))
    before = _results(study)
    refused(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress",
            says="no longer matches")
    assert _results(study) == before


def test_force_new_removes_the_old_results(capsys, study, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**SPEC, "seeds": 1}))
    code, _, err = cli(capsys, "study", "run", other, "--dir", study, "--executor", "inprocess", "--no-progress",
                       "--force-new", "--no-report")
    assert code == 0, err
    assert not any((study / name).exists() for name in RESULTS)
    assert len(Store(study / "study.sqlite").runs()) == 1


FIRST_RUN = "(SELECT MIN(run_id) FROM runs)"


def _forget_run(path):
    _sql(path, f"DELETE FROM evals WHERE run_id={FIRST_RUN}", f"DELETE FROM runs WHERE run_id={FIRST_RUN}")


def _forget_evals(path):
    _sql(path, "DELETE FROM evals WHERE rowid IN (SELECT rowid FROM evals ORDER BY run_id LIMIT 3)")


def _forget_result(path):
    _sql(path, f"UPDATE runs SET status='queued' WHERE run_id={FIRST_RUN}",
         f"DELETE FROM evals WHERE run_id={FIRST_RUN}")


LOSS = {"run-row": (_forget_run, "1 of the spec's 2 runs have no row"),
        "eval-rows": (_forget_evals, "1 finished runs on disk"),
        "result": (_forget_result, "1 finished runs on disk")}


@pytest.mark.parametrize("loss", list(LOSS))
def test_report_refuses_a_store_that_lost_runs_and_reports_after_rebuild(capsys, study, loss):
    expected = Store(study / "study.sqlite").results_table()
    before = _results(study)
    hurt, says = LOSS[loss]
    hurt(study / "study.sqlite")  # a store that still opens, passes its own check, and holds fewer runs
    line = refused(capsys, "study", "report", study, says=says)
    assert f"ganbench study rebuild {study}" in line and "report fewer runs" in line
    assert _results(study) == before  # good results never replaced with fewer
    calibration = Store(study / "study.sqlite").calibration()
    code, out, err = cli(capsys, "study", "rebuild", study)
    assert code == 0 and "2 finished runs recovered" in out, err
    # the old store is sound and of this spec: its reference rows come with it (the runs' files lack them)
    assert "the reference rows of ring8 are carried from the old store" in out and "could not give" not in err
    assert Store(study / "study.sqlite").results_table() == expected
    assert calibration and Store(study / "study.sqlite").calibration() == calibration
    code, _, err = cli(capsys, "study", "report", study)
    assert code == 0, err
    assert "No reference rows" not in (study / "report.html").read_text()
    assert (study / "results.csv").read_bytes() == before["results.csv"]  # variants and reference rows alike


@pytest.mark.parametrize("loss", ["run-row", "eval-rows"])
def test_resume_refuses_a_store_that_lost_runs(capsys, study, loss):
    LOSS[loss][0](study / "study.sqlite")
    refused(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress", says="study rebuild")


def test_resume_runs_again_a_run_whose_row_was_left_unfinished(capsys, study):
    """What a killed driver leaves (a row not finished beside a finished result.json): resume redoes it."""
    expected = Store(study / "study.sqlite").results_table()
    _forget_result(study / "study.sqlite")
    code, out, err = cli(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress", "--no-report")
    assert code == 0 and "1 of 2 runs executed" in out, err
    assert Store(study / "study.sqlite").results_table() == expected


LAST_RUN = "(SELECT MAX(run_id) FROM runs)"
RELABEL = {  # a store that passes every other check and would count a run under another seed or variant
    "seed": (f"UPDATE runs SET seed=0 WHERE run_id={LAST_RUN}", "is stored as ('ring8', 'base', 0)"),
    "variant": (f"UPDATE runs SET variant='other' WHERE run_id={LAST_RUN}",
                "is stored as ('ring8', 'other', 1)"),
    "stranger": ("INSERT INTO runs (run_id, variant, dataset, seed, config, config_hash, status) SELECT "
                 "'ring8__base__s9', variant, dataset, 9, config, config_hash, status FROM runs WHERE run_id="
                 f"{LAST_RUN}", "'ring8__base__s9' is not a run of the spec"),
}


@pytest.mark.parametrize("edit", list(RELABEL))
def test_report_and_verify_refuse_a_store_whose_runs_are_relabelled(capsys, study, edit):
    expected = Store(study / "study.sqlite").results_table()
    before = _results(study)
    statement, says = RELABEL[edit]
    _sql(study / "study.sqlite", statement)
    refused(capsys, "study", "report", study, says=says)
    assert _results(study) == before
    refused(capsys, "study", "verify", study, "--workers", "1", says="the study store's runs are not the spec's")
    code, _, err = cli(capsys, "study", "rebuild", study)
    assert code == 0, err
    assert Store(study / "study.sqlite").results_table() == expected


def test_reference_csv_of_an_earlier_spec_is_not_left_beside_new_results(capsys, study, tmp_path):
    published = {**SPEC, "reference": {"source": "paper", "values": {"ring8": {"base": {"modes_covered": {
        "mean": 8, "spread": 0.1}}}}}}
    spec = tmp_path / "published.yaml"
    spec.write_text(yaml.safe_dump(published))
    run = ("study", "run", spec, "--dir", study, "--executor", "inprocess", "--no-progress")
    code, _, err = cli(capsys, *run)  # the same runs (a reference block is not part of the spec's identity)
    assert code == 0 and (study / "reference.csv").is_file(), err
    spec.write_text(yaml.safe_dump(SPEC))  # the block dropped: the runs are kept, the report has no reference
    code, _, err = cli(capsys, *run)
    assert code == 0 and (study / "results.csv").is_file() and not (study / "reference.csv").exists(), err
    spec.write_text(yaml.safe_dump(published))
    assert cli(capsys, *run)[0] == 0 and (study / "reference.csv").is_file()
    spec.write_text(yaml.safe_dump({**published, "seeds": 1}))
    code, _, err = cli(capsys, *run, "--force-new", "--no-report")
    assert code == 0 and not (study / "reference.csv").exists(), err


def test_resume_without_a_report_leaves_no_results_files_of_the_study_before_it(capsys, study):
    """A first look at an unfinished study, then `resume --no-report`: the old results.csv would
    describe a store with fewer runs."""
    _forget_result(study / "study.sqlite")
    (study / "runs" / "ring8__base__s0" / "result.json").unlink()
    code, _, err = cli(capsys, "study", "report", study)
    assert code == 0 and (study / "results.csv").is_file(), err
    code, out, err = cli(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress", "--no-report")
    assert code == 0 and "1 of 2 runs executed" in out, err
    assert not any((study / name).exists() for name in RESULTS)
