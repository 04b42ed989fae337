"""The simultaneous update schedule: both players' gradients from one batch and noise, before either update."""

import copy

import pytest
import torch

from ganbench.config import make_config
from ganbench.errors import UserError
from ganbench.training.build import build_parts
from ganbench.training.loop import Trainer, latent
from ganbench.training.schedule import SCHEDULES
from ganbench.training.seeding import NOISE_G

# PacGAN's 2-D recipe in small: bias-free BN generator, maxout discriminator, N(0, 0.02) weights
TREE = {"data": {"name": "ring8", "n": 500},
        "generator": {"name": "mlp", "hidden": 16, "norm": "batch", "bias_before_norm": False, "init": "normal"},
        "discriminator": {"name": "mlp", "hidden": 16, "activation": "maxout", "pieces": 3, "init": "normal"},
        "batch_size": 20,
        "pack": 2, "ema": None, "update": "simultaneous", "device": "cpu", "lr_g": 1e-2, "lr_d": 1e-2}


def _trainer(tree=TREE):
    cfg = make_config(tree)
    return Trainer(cfg, build_parts(cfg, torch.device("cpu")), torch.device("cpu"))


def test_simultaneous_step_uses_gradients_taken_before_either_update():
    t = _trainer()
    G0, D0 = copy.deepcopy(t.p.G), copy.deepcopy(t.p.D)
    real = t.real(0)[0]
    z = latent(t.cfg.seed, NOISE_G, 0, t.cfg.batch_size, t.cfg.z_dim, t.device)
    SCHEDULES["simultaneous"](t, 0)

    # by hand, from the parameters before the step: each player's gradient of its own loss
    fake = G0(z)
    d_real, d_fake = D0(real), D0(fake)
    d_loss, g_loss = t.p.loss.d(d_real, d_fake), t.p.loss.g(d_real, d_fake)
    grads_d = torch.autograd.grad(d_loss, list(D0.parameters()), retain_graph=True)
    grads_g = torch.autograd.grad(g_loss, list(G0.parameters()))
    for net, grads, lr in ((D0, grads_d, t.cfg.lr_d), (G0, grads_g, t.cfg.lr_g)):
        opt = torch.optim.Adam(net.parameters(), lr=lr, betas=t.cfg.betas_d)
        for p, g in zip(net.parameters(), grads, strict=True):
            p.grad = g
        opt.step()
    for mine, ref in ((t.p.G, G0), (t.p.D, D0)):
        for a, b in zip(mine.state_dict().values(), ref.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_simultaneous_differs_from_alternating_and_is_deterministic():
    a, b, c = _trainer(), _trainer(), _trainer({**TREE, "update": "alternating"})
    for step in range(3):
        SCHEDULES["simultaneous"](a, step)
        SCHEDULES["simultaneous"](b, step)
        SCHEDULES["alternating"](c, step)
    wa, wb, wc = (list(x.p.G.parameters())[0] for x in (a, b, c))
    assert torch.equal(wa, wb)
    assert not torch.allclose(wa, wc)  # alternating: G steps against the updated D, on other noise


def test_simultaneous_refuses_several_d_steps():
    with pytest.raises(UserError, match="n_dis"):
        make_config({**TREE, "n_dis": 2})


def test_simultaneous_penalty_sees_the_fakes_d_saw():
    """With DiffAugment, real and fake reach D augmented; the penalty's interpolates must join the same
    two batches (as d_step's do), not augmented reals and raw fakes."""
    from ganbench.augment import diff_augment
    from ganbench.regularizers import Regularizer
    from ganbench.training.seeding import AUG, rng

    t = _trainer({"data": "digits", "generator": {"name": "dcgan", "width": 4},
                  "discriminator": {"name": "dcgan", "width": 4}, "batch_size": 6, "ema": None,
                  "update": "simultaneous", "device": "cpu", "augment": "color,translation,cutout"})
    seen = []

    class Record(Regularizer):
        def penalty(self, D, real, fake, draws):
            seen.append((real.detach().clone(), fake.detach().clone()))
            return None

    t.regularizers = [Record()]
    G0, step = copy.deepcopy(t.p.G), 3
    z = latent(t.cfg.seed, NOISE_G, step, t.cfg.batch_size, t.cfg.z_dim, t.device)
    policy = ["color", "translation", "cutout"]
    want_real = diff_augment(t.real(step)[0], policy, rng(t.cfg.seed, AUG, step * 4 + 0, t.device))
    with torch.no_grad():
        want_fake = diff_augment(G0(z), policy, rng(t.cfg.seed, AUG, step * 4 + 1, t.device))
    SCHEDULES["simultaneous"](t, step)
    (real, fake), = seen
    torch.testing.assert_close(real, want_real, rtol=0, atol=0)
    torch.testing.assert_close(fake, want_fake, rtol=1e-6, atol=1e-6)
