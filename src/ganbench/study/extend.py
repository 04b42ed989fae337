"""Grow a study in place (``ganbench study run SPEC --extend``, ``ganbench study extend DIR --seeds N``):
more seeds, variants or datasets, keeping every finished run. The report's verdicts often say how many
seeds a difference would need; re-running the runs a study already has to get there wastes hours.

An extension only adds runs: every run of the stored spec must be in the new one with the same config,
and the evaluation protocol must be the same, so the kept results mean what new ones mean. Anything
else is refused, naming the first setting that differs.

The store remembers each extension (meta key ``extensions``). Adding seeds after results exist is a
second look at the same comparison: if the first p-values prompted it, the new ones are optimistic
(optional stopping; a test repeated at each look crosses 0.05 more often than 5 % of the time between
equal variants). The report says so beside its verdicts and points to ``ganbench study confirm``,
whose fresh seeds are not chosen after a look.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from typing import Literal

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, TypeAdapter
from scipy import stats

from ..config import make_config
from ..confine import BadJSON, parse_json
from ..errors import UserError
from .spec import StudySpec, check_seed_count, expand
from .store import FINISHED, Store, read_only


def first_difference(old, new, where: str = "") -> str | None:
    """The dotted key of the first setting that differs between two config trees, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            found = first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))
            if found:
                return found
        return None
    return None if old == new else f"{where} ({old!r} -> {new!r})"


def check_extension(old: StudySpec, new: StudySpec, old_runs: list, new_runs: list) -> None:
    """Refuse (one line) a spec that does more than add runs to ``old``."""
    how = "--extend only adds seeds, variants or datasets to a study"
    old_eval = old.eval.model_dump(exclude={"primary"})
    new_eval = new.eval.model_dump(exclude={"primary"})
    if old_eval != new_eval:
        raise UserError(f"the evaluation differs from the study's in eval.{first_difference(old_eval, new_eval)}; "
                        f"{how}, so its finished runs must have been evaluated as the new ones will be")
    if old.confirms != new.confirms:  # outside the digest, but the hypotheses a confirmation fixed before it ran
        raise UserError(f"the confirms: block differs from the study's; {how} (the verdicts a confirmation re-tests "
                        "are fixed before it runs)")
    by_id = {r.run_id: r for r in new_runs}
    for r in old_runs:
        match = by_id.get(r.run_id)
        if match is None:
            raise UserError(f"the spec drops run '{r.run_id}' of the study; {how} (it never removes results: "
                            "leave the variant, dataset and seed in the spec)")
        kept = make_config(r.config, stored=f"run {r.run_id}")  # the stored spec's: data, its plugins loaded already
        if kept.digest() != make_config(match.config).digest():
            raise UserError(f"run '{r.run_id}' differs from the study's in "
                            f"{first_difference(r.config, match.config) or 'its resolved config'}; {how}")
        if r.primary != match.primary:
            raise UserError(f"dataset '{r.dataset}' is ranked on {match.primary} by the spec but on {r.primary} "
                            f"by the study; {how}")


def extension_record(old: StudySpec, new: StudySpec, old_runs: list, new_runs: list, finished: int) -> dict:
    """What an extension added, as the report's protocol states it."""
    old_datasets = {r.dataset for r in old_runs}
    old_variants = {r.variant for r in old_runs}
    seeds_before, seeds_after = old.seed_list(), new.seed_list()
    looked_again = sorted({r.dataset for r in new_runs if r.dataset in old_datasets and r.seed not in seeds_before})
    return {"at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs_before": len(old_runs),
            "finished_before": finished, "runs_after": len(new_runs),
            "seeds_before": seeds_before, "seeds_after": seeds_after,
            "variants_added": sorted({r.variant for r in new_runs} - old_variants),
            "datasets_added": sorted({r.dataset for r in new_runs} - old_datasets),
            "seeds_added_to": looked_again if finished else [], "spec_digest": new.digest()}


