"""StackedAdam (flat moments, multi-tensor update) against torch.optim.Adam, member by member, float64.

A parameter that never gets a gradient (an unused layer) keeps its weights and zero moments, as in torch."""

import torch

from ganbench.training.stack import StackedAdam

SHAPES = [(3, 4), (4,), (2, 3, 2)]
HYPER = [(1e-3, (0.5, 0.999)), (2e-3, (0.0, 0.99)), (5e-4, (0.9, 0.999))]


def _check(hyper, missing: int | None = None, frozen: int | None = None, steps: int = 12):
    gen = torch.Generator().manual_seed(0)
    k = len(hyper)
    stacked = [torch.randn(k, *s, dtype=torch.float64, generator=gen) for s in SHAPES]
    singles = [[p[i].clone().requires_grad_(True) for p in stacked] for i in range(k)]
    opts = [torch.optim.Adam(ps, lr=lr, betas=b, foreach=False) for ps, (lr, b) in zip(singles, hyper)]
    params = [p.clone().requires_grad_(True) for p in stacked]
    adam = StackedAdam(params, [lr for lr, _ in hyper], [b for _, b in hyper])
    if frozen is not None:
        adam.freeze(frozen)
    start = [p.detach().clone() for p in params]
    for t in range(steps):
        grads = [torch.randn(k, *s, dtype=torch.float64, generator=gen) for s in SHAPES]
        for j, p in enumerate(params):
            p.grad = None if missing == j else grads[j].clone()
        adam.step()
        for i, (ps, opt) in enumerate(zip(singles, opts)):
            for j, p in enumerate(ps):
                p.grad = None if missing == j else grads[j][i].clone()
            opt.step()
    for i in range(k):
        for j, p in enumerate(params):
            if i == frozen or j == missing:
                assert torch.equal(p[i], start[j][i])
                assert j != missing or not adam.exp_avg[j].any()
            else:
                torch.testing.assert_close(p[i].detach(), singles[i][j].detach(), rtol=1e-12, atol=1e-14)
                torch.testing.assert_close(adam.exp_avg_sq[j][i], opts[i].state[singles[i][j]]["exp_avg_sq"],
                                           rtol=1e-12, atol=1e-14)


def test_members_differ_in_lr_and_betas():
    _check(HYPER)


def test_members_share_hyperparameters():
    _check([HYPER[0]] * 3)


def test_parameter_without_gradient_keeps_its_moments():
    _check(HYPER, missing=1)
    _check([HYPER[0]] * 3, missing=0)


def test_frozen_member_keeps_its_weights():
    _check(HYPER, frozen=1)
