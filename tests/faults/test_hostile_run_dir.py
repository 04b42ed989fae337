"""Fault family: a hostile run directory. A run is data: nothing it names is imported, and no path it
holds may lead outside it, whatever its JSON and YAML files say."""

import json
import sys

import pytest

from ganbench.training.checkpoint import prune

from .conftest import TINY, cli, refused


def _sidecar(run, step=4):
    return run / "checkpoints" / f"step_{step:07d}.json"


def _edit(path, **fields):
    record = json.loads(path.read_text())
    record.update(fields)
    path.write_text(json.dumps(record))


EVIL = "import pathlib\npathlib.Path({mark!r}).write_text('ran')\n"


@pytest.mark.parametrize("where", ["config.yaml", "sidecar"])
@pytest.mark.parametrize("command", ["sample", "eval", "resume"])
def test_plugins_named_by_a_run_are_never_imported(capsys, run, tmp_path, monkeypatch, where, command):
    mark = tmp_path / "pwned"
    module = f"evil_{where.replace('.', '_')}_{command}"
    (run / f"{module}.py").write_text(EVIL.format(mark=str(mark)))
    monkeypatch.syspath_prepend(str(run))  # even when the run directory is importable
    if where == "config.yaml":
        text = (run / "config.yaml").read_text().replace("plugins: []", f"plugins: [{module}]")
        (run / "config.yaml").write_text(text)
    for step in (2, 4):
        record = json.loads(_sidecar(run, step).read_text())
        record["config"]["plugins"] = [module]
        _sidecar(run, step).write_text(json.dumps(record))
    argv = {"sample": ["sample", run, "--out", tmp_path / "s.png"], "eval": ["eval", run, "--n", "50"],
            "resume": ["train", *TINY, "--steps", "6", "--out", run, "--resume"]}[command]
    if command == "resume" and where == "sidecar":
        line = cli(capsys, *argv)  # config.yaml is clean: the caller's config decides, the sidecar is data
    else:
        line = refused(capsys, *argv, says=f"--plugin {module}")
        assert "which a run directory cannot load by itself" in line
    assert not mark.exists() and module not in sys.modules, line
    if command != "resume":  # the caller who trusts the module says so, and then it loads
        code, _, err = cli(capsys, "--plugin", module, *argv)
        assert mark.exists() and code == 0, err


@pytest.mark.parametrize("target", ["../../victim.txt", "/ABS/victim.txt", "sub/../../victim.txt", "", 7, None,
                                    "link.safetensors"])
def test_tampered_tensors_path_is_refused_and_never_deleted(capsys, run, tmp_path, target):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    if target == "/ABS/victim.txt":
        target = str(victim)
    if target == "link.safetensors":  # a symlink in checkpoints/ pointing out of the run
        (run / "checkpoints" / target).symlink_to(victim)
    for step in (2, 4):
        _edit(_sidecar(run, step), tensors=target)
    refused(capsys, "sample", run, "--out", tmp_path / "s.png", says="tensors")
    # keep_checkpoints prunes by the names it wrote, never by what a sidecar says
    prune(run / "checkpoints", keep=1)
    assert victim.read_text() == "precious"
    assert not _sidecar(run, 2).exists() and _sidecar(run, 4).exists()


