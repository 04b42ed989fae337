"""The traits of user data (npz, folder) that pick a study's metrics and primary value are read from the
archive's headers or the folder's listing, nothing decoded: a large dataset was loaded whole (several times per
`study report`, 62.7 s and 2.57 GB for a 200 MB .npz) just to learn whether it holds points or images, and a
refusal of that load (the stored-data bound) ended the whole report. The traits are those loading gives."""

import numpy as np
import pytest
from PIL import Image

from ganbench import confine
from ganbench.confine import STUDY, confined
from ganbench.data import base, load_dataset
from ganbench.data.base import Traits, traits
from ganbench.errors import UserError

U8 = np.uint8
NPZ = {
    "points": {"x": np.zeros((20, 3), np.float32)},
    "labelled points": {"x": np.zeros((20, 2)), "y": np.arange(20) % 3},
    "gray images": {"x": np.zeros((20, 8, 8), U8)},
    "rgb images, labelled": {"x": np.zeros((20, 8, 8, 3), U8), "y": np.arange(20) % 2},
    "nchw float images": {"x": np.zeros((20, 1, 8, 8), np.float32)},
    "no x: its first array": {"samples": np.zeros((20, 2))},
    "labels beside no x": {"a": np.zeros((20, 8, 8), U8), "y": np.arange(20) % 2},
}


def _loaded(spec) -> Traits:
    data = load_dataset(spec)
    return Traits("images" if data.is_image else "points", data.modes is not None, data.num_classes is not None)


def _not_loaded(monkeypatch):
    def refuse(*_):
        raise AssertionError("traits() loaded the data")

    monkeypatch.setattr(base, "load_dataset", refuse)


@pytest.mark.parametrize("arrays", NPZ.values(), ids=NPZ)
@pytest.mark.parametrize("compressed", [False, True])
def test_npz_traits_are_read_from_headers_and_match_loading(tmp_path, monkeypatch, arrays, compressed):
    path = tmp_path / "d.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    spec = {"name": "npz", "path": str(path)}
    expected = _loaded(spec)
    _not_loaded(monkeypatch)
    assert traits(spec) == expected


def _pngs(root, names):
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(root / name)


@pytest.mark.parametrize("names,labelled", [(["a.png", "b.png"], False), (["cat/a.png", "dog/b.png"], True),
                                            (["a/b/c.png", "a/b/d.png"], True)])
def test_folder_traits_are_read_from_its_listing_and_match_loading(tmp_path, monkeypatch, names, labelled):
    _pngs(tmp_path / "f", names)
    spec = {"name": "folder", "path": str(tmp_path / "f"), "resolution": 8, "test_fraction": 0}
    assert _loaded(spec) == Traits("images", False, labelled)
    _not_loaded(monkeypatch)
    from ganbench.data import folder

    monkeypatch.setattr(folder, "_load_image", lambda *a: pytest.fail("an image was decoded"))
    assert traits(spec) == Traits("images", False, labelled)


def test_shipped_data_past_the_bound_has_traits_its_load_is_refused(tmp_path, monkeypatch):
    """The bound is on what a stranger's data makes ganbench decode: reading a header is within it, and the
    refusal comes where the data is loaded (the report's strip: one line in its place)."""
    monkeypatch.setattr(confine, "STORED_DATA_BYTES", 10_000)
    monkeypatch.setattr(confine, "STORED_DATA_FILES", 5)
    np.savez(tmp_path / "big.npz", x=np.zeros((200, 8, 8), U8))
    _pngs(tmp_path / "f", [f"{i}.png" for i in range(6)])
    with confined(tmp_path, STUDY):
        for spec, kind in (({"name": "npz", "path": str(tmp_path / "big.npz")}, "images"),
                           ({"name": "folder", "path": str(tmp_path / "f")}, "images")):
            assert traits(spec) == Traits(kind, False, False)
            with pytest.raises(UserError, match="more than the"):
                load_dataset(spec)


@pytest.mark.parametrize("spec,says", [
    ({"name": "npz", "path": "missing.npz"}, ".npz file not found: 'missing.npz'"),
    ({"name": "folder", "path": "missing"}, "image folder not found: 'missing'"),
    ({"name": "npz", "path": "d.npz", "classes": 0}, "npz.classes"),
    ({"name": "npz", "path": "/etc/elsewhere.npz"}, "its stored data.path '/etc/elsewhere.npz'")])
def test_traits_refuse_what_loading_refuses_before_reading(tmp_path, monkeypatch, spec, says):
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 2)))
    with confined(tmp_path, STUDY), pytest.raises(UserError) as traits_refused:
        traits(spec)
    with confined(tmp_path, STUDY), pytest.raises(UserError) as load_refused:
        load_dataset(spec)
    assert says in str(traits_refused.value) and str(traits_refused.value) == str(load_refused.value)


@pytest.mark.parametrize("content,says", [(b"not a zip", "not a readable .npz file"),
                                          (b"\x93NUMPY\x01\x00", "a single .npy array, not an .npz archive")])
def test_an_unreadable_archive_is_one_line_in_traits(tmp_path, content, says):
    (tmp_path / "d.npz").write_bytes(content)
    with pytest.raises(UserError, match=says):
        traits({"name": "npz", "path": str(tmp_path / "d.npz")})


def test_object_arrays_are_not_unpickled_for_traits(tmp_path, monkeypatch):
    import pickle

    np.savez(tmp_path / "d.npz", x=np.array([None, 1], dtype=object), allow_pickle=True)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    traits({"name": "npz", "path": str(tmp_path / "d.npz")})  # a header: read without unpickling
    with pytest.raises(UserError, match="never loads pickled data"):
        load_dataset({"name": "npz", "path": str(tmp_path / "d.npz")})
