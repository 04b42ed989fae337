"""Statistics across seeds: means with confidence intervals, paired comparisons, win rates, ranks.

For each dataset, variant, metric and checkpoint choice ('best' by the run's primary metric, or
'final'): mean, sample std (ddof 1) and a 95 % confidence interval from Student's t with n-1 degrees
of freedom. Pairs of variants are compared on the seeds both finished: paired t-test
(scipy.stats.ttest_rel, two-sided), or the exact sign test where every seed differs by the same amount
(the t statistic is then undefined, and scipy's p of 0 would make 2 seeds significant), Holm-adjusted over
all pairs of the same dataset, metric and checkpoint; the win rate is the share of those seeds on which the first variant is better.
Directions and which numbers are quality (ranked, tested) come from ``metrics.declare``; auxiliary
numbers (spreads, sizes) get means and intervals but no rank and no test. Intervals are clipped to the
metric's declared bounds. Each pair also carries what it could have detected (``power.py``).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import defaultdict

import numpy as np
from scipy import stats

from ..metrics.declare import better, info
from .power import min_detectable, seeds_needed

ALPHA = 0.05


def mean_ci(values: list[float], level: float = 0.95, clip=None) -> dict:
    """Mean, std and Student-t interval; ``clip`` (a metric's Value.clip) keeps the interval inside the
    metric's bounds: the clipped interval contains the true mean whenever the t interval does.

    No interval (NaN bounds, ``no_spread``) when every value is the same: the t interval would be [x, x], a
    claim of certainty that three equal mode counts do not make (such zero-width intervals covered the true
    mean of a 3-seed mode count 77 % of the time, benchmarks/verdict_calibration.py)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    std = float(x.std(ddof=1))
    if no_spread(std, mean):
        return {"n": n, "mean": mean, "std": std, "ci_low": math.nan, "ci_high": math.nan, "no_spread": True}
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n))
    low, high = mean - half, mean + half
    if clip is not None:
        low, high = clip(low), clip(high)
    return {"n": n, "mean": mean, "std": std, "ci_low": low, "ci_high": high,
            "clipped": (low, high) != (mean - half, mean + half)}


def no_spread(std: float, mean: float) -> bool:
    """The same value on every seed, up to float32 rounding of the stored values (1e-6 of the magnitude)."""
    return std <= 1e-6 * max(abs(mean), 1e-300)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def per_seed_values(evals: list[dict], checkpoint: str) -> dict:
    """{(dataset, metric): {variant: {seed: value}}} at the tagged checkpoint of each run."""
    table: dict = defaultdict(lambda: defaultdict(dict))
    for e in evals:
        if checkpoint in e["tags"] and e["value"] is not None and math.isfinite(e["value"]):
            table[(e["dataset"], e["metric"])][e["variant"]][e["seed"]] = e["value"]
    return table


