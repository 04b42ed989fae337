"""`ganbench study verify --retrain K`: runs trained again from their stored configs end where the study says,
tensor by tensor; a checkpoint that the stored recipe does not train is found even when every stored number
is what that checkpoint scores; runs that cannot be retrained bit for bit on a CPU are named, not drawn."""

import json
import sqlite3

import pytest
import torch
from safetensors.torch import load_file, save_file

from ganbench.cli import main
from ganbench.study.retrain import compare_tensors, why_not

from .test_verify import _files, finished, study, verify  # noqa: F401  (fixtures: a finished tiny study)


def test_runs_trained_again_end_bit_for_bit_where_the_study_says(study, capsys, tmp_path):  # noqa: F811
    before = _files(study)
    code, out = verify(capsys, study, "--no-reference", "--retrain", "4", "--out", tmp_path / "v.json")
    assert code == 0, out
    found = json.loads((tmp_path / "v.json").read_text())
    assert found["retrained"]["eligible"] == 4 and len(found["retrained"]["runs"]) == 4
    again = [v for v in found["values"] if v["checkpoint"].endswith(" trained again")]
    final = [v for v in again if v["checkpoint"] == "step_0000040 trained again"]
    parts = {v["metric"].split()[1] for v in final if v["metric"].startswith("tensors ")}
    assert {"G", "D", "opt_g", "opt_d"} <= parts  # networks and optimizer moments
    # per run: each part of the final checkpoint, the final evaluation's 4 values (modes: 3, fid), and each
    # part of every earlier checkpoint the study ships
    assert len(final) == 4 * (len(parts) + 4)
    earlier = [v for v in again if v not in final]
    assert {v["checkpoint"] for v in earlier} == {"step_0000020 trained again"} and len(earlier) == 4 * len(parts)
    assert all(v["verdict"] == "identical" for v in again)
    assert "trained again from their stored configs: 4 of the 4 runs trained on a CPU without a compiled step (" in out
    assert f"{len(again)} of their {len(again)} checkpoint parts (every checkpoint each ships) and final values " \
           "identical" in out
    assert _files(study) == before  # trained in a scratch folder: nothing written into the study


def test_weights_the_recipe_does_not_train_are_found_though_every_stored_number_fits_them(study, capsys):  # noqa: F811
    """The final G of seed 1 put in place of seed 0's, and the store's final row of seed 0 set to what those
    weights score: recomputing the evaluations finds nothing (the numbers are what the checkpoint gives), and
    the recipe check finds nothing (the sidecar is seed 0's); training seed 0 again does."""
    s0, s1 = (next(study.glob(f"runs/*ns__s{i}/checkpoints")) for i in (0, 1))
    mine, theirs = load_file(s0 / "step_0000040.safetensors"), load_file(s1 / "step_0000040.safetensors")
    save_file({k: (theirs[k] if k.startswith("G.") else v) for k, v in mine.items()},
              str(s0 / "step_0000040.safetensors"), {"format": "ganbench-checkpoint-v1"})
    from ganbench.evaluate import evaluate_run

    db = sqlite3.connect(study / "study.sqlite")
    rid, protocol = db.execute("SELECT run_id, protocol FROM evals WHERE tags LIKE '%final%' AND run_id LIKE "
                               "'%ns__s0' LIMIT 1").fetchone()
    p = json.loads(protocol)
    (row,) = evaluate_run(s0.parent, metrics=["modes", "fid"], n=p["n_fake"], checkpoint=p["checkpoint"],
                          split=p["split"], seed=0, progress=False, write=False)["results"]
    with db:
        for metric, value in row["metrics"].items():
            db.execute("UPDATE evals SET value=? WHERE run_id=? AND tags LIKE '%final%' AND metric=?",
                       (value, rid, metric))
    db.close()
    code, out = verify(capsys, study, "--no-reference")
    assert f"{rid} step_0000040 " not in out  # the final row recomputes as stored, and its recipe check passes
    code, out = verify(capsys, study, "--no-reference", "--retrain", "4")
    assert code == 1
    assert f"differs: {rid} step_0000040 trained again tensors G " in out
    assert not any(f"differs: {r} step_0000040 trained again" in out for r in ("ring8__loss=ns__s1", "ring8__loss=hinge__s0"))


