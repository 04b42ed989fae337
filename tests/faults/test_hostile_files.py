"""Fault family: special and oversized files in a stranger's run or study directory. A FIFO named like a
checkpoint sidecar, tensor file, metrics log, spec or result made `sample`, `train --resume`, `study report`
and `study rebuild` wait forever for a writer; a sparse status.json was read whole into memory; JSON or YAML
nested thousands deep ended in a RecursionError traceback. Each is now one line, exit 2 (a status.json that
cannot be read is still no status, as before). A hang fails these tests through an alarm, not a wall clock."""

import json
import os
import shutil
import signal
import subprocess

import pytest

from ganbench.limits import MAX_STORED_JSON, MAX_STORED_YAML

from .conftest import TINY, cli, refused


class Hung(BaseException):  # not an Exception: the CLI must not turn it into its one line
    pass


_RESCUERS: list = []  # one process per FIFO this test made


@pytest.fixture(autouse=True)
def deadline():
    """Fail a command that blocks (on opening a FIFO) instead of hanging the suite: an alarm where Python
    waits, and for native code that waits in open(2) holding the GIL (safetensors' loader; neither the alarm
    nor a thread can act there), a process per FIFO that opens it for writing after 30 s and closes it at
    once: the reader then sees an empty file and says something other than what the test expects."""
    def hung(signum, frame):
        raise Hung("the command waited on a special file")

    old = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 60)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)
    for rescuer in _RESCUERS:
        rescuer.kill()
        rescuer.wait()
    _RESCUERS.clear()


SIDECAR, TENSORS = "checkpoints/step_0000004.json", "checkpoints/step_0000004.safetensors"
RUN_S0 = "runs/ring8__base__s0"


def _sample(d, tmp_path):
    return ["sample", d, "--n", "5", "--out", tmp_path / "x.npz"]


def _resume(d, tmp_path):
    return ["train", *TINY, "--out", d, "--resume", "--steps", "6"]


def _eval(d, tmp_path):
    return ["eval", d, "--n", "50", "--metrics", "wasserstein", "--device", "cpu"]


def _fifo(path):
    path.unlink()
    _mkfifo(path)


def _mkfifo(path):
    os.mkfifo(path)
    # `: > FIFO` waits until a reader opens it, then closes it (EOF); it never ends unless one does
    _RESCUERS.append(subprocess.Popen(["sh", "-c", 'sleep 30; while :; do : > "$0"; sleep 1; done', str(path)]))


@pytest.mark.parametrize("name, command", [(SIDECAR, _sample), (TENSORS, _sample), ("metrics.jsonl", _resume),
                                           ("status.json", _resume), ("eval.json", _eval), ("config.yaml", _eval)])
def test_a_fifo_in_a_run_is_refused_not_waited_on(capsys, run, tmp_path, name, command):
    if not (run / name).exists():
        (run / name).write_text("{}")
    _fifo(run / name)
    refused(capsys, *command(run, tmp_path), says="a named pipe (FIFO), not a regular file")


def test_a_link_inside_the_run_to_a_fifo_inside_it_is_refused(capsys, run, tmp_path):
    _mkfifo(run / "pipe")
    (run / SIDECAR).unlink()
    (run / SIDECAR).symlink_to(run / "pipe")
    refused(capsys, *_sample(run, tmp_path), says="named pipe")


@pytest.mark.parametrize("name, command", [("spec.yaml", ["study", "report"]), ("study.sqlite", ["study", "report"]),
                                           (f"{RUN_S0}/result.json", ["study", "rebuild"])])
def test_a_fifo_in_a_study_is_refused_not_waited_on(capsys, tiny_study, tmp_path, name, command):
    study = tmp_path / "s"
    shutil.copytree(tiny_study, study)
    _fifo(study / name)
    refused(capsys, *command, study, says="a named pipe (FIFO), not a regular file")


@pytest.mark.parametrize("name, most, command", [("status.json", MAX_STORED_JSON, _resume),
                                                 ("config.yaml", MAX_STORED_YAML, _resume),
                                                 (SIDECAR, MAX_STORED_JSON, _sample),
                                                 ("eval.json", MAX_STORED_JSON, _eval)])
def test_a_file_larger_than_ganbench_writes_is_refused_unread(capsys, run, tmp_path, name, most, command):
    with open(run / name, "wb") as f:  # sparse: no data written
        f.truncate(most + 1)
    refused(capsys, *command(run, tmp_path), says=f"{most + 1:,} bytes, more than the {most:,}")


def test_a_status_nested_too_deeply_is_no_status(capsys, run, tmp_path):
    (run / "status.json").write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = cli(capsys, *_resume(run, tmp_path))
    assert code == 0, err
    assert json.loads((run / "status.json").read_text())["status"] == "done"


