"""Data a study or run directory ships inside itself (a stored path allowed because it lies there, not
because the user named it) is a stranger's: `study report`, which only reads, loads it for the dataset's
traits and its real-data strip. What it may make ganbench decode is bounded (confine.STORED_DATA_BYTES,
STORED_DATA_FILES), each excess refused in one line naming --data-path; the same data named by the user
(--data-path) is read unbounded. The bounds are lowered here so the tests' own files stay small."""

import zipfile

import numpy as np
import pytest
from PIL import Image

from ganbench import confine
from ganbench.confine import STUDY, confined
from ganbench.data import load_dataset
from ganbench.errors import UserError


@pytest.fixture
def small_bounds(monkeypatch):
    monkeypatch.setattr(confine, "STORED_DATA_BYTES", 10_000, raising=False)
    monkeypatch.setattr(confine, "STORED_DATA_FILES", 5, raising=False)


def _load(study, spec, consent=()):
    with confined(study, STUDY, consent):
        return load_dataset(spec)


def test_an_npz_inflating_past_the_bound_is_refused_before_it_is_read(tmp_path, small_bounds):
    """380 kB of deflated zeros were 400 MB of uint8 pixels: 4.7 GB and 44 s of a report (measured)."""
    path = tmp_path / "data" / "bomb.npz"
    path.parent.mkdir()
    np.savez_compressed(path, x=np.zeros((200, 8, 8), np.uint8))  # 12,800 bytes inflated, ~100 stored
    assert path.stat().st_size < 1000
    spec = {"name": "npz", "path": str(path)}
    with pytest.raises(UserError, match=r"bomb.npz: its arrays hold 12,9\d\d bytes, more than the 10,000 .* "
                                        rf"pass --data-path {path}$"):
        _load(tmp_path, spec)
    assert len(_load(tmp_path, spec, [path])) == 180  # consented: read as before
    np.savez_compressed(path, x=np.zeros((100, 8, 8), np.uint8))
    assert len(_load(tmp_path, spec)) == 90  # within the bound


def _pngs(folder, n, size=(1, 1)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("L", size).save(folder / f"{i}.png")


@pytest.mark.parametrize("n,size,opts,says", [
    (6, (1, 1), {}, r"it holds at least 6 images, more than the 5"),  # 20,000 PNGs of 67 bytes: 31 s of a report
    (2, (1, 1), {"resolution": 64}, r"its images at resolution 64 take 24,576 bytes, more than the 10,000"),
    (2, (80, 80), {"resolution": None}, r"its images decode to 12,800 pixels, more than the 10,000")])
def test_a_folder_past_the_bounds_is_refused_before_its_images_are_decoded(tmp_path, small_bounds, monkeypatch,
                                                                            n, size, opts, says):
    """100 PNGs of 67 bytes at resolution 1024 took 4.4 GB of a report; five 164 kB PNGs of 169 Mpx, 40 s."""
    folder = tmp_path / "data"
    _pngs(folder, n, size)
    spec = {"name": "folder", "path": str(folder), "test_fraction": 0, **opts}
    decoded = []
    from ganbench.data import folder as module

    load_image = module._load_image
    monkeypatch.setattr(module, "_load_image", lambda *a: decoded.append(a) or load_image(*a))
    with pytest.raises(UserError, match=rf"data: {says} .* pass --data-path {folder}$"):
        _load(tmp_path, spec)
    assert decoded == []
    assert len(_load(tmp_path, spec, [folder])) == n  # consented: read as before
    assert len(_load(tmp_path, {**spec, "path": str(folder)}, [tmp_path])) == n


def test_data_outside_any_scope_is_not_bounded(tmp_path, small_bounds):
    _pngs(tmp_path / "data", 6)
    assert len(load_dataset({"name": "folder", "path": str(tmp_path / "data"), "test_fraction": 0})) == 6


def test_a_shipped_folder_is_not_listed_whole_before_its_count_is_refused(tmp_path, small_bounds, monkeypatch):
    """The count was taken after listing (and sorting) every file: a million shipped files were walked first."""
    from ganbench.data import folder as module

    folder = tmp_path / "data"
    _pngs(folder, 40)
    looked = []
    hidden = module._hidden
    monkeypatch.setattr(module, "_hidden", lambda p, root: looked.append(p) or hidden(p, root))
    with pytest.raises(UserError, match=r"it holds at least 6 images, more than the 5 .* pass --data-path"):
        _load(tmp_path, {"name": "folder", "path": str(folder), "test_fraction": 0})
    assert len(looked) == 6  # stopped at the first image past the bound, not after all 40
    looked.clear()
    assert len(_load(tmp_path, {"name": "folder", "path": str(folder), "test_fraction": 0}, [folder])) == 40
    assert len(looked) == 40  # the user's own folder: listed whole, unbounded
