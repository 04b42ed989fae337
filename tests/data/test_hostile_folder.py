"""Hostile image folders: an image whose resize (shorter side to the resolution, before the center
crop) would allocate far more than its file suggests is refused in one line naming it."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench.data import load_dataset
from ganbench.errors import UserError


def test_a_thin_image_cannot_blow_up_in_the_resize(tmp_path, monkeypatch):
    """A 1 x 10^6 px PNG is a few kB, and at resolution 32 resized to 32 x 32,000,000 px (3 GB of RGB).
    The limit (Pillow's bomb limit) is lowered here so that the test's own image stays small."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    Image.fromarray(np.zeros((1, 2000, 3), np.uint8)).save(tmp_path / "thin.png")  # 2,000 px: opens
    with pytest.raises(UserError, match=r"thin.png: 2000x1 px resized to 16000x8 .* crop it first"):
        load_dataset({"name": "folder", "path": str(tmp_path), "resolution": 8, "test_fraction": 0})
    Image.fromarray(np.zeros((1, 100, 3), np.uint8)).save(tmp_path / "thin.png")  # 800 x 8 px: fine
    data = load_dataset({"name": "folder", "path": str(tmp_path), "resolution": 8, "test_fraction": 0})
    assert data.x.shape == (1, 3, 8, 8)


def test_an_image_beside_the_class_subfolders_is_not_a_class_of_its_own(tmp_path):
    """It became class '.' (num_classes one more than the subfolders, labels shifted by one)."""
    for name in ("cat/a.png", "dog/b.png", "dog/c.png", "loose.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name)
    spec = {"name": "folder", "path": str(tmp_path), "resolution": 8, "test_fraction": 0}
    with pytest.raises(UserError, match="loose.png: an image beside the class subfolders"):
        load_dataset(spec)
    (tmp_path / "loose.png").unlink()
    data = load_dataset(spec)
    assert data.num_classes == 2 and sorted(data.y.tolist()) == [0, 1, 1]


@pytest.mark.parametrize("orientation, turns", [(3, 2), (6, -1), (8, 1)])  # EXIF: 180, 90 cw, 90 ccw to view
def test_an_exif_orientation_is_applied_as_a_viewer_would(tmp_path, orientation, turns):
    """A phone stores a portrait photo as landscape pixels plus an EXIF tag; read as stored, sideways."""
    pixels = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "photo.png", exif=exif.tobytes())  # lossless: exact pixels
    spec = {"name": "folder", "path": str(tmp_path), "resolution": None, "channels": 1, "test_fraction": 0}
    data = load_dataset(spec)
    upright = np.rot90(pixels, turns).astype(np.float32) / 127.5 - 1
    assert data.x.shape == (1, 1, *upright.shape) and np.array_equal(data.x[0, 0].numpy(), upright)


def test_hidden_files_and_folders_are_skipped(tmp_path):
    """macOS leaves ._name.jpg beside each photo on a shared drive (not an image: it stopped the read), and
    a hidden folder of thumbnails became a class (and then made the top-level images 'loose')."""
    for name in ("a.png", "b.png", ".thumbs/a.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name)
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    data = load_dataset({"name": "folder", "path": str(tmp_path), "resolution": 8, "test_fraction": 0})
    assert data.x.shape == (2, 3, 8, 8) and data.y is None


def test_an_image_beside_a_nested_class_subfolder_is_not_a_class_of_its_own(tmp_path):
    """cats/a.png beside cats/indoor/ became a class "cats" besides "cats/indoor", as a top-level image
    became class "."."""
    for name in ("cats/a.png", "cats/indoor/b.png", "dogs/c.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name)
    spec = {"name": "folder", "path": str(tmp_path), "resolution": 8, "test_fraction": 0}
    with pytest.raises(UserError, match="cats/a.png: an image in cats, which also holds the class subfolder "
                                        "cats/indoor"):
        load_dataset(spec)
    (tmp_path / "cats/outdoor").mkdir()
    (tmp_path / "cats/a.png").rename(tmp_path / "cats/outdoor/a.png")
    data = load_dataset(spec)  # classes sorted: cats/indoor, cats/outdoor, dogs
    assert data.num_classes == 3 and sorted(data.y.tolist()) == [0, 1, 2]


def test_the_order_of_files_does_not_depend_on_the_filesystem_listing(tmp_path, monkeypatch):
    """The same folder listed in another order (another filesystem, a copy) gives the same tensors."""
    rng = np.random.default_rng(0)
    for name in ("b/1.png", "a/2.jpg", "a/10.png", "c/x y é.png", "b/0.PNG"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)).save(tmp_path / name)
    spec = {"name": "folder", "path": str(tmp_path), "resolution": 8, "test_fraction": 0}
    first = load_dataset(spec)
    listing = Path.rglob
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: reversed(list(listing(self, pattern))))
    again = load_dataset(spec)
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)
    assert sorted(first.y.tolist()) == [0, 0, 1, 1, 2]  # a: 2 images, b: 2, c: 1 (labels: sorted names)


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_class_numbers_do_not_depend_on_how_the_filesystem_spells_accents(tmp_path, form):
    """'école' written by macOS (e + combining accent, NFD) sorted before 'fleur', as one character (NFC,
    Linux) after it: the same folder, copied across, numbered its classes apart."""
    import unicodedata

    for value, name in ((0, "école"), (200, "fleur")):
        (folder := tmp_path / unicodedata.normalize(form, name)).mkdir()
        Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(folder / "a.png")
    data = load_dataset({"name": "folder", "path": str(tmp_path), "resolution": 8, "test_fraction": 0})
    ecole = int((data.x[:, 0, 0, 0] == -1).nonzero()[0, 0])  # the image of value 0
    assert data.y[ecole] == 1  # NFC order: 'fleur' < 'école' (U+00E9 sorts after f)
