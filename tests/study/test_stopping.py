"""An interrupted pool driver signals a worker only while it is known to run, and never reaps one itself
(the pool's manager thread does): a worker that ended is sent nothing, even before anyone reaped it."""

import multiprocessing
import os
import signal
import time

import pytest

from ganbench.study import stopping


def _spawned(seconds: float):
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(seconds,))
    process.start()
    return process


def _no_signals(monkeypatch) -> list:
    sent: list = []
    monkeypatch.setattr(os, "kill", lambda *args: sent.append(("kill", args)))
    pidfd_send = lambda *args: sent.append(("pidfd", args))  # noqa: E731
    monkeypatch.setattr(signal, "pidfd_send_signal", pidfd_send, raising=False)
    return sent


def test_a_worker_that_ended_is_sent_nothing_though_no_one_reaped_it(monkeypatch):
    process = _spawned(0.0)
    try:
        multiprocessing.connection.wait([process.sentinel], 60)  # it ended; it is not reaped (a zombie)
        worker = stopping._Stoppable(process)
        sent = _no_signals(monkeypatch)
        assert worker.ended() and not worker.signal(signal.SIGKILL) and sent == []
        assert worker.pidfd is None  # closed as soon as it was seen to have ended
        assert process._popen.returncode is None  # nothing here reaped it (the manager thread would)
    finally:
        monkeypatch.undo()
        process.join()
    assert process.exitcode == 0


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfds are Linux's")
def test_a_running_worker_is_killed_through_its_pidfd_not_its_pid(monkeypatch):
    process = _spawned(60.0)
    worker = stopping._Stoppable(process)
    try:
        assert worker.pidfd is not None and not worker.ended()
        monkeypatch.setattr(os, "kill", lambda *args: pytest.fail(f"os.kill{args}: a pid, not the pidfd"))
        assert worker.signal(signal.SIGKILL)
        multiprocessing.connection.wait([process.sentinel], 60)
        assert worker.ended() and not worker.signal(signal.SIGKILL)
    finally:
        monkeypatch.undo()
        worker.close()
        process.kill()  # a zombie by now, or still running if the test failed before its own kill
        process.join()
    assert process.exitcode == -signal.SIGKILL
