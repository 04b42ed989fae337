"""Training FLOPs: the per-phase measurement against a count by hand of an MLP GAN's matrix products, and
the FLOPs budget of a study stopping at the first step past it."""

import pytest

from ganbench.config import make_config
from ganbench.errors import UserError
from ganbench.study.spec import StudySpec, expand
from ganbench.training.flops import step_flops

B, H, Z, DEPTH = 64, 32, 2, 3
BASE = {"data": {"name": "ring8", "n": 2000}, "batch_size": B, "ema": 0.999, "z_dim": Z,
        "generator": {"name": "mlp", "hidden": H, "depth": DEPTH}, "discriminator": {"name": "mlp", "hidden": H, "depth": DEPTH}}


def by_hand(pack: int, n_dis: int, gp: bool) -> float:
    """FLOPs of one training step counted from the layer sizes (a matmul of (n, i) by (i, o) costs 2*n*i*o,
    its backward 2*n*i*o for the weight and 2*n*i*o for the input)."""
    g_layers = [(Z, H)] + [(H, H)] * (DEPTH - 1) + [(H, 2)]
    d_layers = [(2 * pack, H)] + [(H, H)] * (DEPTH - 1) + [(H, 1)]
    rows = B // pack
    f_g = sum(2 * B * i * o for i, o in g_layers)
    f_d = sum(2 * rows * i * o for i, o in d_layers)
    d_first = 2 * rows * 2 * pack * H
    g_first = 2 * B * Z * H
    # GP on B interpolates: forward (1), input-gradient backward (1), then the penalty's backward through the
    # gradient graph (a weight and an incoming-gradient product per layer: 2) and through D's forward graph,
    # which the activations' masks tie to it (weight and input products: 2): 6 forward passes of D.
    gp_cost = 6 * f_d if gp else 0
    d_step = f_g + 2 * f_d + 2 * f_d + 2 * (f_d - d_first) + gp_cost
    g_step = f_g + f_d + 2 * f_d + f_g + (f_g - g_first)
    g_params = sum(i * o + o for i, o in g_layers)
    return n_dis * d_step + g_step + 2 * g_params


def test_measured_step_flops_match_the_count_by_hand():
    plain = step_flops(make_config(BASE))
    assert plain.pattern[0] == pytest.approx(by_hand(1, 1, False), rel=0.02)
    heavy = make_config({**BASE, "loss": "wgan", "regularizers": [{"name": "gp"}], "pack": 2, "n_dis": 2})
    measured = step_flops(heavy)
    ratio, expected = measured.pattern[0] / plain.pattern[0], by_hand(2, 2, True) / by_hand(1, 1, False)
    assert expected > 1.25 and ratio == pytest.approx(expected, rel=0.10)
    assert set(measured.phases) == {"d", "g", "ema"} and measured.phases["d"] > plain.phases["d"]


def test_lazy_regularizer_repeats_with_its_interval():
    measured = step_flops(make_config({**BASE, "regularizers": [{"name": "r1", "every": 4}]}))
    assert len(measured.pattern) == 4 and measured.pattern[0] > measured.pattern[1] == measured.pattern[3]
    assert measured.total(10) == pytest.approx(3 * measured.pattern[0] + 7 * measured.pattern[1])


def test_flops_budget_stops_at_the_first_step_past_it():
    cheap = step_flops(make_config(BASE)).pattern[0]
    spec = StudySpec(base=BASE, variants={"ns": {}, "gp": {"loss": "wgan", "regularizers": [{"name": "gp"}]}},
                     seeds=1, budget={"flops": 10.5 * cheap})
    runs = {r.variant: r for r in expand(spec)}
    assert runs["ns"].config["steps"] == 11  # 10 steps are 10 * cheap < budget <= 11 steps
    gp = step_flops(make_config(runs["gp"].config))
    steps = runs["gp"].config["steps"]
    assert gp.total(steps - 1) < 10.5 * cheap <= gp.total(steps) and steps < 11


def test_flops_budget_below_one_step_is_refused():
    with pytest.raises(UserError, match="smaller than one training step"):
        expand(StudySpec(base=BASE, seeds=1, budget={"flops": 1000}))
