"""Fault family: a killed worker (SIGKILL, what the OOM killer sends). The pool is replaced, the task
runs again, the other tasks go on; a task that keeps killing its worker is given up as Lost (left queued
by the study), never recorded as a result."""

import multiprocessing
import os
import signal
import threading
import time

from ganbench.study import executors
from ganbench.study.executors import Lost, Pool
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec
from ganbench.study.store import Store

from .tasks import square_or_die


def test_a_killed_worker_is_replaced_its_task_rerun_and_a_task_that_always_kills_it_lost(tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "MAX_LOSSES", 1)
    tasks = [(0, (0, str(tmp_path / "always"), True)), (1, (1, str(tmp_path / "once"))), (2, (2,))]
    starts: list = []
    got = dict(Pool(1).run(square_or_die, tasks, started=starts.append))
    assert isinstance(got[0], Lost) and "worker died" in got[0].reason  # no result, and no traceback
    assert got[1] == 1 and got[2] == 4  # the others go on; the one killed once ran again
    assert sorted(starts) == [0, 0, 1, 1, 2]  # every start is reported, the starts again too
    assert (tmp_path / "once").exists()  # that worker really died


SPEC = {"name": "k", "base": {"batch_size": 16, "log_every": 50, "generator": {"name": "mlp", "hidden": 8},
                              "discriminator": {"name": "mlp", "hidden": 8}},
        "datasets": [{"data": {"name": "ring8", "n": 500}}], "seeds": 2, "budget": {"steps": 200},
        "eval": {"n": 100, "metrics": ["modes"], "every": 100}}


def test_study_goes_on_when_a_pool_worker_is_killed(tmp_path):
    """The README's promise: one worker killed mid-run, the study still finishes every run."""
    killed = []

    def killer():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            busy = list((tmp_path / "s" / "runs").glob("*/checkpoints/step_0000100.json"))
            kids = multiprocessing.active_children()
            if busy and kids:
                os.kill(kids[0].pid, signal.SIGKILL)
                killed.append(kids[0].pid)
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    summary = run_study(tmp_path / "s", StudySpec(**SPEC), Pool(2), progress=False)
    thread.join()
    assert killed, "no worker was killed: the test did not test anything"
    assert summary["status"] == {"done": 2} and summary["left_queued"] == []
    runs = Store(tmp_path / "s" / "study.sqlite").runs()
    assert all(r["status"] == "done" for r in runs)
    assert max(r["attempts"] for r in runs) >= 2  # the killed worker's run started again...
    assert all(r["attempts"] == r["faults"] + 1 for r in runs)  # ...and each restart is a counted fault
