"""What a paired comparison could have detected: power of the paired t-test, the minimum detectable
difference at 80 % power and the number of seeds a decisive answer would need.

The test is two-sided at level ``alpha``; under a true mean difference ``delta`` of the paired
differences (spread ``sd``), the t statistic on n pairs follows a noncentral t with n-1 degrees of
freedom and noncentrality delta*sqrt(n)/sd. Since verdicts are Holm-adjusted over m pairs, ganbench
states power at alpha/m, the level Holm's first (strictest) step applies: a difference this large would
have been declared whatever the other pairs did.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize, stats

POWER = 0.8

# scipy's hooks behind the public methods (a distribution subclass's documented _ppf/_sf); a scipy without them
# takes the public path (same values, slower). tests/study/test_power.py pins that both paths agree exactly.
_T_PPF = getattr(stats.t, "_ppf", None)
_NCT_SF = getattr(stats.nct, "_sf", None)


@functools.lru_cache(maxsize=4096)
def _critical(alpha: float, df: int) -> float:
    """The two-sided test's critical t value. A report asks for it thousands of times with a handful of
    (alpha, df): each root search of ``min_detectable`` and ``seeds_needed`` evaluates the power dozens of
    times at one level. ``stats.t._ppf`` is the function ``stats.t.ppf`` applies to a valid quantile (then
    times scale 1 plus loc 0: the same value) without ppf's ~0.4 ms of argument handling."""
    q = 1 - alpha / 2
    return float(_T_PPF(q, df)) if 0 < q < 1 and _T_PPF else float(stats.t.ppf(q, df))


@functools.lru_cache(maxsize=65536)
def _power(df: int, nc: float, alpha: float) -> float:
    """Both tails of the noncentral t beyond the critical value. A report evaluates this ~13,000 times (each
    root search of the functions below); ``stats.nct._sf`` is what ``stats.nct.sf`` computes for valid
    arguments (df > 0, nc not NaN, x finite), minus ~0.6 ms of argument checking per call: the same values
    bit for bit (tests/study/test_power.py). Cached: brentq evaluates its bracket's ends again, every search
    at one level starts from nc = 0, and a study's best and final checkpoints often give the same pairs."""
    crit = _critical(alpha, df)
    # P(T > crit) + P(T < -crit); the lower tail as the upper tail of -T (scipy's nct.cdf gives NaN far out).
    # Both tails in one call (scipy evaluates each element as a scalar call would; the sum is in the same order)
    if math.isfinite(crit) and not math.isnan(nc) and _NCT_SF:
        upper, lower = _NCT_SF(crit, df, np.array([nc, -nc]))
    else:  # the public path's own answers for what _sf is not defined on
        upper, lower = stats.nct.sf(crit, df, [nc, -nc])
    return float(upper + lower)


def paired_power(n: int, delta: float, sd: float, alpha: float) -> float:
    if n < 2 or sd <= 0:
        return math.nan
    return _power(n - 1, abs(delta) * math.sqrt(n) / sd, alpha)


def min_detectable(n: int, sd: float, alpha: float, power: float = POWER) -> float:
    """The smallest |mean difference| detected with probability ``power`` (NaN when undefined)."""
    if n < 2 or not sd > 0:
        return math.nan
    high = sd
    while paired_power(n, high, sd, alpha) < power:
        high *= 2
    return float(optimize.brentq(lambda d: paired_power(n, d, sd, alpha) - power, 0.0, high, xtol=1e-12 * high))


def seeds_needed(delta: float, sd: float, alpha: float, power: float = POWER, limit: int = 10_000) -> int | None:
    """The fewest seeds (pairs) with which a true difference ``delta`` is found with probability ``power``;
    None when even ``limit`` seeds would not do (or there is no difference)."""
    if not sd > 0 or delta == 0 or not math.isfinite(delta):
        return None
    low, high = 2, 2
    while paired_power(high, delta, sd, alpha) < power:
        low, high = high, high * 2
        if high > limit:
            return None
    while low < high:  # power grows with n: bisect for the first n that reaches it
        mid = (low + high) // 2
        low, high = (mid + 1, high) if paired_power(mid, delta, sd, alpha) < power else (low, mid)
    return low
