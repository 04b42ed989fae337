"""`ganbench study verify`: a study's stored numbers recomputed from its runs' checkpoints. Untouched,
every value comes out bit for bit; an edited store or a checkpoint swapped between runs is found and named."""

import json
import shutil
import sqlite3

import pytest

from ganbench.cli import main
from ganbench.study.verify import compare, sampling_base
from ganbench.study.worker import run_dir_name

from .finished import copy_of, run_once
from .test_extend import TINY


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return run_once(tmp_path_factory, TINY, "verify")  # ns and hinge, 2 seeds, 40 steps


@pytest.fixture
def study(finished, tmp_path):
    return copy_of(finished, tmp_path)


def verify(capsys, *args):
    """In this process (--workers 1) unless the call names workers: some tests watch calls in this process."""
    workers = [] if "--workers" in args else ["--workers", "1"]
    code = main(["study", "verify", *map(str, args), *workers])
    return code, capsys.readouterr().out


def _files(path):
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and not p.name.endswith(("-shm", "-wal"))}


def test_an_untouched_study_is_recomputed_bit_for_bit_and_left_as_it_was(study, capsys, tmp_path):
    before = _files(study)
    code, out = verify(capsys, study, "--out", tmp_path / "v.json")
    assert code == 0, out
    found = json.loads((tmp_path / "v.json").read_text())
    # 4 runs x (final + held-out best) rows x (modes: 3 values + fid) = 32 values; the reference rows:
    # 3 rows (real data, 2 trivial generators) x 2 checkpoint protocols x 2 seeds x 4 values = 48; and each
    # run's final, selected and held-out checkpoint against its latest and the one its selection values rank
    # first: 12
    assert found["rows"] == 8 and len(found["values"]) == 32 + 48 + 12 and found["counts"]["identical"] == 92
    assert ("8 evaluation rows of 4 runs recomputed from their checkpoints, the reference rows drawn again, each "
            "run's choice of best re-derived: 92 values, 92 identical") in out
    assert {v["metric"] for v in found["values"]} == {"modes_covered", "high_quality", "reverse_kl", "fid",
                                                      "final (step 40)", "selected by fid", "held-out best by fid"}
    assert _files(study) == before  # nothing written into the study
    code, out = verify(capsys, study, "--rows", "all", "--runs", "1", "--no-reference")
    # one run: its 2 checkpoints' selection rows, the final's repeat and the held-out best
    assert code == 0 and "4 evaluation rows of 1 run recomputed" in out and "0 differ" in out


def test_an_edited_value_in_the_store_is_found(study, capsys):
    db = sqlite3.connect(study / "study.sqlite")
    with db:
        (run_id, checkpoint), = db.execute("SELECT run_id, checkpoint FROM evals WHERE tags LIKE '%final%' "
                                           "AND metric='fid' ORDER BY run_id LIMIT 1").fetchall()
        db.execute("UPDATE evals SET value=value*0.9 WHERE run_id=? AND checkpoint=? AND metric='fid'",
                   (run_id, checkpoint))
        db.execute("UPDATE calibration SET value=value+0.01 WHERE row='trivial: uniform box' AND seed=1 AND "
                   "checkpoint='final' AND metric='high_quality'")  # the floor a variant must clear
    db.close()
    code, out = verify(capsys, study)
    assert code == 1
    assert "90 identical, 0 agree (within 0.0001 relative), 2 differ" in out
    assert f"differs: {run_id} {checkpoint} fid: stored " in out
    assert "differs: ring8 reference 'trivial: uniform box' final, seed 1 high_quality: stored " in out


def test_a_checkpoint_swapped_between_runs_is_found(study, capsys):
    first, second = sorted(study.glob("runs/*/checkpoints"))[:2]
    final = sorted(first.glob("step_*.safetensors"))[-1].name
    shutil.copyfile(second / final, first / final)  # the weights another run trained, under this run's name
    code, out = verify(capsys, study, "--no-reference")
    assert code == 1 and " 0 differ" not in out
    differing = {line.split()[1] for line in out.splitlines() if line.strip().startswith("differs:")}
    assert [run_dir_name(r) for r in differing] == [first.parent.name]  # that run only


