"""Infrastructure faults versus a run's own outcome.

A run that fails because of its config, or diverges, has a result. A run stopped by the machine (disk
full, an I/O error, no memory, a locked or unwritable store, its worker killed) has none: recording it
as ``failed`` would make the report show fewer seeds forever. Such faults are retried a few times with
backoff and otherwise left ``queued`` for the next ``study resume``.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

TRANSIENT = "transient"  # a worker's status for "no result, try again"; never stored as a run status
RETRIES = 2  # further rounds for runs hit by a transient fault, before leaving them queued
BACKOFF_S = 5.0  # wait before retry round k: BACKOFF_S * 2**(k-1)
STORE_BACKOFF_S = 1.0  # first wait before writing the study store again (then doubled, 3 tries more)

# EFBIG: a file-size limit (`ulimit -f`, a quota or file system's largest file) is the machine's, as a full disk is;
# EROFS: a file system the kernel remounted read-only after an I/O error
_TRANSIENT_ERRNO = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.ENOMEM, errno.EAGAIN, errno.EBUSY,
                    errno.ETIMEDOUT, errno.ESTALE, errno.EINTR, errno.ENFILE, errno.EMFILE}

T = TypeVar("T")


def undecodable(exc: BaseException) -> bool:
    """SQLite's error for a text column holding bytes that are no UTF-8: a stranger's store, not the machine (no
    sqlite error code comes with it; the message quotes the column's text, so only its start is read)."""
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("Could not decode to UTF-8")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the machine rather than from the run (its chain is followed)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNO):
            return True
        if isinstance(exc, sqlite3.OperationalError) and not undecodable(exc):  # disk full, locked, I/O error
            return True
        if isinstance(exc, RuntimeError) and ("out of memory" in str(exc).lower()  # CUDA/MPS OOM
                                              or "can't allocate memory" in str(exc)):  # torch's CPU allocator
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def with_retries(action: Callable[[], T], retries: int = 3, backoff_s: float | None = None) -> T:
    """Call ``action``; on a transient fault wait and try again (bounded); other errors pass through."""
    backoff_s = STORE_BACKOFF_S if backoff_s is None else backoff_s
    for attempt in range(retries + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == retries or not is_transient(exc):
                raise
            time.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")