def extend_store(store_path, old: StudySpec, new: StudySpec, old_runs: list, new_runs: list) -> dict:
    """Check the extension, then record it; the runner adds the new runs as queued. Reference rows are
    drawn per seed, so they are computed again over the new seed list (the old seeds' rows come out the same).
    The record comes first, then spec.yaml, then the store's spec: the same command after a kill between them
    finds its own record last (a kill before spec.yaml is written) or a spec.yaml that the record explains
    (check_matches), and goes on without a second record."""
    check_extension(old, new, old_runs, new_runs)
    store = Store(store_path)
    try:
        history = extensions(store, done=False)
        if history and history[-1]["spec_digest"] == new.digest():  # this extension, interrupted: recorded already
            return history[-1]
        finished = sum(1 for r in store.runs() if r["status"] in FINISHED)
        record = extension_record(old, new, old_runs, new_runs, finished)
        store.set_meta(extensions=json.dumps([*history, record]))
        if record["seeds_before"] != record["seeds_after"]:
            store.clear_calibration()
    finally:
        store.close()
    return record


MAX_SIMULATED = 200  # seeds; beyond it the report states the caveat without a rate


def false_positive_rate(looks: list[int], alpha: float = 0.05, reps: int = 20000) -> float:
    """How often the report's paired t-test (two-sided, one pair, no Holm) calls two equal variants
    different at level ``alpha`` when it is run at each of ``looks`` seed counts, stopping at the first
    significant one. Simulated with normal paired differences and a fixed seed (one look gives ``alpha``)."""
    looks = sorted({n for n in looks if n >= 2})  # one seed gives no p-value to look at
    if not looks or looks[-1] > MAX_SIMULATED:
        return math.nan
    d = np.random.default_rng(0).standard_normal((reps, looks[-1]))
    hit = np.zeros(reps, dtype=bool)
    for n in looks:
        hit |= stats.ttest_1samp(d[:, :n], 0.0, axis=1).pvalue < alpha
    return float(hit.mean())


class Extension(BaseModel):
    """One extension as the store keeps it (read back from a study directory: checked, never trusted)."""

    model_config = ConfigDict(extra="forbid")
    at: str
    runs_before: int
    finished_before: int
    runs_after: int
    seeds_before: list[int]
    seeds_after: list[int]
    variants_added: list[str]
    datasets_added: list[str]
    seeds_added_to: list[str]
    spec_digest: str = ""  # the spec it extended the study to ("" in records written before 2026-11-28)
    by: Literal["extend", "merge"] = "extend"  # merge.py: studies joined into one
    source: str = ""  # a merged study keeps its sources' extensions, naming the source
    sources: list[str] = []  # a merge's: "name (N runs, M finished)" per study joined
    first_look: int | None = None  # a merge's: the fewest seeds one source gave a variant whose seeds it joined
    first_looks: dict[str, int] = {}  # the same per dataset ({} in merges recorded before 2026-11-29)


_RECORDS = TypeAdapter(list[Extension])


def extensions(store: Store, done: bool = True) -> list[dict]:
    """The study's extensions; ``done``: without a last one that never reached the store's spec (killed
    before it did, see extend_store: the study is still the one it extended)."""
    records = _records(store.get_meta("extensions"), store.path)
    if done and _unfinished(records, store.get_meta("spec_digest")):
        records.pop()
    return records


def _records(text: str | None, path) -> list[dict]:
    """The store's record of extensions (JSON text, parsed as all stored JSON is: confine.parse_json)."""
    try:
        return [r.model_dump() for r in _RECORDS.validate_python(parse_json(text or "[]"))]
    except (BadJSON, pydantic.ValidationError):
        raise UserError(f"{path}: the record of the study's extensions is damaged") from None


def _unfinished(records: list[dict], store_digest: str | None) -> bool:
    return bool(records) and records[-1]["spec_digest"] not in ("", store_digest)


