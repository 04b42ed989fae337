import numpy as np
import pytest
import torch
from torch import nn

from ganbench.regularizers import R1, Dragan, GradientPenalty, WeightClip


def _critic():
    """In float64: batched and per-sample autograd sum in different orders, and float32 matrix products
    round differently on different CPUs (SIMD width, FMA), so float32 would test rounding, not the formula."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def _per_sample_grad_norm(D, x):
    """Reference: one autograd call per sample (no batching tricks)."""
    norms = []
    for i in range(len(x)):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(D(xi).sum(), xi)
        norms.append(g.norm())
    return torch.stack(norms)


def test_gradient_penalty_matches_direct_autograd():
    D = _critic()
    real, fake = torch.randn(5, 3, 2, 2, dtype=torch.float64), torch.randn(5, 3, 2, 2, dtype=torch.float64)
    gen = torch.Generator().manual_seed(7)
    got = GradientPenalty(weight=10.0).penalty(D, real, fake, gen)
    eps = torch.rand(5, 1, 1, 1, generator=torch.Generator().manual_seed(7)).double()
    x_hat = eps * real + (1 - eps) * fake
    want = 10.0 * ((_per_sample_grad_norm(D, x_hat) - 1) ** 2).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-12)
    got.backward()  # the penalty is differentiable w.r.t. D's weights
    assert D[1].weight.grad is not None and D[1].weight.grad.abs().sum() > 0


def test_r1_matches_direct_autograd():
    D = _critic()
    real = torch.randn(6, 3, 2, 2, dtype=torch.float64)
    got = R1(gamma=4.0).penalty(D, real, real, torch.Generator())
    want = 0.5 * 4.0 * (_per_sample_grad_norm(D, real) ** 2).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-12)


def test_dragan_is_zero_for_unit_gradient_critic():
    D = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        D[1].weight.copy_(torch.tensor([[0.6, 0.8, 0.0, 0.0]]))  # |grad| = 1 everywhere
    pen = Dragan().penalty(D, torch.randn(8, 4), None, torch.Generator().manual_seed(0))
    assert pen.item() == pytest.approx(0.0, abs=1e-10)


def _dragan_reference(D, real, seed, noise=0.5, weight=10.0):
    """Kodali et al.'s DRAGAN code: X_p = X + 0.5 * X.std() * U[0,1) with numpy's std (ddof 0, the
    population std over every element of the batch), then x_hat = X + alpha (X_p - X), one alpha per row."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(real.shape, generator=g).double()
    alpha = torch.rand(real.shape[0], 1, generator=g).double()
    std = float(np.std(real.numpy()))  # numpy's default ddof=0
    x_hat = real + alpha * (noise * std * u)
    return weight * ((_per_sample_grad_norm(D, x_hat) - 1) ** 2).mean()


def test_dragan_perturbs_by_the_population_std_of_the_batch():
    D = _critic()
    real = torch.randn(4, 12, dtype=torch.float64)  # 48 elements: ddof 1 would scale the std by 1.0106
    got = Dragan(weight=10.0, noise=0.5).penalty(D, real, None, torch.Generator().manual_seed(3))
    assert got.item() == pytest.approx(_dragan_reference(D, real, 3).item(), rel=1e-10)


def test_dragan_of_a_stack_takes_each_members_population_std():
    from ganbench.regularizers import Draws

    D = _critic()
    real = torch.cat([torch.randn(4, 12, dtype=torch.float64), 3 * torch.randn(4, 12, dtype=torch.float64)])
    gens = [torch.Generator().manual_seed(3), torch.Generator().manual_seed(4)]
    got = Dragan(weight=10.0, noise=0.5).penalty(D, real, None, Draws(gens))
    want = [_dragan_reference(D, real[:4], 3).item(), _dragan_reference(D, real[4:], 4).item()]
    assert got.tolist() == pytest.approx(want, rel=1e-10)


def test_weight_clip():
    D = _critic()
    with torch.no_grad():
        D[1].weight.mul_(100)
    WeightClip(limit=0.01).after_d_step(D)
    assert max(p.abs().max().item() for p in D.parameters()) <= 0.01


