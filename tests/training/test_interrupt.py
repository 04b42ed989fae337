"""A run stopped by a signal says so in status.json, at the step `--resume` continues from."""

import json
import signal
import subprocess
import sys
import time

import pytest

from ganbench.training import checkpoint as ckpt

TRAIN = [sys.executable, "-m", "ganbench", "train", "--data", "ring8", "--batch-size", "16", "--ckpt-every", "20",
         "--log-every", "10", "--device", "cpu", "--no-progress"]


def _wait_for_checkpoint(proc: subprocess.Popen, folder, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not ckpt.list_checkpoints(folder):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_leaves_interrupted_status_and_resume_continues(tmp_path, sig):
    out = tmp_path / "r"
    proc = subprocess.Popen([*TRAIN, "--steps", "1000000", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(proc, out / "checkpoints")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "ganbench: interrupted", err
    status = json.loads((out / "status.json").read_text())
    last = ckpt.checkpoint_steps(out / "checkpoints")[-1]
    assert status["status"] == "interrupted" and status["step"] == last > 0
    assert f"continues from the checkpoint at step {last}" in status["message"]
    # resume with nothing but a new budget: the stored config is reused
    done = subprocess.run([sys.executable, "-m", "ganbench", "train", "--out", str(out), "--resume",
                           "--steps", str(last + 10), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "done" and status["step"] == last + 10
    logged = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged == sorted(set(logged)) and logged[-1] == last + 10  # no line of the lost work survives


def test_sigterm_stops_an_ensemble_with_every_member_interrupted(tmp_path):
    for seed in (0, 1):
        (tmp_path / f"s{seed}.yaml").write_text(f"data: ring8\nseed: {seed}\nsteps: 1000000\nbatch_size: 16\n"
                                                "ckpt_every: 20\nlog_every: 10\ndevice: cpu\n")
    proc = subprocess.Popen([sys.executable, "-m", "ganbench", "ensemble", str(tmp_path / "s0.yaml"),
                             str(tmp_path / "s1.yaml"), "--out-dir", str(tmp_path / "runs"), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(proc, tmp_path / "runs" / "s1" / "checkpoints")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    statuses = [json.loads((tmp_path / "runs" / f"s{s}" / "status.json").read_text()) for s in (0, 1)]
    assert {s["status"] for s in statuses} == {"interrupted"}
    assert statuses[0]["step"] == statuses[1]["step"] > 0  # the step both members saved