def summarize(evals: list[dict], checkpoints=("best", "final"), classes: dict | None = None) -> dict:
    """Leaderboard rows and pairwise comparisons for every dataset, metric and checkpoint choice. ``classes``:
    {dataset: its declared number of modes or classes}, which bounds some metrics' intervals (8 modes of 8)."""
    board, pairs = [], []
    for ckpt in checkpoints:
        for (dataset, metric), by_variant in sorted(per_seed_values(evals, ckpt).items()):
            clip = info(metric).clip_for((classes or {}).get(dataset))
            rows = [{"dataset": dataset, "metric": metric, "checkpoint": ckpt, "variant": v,
                     **mean_ci(list(seeds.values()), clip=clip)} for v, seeds in sorted(by_variant.items())]
            quality = info(metric).quality
            for row in rows:  # competition ranking: ties share the better rank; auxiliary numbers get none
                row["rank"] = 1 + sum(better(metric, other["mean"], row["mean"]) for other in rows) if quality else None
            board += rows
            if not quality:
                continue
            comps = []
            for a, b in itertools.combinations(sorted(by_variant), 2):
                common = sorted(set(by_variant[a]) & set(by_variant[b]))
                xa = np.array([by_variant[a][s] for s in common])
                xb = np.array([by_variant[b][s] for s in common])
                test = "t"  # or "sign"; "equal": no difference on any seed (p = 1); "none": < 2 paired seeds
                if len(common) >= 2 and same_difference(xa, xb):
                    # every seed differs by the same amount (8 vs 7 modes, or 0.97 vs 0.96, on each): the t
                    # statistic is infinite or rounding noise, p ~ 0, "significant" at 2 seeds; the exact sign
                    # test needs no spread
                    p, test = sign_test_p(len(common)), "sign"
                elif len(common) >= 2 and np.any(xa != xb):
                    with warnings.catch_warnings():  # near-identical samples: scipy warns, p is still defined
                        warnings.simplefilter("ignore", RuntimeWarning)
                        p = float(stats.ttest_rel(xa, xb).pvalue)
                    p = 1.0 if math.isnan(p) else p
                else:  # t would be 0/0 (scipy: NaN); nothing to test
                    p, test = (1.0, "equal") if len(common) >= 2 else (math.nan, "none")
                wins = sum(better(metric, u, w) for u, w in zip(xa, xb))
                losses = sum(better(metric, w, u) for u, w in zip(xa, xb))  # ties count for neither
                diff = mean_ci(list(xa - xb), clip=_difference_clip(metric))  # the verdict's spread
                comps.append({"dataset": dataset, "metric": metric, "checkpoint": ckpt, "a": a, "b": b,
                              "n": len(common), "mean_diff": diff["mean"], "sd_diff": diff["std"],
                              "diff_ci_low": diff["ci_low"], "diff_ci_high": diff["ci_high"],
                              "p": p, "test": test, "win_rate_a": wins / len(common) if common else math.nan,
                              "win_rate_b": losses / len(common) if common else math.nan})
            valid = [c for c in comps if not math.isnan(c["p"])]
            for c, adj in zip(valid, holm([c["p"] for c in valid])):
                c["p_holm"] = adj
                c["significant"] = adj < ALPHA
                c["pairs_tested"], c["alpha_power"] = len(valid), ALPHA / len(valid)  # Holm's strictest step
                c["min_detectable"] = min_detectable(c["n"], c["sd_diff"], c["alpha_power"])
                c["seeds_needed"] = seeds_needed(c["mean_diff"], c["sd_diff"], c["alpha_power"])
            for c in comps:  # a pair with no test keeps every field, null in results.json
                c.setdefault("p_holm", math.nan)
                c.setdefault("significant", False)
                c.setdefault("pairs_tested", None)
                c.setdefault("alpha_power", math.nan)
                c.setdefault("min_detectable", math.nan)
                c.setdefault("seeds_needed", None)
            pairs += comps
    return {"leaderboard": board, "pairs": pairs}


def _difference_clip(metric: str):
    """``mean_ci``'s clip for a difference of two values of ``metric``: within +-(its range) when it has two
    bounds (a difference of two shares lies in [-1, 1], as a share's interval is kept in [0, 1]); else none."""
    low, high = info(metric).bounds
    if low is None or high is None:
        return None
    span = high - low
    return lambda x: min(max(x, -span), span)


def same_difference(xa: np.ndarray, xb: np.ndarray) -> bool:
    """All paired differences equal and nonzero, up to rounding: their range is within 1e-9 of the values'
    magnitude (float rounding is ~1e-16 of it; no measured spread is that small)."""
    d = xa - xb
    scale = max(float(np.abs(xa).max()), float(np.abs(xb).max()))
    return bool(np.ptp(d) <= 1e-9 * scale and np.abs(d).min() > 1e-9 * scale)


def sign_test_p(n: int) -> float:
    """Two-sided exact sign test when all n paired differences have one sign: 2 * 0.5^n (capped at 1)."""
    return min(1.0, 2.0 ** (1 - n))


def _sign_sentence(pair: dict) -> str:
    if pair.get("test") != "sign":
        return ""
    text = ("Every seed differed by the same amount (zero spread: the t-test is undefined), so p is the exact sign "
            "test's")
    if pair["significant"]:
        return text + "."
    need = next(n for n in range(2, 64) if sign_test_p(n) < pair.get("alpha_power", ALPHA))
    return text + f", at least {sign_test_p(pair['n']):.2g} at {pair['n']} seeds; {need} seeds all one way would be needed."


def _g(x: float) -> str:
    return f"{x:.3g}"


def p_text(p: float | None) -> str:
    """A p-value as every sentence and table of the report prints it: two significant figures, or as many more
    as it takes not to round across α (0.0496 beside "beats" is not printed as 0.05); "–" when there is none."""
    if p is None or not math.isfinite(p):
        return "–"
    for digits in range(2, 8):
        text = f"{p:.{digits}g}"
        if (float(text) < ALPHA) == (p < ALPHA):
            break
    return text


def mdd_text(x: float | None) -> str:
    """A smallest detectable difference, as the power sentence and the table of pairs print it."""
    return _g(x) if x is not None and math.isfinite(x) else "–"