def check_not_half_extended(study) -> None:
    """Refuse (one line) to report or confirm a study whose last extension was killed after it wrote
    spec.yaml and before its runs reached the store: the new runs have no rows yet, and the
    way out is to finish the extension, which keeps every finished run. Reads the store read-only."""
    if not study.store_path.is_file():
        return  # no study: the caller's next check says so
    try:
        db = read_only(study.store_path)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('extensions', 'spec_digest')"))
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return  # a damaged store: check_store names it
    records = _records(meta.get("extensions"), study.store_path)
    if _unfinished(records, meta.get("spec_digest")) and records[-1]["spec_digest"] == study.read_spec().digest():
        raise UserError(f"{study.path}: its last extension ({added(records[-1])}; {records[-1]['runs_before']} -> "
                        f"{records[-1]['runs_after']} runs) was interrupted before its new runs reached the study "
                        f"store; finish it with `ganbench study resume {study.path}` (finished runs are kept)")


def more_seeds(spec: StudySpec, n_seeds: int) -> StudySpec:
    """``spec`` with ``n_seeds`` seeds: its own, then the integers after its largest (``study extend --seeds``).
    As many as it has: ``spec`` itself, so an interrupted extension is finished by the same command."""
    seeds = spec.seed_list()
    if n_seeds < len(seeds):
        raise UserError(f"--seeds {n_seeds}: the study has {len(seeds)} seeds already; an extension never removes runs")
    if n_seeds == len(seeds):
        return spec
    check_seed_count(n_seeds)  # before the list is built
    start = max(seeds) + 1
    grown = n_seeds if isinstance(spec.seeds, int) else [*seeds, *range(start, start + n_seeds - len(seeds))]
    return StudySpec.model_validate({**spec.model_dump(), "seeds": grown})  # within the seed and run bounds


def seeds_at_looks(chain: list[dict]) -> list[int]:
    """The seed counts a dataset's results were looked at with, from its extension and merge records (oldest
    first): a merge's own first look (that dataset's, as report/html.py gives it), else the seeds before the
    first extension; then the seeds after each."""
    first = chain[0].get("first_look")
    return [len(chain[0]["seeds_before"]) if first is None else first] + [len(g["seeds_after"]) for g in chain]


def added(record: dict) -> str:
    """What an extension added, in words: "seeds 3, 4; variant x"."""
    parts = []
    new_seeds = [s for s in record["seeds_after"] if s not in record["seeds_before"]]
    for what, names in (("seed", list(map(str, new_seeds))), ("variant", record["variants_added"]),
                        ("dataset", record["datasets_added"])):
        if names:
            parts.append(f"{what}{'s' if len(names) > 1 else ''} {', '.join(names)}")
    return "; ".join(parts) or "nothing"


def extension_line(record: dict) -> str:
    """The command line's notice, printed once the checks have passed."""
    return (f"adds {added(record)} ({record['runs_before']} -> {record['runs_after']} runs; "
            f"{record['finished_before']} finished runs kept as they are)")


def notes(records: list[dict], unknown: str | None = None) -> list[str]:
    """Protocol lines, one per extension or merge; first, when the store was rebuilt without its record
    (``unknown``: rebuild.py says why), that the history before then is unknown."""
    out = [] if unknown is None else [
        f"The record of how this study grew was lost ({unknown}): whether seeds were added after the first "
        "results is unknown, so the p-values may be optimistic (optional stopping); `ganbench study confirm` "
        "re-tests on fresh seeds."]
    for r in records:
        if r["by"] == "merge":
            out.append(f"Merged on {r['at']} from {len(r['sources'])} studies with `ganbench study merge`: "
                       f"{'; '.join(r['sources'])}. Beside the first it added {added(r)} ({r['runs_after']} runs in "
                       f"all, {r['finished_before']} finished); every finished run was taken as it was.")
        else:
            before = f"In study '{r['source']}', before it was merged: e" if r["source"] else "E"
            out.append(f"{before}xtended on {r['at']}, when {r['finished_before']} of its {r['runs_before']} runs had "
                       f"finished: added {added(r)} ({r['runs_after']} runs in all). The runs it had were kept as "
                       "they were.")
    return out
