"""Run options PacGAN's Stacked MNIST code needs: the latent distribution, several G updates per step on
one noise draw (optionally D's), and G called once per pack member."""

import copy
import json

import pytest
import torch

import ganbench
from ganbench.api import generate
from ganbench.config import make_config
from ganbench.errors import UserError
from ganbench.latent import draw_latent
from ganbench.training import checkpoint as ckpt
from ganbench.training.build import build_parts
from ganbench.training.flops import step_flops
from ganbench.training.loop import Trainer, latent, train
from ganbench.training.schedule import SCHEDULES
from ganbench.training.seeding import NOISE_D, NOISE_G, SAMPLE, rng

TREE = {"data": {"name": "ring8", "n": 500}, "batch_size": 16, "device": "cpu", "lr_g": 1e-2, "lr_d": 1e-2,
        "generator": {"name": "mlp", "hidden": 16, "norm": "batch"}, "discriminator": {"name": "mlp", "hidden": 16}}


def _trainer(**over):
    cfg = make_config({**TREE, **over})
    return Trainer(cfg, build_parts(cfg, torch.device("cpu")), torch.device("cpu"))


def _record_latents(trainer) -> list:
    """Every latent batch G is called on, in order."""
    seen = []
    trainer.G.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    return seen


def test_uniform_latent_is_in_range_and_reaches_training_and_sampling():
    z = latent(0, NOISE_G, 3, 4000, 5, torch.device("cpu"), kind="uniform")
    assert z.min() >= -1 and z.max() <= 1 and abs(z.std().item() - 3 ** -0.5) < 0.01  # U(-1, 1): sd 1/sqrt(3)
    t = _trainer(latent="uniform")
    seen = _record_latents(t)
    SCHEDULES["alternating"](t, 0)
    assert len(seen) == 2 and all(s.abs().max() <= 1 for s in seen)
    torch.testing.assert_close(seen[1], latent(0, NOISE_G, 0, 16, 2, torch.device("cpu"), kind="uniform"))
    # a normal draw of the same stream is what the default run sees (same seeding, other distribution)
    n = _trainer()
    seen_n = _record_latents(n)
    SCHEDULES["alternating"](n, 0)
    torch.testing.assert_close(seen_n[1], latent(0, NOISE_G, 0, 16, 2, torch.device("cpu")))
    assert seen_n[1].abs().max() > 1


def test_generate_draws_the_runs_latent(tmp_path):
    for kind in ("normal", "uniform"):
        train(make_config({**TREE, "steps": 2, "latent": kind, "ema": None}), tmp_path / kind, progress=False)
        G = ganbench.load_generator(tmp_path / kind)
        z = draw_latent(kind, 30, 2, rng(7, SAMPLE))
        with torch.no_grad():
            assert torch.equal(generate(G, 30, seed=7), G(z))
    # the default is exactly the N(0, 1) draw sampling always made
    assert torch.equal(draw_latent("normal", 30, 2, rng(7, SAMPLE)), torch.randn(30, 2, generator=rng(7, SAMPLE)))


@pytest.mark.parametrize("g_noise", ["fresh", "same_as_d"])
def test_two_g_updates_per_step_reuse_one_noise_draw(g_noise):
    a, b = _trainer(n_gen=2, g_noise=g_noise, n_dis=2), _trainer(g_noise=g_noise, n_dis=2)
    seen = _record_latents(a)
    d_loss, _, g_loss = SCHEDULES["alternating"](a, 3)
    # by hand on the twin: two D updates, then G twice on one draw, then the EMA once
    b.d_step(6), b.d_step(7)
    g1, g2 = b.g_step(3), b.g_step(3)
    b.ema.update(4)
    for x, y in ((a.G, b.G), (a.D, b.D), (a.ema.shadow, b.ema.shadow)):
        for p, q in zip(x.state_dict().values(), y.state_dict().values(), strict=True):
            assert torch.equal(p, q)
    torch.testing.assert_close(g_loss, g1 + g2)
    # G's calls: D update 1, D update 2, G update 1, G update 2
    assert len(seen) == 4 and torch.equal(seen[2], seen[3])
    expected = latent(0, NOISE_D, 7, 16, 2, torch.device("cpu")) if g_noise == "same_as_d" else \
        latent(0, NOISE_G, 3, 16, 2, torch.device("cpu"))
    torch.testing.assert_close(seen[2], expected)
    assert torch.equal(seen[1], seen[2]) == (g_noise == "same_as_d")  # the last D update's draw, or its own
    assert not torch.equal(seen[0], seen[1])


