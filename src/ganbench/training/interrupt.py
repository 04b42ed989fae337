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


def _interrupted(exc: BaseException | None) -> bool:
    """A KeyboardInterrupt, or an error raised while unwinding from one: the signal lands wherever the main
    thread is, and inside torch's own context managers the unwinding can fail in turn (vmap's nesting then
    fails an internal assert, a RuntimeError whose context is the interrupt)."""
    for _ in range(8):  # a context chain is short; a cycle must not loop
        if exc is None:
            return False
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__context__
    return False


@contextlib.contextmanager
def status_on_interrupt(runs: list[RunDir]):
    """An interrupt inside the block writes status.json = interrupted at the last checkpoint's step, for
    every run still training (a member of a stack that diverged keeps its status), and leaves the block as a
    KeyboardInterrupt even when unwinding from it raised another error."""
    try:
        yield
    except BaseException as exc:
        if not _interrupted(exc):
            raise
        running = [run for run in runs if run.status().get("status") == "running"]
        # the members of a stack resume together, from the newest step all of them saved (train_group's
        # common_step): a diverged member saved nothing after it diverged, so its last checkpoint counts too
        step = common_step([run.ckpt_dir for run in runs])
        for run in running:
            run.write_status(status="interrupted", step=step,
                             message=f"interrupted; --resume continues from the checkpoint at step {step}")
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise KeyboardInterrupt(f"interrupted (unwinding raised {exc.__class__.__name__}: {exc})") from exc
