"""A study run's evaluation protocol: held-out best, the repeat that measures noise, calibration rows,
training FLOPs and the run's own start time in the store."""

import time

import pytest

from ganbench.study.calibration import REAL, TRIVIAL
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec
from ganbench.study.store import Store

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
