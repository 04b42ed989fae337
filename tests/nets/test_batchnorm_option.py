"""The framework's ``batch_norm: {eps, momentum}`` option: reaches every batch-norm layer, does what the
numbers say, refuses a network without batch norm and bad values, and leaves old digests alone."""

import pytest
import torch
from torch import nn

from ganbench.config import make_config
from ganbench.errors import UserError
from ganbench.registry import load_components
from ganbench.training.build import build_discriminator, build_generator

load_components()
BLOCKS = {"eps": 1e-4, "momentum": 0.05}  # PacGAN's 2-D code: blocks' eps, population weight 0.05


def _bn_layers(net):
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@pytest.mark.parametrize("over, shape, classes", [
    ({"generator": {"name": "mlp", "norm": "batch", "batch_norm": BLOCKS}}, (2,), 0),
    ({"data": "digits", "generator": {"name": "dcgan", "width": 8, "batch_norm": BLOCKS}}, (1, 8, 8), 0),
    ({"data": "digits", "conditional": True, "generator": {"name": "dcgan", "width": 8, "batch_norm": BLOCKS}},
     (1, 8, 8), 10),  # conditional batch norm's inner, affine-free layer too
], ids=["mlp", "dcgan", "conditional-dcgan"])
def test_option_reaches_every_batch_norm_layer(over, shape, classes):
    G = build_generator(make_config(over), shape, classes)
    layers = _bn_layers(G)
    assert layers and all((m.eps, m.momentum) == (1e-4, 0.05) for m in layers)
    assert all((m.eps, m.momentum) == (1e-5, 0.1) for m in _bn_layers(build_generator(make_config(
        {**over, "generator": {k: v for k, v in over["generator"].items() if k != "batch_norm"}}), shape, classes)))


def test_discriminator_takes_it_too():
    cfg = make_config({"discriminator": {"name": "mlp", "norm": "batch", "batch_norm": {"momentum": 0.2}}})
    layers = _bn_layers(build_discriminator(cfg, (2,)))
    assert layers and all((m.eps, m.momentum) == (1e-5, 0.2) for m in layers)  # eps left at its default


def test_the_numbers_do_what_they_say():
    """One training-mode call: output normalised with eps 1e-4 (biased batch variance), running mean moved
    by 0.05 of the batch mean from 0; both differ from PyTorch's defaults."""
    torch.manual_seed(0)
    G = build_generator(make_config({"generator": {"name": "mlp", "hidden": 6, "depth": 1, "norm": "batch",
                                                   "batch_norm": BLOCKS}}), (2,))
    lin, bn = G.net[0], G.net[1]
    with torch.no_grad():
        lin.weight.mul_(0.01)  # pre-activation variance ~1e-4, where eps 1e-4 against 1e-5 shows
    z = torch.randn(50, 2)
    G.train()
    with torch.no_grad():
        h = lin(z)
        G(z)
    torch.testing.assert_close(bn.running_mean, 0.05 * h.mean(0))
    mean, var = h.mean(0), h.var(0, unbiased=False)
    with torch.no_grad():
        out = G.net[2](bn(h))
    expect = torch.relu(bn.weight * (h - mean) / (var + 1e-4).sqrt() + bn.bias)
    torch.testing.assert_close(out, expect)
    assert not torch.allclose(expect, torch.relu(bn.weight * (h - mean) / (var + 1e-5).sqrt() + bn.bias))


def test_a_network_without_batch_norm_refuses_it():
    cfg = make_config({"generator": {"name": "mlp", "norm": "none", "batch_norm": BLOCKS}})
    with pytest.raises(UserError, match="generator.batch_norm is set, but this network has no batch-norm layer"):
        build_generator(cfg, (2,))


@pytest.mark.parametrize("bad, match", [({"eps": 0}, "batch_norm.eps"), ({"momentum": 1.5}, "batch_norm.momentum"),
                                        ({"decay": 0.9}, "batch_norm.decay"), (0.1, "batch_norm")])
def test_bad_values_are_one_clear_error(bad, match):
    with pytest.raises(UserError, match=match):
        make_config({"generator": {"name": "mlp", "norm": "batch", "batch_norm": bad}})


def test_unset_leaves_config_and_digest_as_before():
    base = {"generator": {"name": "mlp", "norm": "batch"}}
    cfg = make_config(base)
    assert "batch_norm" not in cfg.generator
    with_it = make_config({"generator": {"name": "mlp", "norm": "batch", "batch_norm": {}}})
    assert with_it.generator["batch_norm"] == {"eps": 1e-5, "momentum": 0.1}  # written out once given
    assert make_config(base).digest() == cfg.digest() != with_it.digest()


def test_framework_options_are_settable_keys_in_variants_and_grids():
    from ganbench.study.spec import check_keys

    check_keys({"generator.batch_norm.momentum": 0.025, "discriminator.init": "normal", "generator.init.std": 0.1},
               "variant")
    with pytest.raises(UserError, match="unknown variant key 'generator.batch_norm.decay'"):
        check_keys({"generator.batch_norm.decay": 0.9}, "variant")
    cfg = make_config({"generator": {"name": "mlp", "norm": "batch", "batch_norm": BLOCKS}},
                      {"generator.batch_norm.momentum": 0.025})
    assert cfg.generator["batch_norm"] == {"eps": 1e-4, "momentum": 0.025}
    # an init given by its kind alone is refined, not read as a component name
    cfg = make_config({"generator": {"name": "mlp", "init": "normal"}}, {"generator.init.std": 0.1})
    assert (cfg.generator["init"]["kind"], cfg.generator["init"]["std"]) == ("normal", 0.1)
