"""Which bytes a study's numbers were measured on, checked where numbers are joined or added.

A dataset's settings (``data.path`` and its options) do not fix its content: an .npz file regenerated, or
another machine's copy of a folder or of MNIST, gives other data under the same settings. Every evaluation
row's protocol names its split's content (``data_digest``, evaluate.py; the train split's is the data its
run trained on), and the rule follows identities.py's for the classifier's weights:

- ``study merge``: the rows of one dataset, split and data settings must name one digest; two are refused in
  one line naming the two sources and runs.
- ``study resume`` / ``extend`` / ``run`` again, with runs to train: the stored rows of each data setting
  that gets new runs must name the digest of the data this machine loads for it (each split loaded once).
- ``study verify``: each split a run's rows name a content of is digested again; another digest is a
  difference, named beside the values it moved.
- A row recorded before rows named their data (2026-11-30) is unrecorded: accepted, with one line on stderr
  when rows that name a digest stand beside it, since nothing says the two were measured on the same bytes.
"""

from __future__ import annotations

import json

from ..errors import UserError
from ..textsafe import notice_once


def _key(dataset: str, protocol: dict) -> tuple[str, str, str]:
    """(dataset, split, its data settings as JSON): rows that must name one content."""
    return dataset, str(protocol.get("split")), json.dumps(protocol.get("dataset"), sort_keys=True, default=str)


def _short(digest) -> str:
    return str(digest)[:12]  # read from a stranger's file: any JSON value


def _place(settings: str) -> str:
    """The data settings, as a refusal names them: the path when they name one."""
    try:
        found = json.loads(settings)
    except ValueError:
        found = None
    if isinstance(found, dict) and found.get("path"):
        return f"data.path {found['path']}"
    return "the same data settings"


def _unrecorded(found: dict[str, str], new: str) -> None:
    """One line on stderr, once per process: the rows of ``found`` (dataset -> a run) name no content, so nothing
    compares them with ``new``."""
    if found:
        first = min(found)
        more = f" (and of {', '.join(repr(d) for d in sorted(found) if d != first)})" if len(found) > 1 else ""
        notice_once(f"ganbench: the rows of dataset '{first}'{more} were recorded before evaluation rows named their "
                    f"data's content (run '{found[first]}'), so nothing says they were measured on the same data as "
                    f"{new}")


def check_merged(taken: dict, dataset_of: dict) -> None:
    """``study merge``: the runs taken from the sources (run id -> source, whose ``finished`` holds the run's
    result.json) were measured on one content per dataset, split and data settings."""
    seen: dict = {}  # key -> (digest, run id, source) of the first row naming one
    old: dict = {}  # key -> a run whose rows name none
    for run_id, src in taken.items():
        for row in src.finished[run_id][1].get("evals", []):
            key = _key(dataset_of[run_id], row["protocol"])
            digest = row["protocol"].get("data_digest")
            if digest is None:
                old.setdefault(key, run_id)
                continue
            first = seen.setdefault(key, (digest, run_id, src))
            if first[0] != digest:
                raise UserError(f"dataset '{key[0]}' ({key[1]} split): run '{first[1]}' of {first[2].name} was "
                                f"measured on data {_short(first[0])}, run '{run_id}' of {src.name} on "
                                f"{_short(digest)}: other bytes under {_place(key[2])}, so their numbers are not "
                                "comparable; merge studies made from the same file (a library that decodes or draws "
                                "it otherwise, such as another Pillow resizing a folder, also changes the bytes)")
    _unrecorded({key[0]: run_id for key, run_id in sorted(old.items(), reverse=True) if key in seen},
                "the runs beside them that name one")


def check_resumed(evals: list[dict], todo: list) -> None:
    """Before new runs of a study are trained: the stored rows (``evals``, the store's) of each data setting that
    gets new runs name the content this machine loads for it. Each (settings, split) the rows name is loaded
    once."""
    from ..config import make_config
    from ..data import load_dataset
    from ..evaluate import data_digest

    wanted: dict[str, tuple[str, dict]] = {}  # settings as JSON -> (dataset, settings) of a run to train
    for run in todo:
        data = make_config(run.config).data
        wanted.setdefault(json.dumps(data, sort_keys=True, default=str), (run.dataset, data))
    if not wanted:
        return
    stored: dict = {}  # key -> {digest: a run naming it}, None for rows naming none
    for e in evals:
        key = _key(e["dataset"], e["protocol"])
        if key[2] in wanted:
            stored.setdefault(key, {}).setdefault(e["protocol"].get("data_digest"), e["run_id"])
    unrecorded: dict[str, str] = {}  # dataset -> a run whose rows name no content: said once nothing was refused
    for (dataset, split, settings), found in sorted(stored.items(), key=lambda kv: (kv[0][1] != "train", kv[0])):
        if None in found:
            unrecorded.setdefault(dataset, found[None])
        digests = {d: r for d, r in found.items() if d is not None}
        if not digests or split not in ("train", "test"):
            continue  # unrecorded rows only: nothing to compare (and no split ganbench evaluates on)
        now = data_digest(load_dataset(wanted[settings][1], split))
        for digest, run_id in sorted(digests.items(), key=lambda kv: str(kv[0])):
            if digest != now:
                raise UserError(f"dataset '{dataset}' ({split} split): the study's run '{run_id}' was measured on "
                                f"data {_short(digest)}, this machine's {_place(settings)} holds {_short(now)} (other "
                                "bytes): new runs would share a leaderboard cell with numbers of other data; bring "
                                "the file the study was made with (or the library versions that loaded it: another "
                                "Pillow resizes a folder otherwise), or start a new study")
    _unrecorded(unrecorded, "the runs this machine adds")


def verify_rows(run: dict, rows: list[dict]) -> list[dict]:
    """``study verify``: each split the run's rows name a content of, digested again from the data this machine
    loads for the run's config; a different digest is a difference (one per split, beside the recomputed values,
    which other data also moves: this names why)."""
    from ..config import make_config
    from ..data import load_dataset
    from ..evaluate import data_digest

    named: dict[str, tuple] = {}  # split -> (digest, the first row naming it)
    for row in rows:
        digest, split = row["protocol"].get("data_digest"), row["protocol"]["split"]
        if digest is not None and split in ("train", "test"):
            named.setdefault(split, (digest, row))
    out = []
    data = make_config(run["config"], stored=f"run {run['run_id']}").data if named else None
    for split, (digest, row) in sorted(named.items(), key=lambda kv: kv[0] != "train"):
        now = data_digest(load_dataset(data, split))
        if now != digest:
            out.append({"run_id": run["run_id"], "checkpoint": row["checkpoint"], "metric": f"data_digest ({split})",
                        "stored": digest, "recomputed": now, "verdict": "differs",
                        "device": row["protocol"].get("device", "cpu")})
    return out
