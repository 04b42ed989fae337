"""Where the reference rows' features are extracted: on the runs' GPU when the driver has it (the runs are
evaluated where they trained), else on the CPU; `study verify` recomputes them on the CPU."""

import numpy as np
import pytest
import torch

import ganbench.metrics.features as features
import ganbench.training.build as build
from ganbench.study import calibration
from ganbench.study.spec import StudySpec, expand

SPEC = {"name": "cal", "base": {"batch_size": 16}, "datasets": [{"data": "digits"}],
        "variants": {"ns": {"loss": "ns"}}, "seeds": 1, "budget": {"steps": 4},
        "eval": {"n": 60, "every": 2, "metrics": ["fid"]}}


def _digits_run():
    spec = StudySpec(**SPEC)
    (run,) = calibration.calibration_runs(expand(spec)).values()
    return spec, run


@pytest.mark.parametrize("asked, resolved, expected", [
    ("auto", "cuda", "cuda"),  # a GPU study's driver with the GPU
    ("cuda:1", "cuda:1", "cuda:1"),
    ("auto", "cpu", "cpu"),
    ("auto", "mps", "cpu"),  # MPS has no float64 and is not tested: the CPU
])
def test_rows_follow_the_runs_cuda_device(monkeypatch, asked, resolved, expected):
    seen = []
    monkeypatch.setattr(build, "resolve_device", lambda name: seen.append(name) or torch.device(resolved))
    assert calibration.extraction_device({"device": asked}) == torch.device(expected)
    assert seen == [asked]
    calibration.extraction_device({"device": asked}, device="cpu")
    assert seen[-1] == "cpu"  # an explicit device (verify's) is what is resolved, not the runs'


def test_a_driver_without_the_runs_gpu_uses_its_cpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    # before: resolve_device("cuda") raised "this torch build sees no CUDA GPU" in a Ray head without one
    assert calibration.extraction_device({"device": "cuda"}) == torch.device("cpu")


def test_calibrate_builds_its_extractor_on_that_device_and_records_it(monkeypatch):
    spec, run = _digits_run()
    built = []
    real_build = features.build_extractor

    def recording(name, dataset, device="cpu"):
        built.append(torch.device(device))
        return real_build(name, dataset, "cpu")

    monkeypatch.setattr(features, "build_extractor", recording)
    monkeypatch.setattr(calibration, "extraction_device", lambda config, device=None: torch.device("cuda"))
    rows = calibration.calibrate(run.config, spec.eval.model_dump(), spec.seed_list())
    assert built == [torch.device("cuda")]  # before: always the CPU, whatever the runs trained on
    assert {r["protocol"]["device"] for r in rows} == {"cuda"}


def test_rows_on_a_cpu_say_so():
    spec, run = _digits_run()
    rows = calibration.calibrate({**run.config, "device": "cpu"}, spec.eval.model_dump(), spec.seed_list())
    assert {r["protocol"]["device"] for r in rows} == {"cpu"} and len(rows) == 2 * 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_rows_agree_with_cpu_rows():
    spec, run = _digits_run()
    on = {d: calibration.calibrate({**run.config, "device": d}, spec.eval.model_dump(), spec.seed_list())
          for d in ("cuda", "cpu")}
    assert [r["row"] for r in on["cuda"]] == [r["row"] for r in on["cpu"]]
    for g, c in zip(on["cuda"], on["cpu"]):
        assert g["protocol"]["device"] == "cuda" and c["protocol"]["device"] == "cpu"
        # float32 convolutions on two devices: features within ~1e-6 relative, FID (of 60 rows) within 1e-3
        np.testing.assert_allclose(g["metrics"]["fid"], c["metrics"]["fid"], rtol=1e-3)


def test_verify_recomputes_on_the_cpu_and_names_the_stored_device(monkeypatch):
    """verify draws the rows again on the CPU (as it does the runs' rows); a row stored from a GPU keeps its
    device in the comparison, so `study verify` says its last digits may differ on a CPU."""
    from ganbench.study.verify import verify_reference

    spec = StudySpec(**{**SPEC, "datasets": [{"data": "ring8"}], "eval": {"n": 60, "every": 2}})
    (run,) = calibration.calibration_runs(expand(spec)).values()
    rows = calibration.calibrate(run.config, spec.eval.model_dump(), spec.seed_list())
    stored = [{"row": r["row"], "checkpoint": r["checkpoint"], "seed": r["seed"], "metric": m, "value": v,
               "protocol": {**r["protocol"], "device": "cuda"}} for r in rows for m, v in r["metrics"].items()]
    asked = []
    real = calibration.calibrate
    monkeypatch.setattr(calibration, "calibrate", lambda *a, **kw: asked.append(kw.get("device")) or real(*a, **kw))
    out, *_ = verify_reference("ring8", {**run.config, "device": "cuda"}, stored, spec.eval.model_dump(),
                               spec.seed_list(), None)
    assert asked == ["cpu"]
    assert out and {o["device"] for o in out} == {"cuda"} and {o["verdict"] for o in out} == {"identical"}
