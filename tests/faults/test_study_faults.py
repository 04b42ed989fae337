"""Fault family: infrastructure faults during a study (disk full, I/O error, out of memory, a locked or
full store). They are retried with backoff or left queued, never recorded as a run's result; a run's own
failure is a result, and ``study resume --retry-failed`` queues it again on purpose."""

import errno
import json
import sqlite3

import pytest
import yaml

from ganbench.errors import UserError
from ganbench.study import faults
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec
from ganbench.study.store import Store
from ganbench.study.worker import run_dir_name
from ganbench.training import loop

from .conftest import cli

_real_train = loop.train_group

SPEC = {"name": "f", "base": {"batch_size": 16, "log_every": 10, "generator": {"name": "mlp", "hidden": 8},
                              "discriminator": {"name": "mlp", "hidden": 8}},
        "datasets": [{"data": {"name": "ring8", "n": 300}}], "seeds": 2, "budget": {"steps": 20},
        "eval": {"n": 50, "metrics": ["modes"]}}


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch):
    monkeypatch.setattr(faults, "BACKOFF_S", 0.0)


def _flaky_train(monkeypatch, exc, times):
    """loop.train_group raises ``exc`` on its first ``times`` calls, then trains for real."""
    real, calls = loop.train_group, []

    def train(*a, **k):
        calls.append(1)
        if len(calls) <= times:
            raise exc
        return real(*a, **k)

    monkeypatch.setattr(loop, "train_group", train)
    return calls


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device", "/x/step.safetensors"),
                                 OSError(errno.EFBIG, "File too large", "/x/step.safetensors"),
                                 OSError(errno.EIO, "Input/output error"), MemoryError(),
                                 sqlite3.OperationalError("database or disk is full"),
                                 RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                 RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: "
                                              "can't allocate memory: you tried to allocate 10000000000000 bytes. "
                                              "Error code 12 (Cannot allocate memory)")],
                         ids=["ENOSPC", "EFBIG", "EIO", "MemoryError", "sqlite-full", "cuda-oom", "cpu-oom"])
def test_transient_fault_is_retried_not_recorded(tmp_path, monkeypatch, exc):
    _flaky_train(monkeypatch, exc, times=1)
    summary = run_study(tmp_path / "s", StudySpec(**SPEC), InProcess(), progress=False)
    assert summary["status"] == {"done": 2} and summary["left_queued"] == []
    runs = Store(tmp_path / "s" / "study.sqlite").runs()  # the first run: started twice, one fault
    assert [(r["attempts"], r["faults"]) for r in runs] == [(2, 1), (1, 0)]


def test_attempts_count_starts_not_submissions_when_the_driver_is_killed(tmp_path, monkeypatch):
    """The driver killed while the first run trains: the second never started, so after the resume it
    shows 1 attempt (it showed 2: every queued run was counted when the round began); neither had a
    fault of the machine."""
    real = loop.train_group

    def killed(*a, **k):
        monkeypatch.setattr(loop, "train_group", real)
        raise KeyboardInterrupt  # as the driver's death ends it: no outcome of any kind

    monkeypatch.setattr(loop, "train_group", killed)
    with pytest.raises(KeyboardInterrupt):
        run_study(tmp_path / "s", StudySpec(**SPEC), InProcess(), progress=False)
    runs = Store(tmp_path / "s" / "study.sqlite").runs()
    assert [(r["status"], r["attempts"]) for r in runs] == [("running", 1), ("queued", 0)]
    summary = run_study(tmp_path / "s", StudySpec(**SPEC), InProcess(), progress=False)
    assert summary["status"] == {"done": 2}
    runs = Store(tmp_path / "s" / "study.sqlite").runs()
    assert [(r["attempts"], r["faults"]) for r in runs] == [(2, 0), (1, 0)]


