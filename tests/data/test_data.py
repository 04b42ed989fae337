import torch

from ganbench.data import load_dataset
from ganbench.data.toy2d import grid_modes, ring_modes


def test_ring8_modes_and_spread():
    ds = load_dataset({"name": "ring8", "n": 4000})
    assert ds.shape == (2,) and len(ds) == 4000
    torch.testing.assert_close(ds.modes.norm(dim=1), torch.ones(8))
    assert ds.sigma == 0.01
    resid = ds.x - ds.modes[ds.y]
    assert abs(resid.std().item() - 0.01) < 0.001


def test_grid25_means():
    m = grid_modes()
    assert len(m) == 25
    assert sorted(set(m[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert torch.allclose(ring_modes(4), torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, -1]]), atol=1e-6)


def test_splits_differ_and_are_deterministic():
    a, b = load_dataset({"name": "grid25", "n": 1000}), load_dataset({"name": "grid25", "n": 1000})
    t = load_dataset({"name": "grid25", "n": 1000}, "test")
    assert torch.equal(a.x, b.x) and len(t) == 250 and not torch.equal(a.x[:250], t.x)


def test_digits_images():
    tr, te = load_dataset({"name": "digits"}), load_dataset({"name": "digits"}, "test")
    assert tr.shape == (1, 8, 8) and len(tr) + len(te) == 1797
    assert tr.x.min() == -1 and tr.x.max() == 1
    assert torch.bincount(te.y).min() >= 35  # stratified: every class in the test split


def test_mnist5k_images():
    tr, te = load_dataset({"name": "mnist5k"}), load_dataset({"name": "mnist5k"}, "test")
    assert tr.shape == (1, 28, 28) and len(tr) == 4500 and len(te) == 500
    assert tr.x.min() == -1 and tr.x.max() == 1
    assert torch.bincount(te.y).tolist() == [50] * 10


def test_declared_number_of_classes_is_the_loaded_datasets():
    """The report clips mode and class counts with the registration's ``classes=`` (without loading the data):
    it must be the number the metrics count against once loaded."""
    from ganbench.data.base import declared_classes

    for name in ("ring8", "grid25", "digits"):
        data = load_dataset({"name": name}, "train")
        assert declared_classes({"name": name}) == data.num_classes
        if data.modes is not None:
            assert len(data.modes) == data.num_classes
    assert declared_classes({"name": "stacked-mnist"}) == 1000
    # user data declares none, and a name this installation does not know (a stranger's store) gives none
    assert declared_classes({"name": "folder", "path": "x"}) is None
    assert declared_classes({"name": "no-such-data"}) is None and declared_classes({}) is None
