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

from ..errors import PLUGIN_HINT, UserError, did_you_mean
from ..registry import RegistrationError
from .declare import auxiliary, declare, is_quality, quality
from .frechet import Gaussian, fit_gaussian, frechet_distance
from .inception_score import inception_score
from .kid import kid
from .modes import mixture_modes
from .prdc import precision_recall_density_coverage
from .wasserstein import wasserstein

SAMPLES_KEPT = 20_000  # keep raw samples (for W1/W2, modes) only for small vector data (evaluate._extract)


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
    values: tuple[str, ...]  # the names of the numbers it returns, each declared in declare.VALUES
    min_rows: tuple[int, int] = (1, 1)  # the fewest real and generated samples it can score


METRICS: dict[str, Metric] = {}
# what a metric may need: extracted features (always), class logits from the extractor, a Gaussian mixture's
# modes (ctx.modes, ctx.sigma; points), real labels (ctx.real_labels, ctx.num_classes), the raw samples (points),
# the generator (ctx.generator, ...), a conditional generator's asked-for labels (fake.labels)
NEEDS = ("features", "logits", "mixture", "labels", "samples", "generator", "conditional")


def metric(name: str, needs: tuple[str, ...], description: str, values, min_rows: tuple[int, int] = (1, 1)):
    """Register a metric function with the inputs it needs (``NEEDS``), the declaration of every number it
    returns (``quality``/``auxiliary``, see declare.py) and the fewest (real, generated) samples it can score.
    A plugin registers its own metrics with this decorator, as the built-in ones below are."""
    def deco(fn):
        if name in METRICS:
            raise RegistrationError(f"metric {name!r} is already registered")
        unknown = [n for n in needs if n not in NEEDS]
        if isinstance(needs, str) or unknown:
            raise RegistrationError(f"metric {name!r} needs {unknown or needs!r}: 'needs' is a tuple of "
                                    f"{', '.join(NEEDS)}")
        declare(values)
        METRICS[name] = Metric(fn, needs, description, tuple(v.name for v in values), min_rows)
        return fn

    return deco


UNIT = (0.0, 1.0)
NONNEG = (0.0, None)


@metric("fid", ("features",), "Fréchet distance between Gaussian fits of the features",
        [quality("fid", "lower", "Fréchet distance between Gaussian fits of real and fake features", NONNEG,
                 "squared feature units")], min_rows=(2, 2))  # N-1 covariances
def _fid(real, fake, ctx):
    return {"fid": frechet_distance(real.stats(), fake.stats())}


@metric("kid", ("features",), "Kernel distance (unbiased MMD^2, cubic polynomial kernel), mean and std",
        [quality("kid_mean", "lower", "unbiased MMD² (cubic kernel), mean over subsets; may dip below 0",
                 unit="units of the cubic kernel of the features"),  # not fid's: (x.y/d + 1)^3 has no scale
         auxiliary("kid_std", "std of the subset estimates (0 when every subset is the whole set)", NONNEG),
         auxiliary("kid_subset_size", "rows per KID subset: min(1000, n)", unit="samples"),
         auxiliary("kid_subsets", "number of KID subsets", unit="subsets")], min_rows=(2, 2))
def _kid(real, fake, ctx):
    out = kid(real.features, fake.features)
    return {k: out[k] for k in ("kid_mean", "kid_std", "kid_subset_size", "kid_subsets")}


@metric("prdc", ("features",), "precision/recall (k=3), density/coverage (k=5)",
        [quality("precision", "higher", "share of fake samples inside the real manifold (k=3)", UNIT),
         quality("recall", "higher", "share of real samples inside the fake manifold (k=3)", UNIT),
         quality("density", "higher", "how many real neighbourhoods hold a fake sample, on average (k=5)",
                 NONNEG),
         quality("coverage", "higher", "share of real neighbourhoods (k=5) holding a fake sample", UNIT)],
        min_rows=(7, 7))  # k+2 for k = 5: the k-th neighbour other than the point itself, and one to score
def _prdc(real, fake, ctx):
    real_x, fake_x = _float32_if_exact(real.features), _float32_if_exact(fake.features)
    return precision_recall_density_coverage(real_x, fake_x)


def _float32_if_exact(x: torch.Tensor) -> torch.Tensor:
    """float32 when that loses nothing (network features: prdc's float32 conventions, as the reference has
    them for such features), else the float64 values (points: a cast would round them, far from the
    origin or at a large scale)."""
    x32 = x.float()
    return x32 if torch.equal(x32.double(), x.double()) else x