def test_a_checkpoint_of_another_recipe_is_found(study, capsys):
    """The final checkpoint (tensors and sidecar) of a hinge run put in place of an ns run's: the checkpoint's
    own record names another loss than the store does for that run."""
    hinge = next(study.glob("runs/*hinge__s0/checkpoints"))
    ns = next(study.glob("runs/*ns__s0/checkpoints"))
    for f in hinge.glob("step_0000040.*"):
        shutil.copyfile(f, ns / f.name)
    code, out = verify(capsys, study, "--no-reference")
    assert code == 1
    assert "step_0000040 config.loss: stored {'name': 'ns'}, recomputed {'name': 'hinge'}" in out


def test_a_best_chosen_on_other_values_is_found(study, capsys):
    """The store's "selected" tag moved to the checkpoint its selection values do not rank first (as a best
    picked on the test-split values would be): named from the stored values alone."""
    db = sqlite3.connect(study / "study.sqlite")
    with db:
        run_id, selected = db.execute("SELECT run_id, checkpoint FROM evals WHERE tags LIKE '%selected%' "
                                      "ORDER BY run_id LIMIT 1").fetchone()
        other = "step_0000020" if selected == "step_0000040" else "step_0000040"
        for checkpoint, tags in db.execute("SELECT DISTINCT checkpoint, tags FROM evals WHERE run_id=? AND "
                                           "checkpoint IN (?, ?)", (run_id, selected, other)).fetchall():
            kept = [t for t in tags.split(",") if t and t != "selected"] + (["selected"] if checkpoint == other else [])
            db.execute("UPDATE evals SET tags=? WHERE run_id=? AND checkpoint=?", (",".join(kept), run_id, checkpoint))
    db.close()
    code, out = verify(capsys, study, "--no-reference")
    assert code == 1
    assert f"differs: {run_id} selection selected by fid: stored '{other}', recomputed '{selected}'" in out


def test_an_earlier_checkpoint_tagged_final_is_found(study, capsys):
    """The "final" tag moved from the last checkpoint's row to an earlier one: the report's final column
    would show step 20's value; every recomputed value is still identical."""
    db = sqlite3.connect(study / "study.sqlite")
    with db:
        run_id = db.execute("SELECT MIN(run_id) FROM runs").fetchone()[0]
        db.execute("UPDATE evals SET tags='final' WHERE run_id=? AND checkpoint='step_0000020'", (run_id,))
        db.execute("UPDATE evals SET tags=REPLACE(tags, 'final', '') WHERE run_id=? AND checkpoint='step_0000040'",
                   (run_id,))
    db.close()
    code, out = verify(capsys, study, "--no-reference")
    assert code == 1
    assert f"differs: {run_id} selection final (step 40): stored 'step_0000020', recomputed 'step_0000040'" in out


def test_a_checkpoint_not_kept_is_named_not_guessed(study, capsys):
    """A run whose recipe keeps only its newest checkpoint: the older ones are named, not held against it."""
    checkpoints = sorted(study.glob("runs/*/checkpoints"))[0]
    for f in checkpoints.glob("step_0000020.*"):
        f.unlink()
    db = sqlite3.connect(study / "study.sqlite")
    with db:
        db.execute("UPDATE runs SET config=json_set(config, '$.keep_checkpoints', 1) WHERE run_id=?",
                   (checkpoints.parent.name,))
    db.close()
    code, out = verify(capsys, study, "--rows", "all", "--no-reference")
    assert code == 0 and "0 differ" in out
    assert "not recomputed:" in out and "checkpoint step_0000020 was not kept" in out


def test_checkpoints_the_recipe_keeps_but_the_study_lacks_are_differences(study, capsys):
    """A stored number whose checkpoint was removed cannot be recomputed; when the recipe keeps that checkpoint
    (no keep_checkpoints; or it is the final one) that is evidence missing, not a pass."""
    checkpoints = sorted(study.glob("runs/*/checkpoints"))[0]
    rid = checkpoints.parent.name
    db = sqlite3.connect(study / "study.sqlite")
    with db:
        db.execute("UPDATE evals SET value=0.99 WHERE run_id=? AND metric='high_quality'", (rid,))
    db.close()
    for f in checkpoints.iterdir():
        f.unlink()
    code, out = verify(capsys, study, "--no-reference")
    assert code == 1
    assert f"differs: {rid} step_0000040 checkpoint: stored 'step_0000040', recomputed 'missing'" in out
    assert "accelerator" not in out  # every row was evaluated on the CPU


