import math

import pytest
import torch

from ganbench.losses import get_loss
from ganbench.registry import LOSSES

# float64 outputs: the test checks each formula, not float32 rounding of exp/log (which differs between
# CPUs' vector math libraries by an ulp or two, ~1e-7 relative)
R = torch.tensor([2.0, -1.0], dtype=torch.float64)  # D outputs on real samples
F = torch.tensor([0.5, -3.0], dtype=torch.float64)  # D outputs on fake samples


def sp(x):  # softplus by its definition, log(1 + e^x)
    return math.log1p(math.exp(x))


def mean(xs):
    return sum(xs) / len(xs)


EXPECTED = {
    # name: (d_loss, g_loss), written out from each paper's formula
    "minimax": (mean([sp(-r) for r in R.tolist()]) + mean([sp(f) for f in F.tolist()]),
                mean([math.log(1 - 1 / (1 + math.exp(-f))) for f in F.tolist()])),
    "ns": (mean([sp(-r) for r in R.tolist()]) + mean([sp(f) for f in F.tolist()]),
           mean([-math.log(1 / (1 + math.exp(-f))) for f in F.tolist()])),
    "lsgan": (0.5 * (mean([(r - 1) ** 2 for r in R.tolist()]) + mean([f ** 2 for f in F.tolist()])),
              0.5 * mean([(f - 1) ** 2 for f in F.tolist()])),
    "hinge": (mean([max(0, 1 - r) for r in R.tolist()]) + mean([max(0, 1 + f) for f in F.tolist()]),
              -mean(F.tolist())),
    "wgan": (mean(F.tolist()) - mean(R.tolist()), -mean(F.tolist())),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_values_by_hand(name):
    loss = get_loss(name)
    d_exp, g_exp = EXPECTED[name]
    assert loss.d(R, F).item() == pytest.approx(d_exp, rel=1e-12)
    assert loss.g(R, F).item() == pytest.approx(g_exp, rel=1e-12)


def test_relativistic_average_by_hand():
    loss = get_loss("rsgan-avg")
    mr, mf = mean(R.tolist()), mean(F.tolist())
    bce_pos = lambda x: -math.log(1 / (1 + math.exp(-x)))
    bce_neg = lambda x: -math.log(1 - 1 / (1 + math.exp(-x)))
    d = 0.5 * (mean([bce_pos(r - mf) for r in R.tolist()]) + mean([bce_neg(f - mr) for f in F.tolist()]))
    g = 0.5 * (mean([bce_pos(f - mr) for f in F.tolist()]) + mean([bce_neg(r - mf) for r in R.tolist()]))
    assert loss.d(R, F).item() == pytest.approx(d, rel=1e-12)
    assert loss.g(R, F).item() == pytest.approx(g, rel=1e-12)
    assert loss.g_needs_real


def builtin_losses():  # other tests register throwaway losses (e.g. one that returns NaN)
    return [e.name for e in LOSSES if e.obj.d.__module__ == "ganbench.losses"]


def test_every_loss_is_tested():
    assert set(builtin_losses()) == set(EXPECTED) | {"rsgan-avg"}


def test_losses_are_finite_for_large_logits():
    big = torch.tensor([80.0, -80.0])
    for name in builtin_losses():
        loss = get_loss(name)
        assert torch.isfinite(loss.d(big, -big)) and torch.isfinite(loss.g(big, -big)), name
