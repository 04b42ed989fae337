"""How long has a verdict's order held? A report's verdict compares two variants at the final checkpoint;
a reviewer asks whether it would survive a longer budget. The study already has each run's primary
metric at every evaluation, so the same paired comparison can be replayed at each of them: the mean over
paired seeds of (a − b). This describes the run; it is not a forecast: on the quick preset, orders held at
every evaluation kept their sign at three times the budget no more often than the rest (35 of 47 against
40 of 43), while whether the runs were still improving at the end hinted (``benchmarks/verdict_stability.py``,
README). A significant lead that appeared only at the last evaluation is still flagged: nothing backs it
but the last point.

Seeds are paired as in the verdicts (same seed, both runs evaluated). Evaluations are matched by step;
the last point pairs each run's final evaluation, so runs that stopped at different steps (an equal-FLOPs
budget) still meet there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..metrics.declare import info


@dataclass(frozen=True)
class Held:
    since: int | None  # first step of the final run of evaluations with the final order (None: no order)
    points: int  # evaluations in that run
    total: int  # evaluations compared
    last_other: int | None  # the latest step at which the order was the other way (or a tie)
    a_ahead: bool | None = None  # the final order: a (the history's a − b) ahead, b ahead, or None (no order)

    def sentence(self, winner: str, loser: str) -> str:
        """winner, loser: a and b of the history; the sentence names them by the order the history ends with."""
        if self.total < 2 or self.since is None:
            return ""
        if self.a_ahead is False:
            winner, loser = loser, winner
        if self.points == self.total:
            return f"{winner} was ahead of {loser} at every one of the {self.total} evaluations."
        if self.points == 1:
            return (f"{winner} is ahead of {loser} only at the final evaluation (at step {self.last_other:,} it was "
                    f"not): a longer budget may reverse it.")
        return (f"{winner} has been ahead of {loser} since step {self.since:,} ({self.points} of {self.total} "
                f"evaluations; not at step {self.last_other:,}).")


def paired_history(paths: dict[str, list[tuple[int, float]]], runs_a: dict[int, str], runs_b: dict[int, str]
                   ) -> list[tuple[int, float]]:
    """[(step, mean over paired seeds of a − b)] in step order. paths: run_id -> [(step, value)] in step
    order (``convergence.trajectories``); runs_a/runs_b: seed -> run_id of each variant."""
    diffs: dict[int, list[float]] = {}
    for seed in sorted(set(runs_a) & set(runs_b)):
        a, b = paths.get(runs_a[seed], []), paths.get(runs_b[seed], [])
        if not a or not b:
            continue
        last_a, last_b = a[-1], b[-1]
        final_step = max(last_a[0], last_b[0])
        va, vb = dict(a), dict(b)
        for step in sorted(set(va) & set(vb)):
            if step < final_step and all(math.isfinite(x) for x in (va[step], vb[step])):
                diffs.setdefault(step, []).append(va[step] - vb[step])
        if math.isfinite(last_a[1]) and math.isfinite(last_b[1]):
            diffs.setdefault(final_step, []).append(last_a[1] - last_b[1])
    return [(step, sum(d) / len(d)) for step, d in sorted(diffs.items())]


def held(history: list[tuple[int, float]], metric: str) -> Held:
    """The final order of a paired history (a − b) and since when it has held without a break."""
    if not history:
        return Held(None, 0, 0, None)
    value = info(metric)

    def order(d: float) -> int:
        return 1 if value.better(d, 0.0) else -1 if value.better(0.0, d) else 0

    final = order(history[-1][1])
    if final == 0:
        return Held(None, 0, len(history), None)
    points = 0
    for _, d in reversed(history):
        if order(d) != final:
            break
        points += 1
    since = history[-points][0]
    last_other = history[-points - 1][0] if points < len(history) else None
    return Held(since, points, len(history), last_other, final == 1)
