"""Executors run study tasks and yield their results as they complete.

* ``inprocess``: one at a time in this process.
* ``pool``: a process pool (default one worker per core), each worker limited to
  ``cores // workers`` torch threads so workers do not oversubscribe the machine. Cores are those this
  process may run on (``taskset``, a container's CPU set), not all the machine has. Workers die with
  the driver (Linux: PR_SET_PDEATHSIG), so a killed study leaves nothing running.
* ``ray``: one Ray task per run (``pip install 'ganbench[ray]'``), imported only when chosen. Its tasks
  carry the driver's OpenMP wait policy (PASSIVE unless set) as their runtime environment.

Pool workers and Ray tasks import the plugin modules the driver imported (``--plugin``, plugins.imported)
before they run a task, so a plugin's components and metrics exist there as they do in the driver; Ray's
workers do not share the driver's ``sys.path``, so those not installed are shipped with the job (``plugin_sources``).

Executors are generic: a task is a key and the arguments of one function call, whatever it computes.
``run(fn, tasks, started=None)`` calls ``started(key)`` each time a task is handed to a worker that runs
it at once (again after a worker died), so the caller can count real starts rather than submissions; Ray
schedules by itself, so there it is called at each submission (a task may wait in Ray's queue before it
starts). A task whose worker process dies (SIGKILL, the OOM killer, a lost Ray node) is not a result: the
pool is replaced (or Ray gives another worker) and the task submitted again, up to ``MAX_LOSSES`` times,
by the executor itself (Ray's own ``max_retries`` is 0, so no retry goes unseen); after that the executor
yields ``Lost`` for it and the caller leaves it queued for the next resume. Either way the other tasks go on.

An interrupt of the pool's driver (Ctrl-C; SIGTERM under the command line's ``sigterm_interrupts``) stops
its workers instead of waiting for their tasks: a terminal's Ctrl-C reached them too, a SIGTERM is passed
on to them as SIGINT, so their training stops at the end of its step with ``status.json = interrupted``;
after ``STOP_S`` seconds the ones still alive are killed. A worker's SIGINT raises only while it runs a task
(training.interrupt.worker_sigint): an idle one leaves with the pool's shutdown, without a traceback and
without breaking the pool (whose manager would terminate the others mid-step). The driver's runs stay
``running`` in the store, and ``study resume`` continues them from their last checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Callable, Iterator
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from ..errors import UserError
from ..cores import usable_cores
from ..waitpolicy import DEFAULT, VARIABLE, for_children
from .stopping import stopped_on_interrupt

Task = tuple  # (key, args) ; fn(*args) -> result
MAX_LOSSES = 2  # times one task may take its worker down before it is left for the next resume
STOP_S = 20.0  # seconds an interrupted driver gives its pool workers to stop by themselves


@dataclass(frozen=True)
class Lost:
    """Yielded instead of a result when a task's worker died every time it was tried."""

    reason: str


WORKER_DIED = "its worker died (killed, or out of memory)"  # why a task was started again or lost


class _Losses:
    """Counts worker deaths per task: which tasks to submit again, which to give up as Lost."""

    def __init__(self, limit: int):
        self.limit, self.counts = limit, Counter()

    def lost(self, key, args, reason: str, again: list) -> Lost | None:
        self.counts[key] += 1
        if self.counts[key] > self.limit:
            return Lost(f"{reason} ({self.counts[key]} times); left queued for the next resume")
        again.append((key, args))
        return None


def _import_plugins(plugins: tuple[str, ...]) -> None:
    """Import the driver's plugins here; one that will not import (a Ray node without it) is said on stderr
    and the task goes on, so its run fails with its own reason (an unknown component) instead of the worker."""
    import sys

    from ..errors import UserError
    from ..plugins import import_plugins

    try:
        import_plugins(list(plugins))  # the driver imported them from this sys.path (spawn copies it)
    except UserError as exc:
        print(f"ganbench: {exc}", file=sys.stderr, flush=True)


