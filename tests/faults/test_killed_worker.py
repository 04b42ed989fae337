"""Fault family: a killed worker (SIGKILL, what the OOM killer sends). The pool is replaced, the task
runs again, the other tasks go on; a task that keeps killing its worker is given up as Lost (left queued
by the study), never recorded as a result."""

import json
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
from ganbench.study.worker import run_dir_name

from .tasks import pause_once_at_checkpoint, square_or_die


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


class _GatedPool(Pool):
    """The real pool, whose tasks run through pause_once_at_checkpoint: the first run to save its step-100
    checkpoint waits there, in its worker, to be killed."""

    def __init__(self, workers: int, gate: str):
        super().__init__(workers)
        self.gate = gate

    def run(self, fn, tasks, started=None):
        gated = [(key, (self.gate, 100, fn, *args)) for key, args in tasks]
        return super().run(pause_once_at_checkpoint, gated, started)


def test_study_goes_on_when_a_pool_worker_is_killed(tmp_path):
    """The README's promise: one worker killed mid-run, the study still finishes every run. The worker killed
    is the one whose run waits at its step-100 checkpoint (it wrote its pid there), so the kill lands mid-run
    however slow the machine: killing any pool child once a checkpoint appeared could hit an idle one after
    the last result, and a deadline on that moment failed under load."""
    gate, killed = tmp_path / "gate.json", []

    def killer():
        deadline = time.monotonic() + 600  # only against a hang: the gate opens once training reaches step 100
        while time.monotonic() < deadline and not gate.exists():
            time.sleep(0.02)
        if gate.exists():
            held = json.loads(gate.read_text())
            if held["pid"] in {p.pid for p in multiprocessing.active_children()}:  # one of this pool's workers
                os.kill(held["pid"], signal.SIGKILL)
                killed.append(held["run"])

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    summary = run_study(tmp_path / "s", StudySpec(**SPEC), _GatedPool(2, str(gate)), progress=False)
    thread.join()
    assert killed, "no worker was killed: the test did not test anything"
    assert summary["status"] == {"done": 2} and summary["left_queued"] == []
    runs = Store(tmp_path / "s" / "study.sqlite").runs()
    assert all(r["status"] == "done" for r in runs)
    mid_run = [r for r in runs if run_dir_name(r["run_id"]) == killed[0]]
    assert [(r["attempts"], r["faults"]) for r in mid_run] == [(2, 1)]  # the killed worker's run started again...
    assert all(r["attempts"] == r["faults"] + 1 for r in runs)  # ...and each restart is a counted fault
