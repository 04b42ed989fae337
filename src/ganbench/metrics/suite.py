"""The metric registry: each metric is a plain function of real and fake extracted sets.

``fn(real, fake, ctx) -> {name: value}``, where ``real``/``fake`` are ``Extracted`` sets (features,
optional logits, the raw samples) and ``ctx`` carries what some metrics need beyond them (the dataset's
modes or labels, the generator for efficiency numbers). ``needs`` says which inputs a metric requires,
so the evaluator can say plainly why a metric does not apply.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import UserError, did_you_mean
from .frechet import Gaussian, fit_gaussian, frechet_distance
from .inception_score import inception_score
from .kid import kid
from .modes import mixture_modes
from .prdc import precision_recall_density_coverage
from .wasserstein import wasserstein


@dataclass
class Extracted:
    features: torch.Tensor  # (N, D) float64
    logits: torch.Tensor | None = None
    samples: torch.Tensor | None = None  # raw samples (points), when small enough to keep
    labels: torch.Tensor | None = None  # the classes a conditional generator was asked for
    gaussian: Gaussian | None = None  # mean/covariance of the features, cached for real data

    def stats(self) -> Gaussian:
        if self.gaussian is None:
            self.gaussian = fit_gaussian(self.features)
        return self.gaussian


@dataclass
class Context:
    modes: torch.Tensor | None = None
    sigma: float | None = None
    real_labels: torch.Tensor | None = None
    num_classes: int | None = None
    generator: Any = None
    discriminator: Any = None
    z_dim: int | None = None
    run_dir: Any = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    fn: Callable[[Extracted, Extracted, Context], dict]
    needs: tuple[str, ...]
    description: str


METRICS: dict[str, Metric] = {}


def metric(name: str, needs: tuple[str, ...], description: str):
    def deco(fn):
        if name in METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        METRICS[name] = Metric(fn, needs, description)
        return fn

    return deco


@metric("fid", ("features",), "Fréchet distance between Gaussian fits of the features")
def _fid(real, fake, ctx):
    return {"fid": frechet_distance(real.stats(), fake.stats())}


@metric("kid", ("features",), "Kernel distance (unbiased MMD^2, cubic polynomial kernel), mean and std")
def _kid(real, fake, ctx):
    out = kid(real.features, fake.features)
    return {"kid_mean": out["kid_mean"], "kid_std": out["kid_std"]}


@metric("prdc", ("features",), "precision/recall (k=3), density/coverage (k=5)")
def _prdc(real, fake, ctx):
    return precision_recall_density_coverage(real.features.float(), fake.features.float())


@metric("is", ("logits",), "Inception-Score formula on the extractor's class logits (10 splits)")
def _is(real, fake, ctx):
    out = inception_score(fake.logits)
    return {"is_mean": out["is_mean"], "is_std": out["is_std"]}


@metric("modes", ("mixture",), "PacGAN mode metrics: modes covered, high-quality share, reverse KL")
def _modes(real, fake, ctx):
    out = mixture_modes(fake.samples, ctx.modes, ctx.sigma)
    return {"modes_covered": out["modes_covered"], "high_quality": out["high_quality"],
            "reverse_kl": out["reverse_kl"]}


@metric("classes", ("logits", "labels"),
        "classes (Stacked MNIST: modes) covered by predicted labels; KL to the real and the uniform histogram")
def _classes(real, fake, ctx):
    c = ctx.num_classes
    pred = torch.bincount(fake.logits.argmax(1), minlength=c).double()
    ref = torch.bincount(ctx.real_labels, minlength=c).double()
    p, q = pred / pred.sum(), ref / ref.sum()
    nz = p > 0
    kl = float((p[nz] * (p[nz] / q[nz]).log()).sum()) if bool((q[nz] > 0).all()) else math.inf
    kl_uniform = float((p[nz] * (p[nz] * c).log()).sum())
    return {"classes_covered": int((pred > 0).sum()), "class_kl": kl, "class_kl_uniform": kl_uniform}


@metric("class_accuracy", ("logits", "conditional"), "share of conditional samples classified as asked; worst class")
def _class_accuracy(real, fake, ctx):
    hit = (fake.logits.argmax(1) == fake.labels).double()
    per_class = [float(hit[fake.labels == c].mean()) for c in fake.labels.unique().tolist()]
    return {"class_accuracy": float(hit.mean()), "class_accuracy_min": min(per_class)}


@metric("wasserstein", ("samples",), "exact W1 and W2 between equal-size samples (optimal assignment)")
def _wasserstein(real, fake, ctx):
    n = min(len(real.samples), len(fake.samples))
    return wasserstein(real.samples[:n].reshape(n, -1), fake.samples[:n].reshape(n, -1))


@metric("efficiency", ("generator",), "parameters, FLOPs/sample, sampling throughput, step time, peak memory")
def _efficiency(real, fake, ctx):
    from .efficiency import efficiency

    return efficiency(ctx.generator, ctx.discriminator, ctx.z_dim, ctx.run_dir)


def available(real: Extracted, fake: Extracted, ctx: Context) -> dict[str, bool]:
    have = {"features": True, "logits": fake.logits is not None,
            "mixture": ctx.modes is not None and fake.samples is not None,
            "labels": ctx.real_labels is not None and ctx.num_classes is not None,
            "samples": real.samples is not None and fake.samples is not None,
            "generator": ctx.generator is not None, "conditional": fake.labels is not None}
    return {name: all(have[n] for n in m.needs) for name, m in METRICS.items()}


def compute(names: list[str], real: Extracted, fake: Extracted, ctx: Context) -> dict[str, float]:
    ok = available(real, fake, ctx)
    out: dict[str, float] = {}
    for name in names:
        if name not in METRICS:
            raise UserError(f"unknown metric '{name}'{did_you_mean(name, METRICS)}; valid: {', '.join(METRICS)}")
        if not ok[name]:
            raise UserError(f"metric '{name}' needs {' and '.join(METRICS[name].needs)}, which this evaluation "
                            "does not have (check the extractor and the data)")
        out.update(METRICS[name].fn(real, fake, ctx))
    return out
