"""Fault family: the study driver gets SIGTERM (a batch scheduler, `timeout`, systemd). Under the command
line it acts as Ctrl-C: a pool passes it on to its workers as SIGINT and stops them instead of waiting for
their tasks, and the command exits 130 with one line."""

import os
import signal
import threading
import time

import pytest

from ganbench.sigterm import Terminated, sigterm_interrupts
from ganbench.study import executors
from ganbench.study.executors import Pool
from ganbench.training import interrupt
from ganbench.training.interrupt import interrupts_between_steps, run_task, worker_sigint

from .tasks import outlast_one_interrupt, tqdm_made_a_semaphore, wait_for_interrupt


def _terminate_when(ready, limit_s: float = 120.0) -> threading.Thread:
    """A thread that sends SIGTERM to this process once ``ready()`` is true."""
    def run():
        deadline = time.monotonic() + limit_s
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    return threading.Thread(target=run, daemon=True)


_BEFORE: set = set()  # the spawned children alive when the test began (another test's, in this xdist worker)


@pytest.fixture(autouse=True)
def _children_before():
    import multiprocessing

    _BEFORE.clear()
    _BEFORE.update(p.pid for p in multiprocessing.active_children())
    yield


def _pool_workers_left() -> list:
    """The pool workers this test started that are not known dead, checked at once: the driver leaves only
    after the pool's manager thread, their one reaper, recorded every exit (stopping.py). With the driver
    also waiting for them, the loser of that race got ECHILD, read as "still running" (CI69, CI71: join()
    returned with is_alive() True), and this check needed a 10 s grace."""
    import multiprocessing

    return [p for p in multiprocessing.active_children() if "SpawnProcess" in p.name and p.pid not in _BEFORE]


@pytest.fixture
def _driver_waits(monkeypatch) -> list:
    """The pids of this test's children that its main thread (the driver) waited for through multiprocessing
    (Process.join/is_alive call os.waitpid). The pool's manager thread reaps the workers; a driver that waited
    too raced it (_pool_workers_left)."""
    import sys

    waits: list = []
    real = os.waitpid

    def waitpid(pid, options):
        caller = sys._getframe(1).f_globals.get("__name__")
        if threading.current_thread() is threading.main_thread() and caller == "multiprocessing.popen_fork":
            if pid not in _BEFORE:  # not another test's child, which Process.start polls
                waits.append(pid)
        return real(pid, options)

    monkeypatch.setattr(os, "waitpid", waitpid)
    return waits


def test_sigterm_to_the_driver_stops_the_pool_workers_through_their_interrupt(tmp_path, _driver_waits):
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
    assert _driver_waits == []  # it left the reaping to the pool's manager thread
    assert not _pool_workers_left()  # none left running


def test_an_idle_worker_leaves_quietly_when_the_driver_is_interrupted(tmp_path, capfd):
    # two workers, one task done at once: its worker waits in concurrent.futures' loop when the SIGINT comes.
    # Python's own handler raised there: the worker died with a traceback ("Process SpawnProcess-N: ...") and
    # broke the pool, whose manager then terminated the other worker, mid-step in a study
    quick, started, stopped = (tmp_path / name for name in ("quick", "started", "stopped"))
    tasks = [(0, (str(quick), str(tmp_path / "unused"), 0.0)), (1, (str(started), str(stopped)))]
    results = []
    thread = _terminate_when(lambda: results and started.exists())
    with sigterm_interrupts():
        thread.start()
        with pytest.raises(Terminated):
            for key, result in Pool(2).run(wait_for_interrupt, tasks):
                results.append((key, result))
    thread.join()
    assert results == [(0, "not interrupted")], "the quick task did not end first: no worker was idle"
    assert stopped.exists()  # the running task got its interrupt (the pool's manager did not terminate it)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "SpawnProcess" not in err, err
    assert not _pool_workers_left()


def test_a_second_sigterm_kills_the_workers_at_once(tmp_path, monkeypatch, _driver_waits):
    # the task outlasts the first interrupt, as a long training step does; the second SIGTERM came during
    # the driver's wait and left it, and the pool's own exit then waited for the task (here: until 'finished')
    monkeypatch.setattr(executors, "STOP_S", 600.0)
    started, first, finished = tmp_path / "started", tmp_path / "first", tmp_path / "finished"
    second = _terminate_when(first.exists)
    with sigterm_interrupts():
        first_one = _terminate_when(started.exists)
        first_one.start()
        second.start()
        with pytest.raises(Terminated):
            # the task's wait (120 s) only has to outlast the second SIGTERM: with 10 s a loaded machine, slow to
            # pass on the first one and to send the second, let it run out ('finished') though nothing was wrong
            list(Pool(1).run(outlast_one_interrupt, [(0, (str(started), str(first), str(finished), 120.0))]))
    first_one.join()
    second.join()
    assert first.exists(), "the worker never got the first interrupt: the test did not test anything"
    assert not finished.exists()  # killed at the second SIGTERM, not left to run out its wait
    assert _driver_waits == []  # the kill went to a worker known to run, and the manager thread reaped it
    assert not _pool_workers_left()


