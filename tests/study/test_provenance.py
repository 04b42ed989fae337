"""Each study run records the software and machine that made it; the report states them and warns when
the runs it compares were made by different code (a confound) or timed on different machines."""

import json
import shutil
import sqlite3

import pytest

from ganbench import provenance
from ganbench.cli import main
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec
from ganbench.study.store import Store

from .test_runner import TINY


def test_the_code_digest_names_the_source_bytes(tmp_path):
    copy = tmp_path / "pkg"
    shutil.copytree(provenance.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert provenance.source_digest(copy) == provenance.code_digest()
    (copy / "sub" / "__pycache__").mkdir(parents=True)
    (copy / "sub" / "__pycache__" / "x.py").write_text("compiled leftovers")
    assert provenance.source_digest(copy) == provenance.code_digest()  # caches are not code
    losses = copy / "losses.py"
    losses.write_bytes(losses.read_bytes().replace(b"def ", b"def  ", 1))  # a one-byte edit
    assert provenance.source_digest(copy) != provenance.code_digest()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    path = tmp_path_factory.mktemp("prov") / "s"
    spec = StudySpec(**{**TINY, "seeds": 2, "budget": {"steps": 30}, "eval": {"n": 200, "every": 30,
                                                                               "metrics": ["modes"]}})
    run_study(path, spec, InProcess(), progress=False)
    return path


def _copy(study, tmp_path):
    shutil.copytree(study, tmp_path / "s")
    return tmp_path / "s"


def test_runs_record_their_software_and_machine(study, capsys):
    runs = Store(study / "study.sqlite", readonly=True).runs()
    here = provenance.record()
    assert len(runs) == 4 and all(r["software"] == here for r in runs)
    saved = json.loads(next((study / "runs").glob("*/result.json")).read_text())
    assert saved["software"] == here  # what `study rebuild` restores
    assert here["code"] == provenance.code_digest() and here["machine"].endswith("logical cores)")


def test_the_report_states_one_version_without_a_warning(study, tmp_path):
    s = _copy(study, tmp_path)
    assert main(["study", "report", str(s)]) == 0
    html = (s / "report.html").read_text()
    assert f"Software: {provenance.software_label(provenance.record())}: all 4 runs." in html
    assert "Made by more than one version" not in html
    assert all(r["software"]["code"] == provenance.code_digest()
               for r in json.loads((s / "results.json").read_text())["runs"])


def test_mixed_code_is_a_warning_naming_who_made_what(study, tmp_path, capsys):
    s = _copy(study, tmp_path)
    other = {**provenance.record(), "code": "0123456789ab", "machine": "Another CPU (64 logical cores)"}
    with sqlite3.connect(s / "study.sqlite") as db:
        db.execute("UPDATE runs SET software=? WHERE variant='loss=hinge' AND seed=1", (json.dumps(other),))
        db.execute("UPDATE runs SET software=NULL WHERE variant='loss=ns' AND seed=0")
    assert main(["study", "report", str(s)]) == 0
    html = (s / "report.html").read_text()
    assert "Made by more than one version of the software" in html
    assert "made by 3 software versions" in html
    assert "(code 0123456789ab)" in html and "1 run (ring8/loss=hinge seed 1)" in html
    assert "not recorded (made by a ganbench older than this record): 1 run (ring8/loss=ns seed 0)" in html
    assert "Train seconds were measured on 3 machines" in html
    assert "confounds" not in html  # each variant has a seed made by the study's main version
    with sqlite3.connect(s / "study.sqlite") as db:
        db.execute("UPDATE runs SET software=? WHERE variant='loss=hinge'", (json.dumps(other),))
        db.execute("UPDATE runs SET software=NULL WHERE variant='loss=ns'")
    assert main(["study", "report", str(s)]) == 0
    assert "both variants of loss=hinge and loss=ns on ring8: there a difference confounds code with recipe" in (s / "report.html").read_text()
    assert "Machine: Another CPU (64 logical cores): 1 of 4 runs." in html
    capsys.readouterr()
    main(["study", "verify", str(s), "--workers", "1", "--no-reference"])
    out = capsys.readouterr().out
    assert "made by" in out and "(code 0123456789ab)" in out and f"recomputed with ganbench" in out


def test_a_malformed_record_in_the_store_is_one_line(study, tmp_path, capsys):
    s = _copy(study, tmp_path)
    with sqlite3.connect(s / "study.sqlite") as db:
        db.execute("UPDATE runs SET software='[1, 2]' WHERE seed=0")
    assert main(["study", "report", str(s)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "software record" in err and "study rebuild" in err


def test_rebuild_keeps_the_records_and_ignores_a_malformed_one(study, tmp_path):
    s = _copy(study, tmp_path)
    bad = next((s / "runs").glob("*/result.json"))
    saved = json.loads(bad.read_text())
    bad.write_text(json.dumps({**saved, "software": {"code": 7}}))
    (s / "study.sqlite").unlink()
    assert main(["study", "rebuild", str(s)]) == 0
    runs = {r["run_id"]: r["software"] for r in Store(s / "study.sqlite", readonly=True).runs()}
    assert runs.pop(saved["run_id"]) is None  # a record that is not names to texts is no record
    assert all(sw == provenance.record() for sw in runs.values())


def test_merge_names_the_versions_of_its_sources(study, tmp_path, capsys):
    a = _copy(study, tmp_path)
    spec = json.loads(json.dumps(StudySpec(**{**TINY, "seeds": 2, "budget": {"steps": 30},
                                              "eval": {"n": 200, "every": 30, "metrics": ["modes"]}})
                                 .model_dump(mode="json")))
    b = tmp_path / "b"
    run_study(b, StudySpec(**{**spec, "grid": {"loss": ["lsgan"]}}), InProcess(), progress=False)
    other = {**provenance.record(), "code": "0123456789ab"}
    for path in (b / "runs").glob("*/result.json"):
        path.write_text(json.dumps({**json.loads(path.read_text()), "software": other}))
    capsys.readouterr()
    assert main(["study", "merge", str(a), str(b), "--out", str(tmp_path / "ab")]) == 0
    err = capsys.readouterr().err
    assert "made by 2 software versions" in err and "(code 0123456789ab)" in err
    assert "Made by more than one version" in (tmp_path / "ab" / "report.html").read_text()


def test_a_stranger_s_record_cannot_drive_the_terminal():
    rec = {**provenance.record(), "torch": "2.13\x1b]52;c;ZXZpbA==\x07", "machine": "x" * 500}
    label = provenance.software_label(rec)
    assert "\x1b" not in label and "\x07" not in label and "torch 2.13?]52;c;ZXZpbA==?" in label
    assert len(provenance.machine_label(rec)) == 160
