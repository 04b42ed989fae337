"""A study's CPU runs train with one torch thread count (study/threads.py): a study run in-process (every core's
threads in each run), killed, and resumed with the default pool (one thread per worker) used to train the runs
not yet started with another count, and a conv net's last digits depend on it: other results."""

import pytest
import torch

from ganbench.errors import UserError
from ganbench.study import runner
from ganbench.study.executors import InProcess, Pool, usable_cores
from ganbench.study.runner import resume_study, run_study
from ganbench.study.spec import StudySpec
from ganbench.study.store import Store
from ganbench.study.threads import KEY, study_threads

SPEC = {"name": "threads", "base": {"batch_size": 32, "log_every": 4, "device": "cpu",
                                    "generator": {"name": "dcgan", "width": 16},
                                    "discriminator": {"name": "dcgan", "width": 16}},
        "datasets": [{"data": "digits"}], "grid": {"loss": ["ns"]}, "seeds": 2, "budget": {"steps": 8},
        "eval": {"n": 100, "every": 8, "metrics": ["fid"]}}


def test_a_study_resumed_with_the_default_pool_trains_with_the_thread_count_it_started_with(tmp_path, monkeypatch,
                                                                                            capfd):
    if usable_cores() != 2:
        pytest.skip("needs exactly 2 usable cores: in-process runs then train with 2 threads, the pool's with 1 "
                    "(on one core both use 1 and nothing can differ)")
    from ganbench.metrics.features import lenet

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))  # a quick classifier, not to be shared; the
    monkeypatch.setattr(lenet, "_epochs", lambda n: 1)  # pool's workers read it from this cache
    torch.set_num_threads(2)
    run_study(tmp_path / "full", StudySpec(**SPEC), InProcess(), progress=False)
    real, calls = runner.execute_group, []

    def killed_after_one(*args, **kw):  # what a kill after the first run finished leaves
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(runner, "execute_group", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        run_study(tmp_path / "cut", StudySpec(**SPEC), InProcess(), progress=False)
    monkeypatch.setattr(runner, "execute_group", real)
    assert [r["status"] for r in Store(tmp_path / "cut" / "study.sqlite").runs()].count("done") == 1
    capfd.readouterr()
    assert Pool().threads == 1
    resume_study(tmp_path / "cut", Pool(), progress=False)  # the default: one worker per core, 1 thread each
    assert "with 2 torch threads, as its first runs did (the pool executor would have used 1" in capfd.readouterr().err
    full, cut = Store(tmp_path / "full" / "study.sqlite"), Store(tmp_path / "cut" / "study.sqlite")
    assert full.get_meta(KEY) == cut.get_meta(KEY) == "2"
    assert cut.results_table() == full.results_table()
    assert all(r["status"] == "done" for r in cut.runs())


class _Store:
    path = "s/study.sqlite"

    def __init__(self, meta=None):
        self.meta = {} if meta is None else {KEY: meta}

    def get_meta(self, key):
        return self.meta.get(key)

    def set_meta(self, **items):
        self.meta.update(items)

    def evals(self):
        return []


def test_the_recorded_count_is_capped_at_the_usable_cores_and_checked(monkeypatch, capsys):
    monkeypatch.setattr("ganbench.cores.usable_cores", lambda: 2)
    cpu, gpu = [{"device": "cpu"}], [{"device": "cuda"}]
    store = _Store()
    assert study_threads(store, Pool(1), gpu) is None and store.meta == {}  # accelerator runs: left alone
    assert study_threads(store, Pool(1), cpu) == Pool(1).threads and capsys.readouterr().err == ""
    assert store.meta == {KEY: str(Pool(1).threads)}  # recorded on the first run
    assert study_threads(_Store("64"), Pool(1), cpu) == 2
    assert "train with 64 torch threads, but only 2 cores are usable here: its runs train with 2" in \
        capsys.readouterr().err
    for bad in ("x", "0", "-3"):
        with pytest.raises(UserError, match=f"its meta cpu_threads '{bad}' is not a thread count"):
            study_threads(_Store(bad), Pool(1), cpu)


def test_a_study_and_a_resumed_run_cap_their_counts_at_the_same_cores(monkeypatch, capsys):
    """Under ``taskset -c 0`` on a 2-core machine os.cpu_count() says 2 but one core is usable: a resumed run's
    recorded count (training/checkpoint.py) and a study's (study/threads.py) are both capped at that one."""
    import os

    from ganbench.training.checkpoint import recorded_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert usable_cores() == 1
    assert study_threads(_Store("2"), InProcess(), [{"device": "cpu"}]) == 1
    assert "only 1 cores are usable here: its runs train with 1" in capsys.readouterr().err
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with recorded_threads({"threads": 2, "step": 8}, torch.device("cpu")):
            assert torch.get_num_threads() == 1  # not the 2 os.cpu_count() would allow
        assert "step 8 was trained with 2 torch threads, but only 1 cores are usable here" in capsys.readouterr().err
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)  # both cores usable
        with recorded_threads({"threads": 2, "step": 8}, torch.device("cpu")):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_merge_keeps_the_sources_common_count_or_none(capsys):
    from ganbench.study.threads import merged_threads, recorded

    assert merged_threads({"a": 2, "b": 2, "c": None}) == (2, None)
    assert merged_threads({"a": None}) == (None, None)
    count, note = merged_threads({"a": 1, "b": 2})
    assert count is None and "different torch thread counts (a: 1, b: 2); the merged study records none" in note
    assert capsys.readouterr().err == ""  # the caller says it, once the merged study is written
    assert recorded(_Store("3")) == 3 and recorded(_Store()) is None
    with pytest.raises(UserError, match="is not a thread count"):
        recorded(_Store("0"))


def test_the_reference_rows_are_computed_with_the_study_thread_count(tmp_path, monkeypatch):
    """The driver computes the reference rows (real data, trivial generators): it used to do so with its own
    torch thread count, so a study run with `--workers 2` and one run in-process under OMP_NUM_THREADS=1 (both
    1 thread per run) trained identical runs but gave digits' FID/KID reference rows other last digits."""
    from ganbench.study import calibration

    own = torch.get_num_threads()
    study = own + 1  # a study count this process does not have
    monkeypatch.setattr(runner, "study_threads", lambda *args: study)
    seen = []

    def calibrate(*args):
        seen.append(torch.get_num_threads())
        return []

    monkeypatch.setattr(calibration, "calibrate", calibrate)
    monkeypatch.setattr("ganbench.cores.usable_cores", lambda: 64)
    spec = {"name": "calib", "base": {"batch_size": 16, "log_every": 2, "device": "cpu",
                                      "generator": {"name": "mlp", "hidden": 8},
                                      "discriminator": {"name": "mlp", "hidden": 8}},
            "datasets": [{"data": {"name": "ring8", "n": 200}}], "seeds": 1, "budget": {"steps": 2},
            "eval": {"n": 50, "every": 2, "metrics": ["modes"]}}
    run_study(tmp_path / "s", StudySpec(**spec), InProcess(), progress=False)
    assert seen == [study] and torch.get_num_threads() == own  # and this process's count is given back
