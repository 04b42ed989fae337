"""Checks that need a CUDA GPU; skipped elsewhere (CI has none). Run them on a GPU box with
``pytest tests/training/test_gpu.py``."""

import pytest
import torch

import ganbench
from ganbench.config import make_config
from ganbench.training import checkpoint as ckpt
from ganbench.training.build import resolve_device

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

IMAGES = {"data": "digits", "generator": {"name": "dcgan", "width": 16},
          "discriminator": {"name": "dcgan", "width": 16, "norm": "spectral"}, "batch_size": 32, "steps": 40,
          "log_every": 10, "ckpt_every": 20, "regularizers": ["gp"], "device": "cuda"}


def test_auto_picks_the_gpu():
    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
@pytest.mark.parametrize("loss", ["ns", "hinge", "rsgan-avg"])
def test_gpu_training_with_mixed_precision(tmp_path, amp, loss):
    result = ganbench.train(make_config({**IMAGES, "amp": amp, "loss": loss}), out=tmp_path, progress=False)
    assert result.status == "done" and result.step == 40
    _, tensors = ckpt.read_checkpoint(ckpt.list_checkpoints(tmp_path / "checkpoints")[-1])
    assert all(t.device.type == "cpu" and torch.isfinite(t.float()).all() for t in tensors.values())


def test_gpu_resume_and_cpu_loading(tmp_path):
    cfg = make_config(IMAGES)
    ganbench.train(make_config({**IMAGES, "steps": 20}), out=tmp_path / "r", progress=False)
    assert ganbench.train(cfg, out=tmp_path / "r", resume=True, progress=False).step == 40
    G = ganbench.load_generator(tmp_path / "r", device="cpu")
    assert ganbench.generate(G, 8).shape == (8, 1, 8, 8)
    G = ganbench.load_generator(tmp_path / "r", device="cuda")
    assert ganbench.generate(G, 8).shape == (8, 1, 8, 8)


def test_gpu_points_with_r1_and_pack(tmp_path):
    cfg = make_config({"data": "ring8", "steps": 30, "log_every": 10, "pack": 2, "regularizers": ["r1"],
                       "device": "cuda", "amp": "bf16"})
    assert ganbench.train(cfg, out=tmp_path, progress=False).status == "done"


@pytest.mark.parametrize("extra", [
    {"generator": {"name": "style", "width": 16}, "discriminator": {"name": "resnet", "width": 16, "attention": 4}},
    {"conditional": True, "generator": {"name": "resnet", "width": 16, "attention": 8},
     "discriminator": {"name": "dcgan", "width": 16, "conditioning": "acgan"}, "augment": "color,translation,cutout"},
    {"conditional": True, "discriminator": {"name": "resnet", "width": 16, "conditioning": "projection"},
     "regularizers": ["r1"]},
])
def test_gpu_newer_families_with_bf16(tmp_path, extra):
    tree = {**IMAGES, "regularizers": [], "amp": "bf16", **extra}
    result = ganbench.train(make_config(tree), out=tmp_path, progress=False)
    assert result.status == "done"
    G = ganbench.load_generator(tmp_path, device="cuda")
    assert ganbench.generate(G, 20).shape == (20, 1, 8, 8)
