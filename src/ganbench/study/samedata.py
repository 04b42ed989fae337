"""Which bytes a study's numbers were measured on, checked where numbers are joined or added.

A dataset's settings (``data.path`` and its options) do not fix its content: an .npz file regenerated, or
another machine's copy of a folder or of MNIST, gives other data under the same settings. Every evaluation
row's protocol names its split's content (``data_digest``, evaluate.py; the train split's is the data its
run trained on), and the rule follows identities.py's for the classifier's weights:

- ``study merge``: the rows of one dataset, split and data settings must name one digest; two are refused in
  one line naming the two sources and runs.
- ``study resume`` / ``extend`` / ``run`` again, with runs to train: the stored rows of each data setting
  that gets new runs must name the digest of the data this machine loads for it (each split loaded once).
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


def _unrecorded(dataset: str, split: str, old: str, new: str) -> None:
    notice_once(f"ganbench: dataset '{dataset}' ({split} split): run '{old}' was recorded before evaluation rows "
                f"named their data's content, so nothing says it was measured on the same data as run '{new}'")


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
                                "comparable; merge studies made from the same file")
    for key, run_id in sorted(old.items()):
        if key in seen:
            _unrecorded(key[0], key[1], run_id, seen[key][1])

