"""Hostile .npz arrays: degenerate shapes, values beyond float32, labels beyond int64, float images in
[0, 1], splits too small. Each is refused in one line naming the file, or read with a notice."""

import re

import numpy as np
import pytest

from ganbench.data import load_dataset
from ganbench.errors import UserError


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize("x", [np.zeros((10, 0)), np.zeros((10, 0, 0), np.uint8), np.zeros((10, 1, 0, 4))])
def test_samples_without_values_are_refused(tmp_path, x):
    path = _npz(tmp_path / "d.npz", x=x)  # was a RuntimeError traceback from min() of an empty tensor
    with pytest.raises(UserError, match=r"d.npz: the samples hold no values \(shape"):
        load_dataset({"name": "npz", "path": path})


def test_points_beyond_float32_are_refused_not_made_infinite(tmp_path):
    path = _npz(tmp_path / "d.npz", x=np.array([[0.0, 1e300]] * 10))  # finite in float64, inf in float32
    with pytest.raises(UserError, match="d.npz: values up to 1e.300 exceed float32's range"):
        load_dataset({"name": "npz", "path": path})
    ok = load_dataset({"name": "npz", "path": _npz(tmp_path / "e.npz", x=np.array([[0.0, 1e30]] * 10))})
    assert ok.x.dtype.is_floating_point and bool(ok.x.isfinite().all())


@pytest.mark.parametrize("n,fraction,split", [(1, 0.1, "test"), (1, 0.9, "train"), (4, 0.0, "test")])
def test_an_empty_split_names_the_file_and_the_split(tmp_path, n, fraction, split):
    path = _npz(tmp_path / "small.npz", x=np.zeros((n, 2)))
    with pytest.raises(UserError, match=f"small.npz: the {split} split is empty"):
        load_dataset({"name": "npz", "path": path, "test_fraction": fraction}, split)


def test_float_images_in_zero_one_are_read_as_minus_one_one_with_a_notice(tmp_path, capsys):
    """[0, 1] float pixels cannot be told from bright [-1, 1] ones: they are read as documented, but not
    silently (a wrong guess either way would shift every number computed on them)."""
    pixels = np.random.default_rng(0).random((10, 1, 8, 8)).astype(np.float32)
    data = load_dataset({"name": "npz", "path": _npz(tmp_path / "unit.npz", x=pixels), "test_fraction": 0})
    assert float(data.x.min()) >= 0  # read as given, not rescaled
    err = capsys.readouterr().err
    assert "unit.npz" in err and "none below 0" in err and "x * 2 - 1" in err
    load_dataset({"name": "npz", "path": _npz(tmp_path / "std.npz", x=pixels * 2 - 1), "test_fraction": 0})
    assert capsys.readouterr().err == ""


def test_the_zero_one_notice_is_said_once_per_study_not_once_per_load_or_worker(tmp_path, capfd):
    """A study's driver reads each dataset several times (splits, checks) and its pool workers read it
    again: the notice used to come once per read and per worker (24 lines for a 4-run study)."""
    from ganbench.study.executors import Pool

    pixels = np.random.default_rng(0).random((10, 1, 8, 8)).astype(np.float32)
    spec = {"name": "npz", "path": _npz(tmp_path / "unit.npz", x=pixels), "test_fraction": 0.5}
    load_dataset(spec, "train")
    load_dataset(spec, "test")
    assert capfd.readouterr().err.count("unit.npz: every pixel lies in") == 1
    (_, data), = Pool(1).run(load_dataset, [("train", (spec, "train"))])  # a spawned worker reads it again
    assert float(data.x.min()) >= 0
    assert "every pixel lies in" not in capfd.readouterr().err
    other = {**spec, "path": _npz(tmp_path / "other.npz", x=pixels)}  # one the driver has not read: said
    list(Pool(1).run(load_dataset, [("train", (other, "train"))]))
    assert capfd.readouterr().err.count("other.npz: every pixel lies in") == 1


@pytest.mark.parametrize("y,says", [
    (np.full(10, 1e30), "label 1e+30 out of range 0..999999"),  # was -9223372036854775808 (a wrapped cast)
    (np.full(10, 2**64 - 1, np.uint64), f"label {2**64 - 1} out of range"),  # was -1
    (np.full(10, 2**40), f"label {2**40} out of range"),  # was accepted: 2**40 + 1 classes
    (np.full(10, -1), "label -1 out of range 0..999999"),  # was 'out of range 0..-1'
])
def test_labels_beyond_range_are_named_as_written(tmp_path, y, says):
    path = _npz(tmp_path / "d.npz", x=np.zeros((10, 2)), y=y)
    with pytest.raises(UserError, match=re.escape(f"d.npz: {says}")):
        load_dataset({"name": "npz", "path": path})
    with pytest.raises(UserError, match="label 3 out of range 0..2"):
        load_dataset({"name": "npz", "path": _npz(tmp_path / "e.npz", x=np.zeros((10, 2)), y=np.arange(10)),
                      "classes": 3})


