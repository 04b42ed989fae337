"""Fault family: the file system. A full disk (a small tmpfs), a read-only run or study directory (a
tmpfs remounted read-only: root ignores file modes), bad --out paths, leftover temp files and a damaged
cache: one line and exit 2, nothing half-written, and the run resumes once the fault is gone."""

import json
import shutil
import subprocess

import pytest

from .conftest import TINY, cli, refused


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size, ro=False) -> a small tmpfs under tmp_path; skipped where mounting is not allowed."""
    mounted = []

    def mount(opts: str):
        where = tmp_path / f"fs{len(mounted)}"
        where.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True).returncode:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _remount(where, opts):
    assert subprocess.run(["mount", "-o", f"remount,{opts}", str(where)], capture_output=True).returncode == 0


def _no_half_files(run):
    leftovers = [p.name for p in run.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, leftovers
    for sidecar in (run / "checkpoints").glob("step_*.json"):
        assert json.loads(sidecar.read_text())["step"] > 0
        assert sidecar.with_suffix(".safetensors").is_file()


BIG = ["--set", "generator.hidden=128", "--set", "discriminator.hidden=128"]  # ~0.5 MB per checkpoint


def test_disk_full_during_train_then_resume(capsys, tmpfs):
    fs = tmpfs("size=1200k")
    run = fs / "r"
    line = refused(capsys, "train", *TINY, *BIG, "--steps", "40", "--out", run, says="disk is full", code=1)
    assert "--resume" in line
    _no_half_files(run)
    _remount(fs, "size=64m")  # space freed
    code, out, err = cli(capsys, "train", *TINY, *BIG, "--steps", "40", "--out", run, "--resume")
    assert code == 0 and "done: 40 steps" in out, err


def test_read_only_run_dir(capsys, tmpfs, tiny_run):
    fs = tmpfs("size=16m")
    shutil.copytree(tiny_run, fs / "r")
    _remount(fs, "ro")
    refused(capsys, "train", *TINY, "--steps", "6", "--out", fs / "r", "--resume", says="read-only")
    assert "--out" in refused(capsys, "eval", fs / "r", "--n", "50", says="read-only")
    code, _, err = cli(capsys, "sample", fs / "r", "--out", fs.parent / "s.png")  # reading works
    assert code == 0, err
    code, out, err = cli(capsys, "eval", fs / "r", "--n", "50", "--out", fs.parent / "e.json")  # results elsewhere
    assert code == 0 and str(fs.parent / "e.json") in out, err
    (key, result), = json.loads((fs.parent / "e.json").read_text())["evaluations"].items()
    assert key == result["key"] and result["results"][-1]["step"] == 4
    assert not (fs / "r" / "eval.json").exists()


def _tiny_study(capsys, spec_dir, where, seeds):
    import yaml

    spec = {"name": "s", "base": {"batch_size": 16, "generator": {"name": "mlp", "hidden": 8},
                                  "discriminator": {"name": "mlp", "hidden": 8}},
            "variants": {"ns": {"loss": "ns"}, "ls": {"loss": "lsgan"}}, "seeds": seeds, "budget": {"steps": 10},
            "eval": {"n": 50, "metrics": ["modes", "fid"], "primary": "fid"}}
    (spec_dir / "s.yaml").write_text(yaml.safe_dump(spec))
    assert cli(capsys, "study", "run", spec_dir / "s.yaml", "--dir", where, "--executor", "inprocess",
               "--no-progress")[0] == 0


def test_read_only_study_dir(capsys, tmpfs, tmp_path):
    """A study on read-only media (or someone else's) cannot be changed, but can be read: reported elsewhere,
    verified (a run trained again, in worker processes), merged and confirmed into a new study."""
    fs = tmpfs("size=16m")
    _tiny_study(capsys, tmp_path, fs / "s", [0, 1])
    before = (fs / "s" / "results.csv").read_bytes()
    _remount(fs, "ro")
    refused(capsys, "study", "resume", fs / "s", "--executor", "inprocess", says="read-only")
    line = refused(capsys, "study", "report", fs / "s")
    assert ("read-only" in line or "readonly" in line) and "--out" in line
    assert (fs / "s" / "results.csv").read_bytes() == before
    code, out, err = cli(capsys, "study", "report", fs / "s", "--out", tmp_path / "rep")
    assert code == 0 and "rep/report.html" in out, err
    code, out, err = cli(capsys, "study", "verify", fs / "s", "--retrain", "1", "--workers", "2")
    assert code == 0 and " 0 differ" in out and "trained again from their stored configs: 1 of the 4" in out, err
    assert (tmp_path / "rep" / "results.csv").read_bytes() == before  # the same table, read from the media
    (tmp_path / "other").mkdir()
    _tiny_study(capsys, tmp_path / "other", tmp_path / "more", [2])  # the same recipe on another seed
    code, out, err = cli(capsys, "study", "merge", fs / "s", tmp_path / "more", "--out", tmp_path / "m")
    assert code == 0, err
    assert len(list((tmp_path / "m" / "runs").iterdir())) == 6
    refused(capsys, "study", "report", tmp_path / "more", "--out", tmp_path / "m", says="holds another study")
    code, out, err = cli(capsys, "study", "confirm", fs / "s", "--out", tmp_path / "c", "--budget-x", "1",
                         "--executor", "inprocess", "--no-progress")
    assert code == 0 and (tmp_path / "c" / "report.html").is_file(), err


def test_read_only_store_with_results_still_in_its_log(capsys, tmpfs, tmp_path):
    """A study copied while its store was open keeps some results in study.sqlite-wal; on read-only media
    without the log's index that log cannot be read, and reading the store without it would silently miss
    them: refused."""
    import sqlite3

    _tiny_study(capsys, tmp_path, tmp_path / "s", [0, 1])
    fs = tmpfs("size=16m")
    writer = sqlite3.connect(tmp_path / "s" / "study.sqlite")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE runs SET error='' WHERE 0")
    writer.execute("INSERT OR REPLACE INTO meta VALUES ('note', 'in the log only')")
    writer.commit()
    try:
        assert (tmp_path / "s" / "study.sqlite-wal").stat().st_size > 0
        # a backup taken while the study ran, without the log's index (-shm): with the index SQLite reads the
        # log read-only; without it the log cannot be read on read-only media
        shutil.copytree(tmp_path / "s", fs / "s", ignore=shutil.ignore_patterns("*-shm"))
    finally:
        writer.close()
    _remount(fs, "ro")
    refused(capsys, "study", "report", fs / "s", "--out", tmp_path / "rep", says="write-ahead log")
    assert not (tmp_path / "rep").exists()


def test_leftover_temp_files_never_block_a_run_dir(capsys, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / ".config.yaml.k3j2.tmp").write_text("half")
    (run / ".status.json.x9.tmp").write_text("")
    code, _, err = cli(capsys, "train", *TINY, "--out", run)
    assert code == 0, err
    assert not list(run.glob(".*.tmp"))


@pytest.mark.parametrize("kind,says", [("file", "is a file"), ("under-file", "is a file"),
                                       ("loop", "exists"), ("dangling", "")])
def test_bad_out_paths(capsys, tmp_path, kind, says):
    (tmp_path / "f").write_text("x")
    out = {"file": tmp_path / "f", "under-file": tmp_path / "f" / "r", "loop": tmp_path / "loop",
           "dangling": tmp_path / "dangling"}[kind]
    if kind == "loop":
        (tmp_path / "loop").symlink_to(tmp_path / "loop")
    if kind == "dangling":
        (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "deeper")
    code, _, err = cli(capsys, "train", *TINY, "--out", out)
    if kind == "dangling" and code == 0:
        return  # following the link and creating its target is fine too
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert says in err
    assert (tmp_path / "f").read_text() == "x"


def test_sample_out_that_is_a_directory(capsys, tmp_path, tiny_run):
    (tmp_path / "o.png").mkdir()
    refused(capsys, "sample", tiny_run, "--out", tmp_path / "o.png", says="directory")


def _out_argv(command, tiny_run, tmp_path, out):
    if command == "sample":
        return ["sample", tiny_run, "--out", out]
    import numpy as np

    np.savez(tmp_path / "p.npz", x=np.random.default_rng(0).normal(size=(50, 2)))
    return ["metrics", "--real", tmp_path / "p.npz", "--fake", tmp_path / "p.npz", "--metrics", "fid", "--out", out]


@pytest.mark.parametrize("command", ["sample", "metrics"])
@pytest.mark.parametrize("where,says", [
    ("under-file", "cannot write {out}: {tmp}/f is a file, not a folder; choose another path"),
    ("deeper-under-file", "cannot write {out}: {tmp}/f is a file, not a folder; choose another path"),
    ("directory", "{out}: it is a directory; give a file path"),
])
def test_out_that_cannot_be_written_is_named_not_its_temp_file(capsys, tmp_path, tiny_run, command, where, says):
    """The atomic write's temp file (.NAME.xxxx.tmp) is never what a message names: the --out the user gave is."""
    (tmp_path / "f").write_text("x")
    name = "o.npz" if command == "sample" else "o.json"
    out = {"under-file": tmp_path / "f" / name, "deeper-under-file": tmp_path / "f" / "sub" / name,
           "directory": tmp_path / name}[where]
    if where == "directory":
        out.mkdir()
    line = refused(capsys, *_out_argv(command, tiny_run, tmp_path, out))
    assert says.format(out=out, tmp=tmp_path) in line and ".tmp" not in line
    assert (tmp_path / "f").read_text() == "x" and not list(tmp_path.rglob(".*.tmp"))


@pytest.mark.parametrize("command", ["sample", "metrics"])
def test_out_on_read_only_media_names_the_out(capsys, tmpfs, tmp_path, tiny_run, command):
    fs = tmpfs("size=1m,ro")
    name = "o.npz" if command == "sample" else "o.json"
    for out, says in ((fs / name, f"cannot write {fs / name}: its folder {fs} is not writable (read-only file system)"),
                      (fs / "sub" / name, f"cannot write {fs / 'sub' / name}: its folder {fs / 'sub'} cannot be "
                                          "created (read-only file system)")):
        line = refused(capsys, *_out_argv(command, tiny_run, tmp_path, out))
        assert says in line and ".tmp" not in line


def test_eval_n_far_too_large(capsys, tiny_run):
    refused(capsys, "eval", tiny_run, "--n", "1000000000", says="--n")


def test_damaged_stats_cache_is_recomputed(capsys, tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "r"
    shutil.copytree(tiny_run, run)
    code, first, _ = cli(capsys, "eval", run, "--n", "50", "--metrics", "fid")
    entries = list((tmp_path / "cache").rglob("*.safetensors"))
    assert code == 0 and entries
    for e in entries:
        e.write_bytes(b"garbage")
    code, again, err = cli(capsys, "eval", run, "--n", "50", "--metrics", "fid")
    assert code == 0, err
    assert again.splitlines()[0] == first.splitlines()[0] and "fid=" in again


def test_overwrite_removes_the_old_eval(capsys, tiny_run, tmp_path):
    run = tmp_path / "r"
    shutil.copytree(tiny_run, run)
    assert cli(capsys, "eval", run, "--n", "50", "--metrics", "fid")[0] == 0
    assert cli(capsys, "train", *TINY, "--steps", "2", "--out", run, "--overwrite")[0] == 0
    assert not (run / "eval.json").exists()  # it described the old run


def test_a_full_disk_when_making_an_outputs_folder_is_the_machines_fault_exit_1(monkeypatch, tmp_path):
    """Every atomic write makes its folder first: ENOSPC there is a full disk (exit 1, the CLI's hint for it),
    not a path the user must change (exit 2)."""
    import errno
    from pathlib import Path

    from ganbench.cli import describe_error, exit_code
    from ganbench.fileio import atomic_write_text

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "mkdir", full)
    with pytest.raises(OSError) as caught:
        atomic_write_text(tmp_path / "new" / "x.txt", "x")
    assert exit_code(caught.value) == 1 and "disk is full" in describe_error(caught.value)
    assert not (tmp_path / "new").exists()


def test_an_io_error_reading_a_folder_image_is_the_machines_fault_exit_1(monkeypatch, tmp_path):
    import errno

    from PIL import Image

    from ganbench.cli import describe_error, exit_code
    from ganbench.data.folder import _load_image

    Image.new("L", (8, 8)).save(tmp_path / "a.png")

    def failing(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Image, "open", failing)
    with pytest.raises(OSError) as caught:
        _load_image(tmp_path / "a.png", 1, None)
    assert exit_code(caught.value) == 1
    assert "a.png" in describe_error(caught.value) and "input/output error" in describe_error(caught.value)