def test_a_worker_interrupt_raises_only_during_a_task_and_is_deferred_by_training(tmp_path):
    previous = signal.signal(signal.SIGINT, worker_sigint)
    try:
        os.kill(os.getpid(), signal.SIGINT)  # between tasks: recorded, nothing raised
        time.sleep(0.05)
        for _ in range(2):  # nor the next one: the driver may have queued two before it stopped
            with pytest.raises(KeyboardInterrupt, match="before the task started"):
                run_task(lambda: pytest.fail("a task started after an interrupt that came between tasks"))
        interrupt._Worker.missed = False  # this process is pytest's, not a worker that will end

        steps = []

        def train():
            with interrupts_between_steps() as guard:  # worker_sigint is deferred as Python's own handler is
                for step in range(3):
                    with guard.step():
                        os.kill(os.getpid(), signal.SIGINT)
                        time.sleep(0.05)
                        steps.append(step)

        with pytest.raises(KeyboardInterrupt) as caught:
            run_task(train)
        assert steps == [0] and "held until the end of a training step" in caught.value.__notes__
        assert signal.getsignal(signal.SIGINT) is worker_sigint  # put back when training ended
    finally:
        interrupt._Worker.missed = False
        signal.signal(signal.SIGINT, previous)


def test_a_pool_worker_makes_no_semaphore_for_tqdm():
    # a worker killed after STOP_S (or with a broken pool) left tqdm's multiprocessing lock to the driver's
    # resource tracker: "There appear to be N leaked semaphore objects to clean up at shutdown" at its exit
    assert list(Pool(1).run(tqdm_made_a_semaphore, [(0, ())])) == [(0, False)]


@pytest.fixture
def _sigterm_noted():
    """SIGTERM with a handler of the test's own that only notes it: without the command line's handler, a
    SIGTERM is noted and the command goes on (at its default it would end the test session)."""
    noted: list = []

    def note(signum, frame):
        noted.append(signum)

    previous = signal.signal(signal.SIGTERM, note)
    yield noted
    assert signal.getsignal(signal.SIGTERM) is note  # put back when the command ended
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_after_a_studys_runs_ends_the_command_as_ctrl_c(tmp_path, monkeypatch, capsys, _sigterm_noted):
    """While `study run` writes its report (and `study confirm` its summaries, in the same handler after the
    runs), SIGTERM was at its default: the process died without its line, exit -15."""
    import yaml

    from ganbench.cli import main
    from ganbench.report import html

    real = html.build_report

    def build_report(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(html, "build_report", build_report)
    spec = {"name": "s", "base": {"batch_size": 16, "log_every": 5, "ckpt_every": 5, "device": "cpu",
                                  "generator": {"name": "mlp", "hidden": 8}, "discriminator": {"name": "mlp", "hidden": 8}},
            "datasets": [{"data": {"name": "ring8", "n": 300}}], "seeds": 1, "budget": {"steps": 10},
            "eval": {"n": 50, "metrics": ["modes"]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    code = main(["study", "run", str(tmp_path / "s.yaml"), "--dir", str(tmp_path / "d"), "--executor", "inprocess",
                 "--no-progress"])
    captured = capsys.readouterr()
    assert "1 done" in captured.out  # the runs had finished
    assert code == 130 and captured.err.strip().splitlines()[-1] == "ganbench: interrupted", captured.err
    assert _sigterm_noted == [] and not (tmp_path / "d" / "report.html").exists()


def test_sigterm_acts_as_ctrl_c_in_any_command(monkeypatch, capsys, _sigterm_noted):
    """`list` stands for the commands that had no SIGTERM handler at all (eval, metrics, sample, data, study
    report, rebuild, merge, verify, plan)."""
    from ganbench import registry
    from ganbench.cli import main

    real = registry.load_components

    def load_components():
        signal.raise_signal(signal.SIGTERM)
        return real()

    monkeypatch.setattr(registry, "load_components", load_components)
    assert main(["list"]) == 130
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "ganbench: interrupted\n" and _sigterm_noted == []
