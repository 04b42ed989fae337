import numpy as np
import pytest
import torch
from PIL import Image

import ganbench
from ganbench.cli import main
from ganbench.config import make_config
from ganbench.data import load_dataset
from ganbench.errors import UserError


def _png(path, size=(12, 10), value=128, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 255 - value, 0)).save(path)


def test_folder_with_class_subfolders_resized_and_cropped(tmp_path):
    for i in range(6):
        _png(tmp_path / "cats" / f"{i}.png", size=(20, 14))
        _png(tmp_path / "dogs" / "deeper" / f"{i}.jpg", size=(14, 20), value=30)
    train = load_dataset({"name": "folder", "path": str(tmp_path), "resolution": 8, "channels": 3,
                          "test_fraction": 0.25})
    test = load_dataset({"name": "folder", "path": str(tmp_path), "resolution": 8, "test_fraction": 0.25}, "test")
    assert train.x.shape == (9, 3, 8, 8) and test.x.shape == (3, 3, 8, 8)
    assert train.num_classes == 2 and set(train.y.tolist()) | set(test.y.tolist()) == {0, 1}
    assert train.x.min() >= -1 and train.x.max() <= 1
    gray = load_dataset({"name": "folder", "path": str(tmp_path), "resolution": 16, "channels": 1})
    assert gray.x.shape[1:] == (1, 16, 16)


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage"), "a.png: truncated or damaged image"),
    (lambda d: (d / "z.png").write_bytes(b""), "z.png: empty file"),
    (lambda d: None, "no PNG or JPEG images found"),
])
def test_folder_bad_files(tmp_path, make, message):
    (tmp_path / "imgs").mkdir()
    make(tmp_path / "imgs")
    with pytest.raises(UserError, match=message):
        load_dataset({"name": "folder", "path": str(tmp_path / "imgs")})


def test_mixed_sizes_need_a_resolution(tmp_path):
    _png(tmp_path / "a.png", size=(8, 8))
    _png(tmp_path / "b.png", size=(9, 8))
    with pytest.raises(UserError, match="b.png: size .* differs .* set a resolution"):
        load_dataset({"name": "folder", "path": str(tmp_path), "resolution": None})


def test_cifar_like_png_folder_trains(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for c in range(3):
        for i in range(8):
            p = tmp_path / "data" / f"class{c}" / f"{i}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(p)
    code = main(["train", "--data", "folder", "--set", f"data.path={tmp_path / 'data'}", "--generator", "dcgan",
                 "--discriminator", "dcgan", "--set", "generator.width=8", "--set", "discriminator.width=8",
                 "--steps", "3", "--batch-size", "4", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "r")])
    assert code == 0, capsys.readouterr().err


def test_npz_dataset_and_label_checks(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8), y=np.arange(20) % 4)
    ds = load_dataset({"name": "npz", "path": str(tmp_path / "d.npz")})
    assert ds.x.shape == (18, 3, 16, 16) and ds.num_classes == 4
    np.savez(tmp_path / "bad.npz", x=rng.integers(0, 256, (6, 8, 8), dtype=np.uint8), y=np.array([0, 1, 2, 3, 4, 9]))
    with pytest.raises(UserError, match="label 9 out of range 0..4"):
        load_dataset({"name": "npz", "path": str(tmp_path / "bad.npz"), "classes": 5})
    with pytest.raises(UserError, match="file not found"):
        load_dataset({"name": "npz", "path": str(tmp_path / "none.npz")})


def test_npz_without_x_says_which_array_it_uses(tmp_path, capsys):
    """The documented fallback (the first array) is said once, naming the file and the array, not silent."""
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (20, 8, 8), dtype=np.uint8), y=np.arange(20) % 4)
    ds = load_dataset({"name": "npz", "path": str(tmp_path / "d.npz")})
    assert ds.x.shape == (18, 1, 8, 8) and ds.num_classes == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # the labels are read without reading (and announcing) the images again
    assert f"ganbench: {tmp_path / 'd.npz'} has no array 'x'; using its first array 'images' (20 x 8 x 8)" in err
    assert "it holds 'images', 'y'; save the samples as x to choose" in err
    np.savez(tmp_path / "x.npz", x=np.zeros((20, 2)), other=np.ones(3))
    load_dataset({"name": "npz", "path": str(tmp_path / "x.npz")})
    err = capsys.readouterr().err  # with an x, no fallback to announce; only what is not read
    assert "has no array 'x'" not in err and "its other arrays ('other') are not read" in err


def test_diffaugment_properties():
    from ganbench.augment import cutout, diff_augment, translation

    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = diff_augment(x, ["color", "translation", "cutout"], g1)
    assert a.shape == x.shape and torch.equal(a, diff_augment(x, ["color", "translation", "cutout"], g2))
    shifted = translation(x, torch.Generator().manual_seed(0))
    for i in range(2):  # every output row is an input row shifted by at most 1 pixel, or zero padding
        nonzero = shifted[i, 0][shifted[i, 0] != 0]
        assert set(nonzero.tolist()) <= set(x[i, 0].flatten().tolist())
    holes = cutout(torch.ones(4, 1, 8, 8), torch.Generator().manual_seed(0))
    assert ((holes == 0).sum(dim=(1, 2, 3)) <= 16).all() and ((holes == 0).sum(dim=(1, 2, 3)) > 0).all()
    y = x.clone().requires_grad_(True)
    diff_augment(y, ["color", "translation", "cutout"], torch.Generator().manual_seed(1)).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0  # differentiable


def test_training_with_diffaugment_is_reproducible(tmp_path):
    cfg = make_config({"data": "digits", "generator": {"name": "dcgan", "width": 8},
                       "discriminator": {"name": "dcgan", "width": 8}, "augment": "color,translation,cutout",
                       "steps": 6, "batch_size": 8, "log_every": 3, "ckpt_every": 6, "device": "cpu"})
    ganbench.train(cfg, out=tmp_path / "a", progress=False)
    ganbench.train(cfg, out=tmp_path / "b", progress=False)
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "a" / "checkpoints" / "step_0000006.safetensors"))
    b = load_file(str(tmp_path / "b" / "checkpoints" / "step_0000006.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(UserError, match="unknown augmentation 'zoom'"):
        make_config({"augment": "zoom"})