@metric("is", ("logits",), "Inception-Score formula on the extractor's class logits (10 splits)",
        [quality("is_mean", "higher", "Inception-Score formula on the extractor's logits, mean of 10 splits",
                 (1.0, None)),
         auxiliary("is_std", "std of the 10 split scores", NONNEG)], min_rows=(1, 10))
def _is(real, fake, ctx):
    out = inception_score(fake.logits)
    return {"is_mean": out["is_mean"], "is_std": out["is_std"]}


@metric("modes", ("mixture",), "PacGAN mode metrics: modes covered, high-quality share, reverse KL",
        [quality("modes_covered", "higher", "mixture modes with at least one high-quality sample", NONNEG,
                 "modes", per_class=float),
         quality("high_quality", "higher", "share of samples within 3σ of a mode", UNIT),
         quality("reverse_kl", "lower", "KL(high-quality samples' mode histogram ‖ uniform)", NONNEG, "nats",
                 per_class=math.log)])
def _modes(real, fake, ctx):
    out = mixture_modes(fake.samples, ctx.modes, ctx.sigma)
    return {"modes_covered": out["modes_covered"], "high_quality": out["high_quality"],
            "reverse_kl": out["reverse_kl"]}


@metric("classes", ("logits", "labels"),
        "classes (Stacked MNIST: modes) covered by predicted labels; KL to the real and the uniform histogram",
        [quality("classes_covered", "higher", "classes (Stacked MNIST: modes) predicted at least once", NONNEG,
                 "classes", per_class=float),
         quality("class_kl", "lower", "KL(predicted class histogram ‖ the split's label histogram)", NONNEG,
                 "nats"),  # every label of the evaluation split (ctx.real_labels), not protocol n_real's subset
         quality("class_kl_uniform", "lower", "KL(predicted class histogram ‖ uniform)", NONNEG, "nats",
                 per_class=math.log)])
def _classes(real, fake, ctx):
    c = ctx.num_classes
    pred = torch.bincount(fake.logits.argmax(1), minlength=c).double()
    ref = torch.bincount(ctx.real_labels, minlength=c).double()
    p, q = pred / pred.sum(), ref / ref.sum()
    nz = p > 0
    kl = float((p[nz] * (p[nz] / q[nz]).log()).sum()) if bool((q[nz] > 0).all()) else math.inf
    kl_uniform = float((p[nz] * (p[nz] * c).log()).sum())
    return {"classes_covered": int((pred > 0).sum()), "class_kl": kl, "class_kl_uniform": kl_uniform}


@metric("class_accuracy", ("logits", "conditional"), "share of conditional samples classified as asked; worst class",
        [quality("class_accuracy", "higher", "share of conditional samples classified as the class asked", UNIT),
         quality("class_accuracy_min", "higher", "the same share for the worst class", UNIT)])
def _class_accuracy(real, fake, ctx):
    hit = (fake.logits.argmax(1) == fake.labels).double()
    per_class = [float(hit[fake.labels == c].mean()) for c in fake.labels.unique().tolist()]
    return {"class_accuracy": float(hit.mean()), "class_accuracy_min": min(per_class)}


@metric("wasserstein", ("samples",), "exact W1 and W2 between the empirical distributions (all samples, "
        "uniform weights; optimal transport)",
        [quality("w1", "lower", "exact 1-Wasserstein distance (optimal transport)", NONNEG, "data units"),
         quality("w2", "lower", "exact 2-Wasserstein distance (optimal transport)", NONNEG, "data units")])
def _wasserstein(real, fake, ctx):
    # every sample, weight 1/n_real and 1/n_fake (sizes may differ): see wasserstein.py
    return wasserstein(real.samples.flatten(1), fake.samples.flatten(1))


@metric("efficiency", ("generator",), "parameters, FLOPs/sample, sampling throughput, step time, peak memory",
        [auxiliary("g_params", "generator parameters", NONNEG, "parameters"),
         auxiliary("d_params", "discriminator parameters", NONNEG, "parameters"),
         auxiliary("g_flops_per_sample", "generator forward FLOPs per sample", NONNEG, "FLOPs"),
         auxiliary("samples_per_s", "sampling throughput", NONNEG, "samples/s"),
         auxiliary("sampling_batch", "batch of the throughput measurement", unit="samples"),
         auxiliary("sec_per_step", "median seconds per generator step in training", NONNEG, "s"),
         auxiliary("train_wall_s", "training wall time", NONNEG, "s"),
         auxiliary("peak_memory_bytes", "peak memory", NONNEG, "bytes"),
         auxiliary("peak_memory_kind", "what the peak memory measures")])
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