def test_persistent_fault_leaves_runs_queued_then_resume_finishes_them(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    calls = _flaky_train(monkeypatch, OSError(errno.ENOSPC, "No space left on device"), times=10**6)
    code, out, err = cli(capsys, "study", "run", spec, "--dir", tmp_path / "s", "--executor", "inprocess",
                         "--no-progress")
    assert code == 1 and "left queued" in err and "Traceback" not in err
    assert len(calls) == 2 * (faults.RETRIES + 1)  # bounded: every run tried 1 + RETRIES times
    said = [line.split()[0] for line in out.splitlines() if "No space left" in line]  # with --no-progress too
    assert sorted(said) == ["queued"] * 2 + ["retry"] * (2 * faults.RETRIES)
    runs = Store(tmp_path / "s" / "study.sqlite").runs()
    assert [r["status"] for r in runs] == ["queued", "queued"]  # no result recorded, nothing 'failed'
    assert not list((tmp_path / "s").rglob("result.json"))  # nor in the runs' own records (study rebuild)
    assert all("No space left" in r["error"] for r in runs)
    assert [(r["attempts"], r["faults"]) for r in runs] == [(1 + faults.RETRIES, 1 + faults.RETRIES)] * 2
    monkeypatch.setattr(loop, "train_group", _real_train)  # space freed
    code, _, err = cli(capsys, "study", "resume", tmp_path / "s", "--executor", "inprocess", "--no-progress")
    assert code == 0, err
    assert [r["status"] for r in Store(tmp_path / "s" / "study.sqlite").runs()] == ["done", "done"]
    assert (tmp_path / "s" / "results.csv").read_text().count("\n") > 1


def test_failed_run_is_a_result_until_retry_failed(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    _flaky_train(monkeypatch, ValueError("a bug of this run"), times=1)
    code, _, _ = cli(capsys, "study", "run", spec, "--dir", tmp_path / "s", "--executor", "inprocess",
                     "--no-progress", "--no-report")
    assert code == 0
    status = sorted(r["status"] for r in Store(tmp_path / "s" / "study.sqlite").runs())
    assert status == ["done", "failed"]  # a run's own error is its result: not retried by itself
    cli(capsys, "study", "resume", tmp_path / "s", "--executor", "inprocess", "--no-progress", "--no-report")
    assert sorted(r["status"] for r in Store(tmp_path / "s" / "study.sqlite").runs()) == ["done", "failed"]
    code, _, err = cli(capsys, "study", "resume", tmp_path / "s", "--executor", "inprocess", "--no-progress",
                       "--no-report", "--retry-failed")
    assert code == 0, err
    assert [r["status"] for r in Store(tmp_path / "s" / "study.sqlite").runs()] == ["done", "done"]
    assert {json.loads(p.read_text())["status"] for p in (tmp_path / "s").rglob("result.json")} == {"done"}


@pytest.mark.parametrize("exc", [ValueError("a bug of this run"), UserError("a config this run cannot build")],
                         ids=["exception", "user-error"])
def test_a_failed_run_keeps_its_failure_so_rebuild_does_not_run_it_again(tmp_path, monkeypatch, capsys, exc):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    _flaky_train(monkeypatch, exc, times=1)  # raised before the run's directory exists
    assert cli(capsys, "study", "run", spec, "--dir", tmp_path / "s", "--executor", "inprocess", "--no-progress",
               "--no-report")[0] == 0
    store = Store(tmp_path / "s" / "study.sqlite")
    expected, (failed,) = store.results_table(), [r for r in store.runs() if r["status"] == "failed"]
    store.close()
    record = json.loads((tmp_path / "s" / "runs" / run_dir_name(failed["run_id"]) / "result.json").read_text())
    assert record["status"] == "failed" and str(exc) in record["error"] == failed["error"]
    assert record["config_hash"] == failed["config_hash"]
    (tmp_path / "s" / "study.sqlite").write_bytes(b"")  # the store is lost
    code, out, err = cli(capsys, "study", "rebuild", tmp_path / "s")
    assert code == 0 and "2 finished runs recovered, 0 queued" in out, err
    assert Store(tmp_path / "s" / "study.sqlite").results_table() == expected
    code, out, err = cli(capsys, "study", "resume", tmp_path / "s", "--executor", "inprocess", "--no-progress",
                         "--no-report")
    assert code == 0 and "0 of 2 runs executed" in out, err  # the failure is a result: not run again


def test_store_write_hit_by_a_full_disk_is_retried(tmp_path, monkeypatch):
    monkeypatch.setattr(faults, "STORE_BACKOFF_S", 0.0)
    real, calls = Store.finish, []

    def finish(self, run_id, result):
        calls.append(run_id)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, run_id, result)

    monkeypatch.setattr(Store, "finish", finish)
    summary = run_study(tmp_path / "s", StudySpec(**SPEC), InProcess(), progress=False)
    assert summary["status"] == {"done": 2} and len(calls) == 3


@pytest.mark.parametrize("says", ["database or disk is full", "database is locked"])
def test_a_store_that_stays_full_stops_the_study_with_one_line_and_resume_finishes_it(tmp_path, monkeypatch, capsys,
                                                                                       says):
    """The store's own disk full (or the store locked) past its retries: one line pointing at `study resume`
    (the store is sound: each write is one transaction), not at `rebuild`, and exit 1, the machine's fault as
    a run left queued is (it was 2, the code of the user's bad input); nothing of the run is recorded."""
    monkeypatch.setattr(faults, "STORE_BACKOFF_S", 0.0)
    real = Store.finish

    def full(self, run_id, result):
        raise sqlite3.OperationalError(says)

    monkeypatch.setattr(Store, "finish", full)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    code, _, err = cli(capsys, "study", "run", spec, "--dir", tmp_path / "s", "--executor", "inprocess",
                       "--no-progress")
    [line] = err.strip().splitlines()
    assert code == 1 and line.startswith("ganbench: error: ") and says in line, err
    assert "study resume" in line and "rebuild" not in line
    assert [r["status"] for r in Store(tmp_path / "s" / "study.sqlite").runs()] == ["running", "queued"]
    monkeypatch.setattr(Store, "finish", real)  # space freed
    code, _, err = cli(capsys, "study", "resume", tmp_path / "s", "--executor", "inprocess", "--no-progress",
                       "--no-report")
    assert code == 0, err
    assert [r["status"] for r in Store(tmp_path / "s" / "study.sqlite").runs()] == ["done", "done"]


def test_sqlites_own_locked_error_exits_1_and_a_store_it_cannot_open_exits_2(tmp_path):
    """As SQLite raises them (with their result codes): a store another process holds is the machine's state;
    a store path that cannot be opened at all is the user's to fix."""
    from ganbench.cli import exit_code

    holder = sqlite3.connect(tmp_path / "s.sqlite")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError) as locked:
        sqlite3.connect(tmp_path / "s.sqlite", timeout=0).execute("SELECT * FROM t")
    holder.rollback()
    with pytest.raises(sqlite3.OperationalError) as unopenable:
        sqlite3.connect(tmp_path / "no" / "such" / "dir.sqlite")
    assert (exit_code(locked.value), exit_code(unopenable.value)) == (1, 2)


