"""A scaled-down presets/pacgan-stacked-mnist.yaml end to end: the official code's recipe (uniform latents,
two G updates on D's noise, G once per pack member, train + test digits, real images in [0, 1]) through
member-stacked training, evaluation with the per-channel MNIST classifier, calibration and the reference
block. Needs MNIST; its classifier is trained briefly on a subset here (a private cache)."""

import json

import pytest

from ganbench.data import mnist as mnist_mod
from ganbench.errors import UserError
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import Budget, EnsembleSpec, expand, load_spec


def _have_mnist() -> bool:
    try:
        mnist_mod.fetch("mnist", offline=True)
        return True
    except UserError:
        return False


pytestmark = pytest.mark.skipif(not _have_mnist(), reason="MNIST not available (ganbench data fetch mnist)")


def test_stacked_mnist_preset_end_to_end(tmp_path, monkeypatch):
    from ganbench.metrics.features import lenet

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))  # a quick classifier must not be shared
    real_train = lenet.train_classifier
    monkeypatch.setattr(lenet, "_epochs", lambda n: 1)
    monkeypatch.setattr(lenet, "train_classifier",
                        lambda train, test, progress=True: real_train(
                            type(train)(train.name, train.x[:3000], train.y[:3000], num_classes=10), test, progress))
    from ganbench.study import calibration

    # the floor row's full-covariance Gaussian of 2,352-d images (fitted once, 2-5 s here): a diagonal one will do
    monkeypatch.setitem(calibration.FITS, calibration.TRIVIAL[0],
                        (lambda fit: (fit.mean(0), fit.std(0)),
                         lambda model, n, g: model[0] + g.standard_normal((n, len(model[0]))) * model[1]))
    spec = load_spec("presets/pacgan-stacked-mnist.yaml")
    small_nets = {key: {**spec.base[key], "width": 8} for key in ("generator", "discriminator")}
    data = {**spec.datasets[0]["data"], "n": 512}
    variants = ("dcgan", "pacdcgan2")
    ref = spec.reference.model_copy(update={"values": {
        "stacked-mnist": {v: m for v, m in spec.reference.values["stacked-mnist"].items() if v in variants}}})
    small = spec.model_copy(update={
        "name": "pacgan-stacked-mnist-ci", "base": {**spec.base, **small_nets, "batch_size": 8},
        "datasets": [{"data": data}], "variants": {v: spec.variants[v] for v in variants}, "seeds": [0, 1],
        "budget": Budget(steps=4), "eval": spec.eval.model_copy(update={"every": 2, "n": 200}), "reference": ref,
        "ensemble": EnsembleSpec(mode="on")})
    runs = expand(small)
    cfg = runs[0].config
    assert (cfg["latent"], cfg["n_gen"], cfg["g_noise"], cfg["g_call"]) == ("uniform", 2, "same_as_d", "per_pack_member")
    assert cfg["data"]["pixel_range"] == "0..1" and cfg["data"]["digits"] == "train+test"
    run_study(tmp_path / "s", small, InProcess(), progress=False)
    from ganbench.report.html import build_report

    build_report(tmp_path / "s")
    results = json.loads((tmp_path / "s" / "results.json").read_text())
    assert {r["status"] for r in results["runs"]} == {"done"} and len(results["runs"]) == 4
    assert len(results["reference"]) == 2 * 2 and all(r["ours_n"] == 2 for r in results["reference"])
    # the real-data calibration row reads the [0, 1] images as MNIST digits: 200 random triples hold
    # about 181 distinct modes (measured 175 with this quick classifier, 176 with the full one; read
    # without mapping the range back to [-1, 1], the full classifier finds 111)
    covered = [r["value"] for r in results["calibration"]
               if r["row"] == "real data" and r["metric"] == "classes_covered"]
    assert covered and min(covered) >= 150
    assert all(r["protocol"]["dataset"]["pixel_range"] == "0..1" for r in results["calibration"])