def _die_with_parent(threads: int, noticed: list[str] = (), plugins: tuple[str, ...] = ()) -> None:
    """A pool worker's start: it dies with the driver, stops on SIGINT, runs ``threads`` torch threads, stays quiet
    about the notices the driver printed already (textsafe.notice_once) and imports the driver's plugins."""
    from ..textsafe import mark_noticed

    from ..training.interrupt import worker_sigint

    # a SIGINT handler of its own, set whatever the driver's was: an interrupted driver passes its interrupt on
    # as SIGINT (stopping.py), and a worker of a driver started in the background (SIGINT ignored,
    # which the spawned process inherits) would not see it and be killed STOP_S later, mid-step. It raises
    # only during a task (run_task); the worker was started with SIGINT blocked (_sigint_blocked), so one
    # that came while it started is handled now, not by Python's own handler with a traceback
    signal.signal(signal.SIGINT, worker_sigint)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    mark_noticed(list(noticed))
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    import torch

    torch.set_num_threads(threads)
    _thread_lock_for_tqdm()
    _import_plugins(plugins)  # after PR_SET_PDEATHSIG: a slow import still dies with the driver


def _thread_lock_for_tqdm() -> None:
    """tqdm's class-wide write lock, made by its first bar (disabled ones too), holds a multiprocessing lock:
    a named semaphore the worker registers with the driver's resource tracker. A worker that is killed (after
    STOP_S, by the OOM killer, or terminated with a broken pool) never unlinks it, and the tracker does so at
    the driver's exit, saying "resource_tracker: There appear to be N leaked semaphore objects". In a spawned
    worker that lock is shared with no other process, so a thread lock guards the same writes."""
    import threading

    from tqdm.std import tqdm

    tqdm.set_lock(threading.RLock())


class InProcess:
    name = "inprocess"
    threads = None
    separate_processes = False  # tasks run in this process (runner.py computes nothing beside them)

    def run(self, fn: Callable, tasks: list[Task], started: Callable | None = None) -> Iterator[tuple]:
        for key, args in tasks:
            if started is not None:
                started(key)
            yield key, fn(*args)

    def close(self) -> None:
        pass


class Pool:
    name = "pool"
    separate_processes = True

    def __init__(self, workers: int | None = None):
        cores = usable_cores()
        self.workers = max(1, workers or cores)
        self.threads = max(1, cores // self.workers)

    def run(self, fn: Callable, tasks: list[Task], started: Callable | None = None) -> Iterator[tuple]:
        with for_children():  # the spawned workers load torch with waiting threads asleep (waitpolicy.py)
            yield from self._run(fn, tasks, started)

    def _run(self, fn: Callable, tasks: list[Task], started: Callable | None) -> Iterator[tuple]:
        import multiprocessing as mp

        from ..plugins import imported
        from ..textsafe import noticed
        from ..training.interrupt import run_task

        queue, losses = deque(tasks), _Losses(MAX_LOSSES)
        while queue:  # one pass per pool: a dead worker breaks the pool, a fresh one takes what is left
            with (ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_die_with_parent,
                                      initargs=(self.threads, noticed(), imported())) as pool,
                  stopped_on_interrupt(pool, STOP_S)):
                pending: dict = {}
                broken = False
                while pending or (queue and not broken):
                    # only as many tasks in flight as workers, so a dead worker takes down (and charges)
                    # the tasks that were running, not the whole queue
                    while queue and not broken and len(pending) < self.workers:
                        key, args = queue.popleft()
                        try:
                            with _sigint_blocked():  # a worker it starts inherits the mask
                                pending[pool.submit(run_task, fn, *args)] = (key, args)
                        except BrokenProcessPool:
                            queue.appendleft((key, args))
                            broken = True
                            continue
                        if started is not None:  # no more tasks in flight than workers: it starts now
                            started(key)
                    if not pending:
                        break
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        key, args = pending.pop(fut)
                        try:
                            result = fut.result()
                        except BrokenProcessPool:  # which task's worker died is unknown: all in flight retry
                            broken = True
                            again: list = []
                            result = losses.lost(key, args, WORKER_DIED, again)
                            queue.extendleft(again)
                            if result is None:
                                continue
                        yield key, result

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _sigint_blocked():
    """SIGINT blocked in this thread within the block (one that comes is raised when it ends): a pool worker
    started here inherits the blocked mask and unblocks it once its own handler is set (_die_with_parent);
    while Python starts, its default handler would end the worker with a traceback."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast, with one line, when a Ray head does not answer."""
    host, _, port = address.rpartition(":")
    if address.startswith("ray://"):
        host, _, port = address[len("ray://"):].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise UserError(f"Ray cluster at {address} does not answer ({exc.__class__.__name__}: {exc})") from None


def with_plugins(plugins: tuple[str, ...], fn: Callable, *args):
    """``fn(*args)`` after importing the driver's plugin modules (a Ray task's process is not the driver's)."""
    _import_plugins(plugins)
    return fn(*args)


