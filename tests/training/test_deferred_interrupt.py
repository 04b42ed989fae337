"""Ctrl-C and SIGTERM take effect at the end of the training step they land in (training/interrupt.py): a
signal that lands inside the step is recorded and raised when the step returns, outside torch; a second one
during the same step raises at once; outside a step (a checkpoint's save) it raises at once, as before. The
handlers in place before are back afterwards, and a caller's own handler is never replaced.

Each test trains a tiny run in this process with a trainer whose step sends a signal to this very process
(os.kill) and then does its real work, which must complete."""

import json
import os
import signal
import threading

import pytest

from ganbench.cli import main
from ganbench.training import checkpoint as ckpt
from ganbench.training import interrupt, loop
from ganbench.sigterm import Terminated, sigterm_interrupts
from ganbench.training.interrupt import interrupts_between_steps, worker_sigint

ARGS = ["--batch-size", "16", "--steps", "40", "--ckpt-every", "10", "--log-every", "10", "--device", "cpu",
        "--no-progress"]
SIGNAL_AT = 25  # the step whose work the signal interrupts; the last checkpoint before it is step 20
CONFIG = {"data": "ring8", "batch_size": 16, "steps": 40, "ckpt_every": 10, "log_every": 10, "device": "cpu"}


@pytest.fixture(autouse=True)
def _python_handlers():
    """SIGINT with Python's own handler (what the command line has; a test session started in the background
    has SIGINT ignored) and SIGTERM at its default, restored afterwards whatever the test did."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


def _signalling_trainer(monkeypatch, at: int, signals: list, events: list):
    """Trainers whose step ``at`` sends ``signals`` to this process one after the other (noting 'sent SIG...'
    after each), then trains the step for real and notes 'finished <at>'; every step notes 'started <n>'."""
    make = loop.make_trainer

    def make_trainer(*args, **kwargs):
        trainer = make(*args, **kwargs)
        real_step = trainer.step

        def step(n):
            events.append(f"started {n}")
            if n == at:
                events.append(("handlers", signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)))
                for sig in signals:
                    os.kill(os.getpid(), sig)
                    events.append(f"sent {sig.name}")
            out = real_step(n)
            if n == at:
                events.append(f"finished {n}")
            return out

        trainer.step = step
        return trainer

    monkeypatch.setattr(loop, "make_trainer", make_trainer)


def _status(run) -> dict:
    return json.loads((run / "status.json").read_text())


def _handlers() -> tuple:
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_step_ends_the_run_when_the_step_returns(tmp_path, monkeypatch, capsys, sig):
    events: list = []
    _signalling_trainer(monkeypatch, SIGNAL_AT, [sig], events)
    out = tmp_path / "r"
    assert main(["train", "--data", "ring8", *ARGS, "--out", str(out)]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "ganbench: interrupted"
    steps = [e for e in events if isinstance(e, str)]
    assert steps[-3:] == [f"started {SIGNAL_AT}", f"sent {sig.name}", f"finished {SIGNAL_AT}"]  # and no more
    status = _status(out)
    assert status["status"] == "interrupted" and status["step"] == 20
    assert ckpt.checkpoint_steps(out / "checkpoints")[-1] == 20
    assert _handlers() == (signal.default_int_handler, signal.SIG_DFL)  # the command line's are gone too


def test_an_ensemble_interrupted_mid_step_records_every_member(tmp_path, monkeypatch, capsys):
    events: list = []
    _signalling_trainer(monkeypatch, SIGNAL_AT, [signal.SIGTERM], events)
    for seed in (0, 1):
        (tmp_path / f"s{seed}.yaml").write_text(json.dumps({**CONFIG, "seed": seed}))
    code = main(["ensemble", str(tmp_path / "s0.yaml"), str(tmp_path / "s1.yaml"), "--out-dir",
                 str(tmp_path / "runs"), "--no-progress"])
    assert code == 130, capsys.readouterr().err
    assert events[-1] == f"finished {SIGNAL_AT}"  # the stacked (vmap) step ran to its end
    for seed in (0, 1):
        status = _status(tmp_path / "runs" / f"s{seed}")
        assert status["status"] == "interrupted" and status["step"] == 20
    assert _handlers() == (signal.default_int_handler, signal.SIG_DFL)


def test_a_second_signal_in_the_same_step_raises_at_once(tmp_path, monkeypatch):
    """The way out of a step that hangs."""
    import ganbench

    events: list = []
    _signalling_trainer(monkeypatch, SIGNAL_AT, [signal.SIGINT, signal.SIGINT], events)
    with pytest.raises(KeyboardInterrupt):
        ganbench.train(CONFIG, tmp_path / "r", progress=False)
    steps = [e for e in events if isinstance(e, str)]
    assert steps[-2:] == [f"started {SIGNAL_AT}", "sent SIGINT"]  # the first was held, the second was not
    assert _status(tmp_path / "r")["status"] == "interrupted"
    assert _handlers() == (signal.default_int_handler, signal.SIG_DFL)


def test_a_signal_outside_a_step_raises_at_once(tmp_path, monkeypatch):
    """A checkpoint's save is not a step: the signal stops it where it lands, as before."""
    import ganbench

    save, events = ckpt.save_checkpoint, []

    def save_checkpoint(folder, step, *args, **kwargs):
        if step == 20:
            os.kill(os.getpid(), signal.SIGINT)
            events.append("after the signal")
        return save(folder, step, *args, **kwargs)

    monkeypatch.setattr(ckpt, "save_checkpoint", save_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        ganbench.train(CONFIG, tmp_path / "r", progress=False)
    assert events == []
    status = _status(tmp_path / "r")
    assert status["status"] == "interrupted" and status["step"] == 10
    assert _handlers() == (signal.default_int_handler, signal.SIG_DFL)


def test_a_callers_own_handlers_are_left_alone(tmp_path, monkeypatch):
    """A library caller's SIGINT handler gets the signal, mid-step too, and training goes on; SIGTERM at its
    default (a study's pool worker) is not turned into an interrupt."""
    import ganbench

    caught, events = [], []

    def own(signum, frame):
        caught.append(signum)

    signal.signal(signal.SIGINT, own)
    _signalling_trainer(monkeypatch, SIGNAL_AT, [signal.SIGINT], events)
    result = ganbench.train(CONFIG, tmp_path / "r", progress=False)
    assert result.status == "done" and result.step == 40 and caught == [signal.SIGINT]
    assert ("handlers", own, signal.SIG_DFL) in events  # what the step ran with
    assert _handlers() == (own, signal.SIG_DFL)


def test_handlers_are_restored_when_training_fails(tmp_path, monkeypatch):
    import ganbench

    def make_trainer(*args, **kwargs):
        trainer = make(*args, **kwargs)
        trainer.step = lambda n: (_ for _ in ()).throw(RuntimeError("a bug in the step"))
        return trainer

    make = loop.make_trainer
    monkeypatch.setattr(loop, "make_trainer", make_trainer)
    with sigterm_interrupts():
        with pytest.raises(RuntimeError, match="a bug in the step"):
            ganbench.train(CONFIG, tmp_path / "r", progress=False)
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the command line's, still in place
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert _handlers() == (signal.default_int_handler, signal.SIG_DFL)


def test_outside_the_main_thread_nothing_changes():
    """No handler can be set there (signal.signal raises): the block runs, its steps too, untouched."""
    seen = []

    def body():
        with interrupts_between_steps() as guard, guard.step():
            seen.append(_handlers())

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [(signal.default_int_handler, signal.SIG_DFL)]


def test_a_held_sigterm_is_still_terminated(tmp_path, monkeypatch):
    """The guard hands a held signal to the handler it replaced: the command line's SIGTERM raises Terminated
    at the step's end (it was a plain KeyboardInterrupt: a caller could not tell it from a Ctrl-C)."""
    import ganbench

    events: list = []
    _signalling_trainer(monkeypatch, SIGNAL_AT, [signal.SIGTERM], events)
    with sigterm_interrupts(), pytest.raises(Terminated) as caught:
        ganbench.train(CONFIG, tmp_path / "r", progress=False)
    assert "held until the end of a training step" in caught.value.__notes__
    assert events[-1] == f"finished {SIGNAL_AT}"
    status = _status(tmp_path / "r")
    assert status["status"] == "interrupted" and status["step"] == 20


def test_a_sigterm_raised_at_once_is_terminated_too():
    """Outside a step, and a second signal within one: the replaced handler raises, so SIGTERM is Terminated."""
    with sigterm_interrupts():
        with pytest.raises(Terminated), interrupts_between_steps():
            signal.raise_signal(signal.SIGTERM)
        with pytest.raises(Terminated), interrupts_between_steps() as guard, guard.step():
            signal.raise_signal(signal.SIGTERM)  # held
            signal.raise_signal(signal.SIGTERM)
            pytest.fail("the second SIGTERM was held too")


def test_a_held_signal_follows_the_replaced_handlers_rule():
    """A pool worker's handler raises only while a task runs (run_task); outside one it records the signal and
    raises nothing, and so it does when the guard hands it a held one (the guard raised KeyboardInterrupt)."""
    previous = signal.signal(signal.SIGINT, worker_sigint)
    try:
        with interrupts_between_steps() as guard, guard.step():
            signal.raise_signal(signal.SIGINT)
        assert interrupt._Worker.missed
    finally:
        interrupt._Worker.missed = False
        signal.signal(signal.SIGINT, previous)


def _failing_after_a_signal(monkeypatch, at: int, calls: list) -> None:
    """Trainers whose step ``at`` sends SIGINT to this process and then raises an error of its own, in the
    first training only (a study's later runs train normally); ``calls`` counts the trainings."""
    make = loop.make_trainer

    def make_trainer(*args, **kwargs):
        trainer = make(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            real_step = trainer.step

            def step(n):
                if n == at:
                    os.kill(os.getpid(), signal.SIGINT)
                    raise RuntimeError("a bug in the step")
                return real_step(n)

            trainer.step = step
        return trainer

    monkeypatch.setattr(loop, "make_trainer", make_trainer)


def test_an_error_of_the_step_after_a_held_signal_does_not_drop_the_interrupt(tmp_path, monkeypatch):
    """The step raised its own error after the signal was held: the interrupt wins, with the error as its
    context and named in the status (the interrupt was dropped, the error propagated)."""
    import ganbench

    _failing_after_a_signal(monkeypatch, SIGNAL_AT, [])
    with pytest.raises(KeyboardInterrupt) as caught:
        ganbench.train(CONFIG, tmp_path / "r", progress=False)
    assert isinstance(caught.value.__context__, RuntimeError)
    status = _status(tmp_path / "r")
    assert status["status"] == "interrupted" and status["step"] == 20
    assert "while handling RuntimeError: a bug in the step" in status["message"]


def test_a_study_stops_when_a_step_fails_after_a_held_signal(tmp_path, monkeypatch, capsys):
    """In a study the dropped interrupt made the run 'failed' (a result, not resumed) and the study went on
    to its next run although the user had pressed Ctrl-C; now it stops with 130, nothing recorded failed."""
    import yaml

    from ganbench.study.store import Store

    spec = {"name": "s", "base": {**CONFIG, "generator": {"name": "mlp", "hidden": 8},
                                  "discriminator": {"name": "mlp", "hidden": 8}},
            "datasets": [{"data": {"name": "ring8", "n": 300}}], "seeds": 2, "budget": {"steps": 40},
            "eval": {"n": 50, "metrics": ["modes"]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    calls: list = []
    _failing_after_a_signal(monkeypatch, SIGNAL_AT, calls)
    code = main(["study", "run", str(tmp_path / "s.yaml"), "--dir", str(tmp_path / "d"), "--executor", "inprocess",
                 "--no-progress", "--no-report"])
    err = capsys.readouterr().err
    assert code == 130 and err.strip().splitlines()[-1] == "ganbench: interrupted", err
    assert len(calls) == 1  # the second run never started
    assert sorted(r["status"] for r in Store(tmp_path / "d" / "study.sqlite").runs()) == ["queued", "running"]