def power_sentence(pair: dict) -> str:
    """What a non-significant comparison could have seen, and what a decisive answer would take."""
    mdd = pair.get("min_detectable", math.nan)
    if mdd is None or not math.isfinite(mdd):
        return ""
    low, high = info(pair["metric"]).bounds
    span = high - low if low is not None and high is not None else math.inf
    # the observed spread stands in for the true one, which at few seeds it more often undershoots (the table of
    # pairs' note: a stated difference is found about 68 % of the time at 3 seeds), so the 80 % is conditional
    how = (f"80 % power, paired t-test at α = {_g(pair['alpha_power'])}, if the spread of these paired differences "
           "is the true one")
    if mdd > span:  # e.g. 4.7 on a share in [0, 1]: say what it means instead of an impossible number
        text = (f"With {pair['n']} seeds this study could not have detected any difference {pair['metric']} can "
                f"show: it would have needed {_g(mdd)}, and the range is {_g(low)} to {_g(high)} ({how})")
    else:
        text = f"With {pair['n']} seeds this study could only have detected a difference of {_g(mdd)} or more ({how})"
    need = pair.get("seeds_needed")
    if need is None:
        return text + "; the observed difference is too small for any practical number of seeds."
    if need <= pair["n"]:
        return text + "."
    return text + f"; a difference of {_g(abs(pair['mean_diff']))}, as observed, would need about {need} seeds."


def winner_loser(pair: dict) -> tuple[str, str]:
    """The pair's variants, the one with the better mean first (b first on a tie)."""
    return (pair["a"], pair["b"]) if better(pair["metric"], pair["mean_diff"], 0.0) else (pair["b"], pair["a"])


def verdict(pair: dict) -> str:
    """Plain sentences for one comparison (with its power when the difference is not significant), ending
    with a full stop so that more can follow."""
    where = f"on {pair['metric']} ({pair['checkpoint']} checkpoint)"
    if pair["n"] < 2:
        return f"{pair['a']} vs {pair['b']} {where}: too few paired seeds ({pair['n']}) to compare."
    winner, loser = winner_loser(pair)
    a_wins = winner == pair["a"]
    if not pair["significant"]:
        # the better mean first and the difference signed from it, as the report's other sentences do
        diff = (pair["mean_diff"] if a_wins else -pair["mean_diff"]) + 0.0  # a tie: +0, not -0.0's "-0"
        spread = _spread(pair, flip=not a_wins, signed=True)
        return (f"{winner} vs {loser} {where}: no significant difference (mean {winner} − {loser}: "
                f"{diff:+.3g}{', ' + spread if spread else ''}, Holm-adjusted p = {p_text(pair['p_holm'])}, "
                f"n = {pair['n']} seeds). "
                + " ".join(filter(None, [_seed_majority(pair, winner, loser), power_sentence(pair),
                                         _sign_sentence(pair)]))).strip()
    # the winner's share of seeds it is strictly better on: a tie is a win for neither
    share = pair["win_rate_a"] if a_wins else pair["win_rate_b"]
    spread = _spread(pair, flip=pair["mean_diff"] < 0, signed=False)
    return (f"{winner} beats {loser} {where} by {abs(pair['mean_diff']):.3g} "
            f"({spread + '; ' if spread else ''}Holm-adjusted p = {p_text(pair['p_holm'])}, "
            f"wins {share:.0%} of {pair['n']} seeds). " + _sign_sentence(pair)).strip()


def _seed_majority(pair: dict, winner: str, loser: str) -> str:
    """A sentence when most paired seeds favour the variant with the worse mean (one collapsed seed can outweigh
    two better ones): the verdict names the better mean first (``winner_loser``), and the report's history
    sentence ("ahead at every evaluation") compares means too, so without it both read as if the first were
    better seed by seed."""
    rate = {pair["a"]: pair["win_rate_a"], pair["b"]: pair["win_rate_b"]}
    if rate[winner] is None or rate[loser] is None:
        return ""
    won, lost = round(rate[winner] * pair["n"]), round(rate[loser] * pair["n"])
    if lost <= won:
        return ""
    return (f"By seed the order is the other way: {loser} is better on {lost} of {pair['n']} paired seeds, "
            f"{winner} on {won}; {winner}'s lead is in the mean only.")


def _spread(pair: dict, flip: bool, signed: bool) -> str:
    """The spread of a verdict's difference: the pair's 95 % Student t interval of the mean paired difference
    (``summarize``: per comparison, not Holm-adjusted, kept within the differences a bounded metric can show),
    negated with ``flip`` when the sentence states b − a. "" for a sign-test pair (every seed differed by the
    same amount: ``_sign_sentence`` says so) or one without an interval (fewer than two paired seeds, or one
    difference on every seed)."""
    low, high = pair.get("diff_ci_low"), pair.get("diff_ci_high")
    if pair.get("test") == "sign" or low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    if flip:
        low, high = -high, -low
    form = "+.3g" if signed else ".3g"
    return f"95 % CI {format(low + 0.0, form)} to {format(high + 0.0, form)} unadjusted"
