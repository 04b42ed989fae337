"""A study run's evaluation protocol: held-out best, the repeat that measures noise, calibration rows,
training FLOPs and the run's own start time in the store."""

import time

import pytest

from ganbench.errors import UserError
from ganbench.evaluate import evaluate_run
from ganbench.study.calibration import REAL, TRIVIAL
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec
from ganbench.study.store import Store
from ganbench.study.worker import run_dir_name

SPEC = StudySpec(name="proto", base={"batch_size": 32, "generator": {"name": "mlp", "hidden": 32},
                                     "discriminator": {"name": "mlp", "hidden": 32}},
                 datasets=[{"data": {"name": "ring8", "n": 2000}}], variants={"ns": {"loss": "ns"}}, seeds=2,
                 budget={"steps": 60}, eval={"n": 300, "every": 20, "metrics": ["modes", "fid"],
                                                          "primary": "fid"})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("proto")
    submitted = time.time()
    run_study(root / "s", SPEC, InProcess(), progress=False)
    st = Store(root / "s" / "study.sqlite")
    st.submitted = submitted
    st.root = root / "s"
    return st


def test_best_is_selected_on_one_evaluation_and_reported_from_an_independent_one(store):
    evals = [e for e in store.evals() if e["run_id"] == "ring8__ns__s0" and e["metric"] == "fid"]
    selected = next(e for e in evals if "selected" in e["tags"])
    best = next(e for e in evals if "best" in e["tags"])
    assert best["checkpoint"] == selected["checkpoint"] + "/heldout" and best["step"] == selected["step"]
    assert best["protocol"]["seed"] != selected["protocol"]["seed"]
    assert (selected["protocol"]["split"], best["protocol"]["split"]) == ("train", "test")
    assert best["value"] != selected["value"]  # other samples, other reference: another number
    trajectory = [e for e in evals if not {"heldout", "repeat"} & set(e["tags"])]
    assert selected["value"] == min(e["value"] for e in trajectory)


def test_final_is_evaluated_twice_with_independent_seeds(store):
    evals = [e for e in store.evals() if e["run_id"] == "ring8__ns__s1" and e["metric"] == "fid"]
    final = next(e for e in evals if "final" in e["tags"])
    repeat = next(e for e in evals if "repeat" in e["tags"])
    assert repeat["step"] == final["step"] == 60 and repeat["protocol"]["seed"] != final["protocol"]["seed"]
    assert repeat["protocol"]["split"] == final["protocol"]["split"] == "train"


def test_calibration_rows_use_the_runs_protocol(store):
    rows = store.calibration()
    assert {r["row"] for r in rows} == {REAL, *TRIVIAL} and {r["seed"] for r in rows} == {0, 1}
    final_run = next(e for e in store.evals() if "final" in e["tags"])
    real = next(r for r in rows if r["row"] == REAL and r["checkpoint"] == "final")
    for key in ("split", "n_real", "n_fake", "extractor"):
        assert real["protocol"][key] == final_run["protocol"][key]
    hq = {(r["row"], r["checkpoint"]): r["value"] for r in rows if r["metric"] == "high_quality" and r["seed"] == 0}
    assert hq[(REAL, "final")] > 0.95 and max(hq[(t, "final")] for t in TRIVIAL) < 0.1  # ring8, sigma 0.01


def test_runs_record_their_own_start_and_training_flops(store):
    runs = store.runs()
    starts = sorted(r["started"] for r in runs)
    assert starts[0] >= store.submitted and starts[1] > starts[0]  # one at a time in-process
    assert starts[1] >= runs[0]["finished"] - 1e-6 or starts[1] >= min(r["finished"] for r in runs) - 1e-6
    for r in runs:
        eff = r["efficiency"]
        assert eff["train_flops"] == pytest.approx(60 * sum(eff["flops_per_step"].values()))


@pytest.mark.parametrize("data_n, metrics, said", [
    (5, ["modes"], "test split (data.n 5: 1 sample): the reference set holds 1 real sample; an evaluation needs "
                   "at least 2"),  # ring8's test split is a quarter of data.n
    (20, ["modes", "prdc"], "test split (data.n 20: 5 samples): metric 'prdc' needs at least 7 real samples"),
])
def test_a_split_too_small_for_the_evaluation_is_refused_before_anything_trains(tmp_path, data_n, metrics, said):
    spec = SPEC.model_copy(update={"datasets": [{"data": {"name": "ring8", "n": data_n}}],
                                   "eval": SPEC.eval.model_copy(update={"metrics": metrics, "primary": None})})
    with pytest.raises(UserError) as err:
        run_study(tmp_path / "s", spec, InProcess(), progress=False)
    assert f"dataset 'ring8', {said}" in str(err.value) and "use more data" in str(err.value)
    assert not (tmp_path / "s" / "runs").exists()  # nothing trained, nothing stored


def test_evaluating_fewer_samples_than_a_metric_needs_names_the_split_and_the_fix(store):
    run = store.root / "runs" / run_dir_name("ring8__ns__s0")
    with pytest.raises(UserError) as err:
        evaluate_run(run, metrics=["prdc"], n=5, split="test", progress=False, write=False)
    assert str(err.value) == ("dataset 'ring8', test split (data.n 2000: 500 samples): metric 'prdc' needs at least "
                              "7 real samples; the reference set holds 5; draw more samples (eval.n; ganbench eval "
                              "--n) or leave out 'prdc'")


def test_an_interval_not_below_the_budget_is_noted(capsys):
    from ganbench.study.runner import _note_single_checkpoint
    from ganbench.study.spec import expand

    _note_single_checkpoint(SPEC, expand(SPEC))  # every 20 of 60 steps: nothing to say
    assert capsys.readouterr().err == ""
    late = SPEC.model_copy(update={"eval": SPEC.eval.model_copy(update={"every": 60})})
    _note_single_checkpoint(late, expand(late))
    assert capsys.readouterr().err == ("note: eval.every 60 is not below the budget of 60 steps: only the final "
                                       "checkpoint of those runs is evaluated (no learning curve; best = final)\n")
