"""The sections of a dataset's part of the report. Each is a function of the ``DatasetView`` returning
the values its template block (``template.SECTIONS``) shows, or None to leave the section out. Adding a
section = one function here (or, for a section that is mostly a figure, in ``pictures.py``) + one entry in
``SECTIONS`` + one template block."""

from __future__ import annotations

import math
from collections import defaultdict

from ..metrics.declare import info
from ..study.calibration import REAL, TRIVIAL
from ..study.extend import false_positive_rate, seeds_at_looks
from ..study.stats import mdd_text, p_text, verdict, winner_loser
from .confirmation import confirmation
from .pictures import cost, cost_sentence, samples, training
from .view import CHECKPOINTS, DatasetView, cell, fmt, mostly


def leader_of(view: DatasetView, checkpoint: str = "final") -> str | None:
    return next((v for v in view.variants if (row := view.board.get((v, view.primary, checkpoint)))
                 and row["rank"] == 1), None)


def _pair(view: DatasetView, a: str, b: str, checkpoint: str = "final", metric: str | None = None) -> dict | None:
    metric = metric or view.primary
    return next((p for p in view.pairs if p["metric"] == metric and p["checkpoint"] == checkpoint
                 and {p["a"], p["b"]} == {a, b}), None)


def leaderboard(view: DatasetView) -> dict:
    others = [m for m in view.quality_metrics() if m != view.primary]
    leader = leader_of(view)
    untold = view.one_seed()  # one seed against a floor: no interval, so clearing it cannot be told
    rows = []
    for v in view.variants:
        runs = [r for r in view.runs if r["variant"] == v]
        done = [r for r in runs if r["status"] == "done"]
        judged = [view.improving.get(r["run_id"]) for r in done]
        row = {"variant": v, "kind": "variant", "cells": {}, "rank": {}, "marks": []}
        for c in CHECKPOINTS:
            b = view.board.get((v, view.primary, c))
            row["rank"][c] = b["rank"] if b else None
            row["cells"][c] = cell(b, len(done))
        row["n"] = f"{len(done)}/{len(runs)}"
        row["improving"] = f"{sum(j is True for j in judged)}/{sum(j is not None for j in judged)}" if any(
            j is not None for j in judged) else "–"
        row["others"] = {m: cell(view.board.get((v, m, "final")), len(done)) for m in others}
        pair = _pair(view, v, leader) if leader and leader != v else None
        # the leader has the best mean over all its seeds; the test pairs seeds both variants finished, and there
        # the other may be the better one
        if pair and pair["significant"] and winner_loser(pair)[0] == leader:
            row["marks"].append(("sig", "†", f"significantly worse than {leader}"))
        low = [r for r in done if r["run_id"] in view.at_floor]
        if view.clears_floor(v, "final") is False:
            row["marks"].append(("floor", "▽", f"interval not better than a trivial generator on {view.primary}"
                                 + (f"; {len(low)} of {len(done)} seeds no better than it" if low else "")))
        elif v in untold:
            row["marks"].append(("ns", "?", f"one seed, no interval: whether it is better than a trivial generator "
                                 f"on {view.primary} cannot be told"))
        collapsed = [r for r in done if r["run_id"] in view.collapsed]
        if collapsed:
            row["marks"].append(("collapse", f"✖{len(collapsed)}", f"{len(collapsed)} of {len(done)} seeds collapsed "
                                 "(no mode or no high-quality sample)"))
        rows.append(row)
    rows.sort(key=lambda r: r["rank"]["final"] if r["rank"]["final"] is not None else math.inf)
    refs = []
    for name in (REAL, *TRIVIAL):
        if (name, "final", view.primary) not in view.calibration:
            continue
        role = "ceiling" if name == REAL else "floor" if view.floor("final") and view.floor("final")[0] == name else ""
        refs.append({"variant": name, "role": role,
                     "cells": {c: cell(view.calibration.get((name, c, view.primary))) for c in CHECKPOINTS},
                     "others": {m: cell(view.calibration.get((name, "final", m))) for m in others}})
    return {"primary": view.primary, "arrow": view.value.arrow, "direction": view.value.direction,
            "source": "chosen in the spec" if view.chosen else "the default for this kind of data",
            "meaning": view.value.meaning, "others": others, "arrows": {m: info(m).arrow for m in others},
            "rows": rows, "refs": refs, "noise": fmt(view.noise) if view.noise is not None else None,
            "units": _units([view.primary, *others], view.evals),
            "floor_state": floor_state(view) if refs else None, "elsewhere": _elsewhere(view),
            "floor": view.floor("final"), "study": str(view.study_path), "sizes": _reference_sizes(view),
            # other columns that no variant's interval clears the floor of (ring8's fid: a Gaussian fit scores
            # below real data): the leaderboard marks ▽ on the primary metric only
            "unclear": [m for m in others if view.floor("final", m) and not view.clearing(m) and not view.one_seed(m)],
            # columns on which some variant's mean beats real data's (ring8's w2: 0.180 against 0.2005)
            "beyond": [(m, vs) for m in [view.primary, *others] if (vs := view.beyond_ceiling(m))],
            # columns with no lower bound (KID's unbiased estimate): the legend's "clipped ... 0 for a distance"
            # does not hold for them, and real data's KID is below 0
            "unbounded": [(m, info(m).meaning) for m in [view.primary, *others] if info(m).bounds[0] is None]}