def test_an_earlier_checkpoint_the_recipe_does_not_train_is_found(study, capsys):  # noqa: F811
    """Seed 0's D optimizer moments at step 20 scaled: no evaluation reads them, so recomputing every row finds
    nothing; training the run again compares every shipped checkpoint, not only the final one, and does. A
    shipped step that the recipe's training does not write (a stray copy) is named, not compared."""
    s0 = next(study.glob("runs/*ns__s0/checkpoints"))
    rid = s0.parent.name
    t = load_file(s0 / "step_0000020.safetensors")
    save_file({k: (v * 1.5 if k.startswith("opt_d.") and v.is_floating_point() else v) for k, v in t.items()},
              str(s0 / "step_0000020.safetensors"), {"format": "ganbench-checkpoint-v1"})
    for ext in ("json", "safetensors"):
        (s0 / f"step_0000030.{ext}").write_bytes((s0 / f"step_0000040.{ext}").read_bytes())
    record = json.loads((s0 / "step_0000030.json").read_text())
    (s0 / "step_0000030.json").write_text(json.dumps({**record, "step": 30, "tensors": "step_0000030.safetensors"}))
    code, out = verify(capsys, study, "--no-reference")
    assert code == 0, out
    code, out = verify(capsys, study, "--no-reference", "--retrain", "4")
    assert code == 1
    differs = [line for line in out.splitlines() if line.startswith("  differs: ")]
    assert len(differs) == 1 and differs[0].startswith(f"  differs: {rid} step_0000020 trained again tensors opt_d ")
    assert (f"not recomputed: {rid} step_0000030 trained again: not compared: training the stored recipe again "
            "wrote no checkpoint at this step") in out


def test_a_shipped_checkpoint_that_cannot_be_read_is_a_difference_not_a_stop(study, capsys):  # noqa: F811
    """Seed 0's step-20 tensors and seed 1's final sidecar truncated: --retrain lists the first as a difference
    and names the second as not trained again; the other runs are still trained again and compared."""
    s0, s1 = next(study.glob("runs/*ns__s0/checkpoints")), next(study.glob("runs/*ns__s1/checkpoints"))
    for path in (s0 / "step_0000020.safetensors", s1 / "step_0000040.json"):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, out = verify(capsys, study, "--no-reference", "--retrain", "4")
    assert code == 1
    assert (f"differs: {s0.parent.name} step_0000020 trained again checkpoint: stored 'step_0000020', recomputed "
            "'unreadable: step_0000020.safetensors: not a readable safetensors checkpoint") in out
    assert f"{s1.parent.name} step_0000040: not trained again: its final checkpoint cannot be read" in out
    assert "differs: ring8__loss=hinge__s0" not in out and "training ring8__loss=hinge__s0 again" in out


def test_runs_that_cannot_be_trained_again_bit_for_bit_are_named(study, capsys, tmp_path):  # noqa: F811
    db = sqlite3.connect(study / "study.sqlite")
    with db:
        ids = [r for (r,) in db.execute("SELECT run_id FROM runs ORDER BY run_id")]
        db.execute("UPDATE runs SET trained_with=? WHERE run_id=?", (json.dumps(ids[:2]), ids[0]))
        db.execute("UPDATE evals SET protocol=json_set(protocol, '$.device', 'cuda') WHERE run_id=?", (ids[1],))
        db.execute("UPDATE runs SET compiled='default' WHERE run_id=?", (ids[2],))
    db.close()
    code, out = verify(capsys, study, "--no-reference", "--retrain", "4", "--out", tmp_path / "v.json")
    found = json.loads((tmp_path / "v.json").read_text())
    assert found["retrained"]["eligible"] == 1 and found["retrained"]["runs"] == ids[3:]
    assert (f"not recomputed: {ids[0]} training: not trained again: it trained in a group with {ids[1]}: it "
            "trained on cuda") in out
    assert f"not recomputed: {ids[1]} training: not trained again: it trained on cuda" in out
    assert f"not recomputed: {ids[2]} training: not trained again: it trained with a compiled step (default)" in out


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """The tiny study trained with ``ensemble: on`` on the CPU: each loss's 2 seeds as one 2-member stack;
    member 1 of every stack poisoned at step 12 in one copy (stored as diverged, which its recipe does not do)."""
    from ganbench.study.executors import InProcess
    from ganbench.study.runner import run_study
    from ganbench.study.spec import StudySpec
    from ganbench.training import loop

    from .test_extend import TINY

    path = tmp_path_factory.mktemp("grouped")
    run_study(path / "clean", StudySpec(**TINY), InProcess(), progress=False, ensemble=("on", 16))
    real = loop.Trainer.g_step

    def poisoned(self, step):
        if step == 12 and self.k > 1:
            with torch.no_grad():
                next(iter(self.G.params.values()))[1].fill_(float("nan"))
        return real(self, step)

    loop.Trainer.g_step = poisoned
    try:
        run_study(path / "poisoned", StudySpec(**TINY), InProcess(), progress=False, ensemble=("on", 16))
    finally:
        loop.Trainer.g_step = real
    return path


