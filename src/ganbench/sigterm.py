"""SIGTERM as Ctrl-C for the command line: ``sigterm_interrupts`` turns it into ``Terminated``, a
KeyboardInterrupt, over a whole command (cli.main), so a batch scheduler's, ``timeout``'s or systemd's SIGTERM
stops any command as Ctrl-C does: its cleanup runs (a merge's or rebuild's half-built output is removed, a run
records ``status.json = interrupted``) and it exits 130 with one line. Kept apart from training.interrupt,
which imports torch, so the command line can set it before any command starts."""

from __future__ import annotations

import contextlib
import signal
import threading


class Terminated(KeyboardInterrupt):
    """The KeyboardInterrupt that SIGTERM raises under ``sigterm_interrupts``: unlike a terminal's Ctrl-C, it
    reached this process alone, so a study's pool passes it on to its workers (study/executors.py)."""


def raise_terminated(signum, frame):
    raise Terminated(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_interrupts():
    """Within the block, SIGTERM raises KeyboardInterrupt in the main thread (as SIGINT does)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