def _reference_sizes(view: DatasetView) -> dict | None:
    """{'best': (split, n_real), 'final': (split, n_real)} of the primary metric's evaluations when the two
    columns' reference sets differ in size (digits: the test split's 360 rows against the train split's 1000):
    a metric that depends on the sample count (FID's bias) is then comparable within a column, not across
    the two; None when they have the same size (or a column is missing)."""
    sizes: dict = {}
    for e in view.evals:
        if e["metric"] == view.primary and "repeat" not in e["tags"]:
            role = "best" if "heldout" in e["tags"] else "final" if "final" in e["tags"] else None
            if role:
                sizes.setdefault(role, set()).add((e["protocol"].get("split"), e["protocol"].get("n_real")))
    if len(sizes.get("best", ())) != 1 or len(sizes.get("final", ())) != 1:
        return None
    (best,), (final,) = sizes["best"], sizes["final"]
    return {"best": best, "final": final} if None not in (best[1], final[1]) and best[1] != final[1] else None


def _units(metrics: list[str], evals: list[dict] = ()) -> str:
    """'fid in squared feature units (features: points, the samples' own coordinates ...); reverse_kl
    in nats': the declared units of the table's columns, naming the extractor whose features those units are."""
    from ..metrics.features import EXTRACTORS

    by_unit: dict = defaultdict(list)
    for m in metrics:
        if unit := info(m).unit:
            by_unit[unit].append(m)
    parts: list[list[str]] = []  # [text, the features it is in]; neighbours in the same features say them once
    for unit, ms in by_unit.items():
        # a protocol names the extractor precisely (lenet-digits-v1-<weights hash>; the Protocol table shows it):
        # here its family and what that family's features are
        found = {e["protocol"].get("extractor") for e in evals if e["metric"] in ms} - {None}
        names = sorted({next((part for part in str(n).split("-") if part in EXTRACTORS), str(n)) for n in found})
        said = "; ".join(f"{n}, {EXTRACTORS[n][1]}" if n in EXTRACTORS else n for n in names)
        said = said if "feature" in unit else ""
        text = f"{', '.join(ms)} in {unit}"
        if parts and said and parts[-1][1] == said:  # "fid in ..., kid_mean in ... (features: lenet, ...)"
            parts[-1][0] += f", {text}"
        else:
            parts.append([text, said])
    return "; ".join(text + (f" (features: {said})" if said else "") for text, said in parts)


def floor_state(view: DatasetView) -> str | None:
    """Where the variants stand against the trivial generators: 'clear' (some variant beats them on the
    primary metric), 'one_seed' (none does, and some variant has one seed: no interval, so it cannot be told),
    'elsewhere' (none does on the primary, some do on another quality metric) or 'noise' (none does on any);
    None without calibration rows."""
    if view.floor("final") is None:
        return None
    if view.clearing():
        return "clear"
    if view.one_seed():
        return "one_seed"
    return "elsewhere" if view.cleared_elsewhere() else "noise"


def _elsewhere(view: DatasetView) -> str:
    """'high_quality (2 of 2 variants)': the other metrics on which variants beat the trivial generators."""
    n = len(view.variants)
    return ", ".join(f"{m} ({len(won)} of {n} variant{'s' if n > 1 else ''})"
                     for m, won in view.cleared_elsewhere().items())


