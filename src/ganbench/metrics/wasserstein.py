"""Exact Wasserstein-1 and -2 distances between two empirical distributions (e.g. 2-D samples).

Convention: the empirical W_p with uniform weights, every sample used: n real points of weight 1/n each
against m fake points of weight 1/m each (n and m may differ), W_p = (min over transport plans P with
those marginals of sum_ij P_ij |x_i - y_j|^p)^(1/p), the p-th root of the optimal cost (the convention of
POT's ``ot.emd2`` with uniform weights). Row order does not matter.

With n = m the optimal plan can be taken to be a permutation (Birkhoff), so W_p = (min over permutations
pi of mean_i |x_i - y_pi(i)|^p)^(1/p). Two exact solvers give that minimum:

* POT's network simplex (``ot.emd2``), about 2x faster than the Hungarian algorithm at n = 1,000 ring8
  points on this project's 2-core CPU (W1 2.0x, W2 1.9x idle: ``benchmarks/metrics.py``, the README's
  Benchmarks); used when it reports convergence (any n, m);
* otherwise SciPy's Hungarian algorithm (``scipy.optimize.linear_sum_assignment``), also the tests'
  reference (with a brute force over all permutations for small n). For n != m it solves the same problem
  with each real point repeated lcm(n, m)/n times and each fake point lcm(n, m)/m times (a uniform problem
  on lcm(n, m) points each), which it refuses above MAX_REPLICATED points.

Both solve the same linear program exactly; their optima agree to rounding (1e-15 relative measured).

Scale: the solvers' tolerances are absolute, so on tiny costs the simplex reports an optimum that is not
one (W2 1% off at coordinates ~1e-7, W1 60% off at ~1e-15), and on huge ones |x - y|^2 overflows. So the
samples are divided by a power of two near their largest |value| and the distances by one near their
largest (both exact in floating point), the solvers see costs in [0, 4], and the result is multiplied back:
W_p(c * x, c * y) = c * W_p(x, y) to rounding at any scale.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import UserError
from .frechet import _as_float64, check_features

# the simplex's pivot limit; POT's default (100,000) stops short of the optimum for n in the thousands
MAX_PIVOTS = 50_000_000
# the largest lcm(n, m) the Hungarian fallback expands unequal sets to (a 4,000 x 4,000 cost: 128 MB)
MAX_REPLICATED = 4_000


def wasserstein(a, b) -> dict:
    xa, xb = _as_float64(a), _as_float64(b)
    check_features(xa, "a", 1), check_features(xb, "b", 1)
    x, y = xa.numpy(), xb.numpy()
    if x.shape[1] != y.shape[1]:
        raise UserError(f"Wasserstein needs samples of equal dimension; got {x.shape} and {y.shape}")
    dist, scale = unit_distances(x, y)
    out = {f"w{p}": float(scale * optimal_mean_cost(dist ** p) ** (1 / p)) for p in (1, 2)}
    if not all(math.isfinite(v) for v in out.values()):
        big = max(np.abs(x).max(), np.abs(y).max())
        raise UserError(f"Wasserstein: the samples' values are too large (|value| up to {big:.3g}): "
                        "their distances overflow float64")
    return out


def _power_of_two_below(v: float) -> float:
    """The power of two in (v/2, v] (v > 0 finite): dividing by it is exact and never overflows."""
    return math.ldexp(0.5, math.frexp(v)[1])


def unit_distances(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """The distances between the rows of x and y divided by ``scale`` (a power of two) so that the largest
    is in [1, 2): ``cdist(x, y) == scale * dist`` up to rounding, without overflow or tiny costs."""
    big = max(float(np.abs(x).max()), float(np.abs(y).max()))
    if big == 0:
        return np.zeros((len(x), len(y))), 1.0
    s = _power_of_two_below(big)
    from scipy.spatial.distance import cdist  # here, not at the top: scipy.optimize and
    # scipy.spatial take ~1 s to import, which every pool worker paid at spawn, whether it measured W or not

    dist = cdist(x / s, y / s)
    top = float(dist.max())
    if top == 0:
        return dist, 1.0
    t = _power_of_two_below(top)
    return dist / t, s * t


def optimal_mean_cost(cost: np.ndarray) -> float:
    """min over transport plans P with uniform marginals (1/n rows, 1/m columns) of sum_ij P_ij cost_ij,
    exactly (for n = m, min over permutations pi of mean_i cost[i, pi(i)]): POT's simplex when it is
    installed and converged, else the Hungarian algorithm."""
    found = simplex(cost)
    return found if found is not None else hungarian(cost)


def hungarian(cost: np.ndarray) -> float:
    """The same minimum by SciPy's Hungarian algorithm (always available; the tests' reference); for
    n != m on the problem with each row repeated lcm/n and each column lcm/m times."""
    n, m = cost.shape
    if n != m:
        size = math.lcm(n, m)
        if size > MAX_REPLICATED:
            raise UserError(f"exact Wasserstein between {n} and {m} samples: POT's solver is missing or "
                            f"stopped short, and the fallback would need {size:,} x {size:,} costs (at most "
                            f"{MAX_REPLICATED:,}); use equal sample counts or install POT")
        cost = np.repeat(np.repeat(cost, size // n, axis=0), size // m, axis=1)
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    return float(np.mean(cost[rows, cols]))


def simplex(cost: np.ndarray) -> float | None:
    """The same minimum by POT's network simplex, or None where POT is missing or stops short."""
    try:
        import ot
    except ImportError:
        return None
    n, m = cost.shape
    with warnings.catch_warnings():  # a solve that stops short is not used (below), so its warning is noise
        warnings.simplefilter("ignore", UserWarning)
        value, log = ot.emd2(np.full(n, 1.0 / n), np.full(m, 1.0 / m), np.ascontiguousarray(cost),
                             numItermax=MAX_PIVOTS, log=True)
    if log.get("result_code") != 1 or log.get("warning"):  # 1: optimal; otherwise not a result
        return None
    return float(value)