def test_n_gen_budget_logging_and_flops(tmp_path):
    cfg = make_config({**TREE, "steps": 4, "n_gen": 2, "log_every": 2, "ckpt_every": 4})
    train(cfg, tmp_path / "r", progress=False)
    record, _ = ckpt.read_checkpoint(ckpt.list_checkpoints(tmp_path / "r" / "checkpoints")[-1])
    assert record["step"] == 4  # a step is one iteration: 4 D updates and 8 G updates
    _, tensors = ckpt.read_checkpoint(ckpt.list_checkpoints(tmp_path / "r" / "checkpoints")[-1])
    steps = {k: v for k, v in tensors.items() if k.endswith(".step")}
    assert {v.item() for k, v in steps.items() if k.startswith("opt_g.")} == {8.0}
    assert {v.item() for k, v in steps.items() if k.startswith("opt_d.")} == {4.0}
    # the logged g_loss is the mean over every G update between log lines (2 steps x 2 updates)
    twin = _trainer(n_gen=2)
    g_sums = [SCHEDULES["alternating"](twin, step)[2] for step in range(2)]
    logged = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[0])
    assert logged["step"] == 2 and logged["g_loss"] == pytest.approx((g_sums[0] + g_sums[1]).item() / 4, rel=1e-6)
    one, two = step_flops(make_config({**TREE, "ema": None})), step_flops(make_config({**TREE, "n_gen": 2, "ema": None}))
    assert two.phases["g"] == 2 * one.phases["g"] and two.phases["d"] == one.phases["d"]


@pytest.mark.parametrize("over, match", [
    ({"update": "simultaneous", "n_gen": 2}, "n_dis and n_gen must be 1"),
    ({"update": "simultaneous", "g_noise": "same_as_d"}, "g_noise: same_as_d applies to update: alternating"),
    ({"n_gen": 0}, "n_gen"), ({"latent": "cauchy"}, "latent"), ({"g_call": "twice"}, "g_call"),
])
def test_undefined_combinations_are_refused_in_one_line(over, match):
    with pytest.raises(UserError, match=match) as err:
        make_config({**TREE, **over})
    assert "\n" not in str(err.value)


def test_new_options_at_their_defaults_keep_the_digest():
    cfg = make_config(TREE)
    assert not {"n_gen", "g_noise", "g_call", "latent"} & set(cfg.result_dict())
    changed = make_config({**TREE, "latent": "uniform"})
    assert changed.digest() != cfg.digest() and changed.result_dict()["latent"] == "uniform"


def test_g_called_once_per_pack_member():
    """PacGAN's code calls G once per pack member (batch-norm statistics over batch_size samples each);
    call j makes member j of every pack."""
    t = _trainer(pack=3, batch_unit="packs", g_call="per_pack_member")
    G0 = copy.deepcopy(t.G)
    sizes = []
    t.G.register_forward_pre_hook(lambda mod, args: sizes.append(len(args[0])))
    out = t.generate(NOISE_G, 0, None)
    z = latent(0, NOISE_G, 0, 48, 2, torch.device("cpu")).view(16, 3, 2)
    expected = torch.stack([G0(z[:, j]) for j in range(3)], dim=1).reshape(48, 2)
    assert sizes == [16, 16, 16]
    torch.testing.assert_close(out, expected)
    whole = _trainer(pack=3, batch_unit="packs").generate(NOISE_G, 0, None)  # one call: other BN statistics
    assert not torch.allclose(out, whole)
