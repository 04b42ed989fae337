"""Recipe options PacGAN's official code needs: maxout units, weight initialisation, bias-free layers."""

import pytest
import torch
from torch import nn

from ganbench.config import make_config
from ganbench.errors import UserError
from ganbench.nets.init import apply_init
from ganbench.nets.mlp import Maxout
from ganbench.registry import DISCRIMINATORS, GENERATORS, load_components
from ganbench.training.build import build_discriminator, build_generator

load_components()


def test_maxout_takes_the_max_of_consecutive_pieces():
    x = torch.tensor([[1.0, 5.0, -2.0, 0.5, 0.25, 0.75]])  # 2 units x 3 pieces
    torch.testing.assert_close(Maxout(3)(x), torch.tensor([[5.0, 0.75]]))


def test_maxout_discriminator_shapes_and_values():
    D = DISCRIMINATORS.get("mlp").build((2,), hidden=6, depth=2, activation="maxout", pieces=5)
    linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2, 30), (6, 30), (6, 1)]
    x = torch.randn(7, 2)
    assert D(x).shape == (7,)
    # the same function written out by hand
    h = x
    for lin in linears[:-1]:
        h = lin(h).view(7, 6, 5).max(dim=-1).values
    torch.testing.assert_close(D(x), linears[-1](h).view(-1))


def test_maxout_needs_two_pieces():
    with pytest.raises(UserError, match="pieces"):
        DISCRIMINATORS.get("mlp").build((2,), activation="maxout", pieces=1)


@pytest.mark.parametrize("kind", ["default", "normal", "truncated_normal", "xavier", "orthogonal"])
@pytest.mark.parametrize("family,shape", [("mlp", (2,)), ("dcgan", (1, 8, 8)), ("resnet", (1, 8, 8)),
                                          ("style", (1, 8, 8))])
def test_init_applies_to_every_family(kind, family, shape):
    tree = {"data": "ring8" if family == "mlp" else "digits", "device": "cpu",
            "generator": {"name": family, "init": kind}, "discriminator": {
                "name": "mlp" if family == "style" else family, "init": kind}}
    cfg = make_config(tree)
    for build in (lambda: build_generator(cfg, shape), lambda: build_discriminator(cfg, shape)):
        torch.manual_seed(0)
        net = build()
        layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
        assert layers
        biases = [m.bias for m in layers if m.bias is not None]
        if kind == "default":
            assert any(b.abs().sum() > 0 for b in biases)  # framework init draws biases
        else:
            assert all(torch.all(b == 0) for b in biases)
        torch.manual_seed(0)
        again = build()
        for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True):
            assert torch.equal(a, b)  # deterministic under the same seed


def test_normal_init_has_the_asked_std():
    torch.manual_seed(0)
    net = apply_init(nn.Sequential(nn.Linear(400, 400), nn.Linear(400, 400)), {"kind": "normal", "std": 0.02})
    w = torch.cat([net[0].weight.detach().flatten(), net[1].weight.detach().flatten()])
    # 320k draws: the sample std is within 1 % of 0.02 (its s.e. is 0.02 / sqrt(2 * 320k) = 0.0025 %)
    assert abs(float(w.std()) - 0.02) < 2e-4 and abs(float(w.mean())) < 2e-4


def test_truncated_normal_init_is_bounded_at_two_std():
    """TensorFlow's truncated_normal_initializer (PacGAN Stacked MNIST, ops.py:57): N(0, std) restricted to
    [-2 std, 2 std]; its standard deviation is then 0.8796 std (the truncated normal's)."""
    torch.manual_seed(0)
    D = DISCRIMINATORS.get("dcgan").build((3, 28, 28), width=64, kernel=5, stages=4)
    apply_init(D, {"kind": "truncated_normal", "std": 0.02})
    w = torch.cat([m.weight.detach().flatten() for m in D.modules() if isinstance(m, nn.Conv2d)])
    assert w.numel() > 1_000_000 and w.abs().max() <= 0.04
    assert w.abs().max() > 0.0399  # the whole range is used
    assert abs(w.std().item() / 0.02 - 0.8796) < 0.005 and abs(w.mean().item()) < 1e-4
    # TF DCGAN's D exactly: truncated convolutions, a plain N(0, 0.02) linear layer (ops.py:57, :98)
    torch.manual_seed(0)
    apply_init(D, {"kind": "truncated_normal", "std": 0.02, "linear": "normal"})
    lin = torch.cat([m.weight.detach().flatten() for m in D.modules() if isinstance(m, nn.Linear)])
    conv = torch.cat([m.weight.detach().flatten() for m in D.modules() if isinstance(m, nn.Conv2d)])
    assert lin.abs().max() > 0.045 and conv.abs().max() <= 0.04  # 2048 normal draws pass 2.25 std (p ~ 1 - 1e-11)
    assert "linear" not in make_config({"discriminator": {"name": "mlp", "init": "normal"}}).discriminator["init"]


