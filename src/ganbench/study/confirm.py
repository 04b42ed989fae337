"""Confirm a study's verdicts: the same spec trained longer on fresh seeds, and which orders survive.

``ganbench study confirm DIR --budget-x 3`` writes a new study whose spec is DIR's with the budget (and the
evaluation interval) times F and seeds none of DIR's runs used, plus a ``confirms:`` block: DIR's
pairwise verdicts on each dataset's primary metric at the final checkpoint. The new study's report then
says, for every one of them, whether the order keeps its sign and whether a significant verdict is
confirmed (the rule below). Held-out seeds and a longer budget are the two ways a quick verdict most often
fails (``benchmarks/verdict_stability.py``: 75 of the quick preset's 90 orders kept their sign at 3x, 67 on
fresh seeds); this is the test a sceptical reader would ask for, run on the user's own study.

The block is part of the new spec (a study directory stays data: no path to DIR is stored or followed),
and is left out of the spec's identity, like ``reference:``: it changes no result.

    confirms:
      study: quick                    # the study confirmed, its spec digest, budget and seeds
      spec_digest: a06eda969fa14724
      budget: {steps: 1200}
      seeds: [0, 1, 2]
      verdicts:                       # a vs b: mean of a − b over paired seeds, Holm-adjusted p
        - {dataset: ring8, metric: high_quality, a: lsgan, b: ns, mean_diff: 0.026, p_holm: 1.0,
           significant: false, n: 3}

Rule: an order is *kept* when the confirming study's mean difference has the same sign (strictly). The first
study's significant verdicts are the confirmation's pre-registered hypotheses, each with its direction: a
verdict is *confirmed* when the one-sided test in that direction (the pair's paired t-test or exact sign test,
whose two-sided p is twice the one-sided one), Holm-adjusted over all the dataset's significant verdicts (one
that cannot be tested here, with fewer than two paired seeds, counts as p = 1), is below 5 %. Only those
verdicts were chosen before the look, so the family is theirs, not every pair of the confirming study: with
equal variants about 5 % of confirmations at most confirm anything on a dataset
(``benchmarks/verdict_calibration.py``; the family is per dataset, as the first study's verdicts were, so with
two datasets up to about 10 % confirm something on one of them; on a coarse count the t-test on tied integer
differences is slightly liberal one-sided too: exactly 5.8 % on a fair 7-or-8 count at 7 seeds, at most 4.8 %
on the 5-8-of-8 mode count), and a real difference is confirmed far more often than by the study's own
two-sided test over all its pairs (which the rows keep as ``significant_now``, for orders not called
significant before). Orders of exactly zero state nothing and are not listed.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from ..errors import UserError
from ..metrics.declare import better
from .budget import Budget
from .stats import ALPHA, holm


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str
    metric: str
    a: str
    b: str
    mean_diff: float
    p_holm: float | None = None
    significant: bool
    n: int = Field(ge=0)


class Confirms(BaseModel):
    model_config = ConfigDict(extra="forbid")
    study: str
    spec_digest: str
    budget: Budget
    seeds: list[int]
    verdicts: list[Verdict]


def origin_verdicts(views) -> list[Verdict]:
    """Every pair's verdict on each dataset's primary metric at the final checkpoint (report views)."""
    out = []
    for view in views:
        for p in view.pairs:
            if p["metric"] == view.primary and p["checkpoint"] == "final" and math.isfinite(p["mean_diff"]) \
                    and p["mean_diff"] != 0:
                p_holm = p["p_holm"] if math.isfinite(p["p_holm"]) else None
                out.append(Verdict(dataset=view.name, metric=p["metric"], a=p["a"], b=p["b"],
                                   mean_diff=p["mean_diff"], p_holm=p_holm, significant=p["significant"], n=p["n"]))
    return out


MAX_BUDGET_X = 1000  # a confirmation trains longer, not forever; beyond it a step count overflows and the name needs "e+"


def confirmation_spec(spec, views, budget_x: float, n_seeds: int | None = None, first_seed: int | None = None):
    """``spec`` (a StudySpec) trained ``budget_x`` times longer on ``n_seeds`` fresh seeds (default: as many
    as it had) from ``first_seed`` (default: the one after its largest), carrying its verdicts; named
    ``NAME-confirm-xF``. A confirmation knows of no earlier one: a second confirmation of the same study
    needs ``first_seed`` past the first's seeds, or it trains and re-tests on those again."""
    from .spec import StudySpec, check_seed_count

    if n_seeds is not None:
        check_seed_count(n_seeds)  # before any list of them is built
    if not math.isfinite(budget_x) or not 0 < budget_x <= MAX_BUDGET_X:
        raise UserError(f"--budget-x must be a number in (0, {MAX_BUDGET_X}]; got {budget_x}")
    if spec.budget.amount() is None:
        raise UserError("this study's spec sets no budget (steps, seconds or flops): nothing to scale")
    used = spec.seed_list()
    count = len(used) if n_seeds is None else n_seeds
    if count < 2:
        raise UserError(f"--seeds must be at least 2 (a paired test needs two seeds); got {count}")
    verdicts = origin_verdicts(views)
    if not verdicts:
        raise UserError(f"study {spec.name!r} has no verdict to confirm (no pair of variants with paired seeds "
                        "and a nonzero difference on a primary metric)")
    start = max(used) + 1 if first_seed is None else first_seed
    if overlap := sorted(set(used) & set(range(start, start + count))):
        raise UserError(f"--first-seed {start}: seed {overlap[0]} was used by study {spec.name!r}, whose verdicts "
                        f"are re-tested; a confirmation needs fresh seeds (its largest is {max(used)})")
    confirms = Confirms(study=spec.name, spec_digest=spec.digest(), budget=spec.budget, seeds=used, verdicts=verdicts)
    confirming = spec.times(budget_x).model_copy(update={"name": f"{spec.name}-confirm-x{budget_x:g}"})
    return StudySpec.model_validate({**confirming.model_dump(), "seeds": list(range(start, start + count)),
                                     "confirms": confirms.model_dump()})  # within the seed and run bounds