@pytest.mark.parametrize("shape", [(10, 8, 8, 4), (10, 2, 8, 8), (10, 2, 3, 8, 8)])
def test_an_image_batch_of_other_channels_says_which_shapes_are_read(tmp_path, shape):
    """RGBA pixels (N, H, W, 4) said only 'cannot read an image batch of shape ...' (helper-46)."""
    with pytest.raises(UserError, match=re.escape(f"d.npz: cannot read an image batch of shape {shape}: images are "
                                                  "(N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 (gray) or 3")):
        load_dataset({"name": "npz", "path": _npz(tmp_path / "d.npz", x=np.zeros(shape, np.uint8))})


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.int8])
def test_integer_images_other_than_uint8_are_named_as_integers(tmp_path, dtype):
    x = np.arange(10 * 8 * 8).reshape(10, 8, 8).astype(dtype) % 100  # was 'float images must lie in [-1, 1]'
    says = f"d.npz: integer images must be uint8 in [0, 255] (got {np.dtype(dtype)} values 0..99); save"
    with pytest.raises(UserError, match=re.escape(says)):
        load_dataset({"name": "npz", "path": _npz(tmp_path / "d.npz", x=x)})


def test_labels_saved_under_another_name_are_not_dropped_silently(tmp_path, capsys):
    """x beside 'labels' (not y) trained an unconditional model without a word; now it says which arrays it
    does not read. A file of only x and y says nothing."""
    x, labels = np.zeros((10, 1, 8, 8), np.uint8), np.arange(10) % 2
    data = load_dataset({"name": "npz", "path": _npz(tmp_path / "d.npz", x=x, labels=labels), "test_fraction": 0})
    assert data.y is None
    assert "d.npz has no labels 'y'; its other arrays ('labels') are not read" in capsys.readouterr().err
    data = load_dataset({"name": "npz", "path": _npz(tmp_path / "e.npz", x=x, y=labels), "test_fraction": 0})
    assert data.num_classes == 2 and capsys.readouterr().err == ""


def test_a_single_npy_array_is_refused_before_it_is_read(tmp_path):
    """np.load reads a .npy whole before load_npz could say it is no .npz archive: a sparse file with a large
    declared shape (a stranger's study shipping it as its data) took 2.75 GB of `study report` to refuse at
    2.5 GB; at 1 TB numpy's allocation fails (a MemoryError, no line naming the file)."""
    from numpy.lib import format as npy

    path = tmp_path / "d.npz"
    with open(path, "wb") as f:
        npy.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (2**34, 8, 8)})
        f.truncate(f.tell() + 2**40)  # sparse: no disk used
    with pytest.raises(UserError, match=r"d.npz: a single .npy array, not an .npz archive"):
        load_dataset({"name": "npz", "path": str(path)})


@pytest.mark.parametrize("spec", [None, [1, 2], "digits", {"n": 5}, {"name": 7}])
def test_a_data_spec_naming_no_dataset_is_one_line(spec):
    """A stranger's study store whose runs' config holds "data": null (a list, a string, an object without
    a name) ended `study report` in a TypeError or KeyError traceback from traits()."""
    from ganbench.data.base import traits

    for read in (traits, load_dataset):
        with pytest.raises(UserError, match=r"^the data spec .* is no object naming a dataset \(\{\"name\": \.\.\.\}\)$"):
            read(spec)


def _forged(path, shape, compression=0):
    """An .npz whose x.npy header declares ``shape`` uint8 values but holds 64 bytes of them."""
    import io
    import zipfile

    from numpy.lib import format as npy

    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("x.npy", header.getvalue() + bytes(64))
    return str(path)


@pytest.mark.parametrize("compression", [0, 8])  # stored, deflated
def test_an_array_declaring_more_than_the_archive_holds_names_the_declared_size(tmp_path, capsys, compression):
    """A 300-byte .npz whose header declares 10^12 x 2 values: numpy allocates the declared size before it
    reads, and the line was "out of memory; use smaller sizes (batch, --n, resolution) ..." (nothing was
    allocated, no size of the user's was too large). Now the line names the declared size and what is there."""
    from ganbench.cli import main

    path = _forged(tmp_path / "d.npz", (10**12, 2), compression)
    says = (f"{path}: its array 'x' declares shape (1000000000000, 2) of uint8, 2,000,000,000,000 bytes, but the "
            "archive holds 64 bytes of it; the file is truncated or damaged")
    with pytest.raises(UserError) as refused:
        load_dataset({"name": "npz", "path": path})
    assert str(refused.value) == says
    assert main(["metrics", "--real", path, "--fake", path]) == 2
    assert capsys.readouterr().err == f"ganbench: error: {says}\n"
    exact = _forged(tmp_path / "e.npz", (16, 2, 2), compression)  # declares the 64 bytes it holds: read
    assert load_dataset({"name": "npz", "path": exact, "test_fraction": 0}).x.shape == (16, 1, 2, 2)


def test_a_member_that_is_no_array_is_one_line(tmp_path):
    """np.load hands a member without the .npy magic back as bytes: an AttributeError traceback before."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "d.npz", "w") as z:
        z.writestr("x", b"hello world")
    with pytest.raises(UserError, match=r"d.npz: not a readable .npz file \(the magic string is not correct"):
        load_dataset({"name": "npz", "path": str(tmp_path / "d.npz")})
