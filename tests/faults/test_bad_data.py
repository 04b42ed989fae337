"""Fault family: bad data. Each file is refused in one line naming it (exit 2), or read correctly:
16-bit PNGs scaled, NaN/Inf refused, decompression bombs refused, labels that are not integers refused,
arrays that are not real numbers refused; PRDC on far-from-origin float64 features agrees."""

import contextlib
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from ganbench.data.folder import _load_image
from ganbench.metrics.prdc import prdc

from .conftest import TINY, refused


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    wide = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0..65520
    Image.fromarray(wide).save(tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode.startswith("I;16")
    got = _load_image(tmp_path / "a.png", None, None)
    assert got.dtype == np.uint8 and (got == 255).mean() < 0.01  # was 99.4 % at 1.0
    assert np.abs(got - wide / 65535 * 255).max() <= 0.5 + 1e-9  # rounded, not truncated


def test_a_truncated_jpeg_says_so_in_one_line(capsys, tmp_path):
    (tmp_path / "imgs").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "whole.jpg", quality=90)
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "imgs" / "cut.jpg").write_bytes(data[:len(data) // 2])  # a download that stopped half-way
    line = refused(capsys, "metrics", "--real", tmp_path / "imgs", "--fake", tmp_path / "imgs", "--extractor",
                   "points", says="cut.jpg: truncated or damaged image (Pillow: image file is truncated")
    assert "OSError" not in line  # it said "not a readable image (OSError)"


def test_a_16_bit_png_of_small_values_stays_dark(tmp_path):
    """A 16-bit PNG is scaled by its type (/257), whatever its values: one whose largest is 255 is a dark
    16-bit image, not an 8-bit one (the file says 16 bits; Pillow opens it as I;16, older Pillow as "I")."""
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) % 256).astype(np.uint16)).save(tmp_path / "a.png")
    got = _load_image(tmp_path / "a.png", None, None)
    assert got.max() == 1  # 255 / 257 rounded


def test_decompression_bomb_is_one_line(capsys, tmp_path, monkeypatch):
    (tmp_path / "imgs").mkdir()
    Image.new("L", (300, 300)).save(tmp_path / "imgs" / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 90000 px > 2x the limit: PIL's bomb error
    refused(capsys, "metrics", "--real", tmp_path / "imgs", "--fake", tmp_path / "imgs", "--extractor", "points",
            says="big.png")


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays,says", [
    ({"x": np.full((20, 2), np.nan)}, "nan"),
    ({"x": np.array([[0.0, np.inf]] * 20)}, "nan or inf"),
    ({"x": np.full((20, 1, 8, 8), np.nan, dtype=np.float32)}, "nan or inf"),  # images: was "diverged"
    ({"x": np.array([["a", "b"]] * 20)}, "expected real numbers"),
    ({"x": np.ones((20, 2), dtype=np.complex64)}, "expected real numbers"),  # lost its imaginary part
    ({"x": np.zeros((20, 2)), "y": np.linspace(0, 1.5, 20)}, "labels must be integers"),  # were truncated
    ({"x": np.zeros((20, 2)), "y": np.array([np.nan] * 20)}, "labels must be integers"),
    ({"x": np.zeros((20, 2)), "y": np.array(["a"] * 20)}, "expected real numbers"),
    ({"x": np.zeros((20, 2)), "y": np.ones(20, dtype=np.complex128)}, "expected real numbers"),
])
def test_bad_npz_dataset(capsys, tmp_path, arrays, says):
    path = _npz(tmp_path / "d.npz", **arrays)
    refused(capsys, "train", *TINY, "--set", "data={name: npz, path: " + str(path) + "}", "--out", tmp_path / "r",
            says=says)
    assert not (tmp_path / "r").exists()


def test_integer_valued_float_labels_are_accepted(capsys, tmp_path):
    from ganbench.data.folder import npz

    path = _npz(tmp_path / "d.npz", x=np.zeros((20, 2)), y=np.arange(20.0) % 3)
    assert npz("train", path=str(path)).num_classes == 3


