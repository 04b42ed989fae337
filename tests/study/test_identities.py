"""A study's numbers name the classifier weights that measured them (the LeNet identity's ``-w<digest>``):
new runs measured with other weights are refused on resume/extend and in a merge; an identity recorded before
identities named weights is accepted with one line on stderr, and ``study verify`` lets the values decide."""

import json
import sqlite3

import pytest

from ganbench import textsafe
from ganbench.cli import main
from ganbench.errors import UserError
from ganbench.study.executors import InProcess
from ganbench.study.merge import merge_studies
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec

from .finished import copy_of, run_once

SPEC = {"name": "ident", "base": {"batch_size": 32, "log_every": 4, "device": "cpu",
                                  "generator": {"name": "dcgan", "width": 8},
                                  "discriminator": {"name": "dcgan", "width": 8}},
        "datasets": [{"data": "digits"}], "grid": {"loss": ["ns"]}, "seeds": [0], "budget": {"steps": 4},
        "eval": {"n": 100, "every": 4, "metrics": ["fid"]}}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return run_once(tmp_path_factory, SPEC, "ident")


@pytest.fixture
def study(finished, tmp_path, monkeypatch):
    monkeypatch.setattr(textsafe, "_NOTICED", set())  # each test hears its notices
    return copy_of(finished, tmp_path)


def _identities(path) -> set[str]:
    db = sqlite3.connect(path / "study.sqlite")
    try:
        rows = db.execute("SELECT protocol FROM evals UNION SELECT protocol FROM calibration").fetchall()
    finally:
        db.close()
    return {json.loads(p)["extractor"] for (p,) in rows}


def _rename(path, new) -> str:
    """The study's rows as if measured by the identity ``new(current)``; returns the current identity."""
    (current,) = _identities(path)
    db = sqlite3.connect(path / "study.sqlite")
    with db:
        for table in ("evals", "calibration"):
            db.execute(f"UPDATE {table} SET protocol = replace(protocol, ?, ?)", (current, new(current)))
    db.close()
    return current


def test_rows_name_the_weights(finished):
    (identity,) = _identities(finished)
    assert identity.startswith("lenet-digits-v") and len(identity.rpartition("-w")[2]) == 12


def test_extending_a_study_measured_with_other_weights_is_refused(study):
    _rename(study, lambda i: i[:-12] + "0" * 12)
    (study / "report.html").write_text("the study's report")
    spec_before = (study / "spec.yaml").read_bytes()
    with pytest.raises(UserError, match="other weights.*GANBENCH_CACHE/classifiers"):
        run_study(study, StudySpec(**{**SPEC, "seeds": [0, 1]}), InProcess(), progress=False, extend=True)
    # refused before the extension was written: it had recorded itself, rewritten spec.yaml and deleted the report
    assert (study / "spec.yaml").read_bytes() == spec_before and (study / "report.html").is_file()
    db = sqlite3.connect(study / "study.sqlite")
    try:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    finally:
        db.close()


def test_an_identity_recorded_before_weights_is_accepted_with_a_notice(study, capsys):
    current = _rename(study, lambda i: i.rpartition("-w")[0])
    run_study(study, StudySpec(**{**SPEC, "seeds": [0, 1]}), InProcess(), progress=False, extend=True)
    err = capsys.readouterr().err
    assert err.count("recorded before identities named the classifier's weights") == 1
    assert current in _identities(study)  # the new run names its weights


def test_a_verified_old_identity_lets_the_values_decide(study, capsys):
    _rename(study, lambda i: i.rpartition("-w")[0])
    code = main(["study", "verify", str(study), "--workers", "1"])
    out, err = capsys.readouterr()
    assert code == 0, out
    assert "recorded before identities named" in err and "protocol differs" not in out


def test_merging_studies_measured_with_two_classifiers_is_refused(study, tmp_path, capsys):
    other = tmp_path / "other"
    run_study(other, StudySpec(**{**SPEC, "seeds": [1]}), InProcess(), progress=False)
    _rename(study, lambda i: i[:-12] + "0" * 12)
    with pytest.raises(UserError, match="two classifiers"):
        merge_studies([study, other], tmp_path / "merged")
    _rename(study, lambda i: i.rpartition("-w")[0])  # recorded before identities named weights: accepted
    merge_studies([study, other], tmp_path / "merged")
    assert "recorded before identities named" in capsys.readouterr().err
