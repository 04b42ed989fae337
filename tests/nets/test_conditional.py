import json

import pytest
import torch

import ganbench
from ganbench.cli import main
from ganbench.config import make_config
from ganbench.errors import UserError
from ganbench.evaluate import evaluate_run
from ganbench.nets.layers import ConditionalNorm
from ganbench.registry import DISCRIMINATORS, GENERATORS, load_components

load_components()


@pytest.mark.parametrize("family", ["dcgan", "resnet"])
@pytest.mark.parametrize("conditioning", ["projection", "acgan"])
def test_conditional_shapes(family, conditioning):
    shape = (3, 16, 16)
    G = GENERATORS.get(family).build(shape, 8, width=8, framework={"num_classes": 5})
    D = DISCRIMINATORS.get(family).build(shape, width=8, conditioning=conditioning, framework={"num_classes": 5})
    y = torch.tensor([0, 4, 2])
    x = G(torch.randn(3, 8), y)
    adv, cls = D(x, y)
    assert x.shape == (3, *shape) and adv.shape == (3,)
    assert (cls is None) == (conditioning == "projection")
    if cls is not None:
        assert cls.shape == (3, 5)


def test_generator_output_depends_on_the_class():
    G = GENERATORS.get("dcgan").build((1, 8, 8), 4, width=8, framework={"num_classes": 3}).eval()
    for m in G.modules():
        if isinstance(m, ConditionalNorm):
            torch.nn.init.normal_(m.gain.weight)
    z = torch.randn(2, 4)
    assert not torch.allclose(G(z, torch.tensor([0, 0])), G(z, torch.tensor([1, 1])))


def test_unsupported_and_bad_conditional_configs(tmp_path):
    with pytest.raises(UserError, match="generator 'mlp' does not support class-conditional training"):
        ganbench.train(make_config({"data": "digits", "conditional": True}), out=tmp_path / "a", progress=False)
    with pytest.raises(UserError, match="needs labelled data"):
        ganbench.train(make_config({"data": {"name": "npz", "path": str(_unlabelled(tmp_path))}, "conditional": True,
                                    "generator": "dcgan", "discriminator": "dcgan"}), out=tmp_path / "b",
                       progress=False)


def _unlabelled(tmp_path):
    import numpy as np

    np.savez(tmp_path / "u.npz", x=np.zeros((20, 8, 8), dtype=np.uint8))
    return tmp_path / "u.npz"


COND = {"data": "digits", "conditional": True, "generator": {"name": "dcgan", "width": 32},
        "discriminator": {"name": "dcgan", "width": 32, "conditioning": "acgan"}, "device": "cpu"}


def test_conditional_resume_is_exact(tmp_path):
    tiny = {**COND, "steps": 8, "ckpt_every": 4, "log_every": 4, "batch_size": 16, "regularizers": ["r1"],
            "discriminator": {"name": "resnet", "width": 8, "conditioning": "projection"},
            "generator": {"name": "resnet", "width": 8}}
    ganbench.train(make_config(tiny), out=tmp_path / "full", progress=False)
    ganbench.train(make_config({**tiny, "steps": 4}), out=tmp_path / "cut", progress=False)
    ganbench.train(make_config(tiny), out=tmp_path / "cut", resume=True, progress=False)
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "full" / "checkpoints" / "step_0000008.safetensors"))
    b = load_file(str(tmp_path / "cut" / "checkpoints" / "step_0000008.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_acgan_learns_the_classes_and_cli_samples_one(tmp_path, capsys):
    ganbench.train(make_config({**COND, "steps": 800, "ckpt_every": 800}), out=tmp_path / "r", progress=False)
    result = evaluate_run(tmp_path / "r", n=1000, progress=False)
    metrics = result["results"][0]["metrics"]
    assert metrics["class_accuracy"] > 0.35  # chance is 0.10
    assert main(["sample", str(tmp_path / "r"), "--class", "3", "--n", "16", "--out", str(tmp_path / "3.png")]) == 0
    assert main(["sample", str(tmp_path / "r"), "--class", "12", "--out", str(tmp_path / "x.png")]) == 2
    assert "class 12 is out of range 0..9" in capsys.readouterr().err
    meta = json.loads((tmp_path / "r" / "checkpoints" / "step_0000800.json").read_text())
    assert meta["num_classes"] == 10


def test_class_on_an_unconditional_run_is_refused_whatever_the_output(tmp_path, capsys):
    """`sample --class K` on a run that is not class-conditional: one line, exit 2, for a 2-D run's scatter too
    (its .png used to ignore --class silently and draw the unconditional samples, while .npz refused it)."""
    ganbench.train(make_config({"data": "ring8", "steps": 2, "batch_size": 16, "log_every": 1}), out=tmp_path / "r",
                   progress=False)
    for out in ("a.png", "a.npz"):
        assert main(["sample", str(tmp_path / "r"), "--class", "3", "--out", str(tmp_path / out)]) == 2
        assert "not class-conditional; --class does not apply" in capsys.readouterr().err
        assert not (tmp_path / out).exists()
