"""Speed and agreement of ganbench's metrics against the reference implementations, in one process.

For N x D synthetic features (default 10,000 x 2,048, two slightly different Gaussians):
* Fréchet distance from the same (mu, sigma): ours (Cholesky + symmetric eigenvalues) vs the
  pytorch-fid formula with ``scipy.linalg.sqrtm``. Targets: relative difference <= 1e-6, >= 10x.
* precision/recall/density/coverage (k=5): ours vs ``prdc.compute_prdc``. Targets: identical, >= 4x.
* exact W1 and W2 of ``--n-points`` 2-D samples (a ring8 generator's against the data's), at equal sizes
  and against 3/4 as many: POT's network simplex (ganbench's path) vs SciPy's Hungarian algorithm (its
  fallback). Target: equal to 1e-12.

    python benchmarks/metrics.py [--n 10000] [--d 2048] [--n-points 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np
from scipy import linalg

from ganbench.metrics.frechet import Gaussian, fit_gaussian, frechet_distance
from ganbench.metrics.prdc import prdc
from ganbench.metrics.wasserstein import hungarian, simplex


def scipy_frechet(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """The pytorch-fid computation (sqrtm of the product, eps offset if singular, real part)."""
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def timed(fn, *args, repeats=1):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--n-points", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    wasserstein_solvers(rng, args.n_points)
    mix = rng.standard_normal((args.d, args.d)) / np.sqrt(args.d)  # correlated features
    real = (rng.standard_normal((args.n, args.d)) @ mix).astype(np.float32)
    fake = (rng.standard_normal((args.n, args.d)) @ (mix * 1.05) + 0.01).astype(np.float32)

    g1, g2 = fit_gaussian(real), fit_gaussian(fake)
    ref, t_ref = timed(scipy_frechet, g1.mu, g1.sigma, g2.mu, g2.sigma)
    ours, t_ours = timed(frechet_distance, Gaussian(g1.mu, g1.sigma, g1.n), g2, repeats=3)
    print(f"Frechet {args.n}x{args.d}: ours {ours:.9g} ({t_ours:.2f}s) vs scipy sqrtm {ref:.9g} ({t_ref:.2f}s); "
          f"rel diff {abs(ours - ref) / abs(ref):.2e}; speed-up {t_ref / t_ours:.1f}x (target >= 10x)", flush=True)

    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample counts
        from prdc import compute_prdc

        ref_p, t_ref = timed(compute_prdc, real, fake, 5)
    ours_p, t_ours = timed(prdc, real, fake, 5)
    same = all(float(ref_p[k]) == ours_p[k] for k in ours_p)
    print(f"PRDC k=5 {args.n}x{args.d}: ours {t_ours:.2f}s vs prdc {t_ref:.2f}s; identical: {same} "
          f"{ours_p}; speed-up {t_ref / t_ours:.1f}x (target >= 4x)")


def wasserstein_solvers(rng, n: int) -> None:
    """Equal sizes, and n against 3n/4 (uniform weights 1/n, 1/m: the Hungarian reference solves the problem
    with rows and columns repeated to lcm(n, m))."""
    from ganbench.data.toy2d import ring_modes

    for m in (n, 3 * n // 4):
        real = ring_modes(8).numpy()[rng.integers(0, 8, n)] + 0.01 * rng.standard_normal((n, 2))
        fake = 0.9 * real[rng.permutation(n)[:m]] + 0.1 * rng.standard_normal((m, 2))  # a generator near the modes
        dist = np.linalg.norm(real[:, None] - fake[None], axis=2)
        for p in (1, 2):
            ref, t_ref = timed(hungarian, dist ** p, repeats=2)
            ours, t_ours = timed(simplex, dist ** p, repeats=2)
            if ours is None:
                print(f"W{p} {n} points: POT is not installed (or stopped short): ganbench uses the Hungarian "
                      "algorithm")
                return
            print(f"W{p} {n} vs {m} points: simplex {t_ours:.3f}s vs Hungarian {t_ref:.3f}s; rel diff "
                  f"{abs(ours - ref) / ref:.1e}; speed-up {t_ref / t_ours:.1f}x", flush=True)


if __name__ == "__main__":
    main()