@pytest.mark.parametrize("exc,code", [
    (OSError(errno.ENOSPC, "No space left on device", "/x/step_40.safetensors"), 1),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), 1), (OSError(errno.EIO, "Input/output error"), 1),
    (OSError(errno.EACCES, "Permission denied"), 2), (FileNotFoundError(errno.ENOENT, "gone"), 2),
    (ValueError("bad"), 2)])
def test_any_command_stopped_by_a_full_disk_or_an_io_error_exits_1_not_the_user_error_code(exc, code):
    from ganbench.cli import exit_code

    assert exit_code(exc) == code


@pytest.mark.parametrize("exc,transient", [
    (OSError(errno.ENOSPC, "full"), True), (OSError(errno.EFBIG, "too large"), True),
    (OSError(errno.EROFS, "Read-only file system"), True),
    (OSError(errno.EACCES, "denied"), False),
    (FileNotFoundError(errno.ENOENT, "gone"), False), (ValueError("bad"), False), (MemoryError(), True),
    (RuntimeError("shape mismatch"), False)])
def test_fault_classification(exc, transient):
    assert faults.is_transient(exc) is transient
    wrapped = RuntimeError("while saving")
    wrapped.__cause__ = exc
    assert faults.is_transient(wrapped) is transient


def test_torch_running_out_of_cpu_memory_is_a_machine_fault():
    """What torch raises when the machine has no memory for a tensor (not a MemoryError), as it raises it."""
    import torch

    with pytest.raises(RuntimeError) as caught:
        torch.empty(2**62, dtype=torch.uint8)  # 4 EiB: no machine has it
    assert faults.is_transient(caught.value)


def test_a_result_json_a_full_disk_stopped_is_no_result_until_it_is_written(tmp_path, monkeypatch):
    """The store counts a run as finished only after its record (result.json, what `study rebuild` reads) is
    written: a full disk on that write made the run 'done' in the store with no record, so a rebuild trained it
    again. Now it is a transient fault, and the run's next start (from its final checkpoint) writes it."""
    from ganbench import fileio

    real, refused = fileio.atomic_write_text, []

    def full_once(path, text):
        if path.name == "result.json" and not refused:
            refused.append(path)
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, text)

    monkeypatch.setattr(fileio, "atomic_write_text", full_once)
    summary = run_study(tmp_path / "s", StudySpec(**SPEC), InProcess(), progress=False)
    assert refused and summary["status"] == {"done": 2} and summary["left_queued"] == []
    store = Store(tmp_path / "s" / "study.sqlite")
    runs = store.runs()
    assert [(r["attempts"], r["faults"]) for r in runs] == [(2, 1), (1, 0)]  # the write's run: one more start
    records = {r["run_id"]: json.loads((tmp_path / "s" / "runs" / run_dir_name(r["run_id"]) / "result.json")
                                       .read_text()) for r in runs}
    assert {k: v["status"] for k, v in records.items()} == {r["run_id"]: "done" for r in runs}
    monkeypatch.setattr(fileio, "atomic_write_text", real)
    run_study(tmp_path / "plain", StudySpec(**SPEC), InProcess(), progress=False)
    assert store.results_table() == Store(tmp_path / "plain" / "study.sqlite").results_table()  # same numbers