def test_orthogonal_and_xavier_init():
    torch.manual_seed(0)
    lin = apply_init(nn.Linear(16, 16), {"kind": "orthogonal", "gain": 2.0})
    torch.testing.assert_close(lin.weight @ lin.weight.T, 4.0 * torch.eye(16), atol=1e-5, rtol=0)
    lin = apply_init(nn.Linear(30, 50), {"kind": "xavier"})
    bound = (6 / (30 + 50)) ** 0.5
    top = float(lin.weight.detach().abs().max())
    assert 0.9 * bound < top <= bound


def test_init_reaches_the_weight_under_spectral_norm():
    cfg = make_config({"discriminator": {"name": "mlp", "norm": "spectral", "init": {"kind": "normal", "std": 3.0}}})
    torch.manual_seed(0)
    D = build_discriminator(cfg, (2,))
    original = D.net[1].parametrizations.weight.original.detach()
    assert float(original.std()) > 1.0  # N(0, 3) draws, not PyTorch's fan-in uniform (std ~0.4)


@pytest.mark.parametrize("bad,match", [({"init": "he"}, "init.kind"), ({"init": {"kind": "normal", "std": -1}},
                                                                        "init.std"), ({"init": 3}, "init")])
def test_bad_init_is_one_clear_error(bad, match):
    with pytest.raises(UserError, match=match):
        make_config({"generator": {"name": "mlp", **bad}})


def test_bias_free_hidden_layers_where_a_norm_follows():
    G = GENERATORS.get("mlp").build((2,), 2, hidden=8, depth=4, norm="batch", bias_before_norm=False)
    linears = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert [m.bias is None for m in linears] == [True] * 4 + [False]  # the output layer keeps its bias
    assert G(torch.randn(5, 2)).shape == (5, 2)
    # without a norm that shifts, a bias is kept whatever the option says
    G = GENERATORS.get("mlp").build((2,), 2, hidden=8, norm="none", bias_before_norm=False)
    assert all(m.bias is not None for m in G.modules() if isinstance(m, nn.Linear))
    D = DISCRIMINATORS.get("dcgan").build((1, 16, 16), width=4, norm="batch", bias_before_norm=False)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [c.bias is None for c in convs] == [False, True]  # the first conv has no norm after it
    G = GENERATORS.get("dcgan").build((1, 16, 16), 4, width=4, bias_before_norm=False)
    ups = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert G.project[0].bias is None and [u.bias is None for u in ups] == [True, False]
    assert G(torch.randn(3, 4)).shape == (3, 1, 16, 16)


def test_dcgan_with_tensorflow_geometry_matches_pacgan_stacked_mnist_nets():
    """kernel 5, 4 stages: G 100 -> 2x2x512 -> 4x4x256 -> 7x7x128 -> 14x14x64 -> 28x28x3; D the mirror."""
    G = GENERATORS.get("dcgan").build((3, 28, 28), 100, kernel=5, stages=4)
    D = DISCRIMINATORS.get("dcgan").build((6, 28, 28), kernel=5, stages=4)  # pack 2: 6 channels
    sizes, h = [], G.project(torch.randn(4, 100)).view(4, *G.start)
    for layer in G.body:
        h = layer(h)
        if isinstance(layer, nn.ConvTranspose2d):
            sizes.append(tuple(h.shape[1:]))
    assert G.start == (512, 2, 2)
    assert sizes == [(256, 4, 4), (128, 7, 7), (64, 14, 14), (3, 28, 28)]
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (6, 64, (5, 5)), (64, 128, (5, 5)), (128, 256, (5, 5)), (256, 512, (5, 5))]
    assert D.head.in_features == 512 * 2 * 2
    assert D(torch.randn(4, 6, 28, 28)).shape == (4,)
    with pytest.raises(UserError, match="odd"):
        GENERATORS.get("dcgan").build((3, 28, 28), 100, kernel=4, stages=4)
