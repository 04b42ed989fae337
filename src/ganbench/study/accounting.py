"""What `study verify` (verify.py) makes of each stored value, and whether each stored row is one the study's
protocol writes.

Every evaluation value and reference value in the store is accounted for: recomputed (compared with what
its checkpoint, or the reference draw, gives), or not recomputed with a reason, and the totals add up to
the store's count. A reason is *excused* when the study or the command's options explain it (a checkpoint
the recipe does not keep, a row or run not chosen, a run that did not finish, ``--no-reference``); any other
value that cannot be checked leaves the study not verified (exit 1, as a difference does).

A row's values are recomputed from its protocol, so the columns the report reads beside it (its name, step and
tags) must say what the protocol says: a name that is not ``<protocol checkpoint>[/repeat|/heldout]``, a step
that is not the protocol's, tags the study never writes, or metrics of one row stored with two protocols, is a
difference.
"""

from __future__ import annotations

import json
from collections import defaultdict

from ..errors import UserError

# the tags evaluation.py writes, by the suffix of the row's name
TAGS = {"": {"final", "selected"}, "/repeat": {"repeat"}, "/heldout": {"best", "heldout"}}
REQUIRED = {"": set(), "/repeat": {"repeat"}, "/heldout": {"best", "heldout"}}

# why a stored value was not recomputed (the keys of the count line); the excused ones do not fail verify
NOT_CHOSEN = "not chosen (--rows all)"
NOT_DRAWN = "run not drawn (--runs)"
NOT_KEPT = "checkpoint not kept by the recipe"
MISSING = "checkpoint missing or unreadable (a difference)"
UNCHECKABLE = "cannot be checked"
NO_REFERENCE = "not drawn (--no-reference)"
FOREIGN = "not a dataset of the spec"
UNVERIFIED = (UNCHECKABLE, FOREIGN)


def unfinished(status: str) -> str:
    return f"of a {status} run (verify recomputes finished runs)"


def stored_rows(evals: list[dict], where: str) -> list[dict]:
    """The store's evaluation rows, one per run, checkpoint name, step, tags and protocol, with their metrics
    gathered: metrics of one name stored with two protocols are two rows (each recomputed with its own)."""
    rows: dict[tuple, dict] = {}
    for e in evals:
        key = (e["run_id"], e["checkpoint"], e["step"], tuple(e["tags"]), json.dumps(e["protocol"], sort_keys=True))
        row = rows.setdefault(key, {"run_id": e["run_id"], "checkpoint": e["checkpoint"], "step": e["step"],
                                    "tags": e["tags"], "protocol": e["protocol"], "metrics": {}})
        if e["metric"] in row["metrics"]:
            raise UserError(f"{where}: two values of {e['run_id']} {e['checkpoint']} {e['metric']}; not a ganbench "
                            "study store (it keeps one)")
        row["metrics"][e["metric"]] = e["value"]
    return list(rows.values())


def _difference(row: dict, what: str, stored, expected) -> dict:
    return {"run_id": row["run_id"], "checkpoint": row["checkpoint"], "metric": what, "stored": stored,
            "recomputed": expected, "verdict": "differs", "device": ""}


def row_differences(grouped: list[dict], eval_spec: dict) -> list[dict]:
    """Each row's name, step and tags against its protocol, its n_fake against the spec's eval.n, and rows
    whose metrics were stored with more than one protocol (see the module's docstring)."""
    out, versions = [], defaultdict(list)
    for row in grouped:
        p, tags = row["protocol"], row["tags"]
        versions[(row["run_id"], row["checkpoint"])].append(row)
        suffix = "/heldout" if "heldout" in tags else "/repeat" if "repeat" in tags else ""
        if row["checkpoint"] != p["checkpoint"] + suffix:
            out.append(_difference(row, "name", row["checkpoint"], p["checkpoint"] + suffix))
        if row["step"] != p["step"]:
            out.append(_difference(row, "step", row["step"], p["step"]))
        if len(set(tags)) != len(tags) or not REQUIRED[suffix] <= set(tags) <= TAGS[suffix]:
            out.append(_difference(row, "tags", ",".join(tags), f"some of {','.join(sorted(TAGS[suffix]))}"
                                   if not REQUIRED[suffix] else ",".join(sorted(REQUIRED[suffix]))))
        if eval_spec.get("n") and p["n_fake"] != eval_spec["n"]:
            out.append(_difference(row, "n_fake", p["n_fake"], eval_spec["n"]))
    for (run_id, checkpoint), found in versions.items():
        if len(found) > 1:
            fields = sorted({k for r in found[1:] for k in ("step", "tags") if r[k] != found[0][k]}
                            | {k for r in found[1:] for k in r["protocol"].keys() | found[0]["protocol"].keys()
                               if r["protocol"].get(k) != found[0]["protocol"].get(k)})
            out.append(_difference(found[0], "row", f"{len(found)} versions ({', '.join(fields)} differ between "
                                                    "its metrics)", "one"))
    return out


def summary(tally: dict[str, int], total: int) -> dict:
    """{"values": the store's count, "recomputed", "not recomputed": {reason: count}}; refuses totals that do
    not add up (a value verify would silently leave out)."""
    why = {k: v for k, v in sorted(tally.items()) if k != "recomputed" and v}
    found = {"values": total, "recomputed": tally.get("recomputed", 0), "not recomputed": why}
    if found["recomputed"] + sum(why.values()) != total:
        raise AssertionError(f"verify accounted for {found['recomputed'] + sum(why.values())} of {total} stored values")
    return found


def unverified(stored: dict) -> int:
    """How many stored values could not be checked for a reason the study does not explain."""
    return sum(n for part in stored.values() for k, n in part["not recomputed"].items() if k in UNVERIFIED)


def describe(name: str, part: dict) -> str:
    why = part["not recomputed"]
    left = sum(why.values())
    reasons = f": {', '.join(f'{n} {k}' for k, n in why.items())}" if why else ""
    return f"{part['values']} {name} values: {part['recomputed']} recomputed, {left} not{reasons}"
