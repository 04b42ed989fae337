"""Fault family: paths stored in a run or study directory, reached through the Python API. The rule is
the CLI's (test_hostile_paths.py): a stored path option must resolve inside the directory it was read
from, or lie under a path the caller passes as ``data_paths`` (the CLI's ``--data-path``), and the
refusal is the same one line. A config or spec the caller passes is the caller's own."""

import shutil

import numpy as np
import pytest
from PIL import Image

from ganbench.api import load_generator, train
from ganbench.confine import RUN, allowed, reading
from ganbench.errors import UserError
from ganbench.evaluate import evaluate_run
from ganbench.report.html import build_report
from ganbench.study.executors import InProcess
from ganbench.study.rebuild import rebuild_store
from ganbench.study.runner import StudyDir, resume_study, run_study
from ganbench.study.spec import StudySpec

from .conftest import STUDY_SPEC, points, set_data

# each public function that reads a run directory, called as a Python user would
RUN_CALLS = {
    "load_generator": lambda run, **kw: load_generator(run / "checkpoints" / "step_0000004.json", **kw),
    "evaluate_run": lambda run, **kw: evaluate_run(run, n=50, progress=False, **kw),
    "train_resume": lambda run, **kw: train(out=run, resume=True, changes={"steps": 6}, progress=False, **kw),
}


def _npz(path):
    return {"name": "npz", "path": str(path), "classes": None, "test_fraction": 0.1}


def _refused(call, says: str) -> str:
    with pytest.raises(UserError) as info:
        call()
    line = str(info.value)
    assert "\n" not in line and says in line, (says, line)
    return line


@pytest.mark.parametrize("name", RUN_CALLS)
def test_outside_npz_is_refused_then_read_with_consent(run, tmp_path, name):
    outside = points(tmp_path / "secret.npz")
    set_data(run, _npz(outside))
    before = sorted(p.name for p in run.rglob("*"))
    line = _refused(lambda: RUN_CALLS[name](run), f"--data-path {outside}")
    assert "outside the run directory" in line and "data.path" in line  # the CLI's line, word for word
    assert sorted(p.name for p in run.rglob("*")) == before  # refused before anything was written
    RUN_CALLS[name](run, data_paths=[outside])
    RUN_CALLS[name](run, data_paths=str(outside))  # one path given as a string is that path, not its letters


@pytest.mark.parametrize("name", RUN_CALLS)
def test_a_path_inside_the_run_dir_needs_no_consent(run, name):
    set_data(run, _npz(points(run / "data.npz")))
    RUN_CALLS[name](run)


@pytest.mark.parametrize("name", RUN_CALLS)
def test_symlink_and_dots_escaping_the_run_dir_are_refused(run, tmp_path, name):
    (run / "data.npz").symlink_to(points(tmp_path / "secret.npz"))  # lexically inside, really outside
    set_data(run, _npz(run / "data.npz"))
    _refused(lambda: RUN_CALLS[name](run), f"--data-path {run / 'data.npz'}")
    dotted = str(run / ".." / "secret.npz")  # '..' out of the run, no link at all
    set_data(run, _npz(dotted))
    _refused(lambda: RUN_CALLS[name](run), f"--data-path {dotted}")