@pytest.mark.parametrize("make,says", [
    (lambda p: p.write_bytes(b"definitely not a zip"), "not a readable .npz"),
    (lambda p: np.save(open(p, "wb"), np.zeros((5, 2))), "single .npy array"),
    (lambda p: zipfile.ZipFile(p, "w").close(), "holds no array"),
    (lambda p: p.write_bytes(b""), "npz"),
    (lambda p: p.write_bytes(b"hello"), "ganbench never loads pickled data"),  # numpy would offer to unpickle
    (lambda p: np.savez(p, x=np.zeros((0, 2))), "holds no samples (shape (0, 2))"),
    (lambda p: np.savez(p, x=np.zeros((0, 28, 28), np.float32)), "holds no samples"),
    (lambda p: np.savez(p, x=np.zeros((1, 2))), "1 sample; the metrics need at least 2"),
    (lambda p: None, "not found"),
])
def test_npz_that_is_not_one(capsys, tmp_path, make, says):
    make(tmp_path / "d.npz")
    refused(capsys, "metrics", "--real", tmp_path / "d.npz", "--fake", tmp_path / "d.npz", says=says)


@pytest.mark.parametrize("value", [-0.5, 1.0, 1.5])
def test_test_fraction_out_of_range(capsys, tmp_path, value):
    path = _npz(tmp_path / "d.npz", x=np.zeros((20, 2)))
    refused(capsys, "train", *TINY, "--set", f"data={{name: npz, path: {path}, test_fraction: {value}}}",
            "--out", tmp_path / "r", says="test_fraction")


def test_metrics_out_that_is_a_directory(capsys, tmp_path):
    path = _npz(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(50, 2)))
    (tmp_path / "o.json").mkdir()
    refused(capsys, "metrics", "--real", path, "--fake", path, "--metrics", "fid", "--out", tmp_path / "o.json",
            says="directory")


@pytest.mark.parametrize("seed", [0, 5])
def test_prdc_float64_features_far_from_the_origin(seed):
    """x = 1000 + 0.01 z in float64: centred in float64 before rounding, and the bound covers the
    reference's own float64 cancellation. Was off by up to 6 counts (0.006) on these seeds; what is left
    is that cancellation noise itself (see test_prdc_with_large_offsets)."""
    from prdc import compute_prdc

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((500, 32)) * 0.01 + 1000
    y = rng.standard_normal((450, 32)) * 0.01 + 1000.001
    with contextlib.redirect_stdout(io.StringIO()):
        ref = compute_prdc(x, y, 5)
    ours = prdc(x, y, 5)
    scale = {"precision": 450, "recall": 500, "coverage": 500, "density": 5 * 450}
    assert all(abs(ours[m] - ref[m]) * scale[m] <= 2 + 1e-9 for m in scale)


def test_a_folder_mixing_grayscale_and_colour_says_so(capsys, tmp_path):
    """Same size, other channels: the message used to read 'size (8, 8) differs from (8, 8)'."""
    folder = tmp_path / "f"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (8, 8), (i, 2 * i, 3 * i)).save(folder / f"c{i}.png")
    Image.new("L", (8, 8), 7).save(folder / "z.png")
    other = _npz(tmp_path / "o.npz", x=np.zeros((5, 3, 8, 8), np.uint8))
    line = refused(capsys, "metrics", "--real", folder, "--fake", other, "--metrics", "fid", says="z.png is grayscale")
    assert "c0.png is colour (RGB)" in line and "differs from" not in line


def test_a_one_dimensional_array_is_named_as_such(capsys, tmp_path):
    path = _npz(tmp_path / "d.npz", x=np.arange(40.0))
    refused(capsys, "metrics", "--real", path, "--fake", path, "--metrics", "fid",
            says="an array of shape (40,) is neither samples (N, D) nor images")