def verdicts(view: DatasetView) -> dict | None:
    leader = leader_of(view)
    if leader is None:
        return None
    final_pairs = [p for p in view.pairs if p["metric"] == view.primary and p["checkpoint"] == "final"]
    against = [p for p in final_pairs if leader in (p["a"], p["b"])]
    against.sort(key=lambda p: (not p["significant"], p["p_holm"] if not math.isnan(p["p_holm"]) else 2))
    step = max((e["step"] for e in view.evals if "final" in e["tags"]), default=None)
    judged = [j for j in view.improving.values() if j is not None]
    still = sum(judged)
    warn = mostly(still, len(judged))
    everyone = bool(judged) and still == len(judged)
    sentences, recent, unrepeated = [], [], []
    for v in view.variants:  # no pair holds these variants, so say so here
        if not view.seeds(v):
            sentences.append(f"{v} is not compared: none of its runs finished (failed or diverged runs are listed "
                             "below; the others are queued).")
        elif (v, view.primary, "final") not in view.board:
            sentences.append(f"{v} is not compared: none of its {len(view.seeds(v))} finished runs has a finite "
                             f"{view.primary} at the final checkpoint.")
    for p in against:
        other = p["b"] if p["a"] == leader else p["a"]
        text, h, kept = _pair_sentences(view, p, *winner_loser(p), everyone)  # on the paired seeds: maybe not the leader
        sentences.append(text)
        if p["significant"] and h.since is not None and h.points == 1 and h.total > 1:
            recent.append(other)
        if p["significant"] and kept is False:
            unrepeated.append(other)
    # a study's finding may lie between two followers (Stacked MNIST at 1 %: PacDCGAN2 led, not significantly,
    # while PacDCGAN3 beat DCGAN after Holm): say it here, not only in the table below
    between = [p for p in final_pairs if leader not in (p["a"], p["b"]) and p["significant"]]
    between.sort(key=lambda p: p["p_holm"])
    others = [_pair_sentences(view, p, *winner_loser(p), everyone)[0] for p in between]
    table = []
    for p in sorted(view.pairs, key=lambda p: (p["metric"] != view.primary, p["metric"], p["checkpoint"], p["a"])):
        table.append({"metric": f"{p['metric']} {info(p['metric']).arrow}", "checkpoint": p["checkpoint"], "a": p["a"],
                      "b": p["b"], "n": p["n"], "sign": p.get("test") == "sign", "equal": p.get("test") == "equal",
                      "diff": f"{p['mean_diff']:+.3g}" if math.isfinite(p["mean_diff"]) else "–",
                      "p": p_text(p["p"]), "p_holm": p_text(p["p_holm"]), "sig": p["significant"],
                      "win": f"{p['win_rate_a']:.0%}" if math.isfinite(p["win_rate_a"]) else "–",
                      "mdd": mdd_text(p.get("min_detectable")), "need": p.get("seeds_needed") or "–"})
    return {"primary": view.primary, "leader": leader, "step": step, "sentences": sentences, "recent": recent,
            "others": others, "unrepeated": unrepeated, "looked_again": _looked_again(view),
            "n_pairs": len(final_pairs),
            "n_metrics": len({p["metric"] for p in view.pairs}),
            "n_checkpoints": len({p["checkpoint"] for p in view.pairs}), "table": table, "warn": warn,
            "still": still, "judged": len(judged), "bottom": bottom_line(view, leader, against, warn, between)}


def _pair_sentences(view: DatasetView, pair: dict, winner: str, loser: str, everyone: bool):
    """(the verdict on one pair with since when its order held, whether a second evaluation keeps it and
    whether its runs were still moving; the order's history; kept or None)."""
    h = view.order_held(winner, loser)
    again, kept = _repeat_sentence(view, winner, loser)
    moving = "" if everyone else _moving_sentence(view, winner, loser)  # the warning above says it of all
    return " ".join(x for x in (verdict(pair), h.sentence(winner, loser), again, moving) if x), h, kept


def _looked_again(view: DatasetView) -> str | None:
    """The optional-stopping caveat of a study that got more seeds after it had results (extend.py)."""
    if not view.looked_again:
        return None
    chains = defaultdict(list)  # a merged study keeps each source's history apart from its own (merge.py)
    for g in view.looked_again:
        chains[g["source"]].append(g)
    return " ".join(_looks_sentence(source, chain) for source, chain in chains.items())


