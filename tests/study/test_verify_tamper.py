"""`ganbench study verify` on a store tampered with one column at a time: each stored evaluation and reference
value is recomputed ("differs" when it is not what the checkpoint gives) or named as not recomputed with the
reason, the totals add up to the store's count, and a store that is not one ganbench writes is refused."""

import json
import sqlite3
from contextlib import closing

import pytest

from ganbench.cli import main

from ..faults.conftest import refused
from .finished import copy_of, run_once

SPEC = {"name": "c", "base": {"batch_size": 16, "log_every": 10, "generator": {"name": "mlp", "hidden": 8},
                              "discriminator": {"name": "mlp", "hidden": 8}},
        "datasets": [{"data": {"name": "ring8", "n": 300}}], "seeds": 2, "budget": {"steps": 20},
        "eval": {"n": 50, "every": 10, "metrics": ["modes"]}}
S0 = "run_id='ring8__base__s0'"
FINAL = f"{S0} AND checkpoint='step_0000020'"  # its final row: 3 values (modes_covered, high_quality, reverse_kl)
MODES = f"{FINAL} AND metric='modes_covered'"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return run_once(tmp_path_factory, SPEC, "tamper")  # 2 runs, checkpoints at steps 10 and 20: 24 values, 36 reference


@pytest.fixture
def study(finished, tmp_path):
    return copy_of(finished, tmp_path)


def _sql(study, *statements):
    with closing(sqlite3.connect(study / "study.sqlite")) as db, db:
        for statement in statements:
            db.execute(statement)


def _count(study, table):
    with closing(sqlite3.connect(study / "study.sqlite")) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def verify(capsys, study, tmp_path, *args):
    """(exit code, printed lines, the --out JSON), after checking that every stored value is accounted for."""
    out_file = tmp_path / "v.json"
    code = main(["study", "verify", str(study), "--workers", "1", "--out", str(out_file), *args])
    out = capsys.readouterr().out
    found = json.loads(out_file.read_text())
    for part, table in (("evaluation", "evals"), ("reference", "calibration")):
        stored = found["stored"][part]
        assert stored["values"] == _count(study, table)
        assert stored["recomputed"] + sum(stored["not recomputed"].values()) == stored["values"]
    evaluation = found["stored"]["evaluation"]
    assert f"  stored: {evaluation['values']} evaluation values: {evaluation['recomputed']} recomputed, " in out
    return code, out, found


def test_an_untouched_store_accounts_for_every_value(study, capsys, tmp_path):
    code, out, found = verify(capsys, study, tmp_path)
    assert code == 0 and found["unverified"] == 0, out
    assert ("stored: 24 evaluation values: 12 recomputed, 12 not: 12 not chosen (--rows all); 36 reference "
            "values: 36 recomputed, 0 not") in out
    code, out, _ = verify(capsys, study, tmp_path, "--rows", "all", "--runs", "1", "--no-reference")
    assert code == 0 and "24 evaluation values: 12 recomputed, 12 not: 12 run not drawn (--runs)" in out
    assert "36 reference values: 0 recomputed, 36 not: 36 not drawn (--no-reference)" in out


# (SQL, what verify must print); each with `--rows all --no-reference`, exit 1
DIFFERS = {
    "checkpoint-garbage": ([f"UPDATE evals SET checkpoint='zzz' WHERE {MODES}"],
                           "differs: ring8__base__s0 zzz name: stored 'zzz', recomputed 'step_0000020'"),
    "checkpoint-of-another-step": (
        [f"UPDATE evals SET checkpoint='step_0000010/repeat' WHERE {S0} AND checkpoint='step_0000020/repeat'"],
        "step_0000010/repeat name: stored 'step_0000010/repeat', recomputed 'step_0000020/repeat'"),
    "checkpoint-not-on-disk": ([f"UPDATE evals SET checkpoint='step_0000030', protocol=json_set(protocol, "
                                f"'$.checkpoint', 'step_0000030') WHERE {FINAL}"],
                               "step_0000030 checkpoint: stored 'step_0000030', recomputed 'missing'"),
    "step": ([f"UPDATE evals SET step=7 WHERE {MODES}"], "step_0000020 step: stored 7, recomputed 20"),
    "no-final-tag": ([f"UPDATE evals SET tags='' WHERE {FINAL}"],
                     "selection final (step 20): stored None, recomputed 'step_0000020'"),
    "best-twice": ([f"UPDATE evals SET tags='best,heldout,best' WHERE {S0} AND checkpoint LIKE '%/heldout'"],
                   "heldout tags: stored 'best,heldout,best', recomputed 'best,heldout'"),
    "best-on-a-selection-row": ([f"UPDATE evals SET tags='final,best' WHERE {FINAL}"],
                                "step_0000020 tags: stored 'final,best', recomputed 'some of final,selected'"),
    "unknown-metric": ([f"UPDATE evals SET metric='sharpness' WHERE {MODES}"],
                       "step_0000020 sharpness: stored 0.0, recomputed \"not computed by the study's metrics\""),
    "metric-not-computed": ([f"UPDATE evals SET metric='fid' WHERE {MODES}"],
                            "step_0000020 fid: stored 0.0, recomputed \"not computed by the study's metrics\""),
    "value": ([f"UPDATE evals SET value=0.5 WHERE {MODES}"], "step_0000020 modes_covered: stored 0.5, recomputed 0"),
    "value-null": ([f"UPDATE evals SET value=NULL WHERE {MODES}"],
                   "step_0000020 modes_covered: stored None, recomputed 0"),
    "duplicate-row": ([f"INSERT INTO evals SELECT run_id, step, checkpoint || ' ', tags, metric, value, protocol FROM "
                       f"evals WHERE {MODES}"],
                      "final (step 20): stored ['step_0000020', 'step_0000020 '], recomputed ['step_0000020', "),
    "n_fake": ([f"UPDATE evals SET protocol=json_set(protocol, '$.n_fake', 40) WHERE {FINAL}"],
               "step_0000020 n_fake: stored 40, recomputed 50"),
    "one-metric-of-another-protocol": ([f"UPDATE evals SET protocol=json_set(protocol, '$.threads', "
                                        "json_extract(protocol, '$.threads') + 1, '$.ema', json('false')) WHERE "
                                        f"{MODES}"],
                                       "step_0000020 row: stored '2 versions (ema, threads differ between its "
                                       "metrics)', recomputed 'one'"),
    "protocol-checkpoint": ([f"UPDATE evals SET protocol=json_set(protocol, '$.checkpoint', 'step_0000010') WHERE "
                             f"{FINAL}"], "step_0000020 name: stored 'step_0000020', recomputed 'step_0000010'"),
}


