"""The torch thread count a study's CPU runs train with: part of their recipe.

A CPU splits a conv net's sums over torch's threads, so the last digits of every step depend on their number,
and a GAN's training carries them on. A study killed while running in-process (every core's threads in one
run) and resumed with the default pool (one worker per core, one thread each) would train its not-yet-started
runs differently from the uninterrupted study. So the count its CPU runs train with when it first runs is kept
in the store (meta key ``cpu_threads``), and every later ``study resume``, ``extend`` or run again trains its
CPU runs with that count, whatever the executor, never with more threads than this machine's usable cores.
``study merge`` keeps the sources' common count (``merged_threads``), and none when they differ.
A run resumed from its own checkpoint already trains with the count that checkpoint recorded
(training/checkpoint.recorded_threads); runs on an accelerator are left to the executor.
"""

from __future__ import annotations

import contextlib
import sys

from ..errors import UserError

KEY = "cpu_threads"


def on_cpu(config: dict) -> bool:
    """Whether a run of this config trains on the CPU (``auto`` resolved as the worker will, on this machine)."""
    device = str(config.get("device", "auto"))
    if device == "auto":
        from ..training.build import resolve_device

        return resolve_device("auto").type == "cpu"
    return device == "cpu"


def _found_in(store) -> int | None:
    """A study made before the count was stored: the count its finished CPU runs' final rows recorded (they
    were evaluated in the process that trained them), when they agree."""
    seen = {e["protocol"].get("threads") for e in store.evals()
            if "final" in e["tags"] and e["protocol"].get("device", "cpu") == "cpu"}
    found = next(iter(seen)) if len(seen) == 1 else None
    return found if type(found) is int and 1 <= found <= 4096 else None


def _stored(store) -> int | None:
    """The store's meta ``cpu_threads``, checked (the store is data); None when it has none."""
    stored = store.get_meta(KEY)
    if stored is None:
        return None
    try:
        wanted = int(stored)
    except ValueError:
        wanted = 0
    if not 1 <= wanted <= 4096:
        raise UserError(f"{store.path}: its meta {KEY} {stored!r} is not a thread count; the store was edited")
    return wanted


def recorded(store) -> int | None:
    """The count a study's CPU runs trained with: its meta, else (a study made before the count was stored)
    the one its finished CPU runs' final rows agree on; None when neither says."""
    return _stored(store) or _found_in(store)


def merged_threads(counts: dict[str, int | None]) -> tuple[int | None, str | None]:
    """The count a merged study keeps (``study merge``; source name -> its recorded count): the sources'
    common one, and no note. Sources that trained with different counts give none and a note, for the caller
    to print once the merged study is in place: its queued runs then train with the count its first resume
    uses, which no source's runs all share."""
    known = {name: n for name, n in counts.items() if n is not None}
    if len(set(known.values())) > 1:
        said = ", ".join(f"{name}: {n}" for name, n in known.items())
        return None, (f"ganbench: the sources trained their CPU runs with different torch thread counts ({said}); "
                      f"the merged study records none ({KEY}), so its queued runs train with the count its first "
                      "`study resume` uses")
    return next(iter(known.values()), None), None


def study_threads(store, executor, todo_configs: list[dict], inherited: int | None = None) -> int | None:
    """The thread count this study's CPU runs train with (None: no CPU run to train). Recorded on the study's
    first run, with one line on stderr when it is not what ``executor`` would have used, or is capped.
    ``inherited``: the count of the study a new one repeats (``study confirm``: its origin's), taken on that
    first run instead of the executor's."""
    import torch

    from .. import cores as machine

    if not any(on_cpu(c) for c in todo_configs):
        return None
    would = executor.threads or torch.get_num_threads()
    wanted, source = _stored(store), "its first runs"
    if wanted is None:
        wanted = _found_in(store)
        if wanted is None and inherited is not None:
            wanted, source = inherited, "the study it confirms"
        wanted = wanted or would
        store.set_meta(**{KEY: str(wanted)})
    cores = machine.usable_cores()
    threads = min(wanted, cores)
    if threads < wanted:
        print(f"ganbench: this study's CPU runs train with {wanted} torch threads, but only {cores} cores are "
              f"usable here: its runs train with {threads}, and may end with other last digits", file=sys.stderr)
    elif threads != would:
        print(f"ganbench: training this study's CPU runs with {threads} torch threads, as {source} did (the "
              f"{executor.name} executor would have used {would}; sums split over other threads round differently)",
              file=sys.stderr)
    return threads


@contextlib.contextmanager
def threads_of(protocol: dict):
    """torch's thread count as a row's protocol records it (``{"threads": n}``; recorded since 2026-11-28), for
    the length of the block: sums are split over threads, so the last digits depend on their number. A
    missing or implausible count leaves torch's as it is."""
    import torch

    before, wanted = torch.get_num_threads(), protocol.get("threads")
    if isinstance(wanted, int) and 1 <= wanted <= 1024:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(before)
