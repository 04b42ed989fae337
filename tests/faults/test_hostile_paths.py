"""Fault family: paths stored in a run or study directory. A stored config's path options (``data.path``)
must resolve, after symlinks, inside the directory they were read from; anything else needs the user's
``--data-path PATH`` on the command line. Paths in files the user typed (``--config``, ``study run SPEC``)
are the user's own."""

import shutil

import pytest
import yaml
from PIL import Image

from ganbench.confine import allowed, confined

from .conftest import STUDY_SPEC, TINY, cli, points, refused, set_data, write_spec


def _argv(command, run, tmp_path):
    return {"eval": ["eval", run, "--n", "50"], "sample": ["sample", run, "--out", tmp_path / "s.png"],
            "resume": ["train", "--out", run, "--resume", "--steps", "6", "--no-progress"]}[command]


COMMANDS = ["eval", "sample", "resume"]


@pytest.mark.parametrize("command", COMMANDS)
def test_outside_npz_is_refused_then_read_with_consent(capsys, run, tmp_path, command):
    outside = points(tmp_path / "secret.npz")
    set_data(run, {"name": "npz", "path": str(outside), "classes": None, "test_fraction": 0.1})
    before = sorted(p.name for p in run.rglob("*"))
    line = refused(capsys, *_argv(command, run, tmp_path), says=f"--data-path {outside}")
    assert "outside the run directory" in line and "data.path" in line
    assert sorted(p.name for p in run.rglob("*")) == before  # refused before anything was written
    assert not (tmp_path / "s.png").exists()
    code, _, err = cli(capsys, *_argv(command, run, tmp_path), "--data-path", outside)
    assert code == 0, err


@pytest.mark.parametrize("command", ["eval", "resume"])
def test_outside_folder_is_refused(capsys, run, tmp_path, command):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "a.png")
    set_data(run, {"name": "folder", "path": str(folder), "resolution": 8, "channels": 1, "test_fraction": 0.1})
    refused(capsys, *_argv(command, run, tmp_path), says=f"--data-path {folder}")


@pytest.mark.parametrize("command", COMMANDS)
def test_symlink_escaping_the_run_dir_is_refused(capsys, run, tmp_path, command):
    outside = points(tmp_path / "secret.npz")
    (run / "data.npz").symlink_to(outside)  # lexically inside, really outside
    set_data(run, {"name": "npz", "path": str(run / "data.npz"), "classes": None, "test_fraction": 0.1})
    refused(capsys, *_argv(command, run, tmp_path), says="--data-path")
    dotted = str(run / ".." / "secret.npz")  # '..' out of the run, no link at all
    set_data(run, {"name": "npz", "path": dotted, "classes": None, "test_fraction": 0.1})
    refused(capsys, *_argv(command, run, tmp_path), says=f"--data-path {dotted}")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_path_inside_the_run_dir_needs_no_flag(capsys, run, tmp_path, command):
    points(run / "data.npz")
    set_data(run, {"name": "npz", "path": str(run / "data.npz"), "classes": None, "test_fraction": 0.1})
    code, _, err = cli(capsys, *_argv(command, run, tmp_path))
    assert code == 0, err


def test_folder_inside_with_an_image_linked_out_is_refused(capsys, run, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("L", (8, 8), 255).save(secret)
    folder = run / "images"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "a.png")
    (folder / "b.png").symlink_to(secret)
    set_data(run, {"name": "folder", "path": str(folder), "resolution": 8, "channels": 1, "test_fraction": 0.1})
    refused(capsys, *_argv("eval", run, tmp_path), says="links outside the run directory")


def test_resume_with_the_callers_own_config_needs_no_flag(capsys, tmp_path):
    data = points(tmp_path / "mine.npz")
    cfg = tmp_path / "my.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"name": "npz", "path": str(data)}}))
    run = tmp_path / "r"
    tiny = [a for a in TINY if a not in ("--data", "ring8")]
    code, _, err = cli(capsys, "train", "--config", cfg, *tiny, "--out", run)
    assert code == 0, err
    code, _, err = cli(capsys, "train", "--config", cfg, *tiny, "--steps", "6", "--out", run, "--resume")
    assert code == 0, err  # the path came from the caller's --config, not from the run directory
    refused(capsys, "train", "--out", run, "--resume", "--steps", "8", says=f"--data-path {data}")


def test_scope_rules(tmp_path):
    """The rule itself: resolved inside the root, or under a path the user named (as written or resolved)."""
    root, mine = tmp_path / "run", tmp_path / "mine"
    root.mkdir(), mine.mkdir()
    (mine / "a.png").touch()
    (mine / "link.png").symlink_to(tmp_path / "elsewhere.png")  # the user's own folder may link anywhere
    with confined(root, "run directory"):
        assert allowed(root / "x") and not allowed(mine / "a.png") and not allowed(root / ".." / "mine")
    with confined(root, "run directory", [str(mine)]):
        assert allowed(mine / "a.png") and allowed(mine / "link.png") and not allowed(tmp_path / "other")
    assert allowed(tmp_path / "anything")  # outside every scope nothing is checked