MAX_EVERY_TRIES = 10_000  # origin eval.every values tried; a budget scaled by less than about 1/5,000 is not checked


def check_origin(spec) -> None:
    """Refuse (one line) a confirming spec (``confirms:``) that is not its block's study with only the budget (and
    eval.every with it), the seeds and the name changed, as ``study confirm`` writes it: the block's
    ``spec_digest`` names the spec that made the verdicts, so a hand-written or edited confirmation whose recipe,
    evaluation, datasets or variants differ would re-test them under another protocol. Checked before a new
    confirming study runs (an old one resumed keeps its block: check_matches)."""
    block, now = spec.confirms, spec.budget
    then = block.budget
    if then.kind() != now.kind() or not then.amount() or not now.amount():
        raise UserError(f"confirms: this study's budget is in {now.kind()}, that of {block.study!r} in {then.kind()}; "
                        "a confirmation trains the same kind of budget longer (`ganbench study confirm`)")
    factor = now.amount() / then.amount()
    every = spec.eval.every
    if every is None:
        candidates = [None]
    else:  # max(1, round(e * factor)) == every (spec.times): e lies within 1 / factor of every / factor
        lo, hi = max(1, math.floor((every - 1) / factor)), math.ceil((every + 1) / factor)
        candidates = range(lo, min(hi, lo + MAX_EVERY_TRIES) + 1)
    seeds = [block.seeds] + ([len(block.seeds)] if block.seeds == list(range(len(block.seeds))) else [])
    origin = spec.model_copy(update={"name": block.study, "budget": then, "confirms": None})
    for e in candidates:
        for s in seeds:
            trial = origin.model_copy(update={"seeds": s, "eval": spec.eval.model_copy(update={"every": e})})
            if trial.digest() == block.spec_digest:
                return
    raise UserError(f"confirms: this spec is not {block.study!r} (spec {block.spec_digest}) with another budget and "
                    "fresh seeds, so its verdicts would be re-tested under another recipe or evaluation; run the "
                    "confirmation `ganbench study confirm` writes, changing only --budget-x and --seeds")