def _looks_sentence(source: str, chain: list[dict]) -> str:
    looks = seeds_at_looks(chain)
    when = ", ".join(f"{'merged' if g['by'] == 'merge' else 'extended'} {g['at']}" for g in chain)
    rate = false_positive_rate(looks)
    where = f"study '{source}' (merged into this one)" if source else "this study"
    # a merge recorded before 2026-11-29 kept one first look for all its datasets: the fewest (html._of_dataset)
    shared = (" (the first: the fewest over the merged datasets, as that merge recorded it; this dataset's may be "
              "more)") if chain[0].get("first_look_shared") else ""
    text = (f"Seeds were added to {where} after it had results ({', then '.join(map(str, looks))} seeds{shared}; "
            f"{when}). If the first results prompted that, these p-values are optimistic (optional stopping)")
    tested = sorted({n for n in looks if n >= 2})  # the looks with a p-value (false_positive_rate's)
    if math.isnan(rate) or len(tested) < 2:  # one look at a p-value: the rate is the 5 % itself
        return text + "."
    return (text + f": between two equal variants, a paired t-test at the 5 % level run at "
            f"{' and '.join(map(str, tested))} seeds finds a difference {rate * 100:.0f} % of the time, not 5 %.")


def _repeat_sentence(view: DatasetView, leader: str, other: str) -> tuple[str, bool | None]:
    """Does a second evaluation of the same final checkpoints, with other samples, keep the order? (sentence,
    kept), or ("", None) without a second evaluation."""
    found = view.repeat_difference(leader, other)
    if found is None:
        return "", None
    diff, n = found
    head = f"A second evaluation of the same {n} pairs of checkpoints, with other samples,"
    said = f"(mean {leader} − {other}: {diff:+.3g})"  # the sign convention named: FID's lead is negative
    if view.value.better(diff, 0.0):
        return f"{head} keeps the order {said}.", True
    return f"{head} reverses or ties it {said}: this difference is within the evaluation's own noise.", False


def _moving_sentence(view: DatasetView, leader: str, other: str) -> str:
    """Were most of the two variants' runs still improving at the end? Such orders are the ones a longer
    budget changed most often (measured: ``benchmarks/verdict_stability.py``, README)."""
    moving, judged = view.still_improving(leader, other)
    if not mostly(moving, judged):
        return ""
    return (f"Most of these two variants' runs ({moving} of {judged}) were still improving at the end: this order "
            "may change with more training.")


def bottom_line(view: DatasetView, leader: str, against: list[dict], warn: bool, between: list[dict] = ()) -> str:
    """between: the significant pairs that do not involve the leader."""
    beaten = [p for p in against if p["significant"] and winner_loser(p)[0] == leader]
    # on the seeds both finished a follower can be significantly better than the leader (best mean over all seeds)
    ahead = [winner_loser(p)[0] for p in against if p["significant"] and winner_loser(p)[0] != leader]
    tied = [(p["b"] if p["a"] == leader else p["a"]) for p in against if not p["significant"]]
    level = co_leaders(view, leader)
    parts = [f"{leader} leads on {view.primary}" + (f" (tied with {', '.join(level)}: equal means)" if level else "")]
    if not against:  # the only variant with results: there is nothing to test, however many seeds it has
        parts.append("(no other variant has results to compare it with)")
    elif all(math.isnan(p["p_holm"]) for p in against):
        parts.append("(too few seeds to test it)")
    elif not beaten:
        parts.append("but is not significantly better than any other variant")
    else:
        parts.append(f"and is significantly better than {len(beaten)} of {len(against)} others")
        if tied:
            parts.append(f"({', '.join(tied)} cannot be told apart from it)")
    text = " ".join(parts) + "."
    if ahead:
        text += (f" On the seeds both finished, {_join(ahead)} {'is' if len(ahead) == 1 else 'are'} significantly "
                 f"better than {leader}.")
    if between:
        found = [" is significantly better than ".join(winner_loser(p)) for p in between]
        text += f" Among the others, {_join(found)}."
    text += cost_sentence(view, leader)
    state = floor_state(view)
    untold = view.one_seed()  # no interval: one value on the better side says nothing of the next seed
    if state == "clear":
        floor = view.floor("final")
        text += (f" {len(view.clearing())} of {len(view.variants)} variants are better than a trivial generator "
                 f"on {view.primary} ({floor[0]}: {fmt(floor[1])}; judged by their 95 % interval)"
                 + (f"; with one seed, {_one_seed(untold)}." if untold else "."))
        if wide := view.above_on_every_seed():  # ▽ for its spread, not for a seed at the floor
            one = len(wide) == 1
            text += (f" {_join(wide)} {'is' if one else 'are'} better than the trivial generator on every seed, but "
                     f"{'its interval is' if one else 'their intervals are'} too wide to show it.")
    elif state == "one_seed":
        text += f" With one seed, {_one_seed(untold)} on {view.primary}."
    elif state == "elsewhere":
        floor = view.floor("final")
        text += (f" No variant is better than a trivial generator on {view.primary} ({floor[0]}: {fmt(floor[1])}), "
                 f"but they are on {_elsewhere(view)}: {view.primary} alone does not separate these runs from a "
                 f"trivial generator, so read this ranking beside {', '.join(view.cleared_elsewhere())}.")
    elif state == "noise":
        text += " No variant is better than a trivial generator"
        text += " on any quality metric" if len(view.quality_metrics()) > 1 else ""
        text += ": this ranking orders noise."
    if warn:
        text += " Most runs were still improving at the end: this is a ranking at this budget, and may change."
    return text