def test_a_looping_link_is_no_traceback(tmp_path):
    """A stranger's study shipping a link to itself as a stored data.path (or as a run's config.yaml) made
    Path.resolve raise RuntimeError('Symlink loop'): `study report` ended in a traceback. A loop names no
    file: it is checked as the path it stands at, and its reader says it finds nothing there."""
    from ganbench.confine import STUDY, stored_file
    from ganbench.data import load_dataset
    from ganbench.errors import UserError

    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with confined(tmp_path, STUDY):
        assert allowed(tmp_path / "loop") and stored_file(tmp_path, tmp_path / "loop") == tmp_path / "loop"
        with pytest.raises(UserError, match="image folder not found"):
            load_dataset({"name": "folder", "path": str(tmp_path / "loop")})


# --- studies ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def outside_study(tmp_path_factory):
    """A finished study whose (typed) spec reads an .npz outside the study directory."""
    from ganbench.cli import main

    root = tmp_path_factory.mktemp("pstudy")
    data = points(root / "points.npz")
    assert main(["study", "run", str(write_spec(root, data)), "--dir", str(root / "s"), "--executor", "inprocess",
                 "--no-progress"]) == 0  # the caller's own spec: no flag needed
    return root / "s", data


@pytest.mark.parametrize("command", ["resume", "report", "rebuild"])
def test_study_commands_refuse_an_outside_path_then_read_it_with_consent(capsys, outside_study, tmp_path, command):
    study = tmp_path / "s"
    shutil.copytree(outside_study[0], study)
    data = outside_study[1]
    extra = ["--executor", "inprocess", "--no-progress"] if command == "resume" else []
    line = refused(capsys, "study", command, study, *extra, says=f"--data-path {data}")
    assert "outside the study directory" in line
    code, _, err = cli(capsys, "study", command, study, *extra, "--data-path", data)
    assert code == 0, err


def test_study_symlink_escape_and_inside_path(capsys, tmp_path):
    study = tmp_path / "s"
    study.mkdir()
    inside = points(study / "points.npz")  # inside the study directory: the study travels with its data
    code, _, err = cli(capsys, "study", "run", write_spec(tmp_path, inside), "--dir", study, "--executor", "inprocess",
                       "--no-progress", "--force-new")  # --force-new: the directory already holds the data
    assert code == 0, err
    for command in ("report", "rebuild"):
        code, _, err = cli(capsys, "study", command, study)
        assert code == 0, err
    inside.unlink()
    inside.symlink_to(points(tmp_path / "secret.npz"))  # now it only looks inside
    refused(capsys, "study", "report", study, says=f"--data-path {inside}")
    refused(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress", says="--data-path")


def test_the_scope_travels_to_workers(tmp_path, capsys):
    """Pool and Ray workers are other processes: each task carries the driver's scope and re-enters it."""
    from ganbench.study.executors import InProcess
    from ganbench.study.runner import run_study
    from ganbench.study.spec import StudySpec
    from ganbench.study.worker import execute_run

    data = points(tmp_path / "points.npz")
    spec = StudySpec(**{**STUDY_SPEC, "seeds": 1, "datasets": [{"data": {"name": "npz", "path": str(data)}}]})
    seen = []

    class Recording(InProcess):
        def run(self, fn, tasks, **options):
            seen.extend(args[-1] for _, args in tasks)
            return super().run(fn, tasks, **options)

    with confined(tmp_path / "s", "study directory", [str(data)]):
        run_study(tmp_path / "s", spec, Recording(), progress=False)
    assert seen == [{"root": str(tmp_path / "s"), "what": "study directory", "allowed": (str(data),)}]
    config = yaml.safe_load((tmp_path / "s" / "spec.yaml").read_text())  # any run config of the study
    from ganbench.study.spec import expand

    run = {"run_id": "other", "config": expand(StudySpec(**config))[0].config}
    result = execute_run(run, str(tmp_path / "s2"), {"n": 50}, scope={**seen[0], "allowed": ()})
    assert result["status"] == "failed" and f"--data-path {data}" in result["error"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_relative_stored_path_is_named_as_it_is_read(capsys, run, tmp_path, monkeypatch, command):
    """A relative data.path is read from the current directory, so the refusal names where that is, and
    the flag it proposes is the absolute path (the relative one means something else from elsewhere)."""
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    set_data(run, {"name": "npz", "path": "data/mine.npz", "classes": None, "test_fraction": 0.1})
    where = tmp_path / "elsewhere" / "data" / "mine.npz"
    line = refused(capsys, *_argv(command, run, tmp_path), says=f"--data-path {where}")
    assert f"relative path read from the current directory as {where}, which does not exist, lies outside" in line
    where.parent.mkdir()
    points(where)
    line = refused(capsys, *_argv(command, run, tmp_path), says=f"--data-path {where}")
    assert "does not exist" not in line
    code, _, err = cli(capsys, *_argv(command, run, tmp_path), "--data-path", where)
    assert code == 0, err
