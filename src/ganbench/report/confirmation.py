"""The report's Confirmation section: another study's verdicts, re-tested in this one on fresh seeds
(``study confirm``; the spec's ``confirms:`` block, study/confirm.py). A function of the ``DatasetView`` like
the sections in sections.py."""

from __future__ import annotations

from ..study.budget import amount_text
from ..study.confirm import confirmation_rows, tally
from ..study.extend import seeds_at_looks
from ..study.stats import p_text
from .view import DatasetView


def confirmation_rows_of(view: DatasetView) -> list[dict]:
    """This dataset's rows of the verdicts this study re-tests (spec ``confirms:``), or []."""
    if not view.confirming:
        return []
    return confirmation_rows(view.confirming["block"], view.name, view.pairs)


def confirmation(view: DatasetView) -> dict | None:
    """Another study's verdicts, re-tested here with a longer budget and fresh seeds (study/confirm.py)."""
    rows = confirmation_rows_of(view)
    if not rows:
        return None
    block, t = view.confirming["block"], tally(rows)
    then, now = block.budget, view.confirming["budget"]  # the first study's budget, and this one's
    orders, metric = t["orders"], rows[0]["metric"]
    summary = (f"Of {block.study}'s {orders} order{'' if orders == 1 else 's'} of two variants on {metric} "
               f"({_amount(then)}, seeds {_seeds(block.seeds)}), the sign held for {t['kept']} here ({_amount(now)}, "
               f"seeds {_seeds(view.confirming['seeds'])})" + (f": {t['kept'] / orders:.0%}" if orders else "")
               + " (between two equal variants the sign holds by chance at most half the time; less where tied values "
               "give a difference of exactly 0).")
    reversed_here = sum(r["significant_reversed"] for r in rows)  # significant here, the other variant ahead
    if t["significant"]:
        n, again = t["significant"], t["confirmed"]
        m = sum(r["p_retest"] is not None for r in rows)
        untested = (f"; {n - m} without two paired seeds here could not be tested and count"
                    " as not confirmed") if n > m else ""
        summary += (f" Of its {n} significant verdict{'s' if n > 1 else ''}, the sign held for {t['significant_kept']}, "
                    f"and {again or 'none'} {'is' if again <= 1 else 'are'} confirmed here (each re-tested one-sided in "
                    f"its direction, Holm over the {n} verdict{'s' if n > 1 else ''}{untested}).")
    else:
        summary += " None of its verdicts was significant: it claimed orders, not wins."
    if t["new_significant"]:
        summary += f" Significant here, though not there: {t['new_significant']}."
    if reversed_here:
        summary += f" Significant here in the other direction (any order): {reversed_here}."
    if t["missing"]:
        summary += f" Not comparable here (no paired seeds): {t['missing']}."
    if grown := view.looked_again:  # seeds added after its own results: not fixed before a look (extend.py)
        looks = seeds_at_looks(grown)
        summary += (f" But seeds were added to this study after it had results ({', then '.join(map(str, looks))} "
                    "seeds): if its first results prompted that, a verdict confirmed here is optimistic (optional "
                    "stopping), not a test fixed before any look.")
    table = [{"order": f"{r['first']} − {r['second']}", "then": f"{r['then']:+.3g}", "p_then": p_text(r["p_then"]),
              "sig_then": r["significant_then"], "now": f"{r['now']:+.3g}" if r["now"] is not None else "–",
              "p_now": p_text(r["p_now"]), "sig_now": r["significant_now"] or r["significant_reversed"],
              "p_retest": p_text(r["p_retest"]) if r["p_retest"] is not None else "–", "confirmed": r["confirmed"],
              "mark": "–" if r["kept"] is None else "✓" if r["kept"] else "✗"} for r in rows]
    x = now.amount() / then.amount() if then.kind() == now.kind() and then.amount() and now.amount() else None
    trained = "with another budget" if x is None else "longer" if x > 1 else "as long" if x == 1 else "for less"
    return {"study": block.study, "digest": block.spec_digest, "summary": summary, "rows": table, "metric": metric,
            "trained": f"trained {trained}"}  # --budget-x 1 or 0.5 is not "trained longer"


def _amount(budget) -> str:
    amount = budget.amount()
    return amount_text(amount, budget.kind()) if amount is not None else "no budget"


def _seeds(seeds: list[int]) -> str:
    if seeds and seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))