@pytest.mark.parametrize("tamper", list(DIFFERS))
def test_a_tampered_evaluation_row_is_a_difference(study, capsys, tmp_path, tamper):
    statements, says = DIFFERS[tamper]
    _sql(study, *statements)
    code, out, _ = verify(capsys, study, tmp_path, "--rows", "all", "--no-reference")
    assert code == 1 and says in out, out


def test_a_value_deleted_from_a_row_is_a_difference(study, capsys, tmp_path):
    """A metric the protocol computes, missing from a row whose other metrics are stored: deleted from the store
    and from the run's result.json alike (with the store alone, check_complete refuses it: the run's own file
    holds more values), so nothing else notices the hole."""
    _sql(study, f"DELETE FROM evals WHERE {MODES}")
    saved = study / "runs" / "ring8__base__s0" / "result.json"
    result = json.loads(saved.read_text())
    (row,) = [r for r in result["evals"] if r["checkpoint"] == "step_0000020"]
    del row["metrics"]["modes_covered"]
    saved.write_text(json.dumps(result))
    code, out, found = verify(capsys, study, tmp_path, "--rows", "all", "--no-reference")
    assert code == 1 and "differs: ring8__base__s0 step_0000020 modes_covered: stored 'absent', recomputed 0" in out
    assert found["stored"]["evaluation"]["values"] == 23 and found["counts"]["differs"] == 1, out


def test_a_metric_no_row_of_the_study_stores_is_named_not_held_against_it(study, capsys, tmp_path):
    """A study made by a version that did not compute a metric yet lacks it in every row: that is no deletion.
    Verify names it and compares the rest (the same hole in one row beside full ones is a difference, above)."""
    _sql(study, "DELETE FROM evals WHERE metric='modes_covered'")
    for saved in (study / "runs").glob("*/result.json"):
        result = json.loads(saved.read_text())
        for row in result["evals"]:
            row["metrics"].pop("modes_covered", None)
        saved.write_text(json.dumps(result))
    code, out, found = verify(capsys, study, tmp_path, "--rows", "all", "--no-reference")
    assert code == 0 and found["counts"]["differs"] == 0 and found["never_stored"] == ["modes_covered"], out
    assert "stored in none of the study's rows (made by a version without them, not a deletion): modes_covered" in out


# (SQL, the reason named, how many values): each row's values cannot be checked, and the study is not verified
UNCHECKABLE = {
    "seed": (f"UPDATE evals SET protocol=json_set(protocol, '$.seed', 12345) WHERE {FINAL}",
             "its sampling seed is none of the study protocol's", 3),
    "split": (f"UPDATE evals SET protocol=json_set(protocol, '$.split', 'test') WHERE {FINAL}",
              "its split 'test' is not the one sampling seed 0 is used with", 3),
    "extractor": (f"UPDATE evals SET protocol=json_set(protocol, '$.extractor', 'lenet') WHERE {MODES}",
                  "the protocol differs (extractor: stored 'lenet', now 'points')", 1),
    "protocol-checkpoint": (f"UPDATE evals SET protocol=json_set(protocol, '$.checkpoint', 'step_0000010') WHERE "
                            f"{FINAL}", "the protocol differs (seed: stored ", 3),
}


