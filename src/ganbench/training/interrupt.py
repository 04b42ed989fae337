"""Stopping a run by a signal: SIGTERM behaves like Ctrl-C, and either one leaves a truthful status.

The loop catches ``KeyboardInterrupt`` and records ``status.json = interrupted`` at the step of the last
checkpoint, which is where ``--resume`` continues; the work done after it is lost. SIGTERM is turned
into ``KeyboardInterrupt`` only by the command line (``sigterm_interrupts``): a library caller or a
study's pool worker keeps whatever SIGTERM disposition its process has.
"""

from __future__ import annotations

import contextlib
import signal
import threading

from .checkpoint import common_step
from .rundir import RunDir


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_interrupts():
    """Within the block, SIGTERM raises KeyboardInterrupt in the main thread (as SIGINT does)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def status_on_interrupt(runs: list[RunDir]):
    """An interrupt inside the block writes status.json = interrupted at the last checkpoint's step, for
    every run still training (a member of a stack that diverged keeps its status)."""
    try:
        yield
    except KeyboardInterrupt:
        running = [run for run in runs if run.status().get("status") == "running"]
        # the members of a stack resume together, from the newest step all of them saved (train_group's
        # common_step): a diverged member saved nothing after it diverged, so its last checkpoint counts too
        step = common_step([run.ckpt_dir for run in runs])
        for run in running:
            run.write_status(status="interrupted", step=step,
                             message=f"interrupted; --resume continues from the checkpoint at step {step}")
        raise
