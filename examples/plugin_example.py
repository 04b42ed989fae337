"""One plugin adding each kind of component, without touching ganbench:

    PYTHONPATH=examples ganbench --plugin plugin_example train --data spiral --generator silu-mlp \\
        --discriminator silu-mlp --loss rsgan --reg drift --steps 500 --out runs/spiral
    PYTHONPATH=examples ganbench --plugin plugin_example eval runs/spiral --metrics modes,mode_dist

Pass the same --plugin to every command that reads such a run or study (eval, sample, study resume,
report, verify): a run or study directory never imports code by itself.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.data.base import Dataset
from ganbench.losses import Loss
from ganbench.metrics.declare import quality
from ganbench.metrics.suite import metric
from ganbench.registry import DATASETS, DISCRIMINATORS, GENERATORS, LOSSES, REGULARIZERS
from ganbench.regularizers import Regularizer

# A loss: d(real, fake) and g(real, fake) of D's raw outputs on a real and a fake batch, both minimized.
# Relativistic standard GAN (Jolicoeur-Martineau 2018), the non-average form: each real against each fake.
LOSSES.add("rsgan", Loss(lambda real, fake: F.softplus(fake - real).mean(),
                         lambda real, fake: F.softplus(real - fake).mean(), g_needs_real=True),
           "Relativistic standard GAN loss, pairwise (non-average) form")


@REGULARIZERS.register("drift")
class Drift(Regularizer):
    """ProGAN's drift penalty on real data: weight * E[D(x)^2]."""

    def __init__(self, weight: float = 0.001, every: int = 1):  # keyword arguments = options (--reg drift:weight=0.01)
        self.weight, self.every = weight, every

    def penalty(self, D, real, fake, draws):
        return self.weight * D(real).pow(2).mean()


@GENERATORS.register("silu-mlp")
class SiluGenerator(nn.Module):
    """A small MLP generator with SiLU activations."""

    def __init__(self, data_shape, z_dim, hidden: int = 64):  # the framework passes data_shape, z_dim
        super().__init__()
        self.shape = tuple(data_shape)
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, math.prod(self.shape)))

    def forward(self, z):
        return self.net(z).view(-1, *self.shape)


@DISCRIMINATORS.register("silu-mlp")
class SiluDiscriminator(nn.Module):
    """A small MLP discriminator with SiLU activations; one raw output per sample."""

    def __init__(self, data_shape, hidden: int = 64):  # the framework passes data_shape
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(data_shape), hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).view(-1)


# A dataset: fn(split, **options) -> Dataset. What the registration declares is known without loading it:
# kind, mixture (modes + sigma: the `modes` metric applies), labelled, classes (bounds the report's intervals
# of modes_covered and reverse_kl), z_dim (the default latent size).
@DATASETS.register("spiral", z_dim=2, kind="points", mixture=True, labelled=True, classes=6)
def spiral(split, n: int = 20_000):
    """6 Gaussians along a spiral, sigma 0.02; 2-D points."""
    t = torch.linspace(0.5, 3.0, 6)
    modes = torch.stack([0.4 * t * torch.cos(2 * t), 0.4 * t * torch.sin(2 * t)], dim=1)
    g = torch.Generator().manual_seed({"train": 0, "test": 1}[split])
    y = torch.randint(6, (n if split == "train" else n // 4,), generator=g)
    return Dataset("spiral", modes[y] + 0.02 * torch.randn(len(y), 2, generator=g), y, modes, 0.02, 6)


# A metric: fn(real, fake, ctx) -> {value: number}; `needs` says when it applies (suite.NEEDS), and every value
# it returns is declared with its direction and bounds (the report ranks, tests and clips by them).
@metric("mode_dist", ("mixture",), "mean distance of generated points to their nearest mode",
        [quality("mode_dist", "lower", "mean distance of a generated point to its nearest mode", (0.0, None),
                 "data units")])
def mode_dist(real, fake, ctx):
    return {"mode_dist": float(torch.cdist(fake.samples.double(), ctx.modes.double()).min(1).values.mean())}