@pytest.mark.parametrize("tamper", list(UNCHECKABLE))
def test_a_row_that_cannot_be_checked_is_named_counted_and_not_verified(study, capsys, tmp_path, tamper):
    statement, says, n = UNCHECKABLE[tamper]
    _sql(study, statement)
    code, out, found = verify(capsys, study, tmp_path, "--rows", "all", "--no-reference")
    assert code == 1 and found["unverified"] == n and found["stored"]["evaluation"]["recomputed"] == 24 - n, out
    assert found["stored"]["evaluation"]["not recomputed"] == {"cannot be checked": n}
    assert f"not recomputed: ring8__base__s0 step_0000020 ({n} value{'s' * (n > 1)}): {says}" in out
    assert f"{n} stored values could not be checked: the study is not verified" in out


def test_values_of_a_run_that_did_not_finish_are_counted(study, capsys, tmp_path):
    _sql(study, "UPDATE runs SET status='diverged' WHERE run_id='ring8__base__s1'")
    code, out, found = verify(capsys, study, tmp_path, "--rows", "all", "--no-reference")
    assert code == 0 and found["stored"]["evaluation"]["not recomputed"] == {
        "of a diverged run (verify recomputes finished runs)": 12}, out


REFERENCE = {  # (SQL, what verify must print)
    "value": ("UPDATE calibration SET value=value+0.5 WHERE rowid=1", "differs: ring8 reference"),
    "deleted": ("DELETE FROM calibration WHERE rowid=1", "stored 'absent', recomputed"),
    "extra": ("INSERT INTO calibration SELECT dataset, row, checkpoint, 7, metric, value, protocol FROM calibration "
              "WHERE rowid=1", "final, seed 7 modes_covered: stored 8.0, recomputed 'absent'"),
    "n_fake": ("UPDATE calibration SET protocol=json_set(protocol, '$.n_fake', 40) WHERE rowid=1",
               "final, seed 0 modes_covered n_fake: stored 40, recomputed 50"),
}


@pytest.mark.parametrize("tamper", list(REFERENCE))
def test_a_tampered_reference_row_is_a_difference(study, capsys, tmp_path, tamper):
    statement, says = REFERENCE[tamper]
    _sql(study, statement)
    code, out, _ = verify(capsys, study, tmp_path)
    assert code == 1 and says in out, out


def test_a_reference_row_of_a_dataset_not_in_the_spec_cannot_be_checked(study, capsys, tmp_path):
    _sql(study, "INSERT INTO calibration SELECT 'moons', row, checkpoint, seed, metric, value, protocol FROM "
                "calibration WHERE rowid=1")
    code, out, found = verify(capsys, study, tmp_path)
    assert code == 1 and found["stored"]["reference"]["not recomputed"] == {"not a dataset of the spec": 1}, out
    assert "37 reference values: 36 recomputed, 1 not: 1 not a dataset of the spec" in out


REFUSED = {  # a store ganbench does not write: refused in one line
    "run-not-in-store": (["INSERT INTO evals SELECT 'ghost', step, checkpoint, tags, metric, value, protocol FROM "
                          "evals WHERE rowid=1"], "1 evaluation values name no run of the store"),
    "value-stored-twice": (["CREATE TABLE e2 AS SELECT * FROM evals", "DROP TABLE evals",
                            "ALTER TABLE e2 RENAME TO evals", "INSERT INTO evals SELECT * FROM evals WHERE rowid=1"],
                           "two values of ring8__base__s0 step_0000010 modes_covered"),
    "reference-stored-twice": (["CREATE TABLE c2 AS SELECT * FROM calibration", "DROP TABLE calibration",
                                "ALTER TABLE c2 RENAME TO calibration",
                                "INSERT INTO calibration SELECT * FROM calibration WHERE rowid=1"],
                               "a reference value is stored twice"),
}


@pytest.mark.parametrize("tamper", list(REFUSED))
def test_a_store_ganbench_does_not_write_is_refused(study, capsys, tamper):
    statements, says = REFUSED[tamper]
    _sql(study, *statements)
    refused(capsys, "study", "verify", study, "--workers", "1", says=says)


def test_the_audited_case_a_garbage_checkpoint_name_in_the_default_rows(study, capsys, tmp_path):
    """The audit's reproduction: it exited 0 with every value identical (the row was recomputed from its protocol
    under the garbage name). The name is checked on every row of the chosen runs, chosen for recomputing or not."""
    _sql(study, "UPDATE evals SET checkpoint='zzz' WHERE rowid=1")
    code, out, found = verify(capsys, study, tmp_path, "--no-reference")
    assert code == 1 and "differs: ring8__base__s0 zzz name: stored 'zzz', recomputed 'step_0000010'" in out, out
    assert found["stored"]["evaluation"] == {"values": 24, "recomputed": 12,
                                             "not recomputed": {"not chosen (--rows all)": 12}}