def default_metrics(kind: str, has_logits: bool) -> list[str]:
    """The metrics an evaluation computes when none are named (those that apply among these)."""
    if kind == "points":
        return ["modes", "wasserstein", "fid", "prdc"]
    return ["fid", "kid", "prdc"] + (["is", "classes", "class_accuracy"] if has_logits else [])


def applicable_metrics(kind: str, mixture: bool, labelled: bool, conditional: bool, has_logits: bool,
                       metrics: list[str] | None = None) -> list[str]:
    """The metrics (of those asked for, or the defaults) an evaluation of such data will compute."""
    have = {"features": True, "logits": has_logits, "mixture": mixture and kind == "points", "labels": labelled,
            "samples": kind == "points", "generator": True, "conditional": conditional}
    return [m for m in metrics or default_metrics(kind, has_logits)
            if m in METRICS and all(have[n] for n in METRICS[m].needs)]


def applicable_values(kind: str, mixture: bool, labelled: bool, conditional: bool, has_logits: bool,
                      metrics: list[str] | None = None) -> list[str]:
    """The quality values an evaluation will produce, known before anything runs (to validate a study's
    primary metric): from the data's traits, the extractor and the metrics asked for (or the defaults)."""
    return [v for m in applicable_metrics(kind, mixture, labelled, conditional, has_logits, metrics)
            for v in METRICS[m].values if is_quality(v)]


REAL_MIN = 2  # every evaluation fits (and caches) the real set's mean and N-1 covariance


def size_problem(names: list[str], n_real: int, n_fake: int, real: str = "the reference set",
                 fake: str = "the generated set") -> tuple[str, str | None] | None:
    """Why sets of these sizes (``real``, ``fake``: how to name them) cannot be scored by these metrics, and
    the metric that cannot (None: no evaluation can); None when they can. Said before any work."""
    if n_real < REAL_MIN:
        return (f"{real} holds {n_real} real sample{'s' * (n_real != 1)}; an evaluation needs at least "
                f"{REAL_MIN} (their mean and covariance)"), None
    for name in names:
        least_real, least_fake = METRICS[name].min_rows if name in METRICS else (1, 1)
        if n_real < least_real:
            return f"metric '{name}' needs at least {least_real} real samples; {real} holds {n_real}", name
        if n_fake < least_fake:
            return f"metric '{name}' needs at least {least_fake} generated samples; {fake} holds {n_fake}", name
    return None


def check_names(names: list[str] | None) -> None:
    """Refuse unknown metric names (before any feature is extracted)."""
    for name in names or []:
        if name not in METRICS:
            raise UserError(f"unknown metric '{name}'{did_you_mean(name, METRICS)}; valid: {', '.join(METRICS)}{PLUGIN_HINT}")


def compute(names: list[str], real: Extracted, fake: Extracted, ctx: Context) -> dict[str, float]:
    ok = available(real, fake, ctx)
    out: dict[str, float] = {}
    check_names(names)
    for name in names:
        if not ok[name]:
            needs, most = METRICS[name].needs, max(len(real.features), len(fake.features))
            dropped = fake.samples is None or ("samples" in needs and real.samples is None)
            kept_only = "samples" in needs or ("mixture" in needs and ctx.modes is not None)
            if dropped and kept_only and most > SAMPLES_KEPT:
                raise UserError(f"metric '{name}' needs the raw samples, which are kept only for sets of at "
                                f"most {SAMPLES_KEPT:,} (this evaluation has {most:,}); use fewer samples")
            raise UserError(f"metric '{name}' needs {' and '.join(METRICS[name].needs)}, which this evaluation "
                            "does not have (check the extractor and the data)")
        values = METRICS[name].fn(real, fake, ctx)
        undeclared = set(values) - set(METRICS[name].values)
        if undeclared:  # nothing could rank, bound or test them: refused, not stored
            raise UserError(f"metric '{name}' returned {', '.join(sorted(undeclared))}, which it does not declare; "
                            "declare every value with quality(...) or auxiliary(...) in its @metric")
        out.update(values)
    return out