# PacGAN (Lin et al. 2018): D's input is a pack of m consecutive samples joined along channels, so a penalty
# on D's input gradient is per pack: R1 = gamma/2 E_pack |grad D(pack)|^2; GP/DRAGAN interpolate whole packs.
def _packed_critic(m=2):
    from ganbench.nets.layers import Packed

    torch.manual_seed(0)
    inner = nn.Sequential(nn.Flatten(), nn.Linear(12 * m, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    return Packed(inner, m), inner


def _packs(x, m=2):
    return x.reshape(len(x) // m, m * x.shape[1], *x.shape[2:])


def _param_grads(D, value):
    grads = torch.autograd.grad(value, list(D.parameters()), allow_unused=True)  # R1 ignores the last bias
    return [torch.zeros_like(p) if g is None else g for p, g in zip(D.parameters(), grads)]


def _assert_same(D, got, want):
    assert got.item() == pytest.approx(want.item(), rel=1e-10)
    for a, b in zip(_param_grads(D, got), _param_grads(D, want), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)


def _sq_grad_norms(D, x):
    """Reference with the graph kept: one autograd call per input of D."""
    out = []
    for i in range(len(x)):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(D(xi).sum(), xi, create_graph=True)
        out.append((g ** 2).sum())
    return torch.stack(out)


def test_r1_on_a_packed_discriminator_is_per_pack():
    from ganbench.regularizers import Draws

    PD, inner = _packed_critic()
    real = torch.randn(6, 3, 2, 2, dtype=torch.float64)
    got = R1(gamma=4.0).penalty(PD, real, real, Draws(torch.Generator(), pack=2))
    _assert_same(inner, got, 0.5 * 4.0 * _sq_grad_norms(inner, _packs(real)).mean())


def test_gradient_penalty_on_a_packed_discriminator_interpolates_packs():
    from ganbench.regularizers import Draws

    PD, inner = _packed_critic()
    real, fake = torch.randn(6, 3, 2, 2, dtype=torch.float64), torch.randn(6, 3, 2, 2, dtype=torch.float64)
    got = GradientPenalty(weight=10.0).penalty(PD, real, fake, Draws(torch.Generator().manual_seed(7), pack=2))
    eps = torch.rand(3, 1, 1, 1, generator=torch.Generator().manual_seed(7)).double()  # one per pack
    x_hat = eps * _packs(real) + (1 - eps) * _packs(fake)
    _assert_same(inner, got, 10.0 * ((_sq_grad_norms(inner, x_hat).sqrt() - 1) ** 2).mean())


def test_dragan_on_a_packed_discriminator_interpolates_packs():
    from ganbench.regularizers import Draws

    PD, inner = _packed_critic()
    real = torch.randn(6, 3, 2, 2, dtype=torch.float64)
    got = Dragan(weight=10.0, noise=0.5).penalty(PD, real, None, Draws(torch.Generator().manual_seed(5), pack=2))
    g = torch.Generator().manual_seed(5)  # Kodali et al.'s code: X_p = X + 0.5 std(X) U[0,1); X + a (X_p - X)
    perturbed = real + 0.5 * float(np.std(real.numpy())) * torch.rand(real.shape, generator=g).double()
    alpha = torch.rand(3, 1, 1, 1, generator=g).double()
    x_hat = _packs(real) + alpha * (_packs(perturbed) - _packs(real))
    _assert_same(inner, got, 10.0 * ((_sq_grad_norms(inner, x_hat).sqrt() - 1) ** 2).mean())


def test_the_training_step_takes_r1_per_pack():
    import copy

    from ganbench.config import make_config
    from ganbench.training.build import build_parts
    from ganbench.training.loop import Trainer

    cfg = make_config({"data": {"name": "ring8", "n": 200}, "generator": {"name": "mlp", "hidden": 8},
                       "discriminator": {"name": "mlp", "hidden": 8}, "batch_size": 8, "pack": 2,
                       "regularizers": [{"name": "r1", "gamma": 3.0}], "device": "cpu", "ema": None})
    t = Trainer(cfg, build_parts(cfg, torch.device("cpu")), torch.device("cpu"))
    inner = copy.deepcopy(t.p.D.inner).double()
    real = t.real(0)[0].double()
    want = 0.5 * 3.0 * _sq_grad_norms(inner, _packs(real)).mean()
    _, penalty = t.d_step(0)
    assert penalty.item() == pytest.approx(want.item(), rel=1e-5)  # the step runs in float32