def _one_seed(variants: list[str]) -> str:
    verb = "is" if len(variants) == 1 else "are"
    return f"whether {_join(variants)} {verb} better than a trivial generator cannot be told"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def published(view: DatasetView) -> dict | None:
    """The spec's published numbers beside ours, with consistency marks (rows from reference_table.py)."""
    return view.reference if view.reference.get("reference") else None


SECTIONS = [("leaderboard", leaderboard), ("verdicts", verdicts), ("confirmation", confirmation),
            ("published", published), ("samples", samples), ("training", training), ("cost", cost)]


def co_leaders(view: DatasetView, leader: str) -> list[str]:
    """The variants that share rank 1 with the leader (leader_of takes the first of equal means): the lead is
    shared, not held (8 of 8 modes for every variant)."""
    return [v for v in view.variants if v != leader and (row := view.board.get((v, view.primary, "final")))
            and row["rank"] == 1]


def lead_status(view: DatasetView, leader: str) -> str:
    """How far a lead goes on the primary metric at the final checkpoint, in a few words: the page's first line
    names each dataset's leader, and a reader must not take a lead of means for a tested win."""
    against = [p for p in view.pairs if p["metric"] == view.primary and p["checkpoint"] == "final"
               and leader in (p["a"], p["b"])]
    beaten = [p for p in against if p["significant"] and winner_loser(p)[0] == leader]
    ahead = [winner_loser(p)[0] for p in against if p["significant"] and winner_loser(p)[0] != leader]
    if ahead:  # the leader has the best mean over all its seeds; on the seeds both finished another can beat it
        return (f"{view.primary}: by the mean only; on the seeds both finished, {_join(ahead)} "
                f"{'is' if len(ahead) == 1 else 'are'} significantly better")
    if not against:
        return f"{view.primary}: no other variant to compare"
    if all(math.isnan(p["p_holm"]) for p in against):
        return f"{view.primary}: too few seeds to test it"
    if not beaten:
        return f"{view.primary}: by the mean only, not significantly better than any other variant"
    return f"{view.primary}: significantly better than {len(beaten)} of {len(against)} others"


def overall(views: list[DatasetView]) -> str:
    """One bottom line across datasets."""
    if not views:
        return ""
    leads: dict = defaultdict(list)
    noise_only, primary_only = [], []
    for view in views:
        leader = leader_of(view)
        if leader:
            leads[" and ".join([leader, *co_leaders(view, leader)])].append(f"{view.name} ({lead_status(view, leader)})")
        state = floor_state(view)
        if state == "noise":
            noise_only.append(view.name)
        elif state == "one_seed":
            primary_only.append(f"{view.name}, with one seed, whether a variant beats a trivial generator "
                                "cannot be told")
        elif state == "elsewhere":
            primary_only.append(f"{view.name} no variant beats a trivial generator on {view.primary} (they do on "
                                f"{', '.join(view.cleared_elsewhere())})")
    parts = [f"{v} {'share the lead' if ' and ' in v else 'leads'} on {', '.join(ds)}"
             for v, ds in sorted(leads.items(), key=lambda x: -len(x[1]))]
    text = f"Across {len(views)} dataset{'s' if len(views) > 1 else ''}: " + "; ".join(parts) + "."
    if len(leads) == 1 and len(views) > 1:
        who = next(iter(leads))
        text += f" {who} {'share the lead' if ' and ' in who else 'leads'} everywhere."
    elif len(leads) > 1:
        text += " No recipe leads on every dataset."
    if noise_only:
        text += f" On {', '.join(noise_only)} no variant beats a trivial generator."
    if missing := [v.name for v in views if not v.calibration]:
        text += (f" {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no reference rows (no floor, no "
                 "ceiling): `ganbench study resume` draws them.")
    for line in primary_only:
        text += f" On {line}."
    return text
