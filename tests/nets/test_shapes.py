import pytest
import torch

from ganbench.errors import UserError
from ganbench.nets import Packed, packed_shape
from ganbench.registry import DISCRIMINATORS, GENERATORS, load_components

load_components()
RESOLUTIONS = [8, 16, 28, 32, 64]


@pytest.mark.parametrize("family", ["dcgan", "resnet", "mlp"])
@pytest.mark.parametrize("res", RESOLUTIONS)
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes(family, res, channels):
    shape = (channels, res, res)
    opts = {"width": 8} if family != "mlp" else {"hidden": 16}
    G = GENERATORS.get(family).build(shape, 5, **opts)
    D = DISCRIMINATORS.get(family).build(shape, **opts)
    x = G(torch.randn(3, 5))
    assert x.shape == (3, *shape)
    assert x.min() >= -1 and x.max() <= 1  # tanh output range
    assert D(x).shape == (3,)


@pytest.mark.parametrize("family", ["dcgan", "resnet", "mlp"])
@pytest.mark.parametrize("norm", ["none", "batch", "layer", "spectral"])
def test_discriminator_norms(family, norm):
    shape = (1, 16, 16)
    opts = {"width": 8} if family != "mlp" else {"hidden": 16}
    D = DISCRIMINATORS.get(family).build(shape, norm=norm, **opts)
    assert D(torch.randn(4, *shape)).shape == (4,)
    has_sn = any("parametrizations" in name for name, _ in D.named_parameters())
    assert has_sn == (norm == "spectral")


def test_generator_without_batchnorm_has_none():
    G = GENERATORS.get("dcgan").build((1, 28, 28), 4, width=8, norm="none")
    assert not any(isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d) for m in G.modules())


@pytest.mark.parametrize("family", ["dcgan", "resnet", "mlp"])
def test_packing_concatenates_channels(family):
    shape, m = (1, 8, 8), 2
    opts = {"width": 8} if family != "mlp" else {"hidden": 16}
    D = Packed(DISCRIMINATORS.get(family).build(packed_shape(shape, m), **opts), m).eval()
    x = torch.randn(6, *shape)
    assert D(x).shape == (3,)
    # pack i is samples 2i and 2i+1 side by side along channels
    torch.testing.assert_close(D.inner(torch.cat([x[0:1], x[1:2]], dim=1)), D(x[:2]))


def test_packing_of_vectors():
    D = Packed(DISCRIMINATORS.get("mlp").build(packed_shape((2,), 4), hidden=8), 4)
    assert D(torch.randn(8, 2)).shape == (2,)


def test_mlp_on_points():
    G = GENERATORS.get("mlp").build((2,), 2)
    assert G(torch.randn(5, 2)).shape == (5, 2)


@pytest.mark.parametrize("family", ["dcgan", "resnet"])
def test_image_families_refuse_vector_data(family):
    with pytest.raises(UserError, match="need image data"):
        GENERATORS.get(family).build((2,), 4)


def test_resolution_without_factor_two_is_refused():
    with pytest.raises(UserError, match="resolution"):
        DISCRIMINATORS.get("dcgan").build((1, 7, 7))


def test_image_geometry_supported_and_refused_resolutions():
    """Square b x 2^s with s >= 1 and b <= 7 (the README's list); anything else is one clear error."""
    from ganbench.errors import UserError
    from ganbench.nets.layers import image_geometry

    for side, (base, stages) in {8: (4, 1), 20: (5, 2), 28: (7, 2), 48: (6, 3), 64: (4, 4), 128: (4, 5)}.items():
        assert image_geometry((1, side, side), "dcgan") == (1, base, stages)
    for side in (7, 18, 50, 9):
        with pytest.raises(UserError, match=f"b x 2\\^s with s >= 1 and b <= 7.*got {side}"):
            image_geometry((1, side, side), "dcgan")
