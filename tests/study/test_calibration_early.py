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

    def fake(config, eval_spec, seeds, stop=None):
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
    monkeypatch.setattr(calibration, "calibrate", lambda *args, **_: [{"threads": torch.get_num_threads()}])
    early = calibration.Early({"a": "config"}, {}, [0], threads=own + 1)
    assert early.result("a") == [{"threads": own + 1}] and torch.get_num_threads() == own


def test_a_cancelled_early_thread_stops_between_rows_and_gives_back_the_thread_count():
    """An interrupted study (Ctrl-C, SIGTERM) cancels the rows computed beside its runs: the thread stops before
    its next row, and torch's process-wide thread count is the caller's again once cancel() returns (the thread
    went on computing, then set the count back at some later moment of a library caller's work)."""
    spec = StudySpec(**{**SPEC, "seeds": 3})
    (run,) = calibration.calibration_runs(expand(spec)).values()
    own = torch.get_num_threads()
    early = calibration.Early({"ring8": run.config, "again": run.config}, spec.eval.model_dump(), spec.seed_list(),
                              threads=own + 1)
    early.cancel()
    assert not early.thread.is_alive() and torch.get_num_threads() == own
    # stopped, not failed: the driver computes the missing rows after the runs, or on resume (the first dataset's
    # 18 rows could only be done if this thread were held off the CPU for their whole computation)
    assert "again" not in early.rows and early.error is None


def test_an_interrupted_study_cancels_the_rows_computed_beside_its_runs(tmp_path):
    """Ctrl-C while the runs train (here: the executor raises it) leaves no calibration thread behind: before,
    the daemon thread went on after run_study had raised, and one still running at the interpreter's exit
    aborted it ("terminate called without an active exception")."""
    import threading

    from ganbench.study.runner import run_study

    class Interrupted(Pool):
        def run(self, fn, tasks, started=None):
            raise KeyboardInterrupt
            yield  # a generator, as Pool.run is

    with pytest.raises(KeyboardInterrupt):
        run_study(tmp_path / "s", StudySpec(**{**SPEC, "seeds": 3}), Interrupted(1), progress=False)
    assert not [t for t in threading.enumerate() if t.name == "ganbench-calibration"]
