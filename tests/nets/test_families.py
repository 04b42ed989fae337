import pytest
import torch

import ganbench
from ganbench.config import make_config
from ganbench.nets.attention import SelfAttention
from ganbench.registry import DISCRIMINATORS, GENERATORS, load_components

load_components()


@pytest.mark.parametrize("res", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_style_generator_shapes_with_any_discriminator(res, channels):
    shape = (channels, res, res)
    G = GENERATORS.get("style").build(shape, 8, width=8, w_dim=16, mapping_layers=2)
    x = G(torch.randn(2, 8))
    assert x.shape == (2, *shape) and x.abs().max() <= 1
    for family in ("dcgan", "resnet", "mlp"):
        opts = {"hidden": 8} if family == "mlp" else {"width": 8}
        assert DISCRIMINATORS.get(family).build(shape, **opts)(x).shape == (2,)


def test_style_demodulation_normalizes_weights():
    from ganbench.nets.style import ModulatedConv

    conv = ModulatedConv(4, 6, 3, 5)
    x = torch.randn(2, 4, 8, 8)
    w = torch.randn(2, 5)
    out = conv(x, w)
    # reference: per-sample conv with the modulated, demodulated weight
    for i in range(2):
        wt = conv.weight * conv.affine(w[i:i + 1])[0][None, :, None, None]
        wt = wt / wt.pow(2).sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
        torch.testing.assert_close(out[i:i + 1], torch.nn.functional.conv2d(x[i:i + 1], wt, padding=1),
                                   rtol=1e-4, atol=1e-5)


def test_attention_starts_as_identity_and_learns():
    block = SelfAttention(16)
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(block(x), x)  # gamma = 0 at init
    with torch.no_grad():
        block.gamma.fill_(1.0)
    assert not torch.allclose(block(x), x)


@pytest.mark.parametrize("family", ["dcgan", "resnet"])
def test_attention_option_inserts_one_block(family):
    G = GENERATORS.get(family).build((1, 32, 32), 8, width=8, attention=16)
    D = DISCRIMINATORS.get(family).build((1, 32, 32), width=8, attention=8)
    count = lambda m: sum(isinstance(x, SelfAttention) for x in m.modules())
    assert count(G) == 1 and count(D) == 1
    assert D(G(torch.randn(3, 8))).shape == (3,)


@pytest.mark.parametrize("gen, disc", [({"name": "style", "width": 8, "w_dim": 16},
                                        {"name": "dcgan", "width": 8, "attention": 4}),
                                       ({"name": "resnet", "width": 8, "attention": 8},
                                        {"name": "resnet", "width": 8})])
def test_short_training_runs(tmp_path, gen, disc):
    cfg = make_config({"data": "digits", "generator": gen, "discriminator": disc, "steps": 4, "batch_size": 8,
                       "log_every": 2, "ckpt_every": 4, "device": "cpu", "regularizers": ["r1"]})
    result = ganbench.train(cfg, out=tmp_path, progress=False)
    assert result.status == "done"
    G = ganbench.load_generator(tmp_path)
    assert ganbench.generate(G, 5).shape == (5, 1, 8, 8)


@pytest.mark.parametrize("name", GENERATORS.names())
@pytest.mark.parametrize("conditional", [False, True])
def test_every_generator_builds_on_the_meta_device_as_for_real(name, conditional):
    """load_generator builds a stored config's generator on the meta device first (no memory) and checks it
    against the checkpoint: that probe must have exactly the real network's tensor names and shapes."""
    from ganbench.training.build import build_generator

    data, shape = ("ring8", (2,)) if name == "mlp" else ("digits", (1, 8, 8))
    cfg = make_config({"generator": {"name": name}, "data": {"name": data}, "conditional": conditional})
    try:
        real = build_generator(cfg, shape, 10 if conditional else 0)
    except ganbench.errors.UserError as exc:  # a family without class-conditional training says so
        pytest.skip(str(exc))
    with torch.device("meta"):
        probe = build_generator(cfg, shape, 10 if conditional else 0)
    assert {k: v.shape for k, v in probe.state_dict().items()} == {k: v.shape for k, v in real.state_dict().items()}
    assert all(t.is_meta for t in probe.state_dict().values())


@pytest.mark.parametrize("name", DISCRIMINATORS.names())
@pytest.mark.parametrize("extra", [{}, {"conditional": True}, {"pack": 2, "discriminator.norm": "spectral"}])
def test_every_discriminator_builds_on_the_meta_device_as_for_real(name, extra):
    """`train --resume` checks a stored config's networks against the checkpoint the same way (G and D)."""
    from ganbench.training.build import build_discriminator

    data, shape = ("ring8", (2,)) if name == "mlp" else ("digits", (1, 8, 8))
    settings = {"discriminator": {"name": name}, "data": {"name": data}}
    for key, value in extra.items():
        if key == "discriminator.norm":
            settings["discriminator"]["norm"] = value
        else:
            settings[key] = value
    cfg = make_config(settings)
    k = 10 if cfg.conditional else 0
    try:
        real = build_discriminator(cfg, shape, k)
    except ganbench.errors.UserError as exc:  # a family without class-conditional training says so
        pytest.skip(str(exc))
    with torch.device("meta"):
        probe = build_discriminator(cfg, shape, k)
    assert {k: v.shape for k, v in probe.state_dict().items()} == {k: v.shape for k, v in real.state_dict().items()}
    assert all(t.is_meta for t in probe.state_dict().values())
