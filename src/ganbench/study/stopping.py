"""Stopping an interrupted pool's workers (executors.Pool): each is signalled only while it is known to run,
and the driver leaves once every one is dead and reaped with its exit code recorded.

The pool's manager thread joins (reaps) its workers; a second waiter in the driver lost that race now and
then (ECHILD, which multiprocessing reads as "still running"): ``join()`` returned with ``is_alive()`` True,
and the kill that followed went to a pid that may have been reaped already. Here the driver never reaps: it
waits on the workers' sentinels, kills through pidfds, and then waits for the manager thread to end."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor


class _Stoppable:
    """A pool worker the driver may signal but does not reap. Its end shows on its sentinel (readable once it
    ended, whoever reaps it); a signal goes only to a worker whose sentinel is not readable, through a pidfd
    opened before that check (Linux): it names that process even if it ends and is reaped in between, so no
    signal reaches a pid the kernel gave away. Without pidfds it goes by pid right after the check."""

    def __init__(self, process):
        self.process, self.sentinel, self.pidfd = process, process.sentinel, None
        with contextlib.suppress(AttributeError, OSError):  # no pidfd_open (not Linux), or it ended: ESRCH
            self.pidfd = os.pidfd_open(process.pid)
        if self.ended():
            self.close()

    def ended(self) -> bool:
        from multiprocessing.connection import wait as ready

        return bool(ready([self.sentinel], 0))

    def signal(self, signum: int) -> bool:
        """Send ``signum`` if the worker has not ended; whether it was sent."""
        if self.ended():
            return False
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signum)
            else:
                os.kill(self.process.pid, signum)
        except ProcessLookupError:  # ended since the check (with a pidfd: it cannot be another process)
            return False
        return True

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _wait_ended(workers: list[_Stoppable], deadline: float) -> None:
    """Wait until every worker has ended (its sentinel readable) or ``deadline`` passed."""
    from multiprocessing.connection import wait as ready

    left = [worker.sentinel for worker in workers]
    while left and time.monotonic() < deadline:
        done = ready(left, max(0.0, deadline - time.monotonic()))
        left = [sentinel for sentinel in left if sentinel not in done]


def _reaped(manager, workers: list[_Stoppable]) -> None:
    """Wait for the manager thread, which joins each worker as it ends (a killed one breaks the pool, and it
    joins them all). An interrupt between the pool's start of its workers and of its thread (in submit) left
    no thread: then this one is the only reaper, and joins them itself."""
    try:
        if manager is not None:
            manager.join()
            return
    except RuntimeError:  # not started ("cannot join thread before it is started")
        pass
    for worker in workers:
        worker.process.join()


@contextlib.contextmanager
def stopped_on_interrupt(pool: ProcessPoolExecutor, stop_s: float):
    """An interrupt in the block stops ``pool``'s workers before it leaves (the pool's own exit would wait for
    the tasks they run): a SIGTERM of the driver (``Terminated``) is passed on as SIGINT, the workers get
    ``stop_s`` seconds to stop at the end of their training step, and the ones left are killed (at once on a
    second interrupt). It leaves once the pool's manager thread, the workers' only reaper, has joined them
    all: each is then dead with its exit code recorded."""
    from ..sigterm import Terminated

    try:
        yield
    except KeyboardInterrupt as exc:
        manager = pool._executor_manager_thread  # noqa: SLF001  (their reaper; shutdown drops it)
        workers = [_Stoppable(p) for p in (pool._processes or {}).values()]  # noqa: SLF001  (no public way)
        try:
            if isinstance(exc, Terminated):  # a terminal's Ctrl-C reached them already; a second won't wait
                for worker in workers:
                    worker.signal(signal.SIGINT)
            pool.shutdown(wait=False, cancel_futures=True)
            try:
                _wait_ended(workers, time.monotonic() + stop_s)
            except KeyboardInterrupt:  # a second interrupt: no more waiting, the ones left are killed at once
                pass
            for worker in workers:
                worker.signal(signal.SIGKILL)
            _reaped(manager, workers)
        finally:
            for worker in workers:
                worker.close()
        raise
