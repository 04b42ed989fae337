"""Reference rows computed beside the runs (calibration.Early): the rows the driver computes after them."""

import pytest
import torch

from ganbench.confine import STUDY, reading, scope_dict
from ganbench.errors import UserError
from ganbench.study import calibration
from ganbench.study.executors import InProcess, Pool
from ganbench.study.spec import StudySpec, expand

SPEC = {"name": "cal", "base": {"batch_size": 16}, "datasets": [{"data": "ring8"}],
        "variants": {"ns": {"loss": "ns"}}, "seeds": 2, "budget": {"steps": 4}, "eval": {"n": 60, "every": 2}}


def test_early_rows_are_the_serial_rows(tmp_path):
    spec = StudySpec(**SPEC)
    (run,) = calibration.calibration_runs(expand(spec)).values()
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # not the default on a machine of several cores: the thread computes with it
    try:
        serial = calibration.calibrate(run.config, spec.eval.model_dump(), spec.seed_list())
        early = calibration.Early({"ring8": run.config}, spec.eval.model_dump(), spec.seed_list())
        rows = early.result("ring8")
    finally:
        torch.set_num_threads(before)
    assert rows == serial  # metrics and protocols (threads included), row for row
    assert {r["protocol"]["threads"] for r in rows} == {1}
    assert early.result("grid25") is None  # not among its jobs: the caller computes it


def test_early_thread_keeps_the_scope_and_raises_in_the_caller(tmp_path, monkeypatch):
    seen = []

    def fake(config, eval_spec, seeds):
        seen.append((config, scope_dict()))
        if config == "bad":
            raise UserError("no such data")
        return [{"row": config}]

    monkeypatch.setattr(calibration, "calibrate", fake)
    with reading(tmp_path, STUDY):
        early = calibration.Early({"a": "good", "b": "bad", "c": "never"}, {}, [0])
        assert early.result("a") == [{"row": "good"}]
        with pytest.raises(UserError, match="no such data"):
            early.result("b")
        outer = scope_dict()
    assert [c for c, _ in seen] == ["good", "bad"]  # after a failure nothing more is computed, as serially
    assert all(scope == outer and scope is not None for _, scope in seen)


def test_only_executors_of_other_processes_calibrate_beside_the_runs():
    assert Pool(1).separate_processes and not InProcess().separate_processes


def test_early_thread_computes_with_the_study_thread_count(monkeypatch):
    # runner passes the study's count (its runs' recipe); torch's count is the process's, given back after
    own = torch.get_num_threads()
    monkeypatch.setattr(calibration, "calibrate", lambda *args: [{"threads": torch.get_num_threads()}])
    early = calibration.Early({"a": "config"}, {}, [0], threads=own + 1)
    assert early.result("a") == [{"threads": own + 1}] and torch.get_num_threads() == own
