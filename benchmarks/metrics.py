"""Speed and agreement of ganbench's metrics against the reference implementations, in one process.

For N x D synthetic features (default 10,000 x 2,048, two slightly different Gaussians):
* Fréchet distance from the same (mu, sigma): ours (Cholesky + symmetric eigenvalues) vs the
  pytorch-fid formula with ``scipy.linalg.sqrtm``. Targets: relative difference <= 1e-6, >= 10x.
* precision/recall/density/coverage (k=5): ours vs ``prdc.compute_prdc``. Targets: identical, >= 4x.
* exact W1 and W2 of ``--n-points`` 2-D samples (a ring8 generator's against the data's), at equal sizes
  and against 3/4 as many: POT's network simplex (ganbench's path) vs SciPy's Hungarian algorithm (its
  fallback). Target: equal to 1e-12.
* what one points evaluation's W costs, at ``--n-points`` (an evaluation's default is 2,500): importing POT
  in a fresh process that already holds torch (a pool worker; paid once per process), the distances, the
  W1 and the W2 solve (median of 3), and whether W1's optimal plan also solves W2 (it does not in general,
  so the two solves cannot share one).

    python benchmarks/metrics.py [--n 10000] [--d 2048] [--n-points 1000] [--only-wasserstein]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import time

import numpy as np
from scipy import linalg

from ganbench.metrics.frechet import Gaussian, fit_gaussian, frechet_distance
from ganbench.metrics.prdc import prdc
from ganbench.metrics.wasserstein import MAX_REPLICATED, hungarian, simplex


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
    ap.add_argument("--only-wasserstein", action="store_true", help="skip the Fréchet and PRDC cases")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    wasserstein_solvers(rng, args.n_points)
    wasserstein_cost(rng, args.n_points)
    if args.only_wasserstein:
        return
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
    for m in (n, 3 * n // 4):
        if math.lcm(n, m) > MAX_REPLICATED:  # the reference refuses it (a UserError stopped the benchmark)
            print(f"W {n} vs {m} points: skipped, the Hungarian reference would need lcm = {math.lcm(n, m):,} "
                  f"replicated points (at most {MAX_REPLICATED:,})")
            continue
        real, fake = _ring_pair(rng, n, m)  # a generator near the modes
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


def _ring_pair(rng, n: int, m: int):
    from ganbench.data.toy2d import ring_modes

    real = ring_modes(8).numpy()[rng.integers(0, 8, n)] + 0.01 * rng.standard_normal((n, 2))
    return real, 0.9 * real[rng.permutation(n)[:m]] + 0.1 * rng.standard_normal((m, 2))


def wasserstein_cost(rng, n: int) -> None:
    """Where the time of ganbench's W goes, and whether W1 and W2 could share one transport plan."""
    import subprocess
    import sys
    import warnings

    from ganbench.metrics.wasserstein import MAX_PIVOTS, unit_distances

    probe = "import time, torch; t = time.perf_counter(); import ot; print(time.perf_counter() - t)"
    imports = [float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                    check=True).stdout.split()[-1]) for _ in range(3)]
    print(f"import ot in a fresh process holding torch: median {np.median(imports):.2f}s of 3 "
          f"({', '.join(f'{t:.2f}' for t in imports)}); once per process", flush=True)
    import ot

    real, fake = _ring_pair(rng, n, n)
    (dist, _), t_dist = timed(unit_distances, real, fake, repeats=3)
    uniform = np.full(n, 1.0 / n)
    plans, line = {}, [f"W of {n} vs {n} ring8 points: distances {t_dist:.3f}s"]
    for p in (1, 2):
        times = []
        for _ in range(3):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                t = time.perf_counter()
                plans[p] = ot.emd(uniform, uniform, np.ascontiguousarray(dist ** p), numItermax=MAX_PIVOTS)
                times.append(time.perf_counter() - t)
        line.append(f"W{p} solve {np.median(times):.3f}s")
    print("; ".join(line) + " (median of 3)")
    best2, under1 = float(np.sum(plans[2] * dist ** 2)), float(np.sum(plans[1] * dist ** 2))
    print(f"W2's cost under W1's optimal plan / its optimum: {under1 / best2:.6f} (1 only if one plan "
          "solved both)", flush=True)


if __name__ == "__main__":
    main()
