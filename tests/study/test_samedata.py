"""Numbers measured on other bytes under the same data settings (an .npz regenerated, another machine's copy)
are not pooled: `study merge` refuses sources whose runs name two contents of one dataset and split."""

import json

import numpy as np

from ganbench.cli import main
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec

from .test_extend import TINY
from .test_merge import merge

GRID = {"loss": ["ns"]}


def _points(path, seed: int = 0):
    np.savez(path, x=np.random.default_rng(seed).normal(size=(600, 2)).astype(np.float32))
    return path


def _spec(name: str, data, seeds: list[int]) -> StudySpec:
    return StudySpec(**{**TINY, "name": name, "grid": GRID, "seeds": seeds, "budget": {"steps": 20}, "eval": {**TINY["eval"], "metrics": ["fid"]},
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
    assert "run 'npz__loss=ns__s0' was recorded before evaluation rows named their data's content" in err
    assert main(["study", "report", str(tmp_path / "m"), "--data-path", str(tmp_path)]) == 0
