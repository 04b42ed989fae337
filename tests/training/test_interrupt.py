"""A run stopped by a signal says so in status.json, at the step `--resume` continues from."""

import contextlib
import json
import signal
import subprocess
import sys
import time

import pytest

from ganbench.training import checkpoint as ckpt

TRAIN = [sys.executable, "-m", "ganbench", "train", "--data", "ring8", "--batch-size", "16", "--ckpt-every", "20",
         "--log-every", "10", "--device", "cpu", "--no-progress"]
# bounds, not expectations (each takes seconds on an idle machine): a child that must import torch and train
# 20 steps while other test sessions load both cores can take minutes, and a bound hit fails the test
PATIENCE_S = 300


def _default_signals() -> None:
    """In the child before exec: SIGINT and SIGTERM at their defaults and unblocked, so Python turns SIGINT
    into KeyboardInterrupt. A test session started as a background job (`pytest &` in a script) has SIGINT
    ignored, and a child would inherit that and train on."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def _training(args: list[str], folder):
    """A training child whose output goes to files (a pipe nobody reads could fill and stall it); it is
    killed if still running when the block ends, so a failed check never leaves a run training for hours."""
    with open(folder / "stdout.txt", "w") as out, open(folder / "stderr.txt", "w") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True, preexec_fn=_default_signals)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _stop(proc: subprocess.Popen, sig: signal.Signals, checkpoints, folder) -> str:
    """Wait until the child has written a complete checkpoint, send ``sig``, wait for it to exit; its stderr."""
    deadline = time.monotonic() + PATIENCE_S
    while not ckpt.list_checkpoints(checkpoints):
        assert proc.poll() is None, (folder / "stderr.txt").read_text()
        assert time.monotonic() < deadline, f"no checkpoint in {PATIENCE_S} s"
        time.sleep(0.1)
    proc.send_signal(sig)
    try:
        proc.wait(timeout=PATIENCE_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {PATIENCE_S} s after {sig.name}: the signal was lost")
    return (folder / "stderr.txt").read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_leaves_interrupted_status_and_resume_continues(tmp_path, sig):
    out = tmp_path / "r"
    with _training([*TRAIN, "--steps", "1000000", "--out", str(out)], tmp_path) as proc:
        err = _stop(proc, sig, out / "checkpoints", tmp_path)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "ganbench: interrupted", err
    status = json.loads((out / "status.json").read_text())
    last = ckpt.checkpoint_steps(out / "checkpoints")[-1]
    assert status["status"] == "interrupted" and status["step"] == last > 0
    assert f"continues from the checkpoint at step {last}" in status["message"]
    # resume with nothing but a new budget: the stored config is reused
    done = subprocess.run([sys.executable, "-m", "ganbench", "train", "--out", str(out), "--resume",
                           "--steps", str(last + 10), "--no-progress"], capture_output=True, text=True,
                          timeout=PATIENCE_S)
    assert done.returncode == 0, done.stderr
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "done" and status["step"] == last + 10
    logged = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged == sorted(set(logged)) and logged[-1] == last + 10  # no line of the lost work survives


def test_sigterm_stops_an_ensemble_with_every_member_interrupted(tmp_path):
    for seed in (0, 1):
        (tmp_path / f"s{seed}.yaml").write_text(f"data: ring8\nseed: {seed}\nsteps: 1000000\nbatch_size: 16\n"
                                                "ckpt_every: 20\nlog_every: 10\ndevice: cpu\n")
    args = [sys.executable, "-m", "ganbench", "ensemble", str(tmp_path / "s0.yaml"), str(tmp_path / "s1.yaml"),
            "--out-dir", str(tmp_path / "runs"), "--no-progress"]
    with _training(args, tmp_path) as proc:  # the members save in turn: s1's checkpoint comes last
        err = _stop(proc, signal.SIGTERM, tmp_path / "runs" / "s1" / "checkpoints", tmp_path)
    assert proc.returncode == 130, err
    statuses = [json.loads((tmp_path / "runs" / f"s{s}" / "status.json").read_text()) for s in (0, 1)]
    assert {s["status"] for s in statuses} == {"interrupted"}
    assert statuses[0]["step"] == statuses[1]["step"] > 0  # the step both members saved


def test_an_error_raised_while_unwinding_from_an_interrupt_still_records_it(tmp_path):
    """The signal can land inside torch's vmap nesting, whose unwinding then fails an internal assert (a
    RuntimeError whose context is the KeyboardInterrupt; seen once in CI on the ensemble test above): the run
    still records 'interrupted' and the block ends as an interrupt. An error with no interrupt behind it passes
    through and leaves the status alone."""
    from ganbench.training.interrupt import status_on_interrupt
    from ganbench.training.rundir import RunDir

    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    run.write_status(status="running", step=0)
    with pytest.raises(RuntimeError, match="a bug"):
        with status_on_interrupt([run]):
            raise RuntimeError("a bug")
    assert run.status()["status"] == "running"
    with pytest.raises(KeyboardInterrupt) as caught:
        with status_on_interrupt([run]):
            try:
                raise KeyboardInterrupt("signal SIGTERM")
            except KeyboardInterrupt:
                raise RuntimeError("!dynamicLayerStack.empty() INTERNAL ASSERT FAILED")  # noqa: B904 (as torch does)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert run.status()["status"] == "interrupted"
