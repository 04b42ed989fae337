"""`train --resume` cuts the metrics log back to the checkpoint it resumes from. The log is streamed line by
line: a log of any length resumes (one over 1 GiB, MAX_STORED_LOG, was refused), and only a single line
longer than MAX_STORED_LOG_LINE is refused, in one line, leaving the log as it was."""

import json

import pytest

from ganbench.errors import UserError
from ganbench.training import rundir
from ganbench.training.rundir import RunDir


def _log(tmp_path, steps, extra: bytes = b""):
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    rows = b"".join(json.dumps({"step": s, "loss_d": 0.5}).encode() + b"\n" for s in steps)
    run.log_file.write_bytes(rows + extra)
    return run


def test_a_log_longer_than_the_whole_file_limit_is_cut_back_line_by_line(tmp_path, monkeypatch):
    run = _log(tmp_path, range(0, 1000, 10), extra=b'{"step": 5, torn')  # ~3 kB, and a line torn by a crash
    monkeypatch.setattr(rundir, "MAX_STORED_LOG", 1000, raising=False)  # was the bound on the whole file
    monkeypatch.setattr(rundir, "MAX_STORED_LOG_LINE", 100, raising=False)  # each line is ~30 bytes
    run.truncate_log(500)
    kept = [json.loads(ln)["step"] for ln in run.log_file.read_text().splitlines()]
    assert kept == list(range(0, 510, 10))  # lines past the checkpoint and the torn one dropped


def test_one_line_longer_than_the_line_limit_is_refused_and_the_log_kept(tmp_path, monkeypatch):
    long_row = json.dumps({"step": 20, "note": "x" * 500}).encode() + b"\n"
    run = _log(tmp_path, [0, 10], extra=long_row)
    before = run.log_file.read_bytes()
    monkeypatch.setattr(rundir, "MAX_STORED_LOG_LINE", 100, raising=False)
    with pytest.raises(UserError, match=r"metrics.jsonl: a line of more than 100 bytes") as caught:
        run.truncate_log(10)
    assert "\n" not in str(caught.value)
    assert run.log_file.read_bytes() == before  # nothing half-written
    assert not list(run.path.glob(".*.tmp"))