def check_confirms(confirms: Confirms, datasets: set[str], variants: set[str], seeds: set[int]) -> None:
    """Every dataset and variant the block names exists in the study, and none of the seeds that chose its
    verdicts is one of the study's: the re-test is on fresh seeds (before any run starts)."""
    for v in confirms.verdicts:
        if v.dataset not in datasets:
            raise UserError(f"confirms: dataset {v.dataset!r} is not in this study (it has: {', '.join(sorted(datasets))})")
        for name in (v.a, v.b):
            if name not in variants:
                raise UserError(f"confirms: variant {name!r} is not in this study (it has: "
                                f"{', '.join(sorted(variants))})")
    if reused := sorted(seeds & set(confirms.seeds)):
        raise UserError(f"confirms: seed{'s' if len(reused) > 1 else ''} {', '.join(map(str, reused))} of this "
                        f"study chose the verdicts of {confirms.study!r} it re-tests; a confirmation needs seeds "
                        f"that study did not use (it used {', '.join(map(str, confirms.seeds))})")


def confirmation_rows(confirms: Confirms, dataset: str, pairs: list[dict]) -> list[dict]:
    """One row per confirmed verdict of ``dataset``: the order as the first study saw it (better mean first,
    difference signed from it), the confirming study's difference in the same orientation, and for each
    significant verdict its pre-registered re-test (``p_retest``: one-sided, Holm over all the dataset's
    significant verdicts, an untestable one counted as p = 1; ``confirmed``: below 5 %)."""
    rows = []
    for v in confirms.verdicts:
        if v.dataset != dataset:
            continue
        first, second = (v.a, v.b) if better(v.metric, v.mean_diff, 0.0) else (v.b, v.a)
        sign = 1.0 if first == v.a else -1.0
        then = sign * v.mean_diff
        now = p_now = p_one = None
        significant_now = False
        for p in pairs:
            if p["metric"] == v.metric and p["checkpoint"] == "final" and {p["a"], p["b"]} == {v.a, v.b} \
                    and math.isfinite(p["mean_diff"]):
                now = p["mean_diff"] if p["a"] == first else -p["mean_diff"]
                p_now, significant_now = p["p_holm"], p["significant"]
                p_one = one_sided(p["p"], now * then > 0, p["test"])
        kept = None if now is None else now * then > 0
        rows.append({"dataset": dataset, "metric": v.metric, "first": first, "second": second, "then": then,
                     "p_then": v.p_holm, "significant_then": v.significant, "n_then": v.n, "now": now,
                     "p_now": p_now, "significant_now": bool(significant_now and kept), "kept": kept,
                     # significant here with the other variant ahead: not a confirmation, and not "not significant"
                     "significant_reversed": bool(significant_now and kept is False),
                     "p_one": p_one if v.significant else None, "p_retest": None, "confirmed": False})
    # the family is every significant verdict registered for this dataset, fixed before this study ran: one
    # that cannot be tested here (fewer than two paired seeds) stays in it as not confirmed (p = 1), so a
    # failed run cannot make the others' threshold looser
    registered = [r for r in rows if r["significant_then"]]
    for r, adjusted in zip(registered, holm([1.0 if r["p_one"] is None else r["p_one"] for r in registered])):
        if r["p_one"] is not None:
            r["p_retest"], r["confirmed"] = adjusted, adjusted < ALPHA
    return rows


def one_sided(p_two: float, same_direction: bool, test: str = "t") -> float | None:
    """The one-sided p in the predicted direction from a symmetric test's two-sided p (the paired t-test's,
    or the exact sign test's: 2 * 0.5^n): half of it when the difference lies that way; else 1 minus half for
    the t-test, and 1 for the sign test (it is used only where all n seeds differ one way: against the
    prediction, no outcome is less favourable to it); None where the pair had no test (fewer than two paired
    seeds)."""
    if not math.isfinite(p_two):
        return None
    if same_direction:
        return p_two / 2
    return 1.0 if test == "sign" else 1 - p_two / 2


def tally(rows: list[dict]) -> dict:
    """Counts over confirmation rows: orders kept, and significant verdicts confirmed by their re-test."""
    judged = [r for r in rows if r["kept"] is not None]
    significant = [r for r in judged if r["significant_then"]]
    return {"orders": len(judged), "kept": sum(r["kept"] for r in judged), "significant": len(significant),
            "significant_kept": sum(r["kept"] for r in significant),
            "confirmed": sum(r["confirmed"] for r in significant),
            "new_significant": sum(r["significant_now"] for r in judged if not r["significant_then"]),
            "missing": len(rows) - len(judged)}