def _halved(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _bad_shape(data: bytes) -> bytes:
    return json.dumps({**json.loads(data), "data_shape": [0]}).encode()


@pytest.mark.parametrize("damaged,damage,says", [
    ("step_0000040.safetensors", _halved, "step_0000040.safetensors: not a readable safetensors checkpoint"),
    ("step_0000040.json", _halved, "step_0000040.json: not a valid checkpoint sidecar (bad JSON"),
    ("step_0000040.json", _bad_shape, "step_0000040.json: its data_shape [0] is not a sample shape"),
], ids=["tensors", "sidecar", "shape"])
def test_an_unreadable_checkpoint_is_a_difference_and_the_other_runs_are_verified(study, capsys, tmp_path,
                                                                                   damaged, damage, says):
    """A damaged checkpoint file is evidence that cannot be read: listed for its rows with the reason (not a
    stop telling the user to delete it), and every other run is still recomputed."""
    checkpoints = sorted(study.glob("runs/*/checkpoints"))[0]
    rid, target = checkpoints.parent.name, checkpoints / damaged
    target.write_bytes(damage(target.read_bytes()))
    before = target.read_bytes()
    code, out = verify(capsys, study, "--no-reference", "--out", tmp_path / "v.json")
    assert code == 1 and "delete" not in out
    # the recomputed text is printed with repr(): its quotes depend on the reason (bad JSON can name ',')
    line = next(ln for ln in out.splitlines() if ln.strip().startswith(f"differs: {rid} step_0000040 checkpoint:"))
    assert f"stored 'step_0000040', recomputed " in line and f"unreadable: {says}" in line
    found = json.loads((tmp_path / "v.json").read_text())
    others = {v["run_id"] for v in found["values"] if v["verdict"] == "identical" and v["metric"] == "fid"}
    assert len(others) == 3 and rid not in others  # the other three runs' rows, recomputed bit for bit
    assert target.read_bytes() == before


def test_the_comparison_rule():
    assert compare(0.25, 0.25) == "identical" and compare(float("nan"), float("nan")) == "identical"
    assert compare(1.0, 1.0 + 5e-5) == "agrees" and compare(1.0, 1.001) == "differs"
    assert compare(0.0, 1e-12) == "agrees" and compare(None, 1.0) == "differs" and compare(None, None) == "identical"
    assert compare(None, float("nan")) == "identical" and compare(1.0, None) == "differs"  # NaN is stored as NULL
    from ganbench.training.seeding import derive_seed

    assert [sampling_base({"step": 7, "seed": derive_seed(b, 99, 7)}) for b in (0, 1, 2, 3)] == [0, 1, 2, None]


def test_bad_options(study, capsys):
    assert main(["study", "verify", str(study), "--out", "v.txt"]) == 2
    assert main(["study", "verify", str(study), "--runs", "0"]) == 2
    assert main(["study", "verify", str(study.parent / "none")]) == 2


def test_rows_are_recomputed_with_the_thread_count_they_record(study, capsys, monkeypatch):
    """Sums split over threads round differently, so each row records torch's thread count and is
    recomputed with it; the caller's count is restored."""
    import torch

    import ganbench.evaluate

    db = sqlite3.connect(study / "study.sqlite")
    with db:
        recorded = {json.loads(p)["threads"] for (p,) in db.execute("SELECT protocol FROM evals")}
        assert len(recorded) == 1 and recorded.pop() in (1, 2)  # one count for the whole (in-process) study
        db.execute("UPDATE evals SET protocol=json_set(protocol, '$.threads', 3)")
    db.close()
    seen, real = [], ganbench.evaluate.evaluate_run

    def watched(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(ganbench.evaluate, "evaluate_run", watched)
    code, out = verify(capsys, study, "--no-reference")
    assert code == 0 and " 0 differ" in out
    assert seen == [3] * 8 and torch.get_num_threads() == 1