def test_resume_with_keep_checkpoints_never_deletes_outside(capsys, run, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    _edit(_sidecar(run, 2), tensors="../../victim.txt")
    code, _, err = cli(capsys, "train", *TINY, "--steps", "8", "--set", "keep_checkpoints=1", "--out", run,
                       "--resume")
    assert code == 0, err
    assert victim.read_text() == "precious"
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["step_0000008.json",
                                                                         "step_0000008.safetensors"]


@pytest.mark.parametrize("edit", [
    lambda p: p.write_text("{not json"),
    lambda p: p.write_bytes(b"\xff\xfe\x00garbage"),
    lambda p: p.write_text("[1, 2]"),
    lambda p: _edit(p, step="four"),
    lambda p: _edit(p, config="evil"),
], ids=["bad-json", "binary", "not-a-mapping", "step-not-int", "config-not-mapping"])
def test_bad_sidecar_is_one_line_naming_it(capsys, run, tmp_path, edit):
    edit(_sidecar(run))
    refused(capsys, "sample", run, "--out", tmp_path / "s.png", says=_sidecar(run).name)


def test_sample_on_a_non_json_file(capsys, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    refused(capsys, "sample", bad, "--out", tmp_path / "s.png", says="notes.txt")


def test_status_and_log_garbage_do_not_block_resume(capsys, run):
    (run / "status.json").write_text("{torn")
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 3, "d_lo')  # a line torn by a crash mid-write
    code, _, err = cli(capsys, "train", *TINY, "--steps", "6", "--out", run, "--resume")
    assert code == 0, err
    steps = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


@pytest.mark.parametrize("command,name", [("sample", "checkpoints"), ("sample", "sidecar"), ("eval", "config.yaml"),
                                          ("eval", "checkpoints"), ("eval", "eval.json"), ("eval", "sidecar")])
def test_links_leading_out_of_a_run_are_refused(capsys, run, tmp_path, name, command):
    """A file or folder of the run that the command reads, moved elsewhere and replaced by a symlink: reading it
    would let a shared run directory read any file of the machine (eval would also copy an outside eval.json
    into its own). (sample reads neither config.yaml nor eval.json.)"""
    outside = tmp_path / "outside"
    outside.mkdir()
    if name == "eval.json":
        (run / "eval.json").write_text(json.dumps({"evaluations": {}}))
    inner = _sidecar(run) if name == "sidecar" else run / name
    target = outside / inner.name
    inner.rename(target)
    inner.symlink_to(target, target_is_directory=target.is_dir())
    argv = {"sample": ["sample", run, "--n", "8", "--out", tmp_path / "s.npz"],
            "eval": ["eval", run, "--n", "50", "--metrics", "modes"]}[command]
    err = refused(capsys, *argv, says="a link leading outside")
    assert str(inner) in err and target.exists()


@pytest.mark.parametrize("what", ["spec.yaml", "study.sqlite", "run folder", "result.json"])
def test_links_leading_out_of_a_study_are_refused(capsys, tiny_study, tmp_path, what):
    import shutil

    study = tmp_path / "s"
    shutil.copytree(tiny_study, study)
    run_dir = sorted(p for p in (study / "runs").iterdir() if not p.name.startswith("."))[0]
    inner = {"spec.yaml": study / "spec.yaml", "study.sqlite": study / "study.sqlite", "run folder": run_dir,
             "result.json": run_dir / "result.json"}[what]
    target = tmp_path / "outside" / inner.name
    target.parent.mkdir()
    inner.rename(target)
    inner.symlink_to(target, target_is_directory=target.is_dir())
    for argv in (["study", "rebuild", study], ["study", "verify", study, "--no-reference", "--workers", "1"]):
        refused(capsys, *argv, says="a link leading outside")


@pytest.mark.parametrize("command", ["resume", "extend"])
def test_plugins_named_by_a_study_are_never_imported_and_the_study_is_named(capsys, tiny_study, tmp_path,
                                                                           monkeypatch, command):
    import shutil

    import yaml

    study, mark, module = tmp_path / "s", tmp_path / "pwned", f"evil_study_{command}"
    shutil.copytree(tiny_study, study)
    (study / f"{module}.py").write_text(EVIL.format(mark=str(mark)))
    monkeypatch.syspath_prepend(str(study))
    spec = yaml.safe_load((study / "spec.yaml").read_text())
    spec["base"]["plugins"] = [module]
    (study / "spec.yaml").write_text(yaml.safe_dump(spec))
    argv = {"resume": ["study", "resume", study], "extend": ["study", "extend", study, "--seeds", "3"]}[command]
    line = refused(capsys, *argv, "--executor", "inprocess", "--no-progress", says=f"--plugin {module}")
    assert "which a study directory cannot load by itself" in line and "run directory" not in line
    assert not mark.exists() and module not in sys.modules


@pytest.mark.parametrize("field,value,says", [
    ("data_shape", None, "is not a sample shape"), ("data_shape", 5, "is not a sample shape"),
    ("data_shape", [[2]], "is not a sample shape"), ("data_shape", [-1], "is not a sample shape"),
    ("data_shape", [10 ** 9], "is not a sample shape"), ("num_classes", -3, "is not a class count"),
    ("num_classes", "x", "is not a class count")])
def test_malformed_sidecar_values_are_one_line(capsys, run, tmp_path, field, value, says):
    for step in (2, 4):
        _edit(_sidecar(run, step), **{field: value})
    refused(capsys, "sample", run, "--n", "8", "--out", tmp_path / "s.npz", says=says)


@pytest.mark.parametrize("text", ["[1, 2, 3]", '{"evaluations": [1]}', '{"evaluations": {"x": 5}}', "{not json"])
def test_malformed_eval_json_is_one_line(capsys, run, text):
    (run / "eval.json").write_text(text)
    refused(capsys, "eval", run, "--n", "50", "--metrics", "modes", says="eval.json")
    assert (run / "eval.json").read_text() == text  # left as it was


def _rows(results):
    return lambda entry: entry.update(results=results)


def _first_row(**fields):
    return lambda entry: entry["results"][0].update(fields)


# an entry of this very protocol and config (the rows `eval` merges the new ones into), malformed in one place
MALFORMED_ENTRY = {
    "row-not-a-mapping": (_rows([5]), "row 1 of its results is not a mapping"),
    "row-protocol-text": (_rows([{"checkpoint": "x", "protocol": "s"}]), "row 1 of its results has protocol 's'"),
    "results-not-a-list": (_rows(5), "its results are not a list"),
    "tags-missing": (_first_row(tags=None), "row 1 of its results has tags None"),
    "metrics-text": (_first_row(metrics="x"), "row 1 of its results has metrics 'x'"),
    "step-text": (_first_row(step="4"), "row 1 of its results has step '4'"),
}


@pytest.mark.parametrize("damage", list(MALFORMED_ENTRY))
def test_malformed_rows_of_an_eval_json_entry_are_one_line(capsys, run, damage):
    """eval merges its rows into the stored ones of the same protocol: a row it cannot read is refused in one
    line naming the file, as a malformed eval.json is, and the file is left as it was (not silently dropped)."""
    code, _, err = cli(capsys, "eval", run, "--n", "50", "--metrics", "modes", "--checkpoint", "all")
    assert code == 0, err
    found = json.loads((run / "eval.json").read_text())
    (entry,) = found["evaluations"].values()
    edit, says = MALFORMED_ENTRY[damage]
    edit(entry)
    text = json.dumps(found)
    (run / "eval.json").write_text(text)
    line = refused(capsys, "eval", run, "--n", "50", "--metrics", "modes", says=says)
    assert str(run / "eval.json") in line
    assert (run / "eval.json").read_text() == text  # left as it was


def test_report_names_a_run_whose_samples_it_cannot_draw(capsys, tiny_study, tmp_path):
    """The numbers come from the store, so a damaged checkpoint does not stop the report; but its sample
    panel says why it is blank, in the page and on the command line (it used to read "no checkpoint")."""
    import shutil

    study = tmp_path / "s"
    shutil.copytree(tiny_study, study)
    run_dir = sorted(p for p in (study / "runs").iterdir() if not p.name.startswith("."))[0]
    final = sorted((run_dir / "checkpoints").glob("*.safetensors"))[-1]
    final.write_bytes(final.read_bytes()[:100])
    code, _, err = cli(capsys, "study", "report", study)
    assert code == 0, err
    assert f"the samples of {run_dir} are not drawn: " in err and final.name in err
    html = (study / "report.html").read_text()
    assert f"Not drawn: {run_dir.name}: " in html and "no checkpoint" not in html
    run_dir.rename(tmp_path / run_dir.name)  # a linked run folder: nothing of the report is read through it
    run_dir.symlink_to(tmp_path / run_dir.name, target_is_directory=True)
    refused(capsys, "study", "report", study, says="a link leading outside")


def test_train_refuses_a_run_another_live_process_is_training(capsys, run):
    """Two processes training one directory would overwrite each other's checkpoints; a status naming a
    live process of this machine is refused, one naming a process that has ended is not."""
    import socket
    import subprocess

    status = run / "status.json"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            status.write_text(json.dumps({"status": "running", "step": 0, "pid": other.pid,
                                          "host": socket.gethostname()}))
            refused(capsys, "train", "--out", run, "--resume", "--steps", "12", "--no-progress",
                    says=f"is being trained now by process {other.pid}")
        finally:
            other.kill()
    code, _, err = cli(capsys, "train", "--out", run, "--resume", "--steps", "12", "--no-progress")
    assert code == 0, err  # the process has ended: what it left is resumed


def test_report_out_inside_the_study_or_a_file_is_refused(capsys, tiny_study, tmp_path):
    run_dir = sorted(p for p in (tiny_study / "runs").iterdir() if not p.name.startswith("."))[0]
    before = sorted(p.name for p in run_dir.iterdir())
    refused(capsys, "study", "report", tiny_study, "--out", run_dir, says="lies inside the study")
    assert sorted(p.name for p in run_dir.iterdir()) == before  # no report.html dropped into a run
    (tmp_path / "f.json").write_text("{}")
    refused(capsys, "study", "report", tiny_study, "--out", tmp_path / "f.json", says="is a file; --out names a folder")
