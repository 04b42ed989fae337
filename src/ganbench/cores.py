"""How many cores this process may run on: the one notion of "available cores" every thread count is
capped at (a study's pool and its ``cpu_threads``, a resumed run's recorded count)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Cores this process may run on: a study pinned with ``taskset -c 1`` on a 2-core machine has one
    (``os.cpu_count()`` says 2 there)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity call (macOS, Windows)
        return os.cpu_count() or 1