def plugin_sources(plugins: tuple[str, ...]) -> list[str]:
    """The files or package folders of the driver's plugin modules that Ray must ship to its workers (their
    ``py_modules``): a Ray worker does not have the driver's ``sys.path``, so a ``--plugin`` found through
    ``PYTHONPATH`` or the current folder would not import there, and every run would fail. Modules installed
    in site-packages are expected on every node, as ganbench itself is, and are not shipped."""
    import sys

    sources: list[str] = []  # Ray accepts local paths only in the job's runtime_env (ray.init), not a task's
    for name in plugins:
        top = sys.modules.get(name.split(".")[0])
        paths = list(getattr(top, "__path__", None) or []) if top is not None else []
        source = paths[0] if len(paths) == 1 else getattr(top, "__file__", None) if not paths else None
        if source and not any(part in ("site-packages", "dist-packages") for part in source.split(os.sep)):
            if source not in sources:
                sources.append(source)
    return sources


class RayExecutor:
    name = "ray"
    separate_processes = True

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 retries: int = MAX_LOSSES):
        try:
            import ray
        except ImportError:
            raise UserError("the ray executor needs Ray: pip install 'ganbench[ray]'") from None
        address = address or os.environ.get("RAY_ADDRESS")
        if address and address != "local":
            check_address(address)
        self.ray = ray
        if not ray.is_initialized():  # (a caller who started Ray itself ships its plugins itself)
            from ..plugins import imported

            shipped = plugin_sources(imported())
            ray.init(address=None if address in (None, "local") else address, include_dashboard=False,
                     log_to_driver=False, configure_logging=False,
                     runtime_env={"py_modules": shipped} if shipped else None)
        # Ray's workers are started by its raylet, not by us: the wait policy (waitpolicy.py) reaches them
        # only as the tasks' runtime environment; the driver's own setting, ACTIVE included, is passed on
        policy = {VARIABLE: os.environ.get(VARIABLE, DEFAULT)}
        # max_retries 0: a task whose worker died is submitted again by run(), which reports each start
        self.opts = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": 0,
                     "runtime_env": {"env_vars": policy}}
        self.retries = retries
        self.threads = max(1, int(num_cpus))

    def run(self, fn: Callable, tasks: list[Task], started: Callable | None = None) -> Iterator[tuple]:
        from ..plugins import imported

        remote = self.ray.remote(**self.opts)(with_plugins)
        plugins = imported()
        lost_worker = (self.ray.exceptions.WorkerCrashedError, self.ray.exceptions.NodeDiedError,
                       self.ray.exceptions.OutOfMemoryError)
        losses, pending = _Losses(self.retries), {}

        def submit(key, args) -> None:
            pending[remote.remote(plugins, fn, *args)] = (key, args)
            if started is not None:  # Ray starts it when it has the resources (a queued task counts already)
                started(key)

        for key, args in tasks:
            submit(key, args)
        while pending:
            done, _ = self.ray.wait(list(pending), num_returns=1)
            for ref in done:
                key, args = pending.pop(ref)
                try:
                    result = self.ray.get(ref)
                except lost_worker as exc:  # submitted again here, not by Ray, so each start and loss is seen
                    again: list = []
                    result = losses.lost(key, args, f"{WORKER_DIED} ({exc.__class__.__name__})", again)
                    for key_args in again:
                        submit(*key_args)
                    if result is None:
                        continue
                yield key, result

    def close(self) -> None:
        pass


MAX_WORKERS = 256  # processes; more would start as many Python + torch interpreters as the study has runs


def check_workers(workers: int | None) -> None:
    """A pool size the user asked for (None: one per core)."""
    if workers is not None and not 1 <= workers <= MAX_WORKERS:  # 0 and -3 meant "one per core" and 1, silently
        raise UserError(f"--workers must be from 1 to {MAX_WORKERS}; got {workers}")


def make_executor(name: str, workers: int | None = None, address: str | None = None, num_gpus: float = 0):
    check_workers(workers)
    if num_gpus < 0 or num_gpus != num_gpus:
        raise UserError(f"--gpus-per-run must be >= 0; got {num_gpus}")
    if name == "inprocess":
        return InProcess()
    if name == "pool":
        return Pool(workers)
    if name == "ray":
        return RayExecutor(address, num_gpus=num_gpus)
    raise UserError(f"unknown executor '{name}'; valid: inprocess, pool, ray")
