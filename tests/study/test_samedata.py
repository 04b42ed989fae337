"""Numbers measured on other bytes under the same data settings (an .npz regenerated, another machine's copy)
are not pooled: `study merge` refuses sources whose runs name two contents of one dataset and split."""

import json
import sqlite3

import numpy as np

from ganbench.cli import main
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec

from .test_extend import RUN, TINY
from .test_merge import merge

GRID = {"loss": ["ns"]}


def _points(path, seed: int = 0):
    np.savez(path, x=np.random.default_rng(seed).normal(size=(600, 2)).astype(np.float32))
    return path


def _spec(name: str, data, seeds: list[int]) -> StudySpec:
    return StudySpec(**{**TINY, "name": name, "grid": GRID, "seeds": seeds, "budget": {"steps": 20},
                        "eval": {**TINY["eval"], "every": 10, "metrics": ["fid"]},  # no modes: npz has no mixture
                        "datasets": [{"data": {"name": "npz", "path": str(data)}}]})


def _study(path, data, seeds=(0,)):
    run_study(path, _spec(path.name, data, list(seeds)), InProcess(), progress=False)
    return path


def _strip_digests(study) -> None:
    """Make the study's runs look recorded before rows named their data (their result.json, which merge reads)."""
    for result in study.glob("runs/*/result.json"):
        saved = json.loads(result.read_text())
        for row in saved["evals"]:
            row["protocol"].pop("data_digest")
        result.write_text(json.dumps(saved))


def test_sources_measured_on_other_bytes_of_one_file_are_not_merged(tmp_path, capsys):
    data = _points(tmp_path / "points.npz")
    a = _study(tmp_path / "a", data)
    _points(data, seed=1)  # regenerated: the same path and settings, other data
    b = _study(tmp_path / "b", data, seeds=[1])
    capsys.readouterr()
    assert merge(a, b, "--out", tmp_path / "m", "--data-path", tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dataset 'npz' (train split): run 'npz__loss=ns__s0' of 'a' (" in err
    assert "run 'npz__loss=ns__s1' of 'b' (" in err and f"other bytes under data.path {data}" in err
    assert not (tmp_path / "m").exists()
    c = _study(tmp_path / "c", data, seeds=[2])  # the same bytes as b's
    assert merge(b, c, "--out", tmp_path / "m", "--data-path", tmp_path) == 0


def test_runs_recorded_before_rows_named_their_data_are_merged_with_a_notice(tmp_path, capsys):
    data = _points(tmp_path / "points.npz")
    a = _study(tmp_path / "a", data)
    _strip_digests(a)
    _points(data, seed=1)
    b = _study(tmp_path / "b", data, seeds=[1])
    capsys.readouterr()
    assert merge(a, b, "--out", tmp_path / "m", "--data-path", tmp_path) == 0  # unrecorded: accepted
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the rows of dataset 'npz' were recorded before evaluation rows named their " \
           "data's content (run 'npz__loss=ns__s0'), so nothing says they were measured on the same data as the " \
           "runs beside them that name one" in err
    assert main(["study", "report", str(tmp_path / "m"), "--data-path", str(tmp_path)]) == 0


def _files(study) -> dict:
    return {p.name: p.read_bytes() for p in study.iterdir() if p.is_file() and p.name != ".lock"}


def test_a_study_is_not_grown_with_runs_on_other_bytes_and_nothing_is_written(tmp_path, capsys):
    data = _points(tmp_path / "points.npz")
    study = _study(tmp_path / "s", data)
    assert main(["study", "report", str(study), "--data-path", str(tmp_path)]) == 0
    before = _files(study)
    _points(data, seed=1)  # another machine's file under the same path
    capsys.readouterr()
    extend = ["study", "extend", str(study), "--seeds", "2", *RUN, "--data-path", str(tmp_path)]
    assert main(extend) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dataset 'npz' (train split): the study's run 'npz__loss=ns__s0' was " in err
    assert f"this machine's data.path {data} holds " in err and "(other bytes)" in err
    assert _files(study) == before and "results.csv" in before  # refused before anything was written
    _points(data)  # the file the study was made with
    assert main(extend) == 0 and "1 of 2 runs executed" in capsys.readouterr().out


def test_a_study_made_before_rows_named_their_data_is_reported_verified_and_grown(tmp_path, capsys):
    data = _points(tmp_path / "points.npz")
    study = _study(tmp_path / "s", data)
    _strip_digests(study)  # as an older ganbench wrote it: its runs' files and its store
    db = sqlite3.connect(study / "study.sqlite")
    with db:
        db.execute("UPDATE evals SET protocol = json_remove(protocol, '$.data_digest')")
    db.close()
    paths = ["--data-path", str(tmp_path)]
    assert main(["study", "report", str(study), *paths]) == 0
    assert main(["study", "verify", str(study), "--workers", "1", "--rows", "all", *paths]) == 0
    _points(data, seed=1)
    capsys.readouterr()
    assert main(["study", "extend", str(study), "--seeds", "2", *RUN, *paths]) == 0
    out, err = capsys.readouterr()
    assert "1 of 2 runs executed" in out  # unrecorded: nothing to compare, and said
    assert err.count("\n") == 1 and "the rows of dataset 'npz' were recorded before evaluation rows named their " \
           "data's content (run 'npz__loss=ns__s0'), so nothing says they were measured on the same data as the " \
           "runs this machine adds" in err


def test_verify_names_rows_measured_on_other_bytes_than_this_machines(tmp_path, capsys):
    data = _points(tmp_path / "points.npz")
    study = _study(tmp_path / "s", data)
    paths = ["--data-path", str(tmp_path)]
    verify = ["study", "verify", str(study), "--workers", "1", "--no-reference", *paths]
    assert main(verify) == 0
    _points(data, seed=1)
    capsys.readouterr()
    assert main(verify) == 1
    out = capsys.readouterr().out
    assert out.count("differs: npz__loss=ns__s0 ") >= 2  # the values measured on the other data, and why:
    assert " data_digest (train): stored '" in out and "/heldout data_digest (test): stored '" in out


def test_a_resumed_study_does_not_train_its_queued_runs_on_other_bytes(tmp_path, capsys):
    """`study resume` goes through the check extend does (check_stored_rows, before anything is written)."""
    data = _points(tmp_path / "points.npz")
    study = _study(tmp_path / "s", data, seeds=(0, 1))
    db = sqlite3.connect(study / "study.sqlite")
    with db:  # as if the study had been stopped before its second run trained
        db.execute("UPDATE runs SET status = 'queued' WHERE run_id = 'npz__loss=ns__s1'")
        db.execute("DELETE FROM evals WHERE run_id = 'npz__loss=ns__s1'")
    db.close()
    before = _files(study)
    _points(data, seed=1)
    capsys.readouterr()
    resume = ["study", "resume", str(study), "--data-path", str(tmp_path)]
    assert main(resume) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the study's run 'npz__loss=ns__s0' was measured on data " in err
    after = _files(study)  # (a read-only look at the store leaves SQLite's -wal and -shm beside it)
    assert {k: v for k, v in after.items() if not k.endswith(("-wal", "-shm"))} == before
    assert after.get("study.sqlite-wal", b"") == b""  # nothing written to the store either
    _points(data)
    assert main(resume) == 0 and "1 of 2 runs executed" in capsys.readouterr().out