def test_a_run_that_trained_in_a_group_trains_again_with_its_group(grouped, capsys, tmp_path):
    code, out = verify(capsys, grouped / "clean", "--no-reference", "--retrain", "1", "--out", tmp_path / "v.json")
    assert code == 0, out
    found = json.loads((tmp_path / "v.json").read_text())["retrained"]
    assert found["drawn"] == 1 and found["trainings"] == 1 and len(found["runs"]) == 2
    assert found["runs"][0].rsplit("__s", 1)[0] == found["runs"][1].rsplit("__s", 1)[0]  # one loss, both seeds
    assert found["values"] == found["identical"] > 2 * 4  # both members: checkpoint parts and final values
    assert ("trained again from their stored configs: 1 of the 4 runs trained on a CPU without a compiled step, "
            "each with the member-stacked group it trained in (2 runs in 1 group)") in out


def test_a_member_stored_as_diverged_that_its_recipe_trains_to_the_end_is_found(grouped, capsys):
    code, out = verify(capsys, grouped / "poisoned", "--no-reference", "--retrain", "2")
    assert code == 1, out
    diverged = [line for line in out.splitlines() if " run trained again training: " in line]
    assert len(diverged) == 2 and all("stored 'diverged at step 20', recomputed 'done at step 40'" in line
                                      for line in diverged)


def test_runs_are_trained_again_with_the_thread_count_their_checkpoint_records(study, capsys, monkeypatch):  # noqa: F811
    import ganbench.training.loop

    for sidecar in study.glob("runs/*/checkpoints/step_0000040.json"):
        record = json.loads(sidecar.read_text())
        assert record["threads"] in (1, 2)  # recorded where it trained
        sidecar.write_text(json.dumps({**record, "threads": 3}))
    seen, real = [], ganbench.training.loop.train_group

    def watched(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    before = torch.get_num_threads()
    monkeypatch.setattr(ganbench.training.loop, "train_group", watched)
    code, out = verify(capsys, study, "--no-reference", "--runs", "1", "--retrain", "1")
    assert seen == [3] and torch.get_num_threads() == before


def test_bad_retrain_counts(study):  # noqa: F811
    assert main(["study", "verify", str(study), "--retrain", "-1"]) == 2


def test_tensor_comparison_rule():
    a = {"G.w": torch.tensor([1.0, 2.0]), "G.b": torch.zeros(2), "D.w": torch.ones(3)}
    same = compare_tensors(a, {k: v.clone() for k, v in a.items()}, 1e-4, 1e-9)
    assert [(c["metric"], c["verdict"]) for c in same] == [("tensors D (1)", "identical"), ("tensors G (2)", "identical")]
    assert same[0]["stored"] == same[0]["recomputed"]
    near = compare_tensors(a, {**a, "G.w": torch.tensor([1.0, 2.0 + 2e-5])}, 1e-4, 1e-9)
    assert near[1]["verdict"] == "agrees" and near[1]["max_rel_diff"] == pytest.approx(1e-5, rel=0.1)
    assert near[1]["stored"] != near[1]["recomputed"]
    far = compare_tensors(a, {**a, "G.w": torch.tensor([1.0, 2.1])}, 1e-4, 1e-9)
    assert far[1]["verdict"] == "differs"
    nan = {**a, "G.w": torch.tensor([float("nan"), 2.0])}
    assert compare_tensors(nan, {k: v.clone() for k, v in nan.items()}, 1e-4, 1e-9)[1]["verdict"] == "identical"
    assert compare_tensors(a, nan, 1e-4, 1e-9)[1]["verdict"] == "differs"
    missing = compare_tensors(a, {k: v for k, v in a.items() if k != "G.b"}, 1e-4, 1e-9)
    assert missing[1]["verdict"] == "differs"
    assert why_not({"trained_with": None, "compiled": "none"}, {"protocol": {"device": "cpu"}}) == ""
    assert "compiled" in why_not({"compiled": "default"}, {"protocol": {}})
    assert why_not({}, None) == "it has no stored final evaluation"


def test_two_worker_processes_give_the_same_comparisons(study, capsys, tmp_path):  # noqa: F811
    """Each run's rows and retraining, and each dataset's reference rows, are one task; in pool workers (other
    processes, the study's reading scope re-entered) every value comes out as in this process, in the same order."""
    found = []
    for workers in ("1", "2"):
        code, out = verify(capsys, study, "--retrain", "2", "--workers", workers, "--out", tmp_path / f"{workers}.json")
        assert code == 0, out
        found.append(json.loads((tmp_path / f"{workers}.json").read_text()))
    one, two = found
    assert one["values"] == two["values"] and one["skipped"] == two["skipped"] and one["counts"] == two["counts"]
    assert one["retrained"]["runs"] == two["retrained"]["runs"] and len(one["retrained"]["runs"]) == 2
    assert main(["study", "verify", str(study), "--workers", "0"]) == 2