def test_a_folder_whose_image_links_out_is_refused_then_read_with_consent(tmp_path):
    """An image run trained on the caller's own folder (no consent needed), then moved inside its run
    directory: resuming it lists the folder, and an image linked out of the run is refused."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 8), dtype=np.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{i}.png")
    data = {"name": "folder", "path": str(folder), "resolution": 8, "channels": 1, "test_fraction": 0.25}
    run = tmp_path / "run"
    train({"data": data, "generator": {"name": "mlp", "hidden": 8}, "discriminator": {"name": "mlp", "hidden": 8},
           "steps": 2, "batch_size": 4, "ckpt_every": 2, "device": "cpu"}, run, progress=False)
    shutil.move(folder, run / "imgs")
    set_data(run, {**data, "path": str(run / "imgs")})
    Image.fromarray(pixels[0]).save(tmp_path / "secret.png")
    (run / "imgs" / "9.png").symlink_to(tmp_path / "secret.png")
    _refused(lambda: train(out=run, resume=True, changes={"steps": 4}, progress=False),
             "links outside the run directory")
    assert train(out=run, resume=True, changes={"steps": 4}, progress=False, data_paths=[run / "imgs"]).step == 4
    (run / "imgs" / "9.png").unlink()  # every image inside: no consent needed
    assert train(out=run, resume=True, changes={"steps": 6}, progress=False).step == 6


def test_the_callers_own_config_needs_no_consent(tmp_path):
    data = points(tmp_path / "mine.npz")
    cfg = {"data": _npz(data), "generator": {"name": "mlp", "hidden": 8}, "discriminator": {"name": "mlp", "hidden": 8},
           "steps": 2, "batch_size": 8, "ckpt_every": 2, "device": "cpu"}
    train(cfg, tmp_path / "r", progress=False)
    assert train({**cfg, "steps": 4}, tmp_path / "r", resume=True, progress=False).step == 4  # the caller's config
    _refused(lambda: train(out=tmp_path / "r", resume=True, progress=False), f"--data-path {data}")  # the stored one
    with pytest.raises(UserError, match="train needs a config"):
        train(out=tmp_path / "nothing", resume=True)


def test_a_nested_call_keeps_the_outer_scope(run, tmp_path):
    """evaluate_run loads generators, a study's workers evaluate runs: the outermost scope decides, and a
    nested call neither widens it (its own data_paths) nor narrows it (the outer consent holds)."""
    outside = points(tmp_path / "secret.npz")
    set_data(run, _npz(outside))
    with reading(run, RUN):
        _refused(lambda: load_generator(run, data_paths=[outside]), "--data-path")
    with reading(run, RUN, [outside]):
        assert load_generator(run).step == 4
        with reading(tmp_path / "elsewhere", RUN):
            assert allowed(outside)
    assert allowed(tmp_path / "anything")  # outside every scope nothing is checked


# --- studies ---------------------------------------------------------------------------------------
def _spec(data):
    return StudySpec(**{**STUDY_SPEC, "datasets": [{"data": _npz(data)}]})


@pytest.fixture(scope="module")
def api_study(tmp_path_factory):
    """A finished study, run from Python with the caller's own spec over an .npz outside its directory."""
    root = tmp_path_factory.mktemp("apistudy")
    data = points(root / "points.npz")
    summary = run_study(root / "s", _spec(data), InProcess(), progress=False)  # the caller's spec: no consent
    assert summary["status"] == {"done": 2}
    return root / "s", data


STUDY_CALLS = {
    "resume_study": lambda study, **kw: resume_study(study, InProcess(), progress=False, **kw),
    "build_report": lambda study, **kw: build_report(study, **kw),
    "rebuild_store": lambda study, **kw: rebuild_store(StudyDir(study), **kw),
}


@pytest.mark.parametrize("name", STUDY_CALLS)
def test_study_functions_refuse_an_outside_path_then_read_it_with_consent(api_study, tmp_path, name):
    study = tmp_path / "s"
    shutil.copytree(api_study[0], study)
    data = api_study[1]
    line = _refused(lambda: STUDY_CALLS[name](study), f"--data-path {data}")
    assert "outside the study directory" in line
    STUDY_CALLS[name](study, data_paths=[data])


def test_study_data_inside_the_directory_then_linked_out(tmp_path):
    study = tmp_path / "s"
    study.mkdir()
    inside = points(study / "points.npz")  # the study travels with its data
    run_study(study, _spec(inside), InProcess(), force_new=True, progress=False)
    for name, call in STUDY_CALLS.items():
        call(study)  # no consent needed
    inside.unlink()
    inside.symlink_to(points(tmp_path / "secret.npz"))  # now it only looks inside
    for name, call in STUDY_CALLS.items():
        _refused(lambda: call(study), f"--data-path {inside}")