@pytest.mark.parametrize("name, text, command, says", [
    ("eval.json", '{"a": ' * 100_000 + "1" + "}" * 100_000, _eval, "not valid JSON (maximum recursion depth"),
    (SIDECAR, "[" * 100_000 + "]" * 100_000, _sample, "maximum recursion depth"),
    ("config.yaml", "a: " + "[" * 5_000 + "]" * 5_000, _resume, "YAML nested too deeply"),
])
def test_deeply_nested_files_are_one_line(capsys, run, tmp_path, name, text, command, says):
    (run / name).write_text(text)
    refused(capsys, *command(run, tmp_path), says=says)


def test_a_damaged_or_special_training_log_gives_the_report_no_curve_not_a_traceback(capsys, tiny_study, tmp_path):
    """The report's loss curves read each run's metrics.jsonl: lines that are no loss row (an edit, a kill
    mid-line) are skipped, and a FIFO or a file over the bound is no curve (a KeyError traceback before)."""
    study = tmp_path / "s"
    shutil.copytree(tiny_study, study)
    logs = sorted(study.glob("runs/*/metrics.jsonl"))
    assert len(logs) >= 2
    with logs[0].open("a") as f:
        f.write('{"step": 5, "d_loss": "x"}\n{"step": 6}\ngarbage\n[1, 2]\n{"step": 7, "d_loss": 1, "g_loss": null}\n')
    _fifo(logs[1])
    code, _, err = cli(capsys, "study", "report", study)
    assert code == 0, err
    assert "Traceback" not in err


def _efficiency(d, tmp_path):
    return ["eval", d, "--n", "50", "--metrics", "efficiency", "--device", "cpu", "--out", tmp_path / "e.json"]


def test_the_efficiency_metric_reads_the_training_log_as_stored_data(capsys, run, tmp_path):
    """`eval --metrics efficiency` takes the step time from metrics.jsonl, which it read with read_text: a FIFO
    there waited for a writer, a link read a file outside the run into eval.json, a last row without wall_s
    ended in a KeyError traceback and a line that is no row (a kill mid-line) in a message naming no file.
    Now the log is read as the report's loss curves read it: checked, bounded, rows that are none skipped."""
    log = run / "metrics.jsonl"
    rows = log.read_text()
    _fifo(log)
    refused(capsys, *_efficiency(run, tmp_path), says="a named pipe (FIFO), not a regular file")
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"step": 4, "sec_per_step": 7.5, "wall_s": 9.5}\n')
    log.unlink()
    log.symlink_to(outside)
    refused(capsys, *_efficiency(run, tmp_path), says="a link leading outside")
    log.unlink()
    log.write_text(rows + 'garbage\n[1]\n{"step": 5, "sec_per_step": "x", "wall_s": 1e400}\n{"step": 6}\n')
    code, _, err = cli(capsys, *_efficiency(run, tmp_path))
    assert code == 0, err
    found = json.loads((tmp_path / "e.json").read_text())
    metrics = [r["metrics"] for e in found["evaluations"].values() for r in e["results"]]
    expected = [json.loads(line) for line in rows.splitlines()]
    assert metrics and all(m["train_wall_s"] == expected[-1]["wall_s"] for m in metrics)
    assert all(m["sec_per_step"] > 0 for m in metrics)


BIG = "9" * 5_000  # past Python's 4,300-digit limit on int(str): json.loads raises ValueError, no JSONDecodeError


@pytest.mark.parametrize("name, text, command, says", [
    (SIDECAR, '{"step": %s, "config": {}}' % BIG, _sample, "not a valid checkpoint sidecar"),
    ("eval.json", '{"evaluations": {"k": {"step": %s}}}' % BIG, _eval, "not valid JSON"),
    ("metrics.jsonl", '{"step": %s}\n' % BIG, _resume, None),
    ("status.json", '{"step": %s}' % BIG, _resume, None),
])
def test_an_integer_of_thousands_of_digits_is_bad_json_not_a_traceback(capsys, run, tmp_path, name, text, command, says):
    """Only JSONDecodeError was caught around json.loads, and a 5,000-digit int raises a plain ValueError:
    `sample`, `eval` and `train --resume` ended in a traceback (exit 1). A log line or status of it is no row
    or no status (resume goes on, as for any torn line); a sidecar or eval.json is refused in one line."""
    with open(run / name, "a" if name == "metrics.jsonl" else "w") as f:
        f.write(text)
    if says is not None:
        refused(capsys, *command(run, tmp_path), says=says)
    else:
        code, _, err = cli(capsys, *command(run, tmp_path))
        assert code == 0, err
