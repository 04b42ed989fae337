"""Which classifier weights a study's numbers were measured with, checked where numbers are added to it.

A LeNet extractor's identity names its weights (``...-w<digest>``, metrics/features/lenet.py), so a protocol
says which weights made a number. The same recipe has given other weights (a cache entry trained by a
multi-threaded process before training ran on one thread; an entry carried from another torch version), and
a study whose runs were measured with two classifiers compares numbers that are not comparable. The rule:

- ``study resume`` / ``extend`` / ``run`` again, with runs to train: every stored row of a dataset that gets
  new runs must name this machine's classifier. Other weights are refused (one line: bring the cache entry
  that made them, or start a new study). An identity recorded before identities named weights is accepted
  with one line on stderr: its weights are not known, so nothing says the new numbers share them
  (``study verify`` recomputes stored values with this machine's weights, and says if they differ).
- ``study merge``: the sources' rows of one dataset must not name two weights; an old identity beside a new
  one of the same recipe is accepted with the same notice.
- ``study verify``: an old identity is accepted; the recomputed values decide.
The points and Inception extractors have fixed identities (Inception's names its file's sha1): compared as is.
"""

from __future__ import annotations

from itertools import combinations

from ..errors import UserError
from ..textsafe import notice_once


def compare(stored: str, current: str) -> str:
    """``same``, ``unrecorded`` (``stored`` is ``current`` without the weights it was recorded before
    naming) or ``different``."""
    from ..metrics.features.lenet import compare_identity

    return compare_identity(stored, current)


def notice(old: str, now: str) -> None:
    """One line on stderr, once per process: rows name ``old``, an identity recorded before identities named
    weights (``old`` is read from a stranger's store: notice_once prints it safely)."""
    notice_once(f"ganbench: rows measured with {old} were recorded before identities named the "
                f"classifier's weights, so they may come from other weights than {now}'s; `ganbench study verify` "
                "recomputes them with this machine's")


def stored_identities(store) -> dict[str, set[str]]:
    """dataset -> the extractor identities its evaluation and reference rows name."""
    found: dict[str, set[str]] = {}
    for row in [*store.evals(), *store.calibration()]:
        found.setdefault(row["dataset"], set()).add(row["protocol"]["extractor"])
    return found


def check_joined(found: dict[str, set[str]], where: str) -> None:
    """Refuse a dataset whose rows name two classifiers (merge); note old identities beside new ones."""
    for dataset, identities in sorted(found.items()):
        for a, b in combinations(sorted(identities), 2):
            verdict = compare(a, b) if compare(a, b) != "different" else compare(b, a)
            if verdict == "different" and a.startswith(("lenet-", "stacked-lenet-")):
                raise UserError(f"dataset '{dataset}' was measured with two classifiers in {where} ({a} and {b}: "
                                "other weights); their numbers are not comparable")
            if verdict == "unrecorded":
                old, new = (a, b) if len(a) < len(b) else (b, a)
                notice(old, new)


def check_resumed(store, todo: list, eval_spec: dict) -> None:
    """Before new runs of a study are measured: refuse a dataset whose stored rows name other LeNet
    weights than this machine's; note rows recorded before identities named weights."""
    from ..config import make_config
    from ..metrics.features import build_extractor

    found = stored_identities(store)
    checked = set()
    for run in todo:
        cfg = make_config(run.config)
        dataset = run.dataset
        lenets = {i for i in found.get(dataset, ()) if i.startswith(("lenet-", "stacked-lenet-"))}
        if dataset in checked or not lenets or (eval_spec.get("extractor") or "lenet") != "lenet":
            continue
        checked.add(dataset)
        now = build_extractor("lenet", cfg.data).identity  # built once per process (memo): the runs reuse it
        for old in sorted(lenets):
            verdict = compare(old, now)
            if verdict == "different":
                raise UserError(f"dataset '{dataset}': the study's rows were measured with {old}, this machine's "
                                f"classifier is {now} (other weights): new numbers would not be comparable; bring "
                                "the classifier cache entry that made them (GANBENCH_CACHE/classifiers) or start "
                                "a new study")
            if verdict == "unrecorded":
                notice(old, now)
