"""Fault family: the study driver gets SIGTERM (a batch scheduler, `timeout`, systemd). Under the command
line it acts as Ctrl-C: a pool passes it on to its workers as SIGINT and stops them instead of waiting for
their tasks, and the command exits 130 with one line."""

import os
import signal
import threading
import time

import pytest

from ganbench.study.executors import Pool
from ganbench.training.interrupt import Terminated, sigterm_interrupts

from .tasks import wait_for_interrupt


def test_sigterm_to_the_driver_stops_the_pool_workers_through_their_interrupt(tmp_path):
    started, stopped = tmp_path / "started", tmp_path / "stopped"
    pool = Pool(1)

    def terminate_once_started():
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=terminate_once_started, daemon=True)
    with sigterm_interrupts():
        thread.start()
        with pytest.raises(Terminated):  # before: the pool's exit waited for the task (here 60 s, then a result)
            list(pool.run(wait_for_interrupt, [(0, (str(started), str(stopped)))]))
    thread.join()
    assert started.exists(), "the task never started: the test did not test anything"
    assert stopped.exists()  # the worker got the interrupt, as a training loop does, and could record it
    import multiprocessing

    assert not [p for p in multiprocessing.active_children() if "SpawnProcess" in p.name]  # none left running
