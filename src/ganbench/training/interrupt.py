"""Stopping a run by a signal: SIGTERM behaves like Ctrl-C, and either one leaves a truthful status.

The loop catches ``KeyboardInterrupt`` and records ``status.json = interrupted`` at the step of the last
checkpoint, which is where ``--resume`` continues; the work done after it is lost. SIGTERM is turned
into ``KeyboardInterrupt`` only by the command line (``sigterm_interrupts``, ganbench/sigterm.py): a library
caller or a study's pool worker keeps whatever SIGTERM disposition its process has.

``interrupts_between_steps`` makes such a signal take effect at the end of the training step it lands in:
while a step runs, the signal is only recorded, and handed to the handler it came past when the step
returns, outside torch (raised inside it, the unwinding of torch's own context managers can fail;
``status_on_interrupt`` still copes with that, for the signals that raise at once): SIGTERM is still
``Terminated`` then. A second signal during the same step raises at once. A step that raises an error of
its own after the signal came ends as the interrupt all the same (the error its context): the user asked to stop.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

from ..sigterm import raise_terminated
from ..textsafe import one_line
from .checkpoint import common_step
from .rundir import RunDir


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
        error = exc.__context__ if isinstance(exc, KeyboardInterrupt) else None  # a step's own (_Deferred.step)
        during = f" while handling {error.__class__.__name__}: {one_line(error, 300)}" if isinstance(
            error, Exception) else ""
        message = f"interrupted{during}; --resume continues from the checkpoint at step {step}"
        for run in running:
            run.write_status(status="interrupted", step=step, message=message)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise KeyboardInterrupt(f"interrupted (unwinding raised {exc.__class__.__name__}: {exc})") from exc


class _Worker:
    missed = False  # a SIGINT reached this pool worker between tasks: it starts no task any more


def run_task(fn, *args):
    """``fn(*args)``, as a study's pool worker runs a task: ``worker_sigint`` raises KeyboardInterrupt only
    while this frame is on the stack, and after a SIGINT that came between tasks no task starts (those
    already in the pool's queue when its driver was interrupted, or given to a worker still starting): the
    first one it refuses interrupts the driver too, which stops the pool."""
    if _Worker.missed:
        raise KeyboardInterrupt("signal SIGINT, before the task started")
    return fn(*args)


def worker_sigint(signum, frame):
    """A study pool worker's SIGINT handler: during a task (``run_task``) it raises KeyboardInterrupt, as
    Python's own handler does (and training defers it to the end of the step); between tasks it is only
    recorded. Raised there, inside concurrent.futures' worker loop, it would end the worker with a
    traceback and break the pool, whose manager then terminates the other workers mid-step; the idle worker
    leaves with the pool's own shutdown instead."""
    while frame is not None:
        if frame.f_code is run_task.__code__:
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")
        frame = frame.f_back
    _Worker.missed = True


# the handlers that raise KeyboardInterrupt: Python's own for SIGINT, a pool worker's during a task, and the
# command line's for SIGTERM. A handler of anyone else (a library caller's own, SIG_IGN, SIG_DFL, one set
# from C) is left alone.
_DEFERRABLE = (signal.default_int_handler, worker_sigint, raise_terminated)


class _Deferred:
    """The handler of SIGINT/SIGTERM while the loop runs: outside a step it raises at once (as before); inside
    one, the first signal is recorded and raised by ``step``'s end, a second raises at once. Whenever it
    raises, it is the replaced handler that acts (``previous``): SIGTERM stays ``Terminated``, and a pool
    worker's SIGINT follows ``worker_sigint``'s rule."""

    def __init__(self):
        self.in_step = False
        self.pending: int | None = None
        self.previous: dict[int, object] = {}

    def handle(self, signum, frame):
        if self.in_step and self.pending is None:
            self.pending = signum
            return
        self.pending = None
        self.previous[signum](signum, frame)

    def _raise_held(self) -> None:
        """The held signal, handed to the handler it came past, as if it landed here (the step's end)."""
        signum, self.pending = self.pending, None
        try:
            self.previous[signum](signum, sys._getframe(1))  # noqa: SLF001  (worker_sigint reads the stack)
        except KeyboardInterrupt as exc:
            exc.add_note("held until the end of a training step")
            raise

    @contextlib.contextmanager
    def step(self):
        """One training step: a signal that lands in it is raised when it returns; when it raises an error of
        its own instead, the interrupt is raised all the same, with that error as its context. The user asked
        to stop: a run recorded failed would let a study go on, while an interrupted one resumes from its last
        checkpoint, where an error of the run's own comes again and is recorded then."""
        self.in_step, self.pending = True, None
        try:
            yield
        finally:  # raised here while the step's own error unwinds, the interrupt takes that error as its context
            self.in_step = False
            if self.pending is not None:
                self._raise_held()


@contextlib.contextmanager
def interrupts_between_steps():
    """Within the block, a SIGINT or SIGTERM whose handler raises KeyboardInterrupt (Python's default for
    SIGINT; ``sigterm_interrupts`` for SIGTERM) is deferred to the end of each ``guard.step()`` block; the
    handlers in place before are restored on leaving it, on error too. Outside the main thread (where no
    handler can be set), or for a signal with any other handler, nothing changes."""
    guard = _Deferred()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(sig)
            if any(handler is h for h in _DEFERRABLE):
                guard.previous[sig] = handler
                signal.signal(sig, guard.handle)
        yield guard
    finally:
        for sig, handler in guard.previous.items():
            signal.signal(sig, handler)
